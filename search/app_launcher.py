"""`arabic-news-app [--index DIR] [--port N]`: start the Streamlit page (app.py beside the package)."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

APP = Path(__file__).resolve().parent.parent / "app.py"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="arabic-news-app", description=__doc__)
    parser.add_argument("--index", default=None, help="index directory (default: var/seed-index)")
    parser.add_argument("--port", type=int, default=8501)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    args = parser.parse_args(argv)
    if not APP.is_file():
        print(f"error: the page {APP} is not here (run from a checkout of the project)", file=sys.stderr)
        return 2
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.port",
        str(args.port),
        "--server.address",
        args.host,
        "--server.headless",
        "true",
    ]
    if args.index:
        command += ["--", "--index", args.index]
    try:
        return subprocess.call(command)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
