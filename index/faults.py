"""Fault injection for the crash-safety tests: pause a build at a named stage so a test can kill it.

With ``INDEX_BUILD_PAUSE_AT=<stage>`` in the environment, a build prints ``PAUSED <stage>`` to stderr,
flushes, and sleeps at that point (for ``INDEX_BUILD_PAUSE_SECONDS``, default 3600, or until it receives
SIGUSR1, which resumes it). Stages, in order:

- ``read``: the build lock is held, nothing has been read or written yet;
- ``chunk``: the new ``.partial`` version's database is being written (first article inserted, the
  transaction still open);
- ``embed``: chunking is committed, no vector computed yet;
- ``index``: vectors computed and stored, the FAISS file not written yet;
- ``manifest``: all data files written, the manifest (with their checksums) not yet;
- ``publish``: the version is complete and renamed, the temp link made, right before the link swap.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

PAUSE_ENV = "INDEX_BUILD_PAUSE_AT"
PAUSE_SECONDS_ENV = "INDEX_BUILD_PAUSE_SECONDS"
PAUSE_STAGES = ("read", "chunk", "embed", "index", "manifest", "publish")


def pause_point(stage: str) -> None:
    """Pause here if ``$INDEX_BUILD_PAUSE_AT`` names ``stage``; otherwise do nothing."""
    if os.environ.get(PAUSE_ENV) != stage:
        return
    resumed = threading.Event()
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGUSR1, lambda *_: resumed.set()) if in_main else None
    try:
        print(f"PAUSED {stage}", file=sys.stderr, flush=True)
        deadline = time.monotonic() + float(os.environ.get(PAUSE_SECONDS_ENV) or 3600)
        while not resumed.is_set() and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        if in_main:
            signal.signal(signal.SIGUSR1, previous)
