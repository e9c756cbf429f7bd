"""Index builds on Ray (``python -m index.build --engine ray``): chunking, embedding and IVF assembly on
a pool of Ray actors.

Both engines run the same pipeline, ``index.build.build``: read, clean and collect the articles, chunk
them, write the rows, embed, build the FAISS index, write the manifest, publish atomically. The Ray
engine hands ``build`` a ``RayEmbedder`` instead of an ``Embedder``; ``build`` uses three of its hooks,
each cut into tasks run by ``RaySettings.workers`` actors (each holding one model loaded with
``Embedder.load(model, cache_dir, backend)``):

- ``chunk_articles``: the chunker (``index.chunking.chunk_article``, pure given the tokenizer) over
  batches of articles, longest first; results come back keyed by article id and are looked up by id,
  never by position. Reading, cleaning and writing the rows (SQLite row ids) stay in the driver, so
  the passages (ids, text, offsets) are the local build's.
- ``encode_passages`` / ``encode_passages_late``: bulk passage encodings. The embedding cache is
  consulted in the driver before any text is sent (``index.embed``), new vectors are written back to
  it after every round, and results are put back by row position (tasks finish in any order).
- ``build_vector_index``: for ``ivf-sq8`` (``auto`` resolves to it with ``--mmap-lists``) the index is
  assembled the FAISS way (``index.shards.assemble_ivf``): the quantisers are trained once in the
  driver on the fixed, seeded sample (``search.vectors.training_rows``), every shard of vectors (one
  per worker, at most ``SHARD_ROWS``) is added on an actor to a copy of the trained index, and the
  shards are merged in position order. The lists are those of ``build_index`` trained on the same
  sample. Other kinds (``ivf-fastscan``, ``auto``'s kind above 50,000 passages, included) are built in
  the driver with ``build_index``.

A build of more than ``index.build.SEGMENT_ARTICLES`` articles (``--segment-articles``) is written as
several segments, one after another (``SegmentJob.write_segments``), each through these hooks: the
driver holds one segment's vectors at a time, never the whole build's.

Everything else comes from the driver's own copy of the model (token counts of the prompt, prompts,
fingerprint). The index format, the manifest (which records the engine) and the publish are the local
engine's.

Embedding tasks are cut from the length-sorted order that ``Embedder.encode_passages`` itself uses, in
whole model batches, so every model batch holds the same texts as in a local build: the vectors are the
local build's (up to the thread count of the inference runtime).

Without an address (and without ``RAY_ADDRESS``) Ray starts on this machine with its CPUs, no
dashboard and quiet logs; with one it joins that cluster (every node needs this package and the
model in its cache: ``python -m index.prepare``). An address that does not answer fails in seconds.
A worker process that dies is restarted and its tasks retried (``max_restarts``); past that the build
fails with a one-line reason, the published index is left as it was, and a rerun takes the vectors
embedded so far from the cache.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import socket
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from search.vectors import IndexSpec

ENGINES = ("local", "ray")
"""Build engines: ``local`` (in-process, the default) and ``ray``."""

TASK_BATCHES = 4
"""Model batches per Ray task (fewer when a round is too small to keep every worker busy)."""

IN_FLIGHT = 2
"""Tasks queued per worker, so a worker never waits for the driver between two tasks."""

CHUNK_TASK_ARTICLES = 256
"""Articles per chunking task (fewer when there are too few to keep every worker busy)."""

SHARD_ROWS = 100_000
"""Vectors per IVF shard at most (float32 at 384 dimensions: 150 MB per task)."""

SHARDED_KINDS = ("ivf-sq8",)
"""Index kinds ``RayEmbedder.build_vector_index`` assembles from shards on the workers; the others
(``ivf-fastscan`` too, which ``auto`` picks above 50,000 passages) are built whole in the driver, where
the k-means training, the longest part, runs in either case."""

EMBED_RESUME = (
    "the published index is unchanged and the vectors made so far are in the embedding cache: rerun to resume"
)
OTHER_RESUME = "the published index is unchanged; rerun the build (cached vectors are reused)"


class RayEngineError(RuntimeError):
    """The Ray engine cannot run or lost its workers (one line: what, where, what to do)."""


@dataclass(frozen=True)
class RaySettings:
    """Where and how the embedding actors run.

    Attributes:
        address: a Ray cluster (``HOST:PORT``, ``ray://HOST:PORT`` or ``auto``); None: ``$RAY_ADDRESS``,
            else a local Ray on this machine.
        workers: embedding actors; 0: as many as the cluster's CPUs (or GPUs) allow.
        worker_cpus: CPUs per actor (its inference threads).
        worker_gpus: GPUs per actor (reserved for it; the backend decides whether it uses them).
        max_restarts: restarts of a dead actor, and retries of its tasks, before the build fails.
        connect_timeout_s: how long a given address may take to answer.
        start_timeout_s: how long the actors may take to start and load the model.
        stall_timeout_s: how long the build waits without any task finishing (workers lost and not
            coming back, a cluster short of resources) before it fails instead of hanging.
    """

    address: str | None = None
    workers: int = 0
    worker_cpus: float = 1.0
    worker_gpus: float = 0.0
    max_restarts: int = 2
    connect_timeout_s: float = 5.0
    start_timeout_s: float = 600.0
    stall_timeout_s: float = 900.0

    def __post_init__(self) -> None:
        if self.workers < 0 or self.worker_cpus <= 0 or self.worker_gpus < 0 or self.max_restarts < 0:
            raise ValueError("--workers must be >= 0, --worker-cpus > 0, --worker-gpus >= 0")


def resolve_address(address: str | None) -> str | None:
    """The cluster to join: ``address``, else ``$RAY_ADDRESS``; None (or ``local``) for a local Ray."""
    chosen = (address or os.environ.get("RAY_ADDRESS") or "").strip()
    return None if chosen in ("", "local") else chosen


def check_reachable(address: str, timeout: float) -> None:
    """Fail at once, naming ``address``, if nothing answers there (Ray itself would retry for minutes)."""
    if address == "auto":
        return
    target = address.split("://", 1)[-1].rstrip("/")
    host, _, port = target.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit():
        raise RayEngineError(f"bad Ray address {address!r}: expected HOST:PORT or ray://HOST:PORT")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise RayEngineError(f"cannot reach the Ray cluster at {address}: {reason}") from None


def _import_ray():
    try:
        import ray
    except ImportError:
        raise RayEngineError(
            "--engine ray needs Ray: pip install 'arabic-news-search[cluster]' (make test installs it)"
        ) from None
    return ray


def _one_line(exc: BaseException, limit: int = 200) -> str:
    """``Type: first line of the message``, cut at a word near ``limit`` characters."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0] if lines else ""
    if len(text) > limit:
        text = text[:limit].rsplit(" ", 1)[0] + " ..."
    return f"{type(exc).__name__}: {text}"


class EmbedWorker:
    """One Ray actor: one model, loaded once, encoding the tasks it is sent."""

    def __init__(self, model: str | None, cache_dir: str | None, backend: str) -> None:
        from search.model.embedder import Embedder

        self.embedder = Embedder.load(model, Path(cache_dir) if cache_dir else None, backend)

    def info(self) -> dict[str, Any]:
        import ray

        return {
            "pid": os.getpid(),
            "node": ray.get_runtime_context().get_node_id(),
            "fingerprint": self.embedder.ref.fingerprint,
            "dimension": self.embedder.dimension,
        }

    def run(self, method: str, texts: list[str], extra: list | None, batch_size: int) -> Any:
        """``Embedder.<method>`` over ``texts`` (and per-text ``extra``)."""
        fn = getattr(self.embedder, method)
        if extra is None:
            return fn(texts, batch_size=batch_size)
        return fn(texts, extra, batch_size=batch_size)

    def chunk(
        self, items: list[tuple[str, str]], max_tokens: int, overlap_sentences: int, hard_limit: int
    ) -> tuple[int, list[tuple[str, list]]]:
        """``(pid, [(article id, passages)])``: ``index.chunking.chunk_article`` with this model's
        tokenizer."""
        from index.chunking import chunk_article

        count = self.embedder.count_tokens
        out = [
            (
                key,
                chunk_article(
                    text,
                    count,
                    max_tokens=max_tokens,
                    overlap_sentences=overlap_sentences,
                    hard_limit=hard_limit,
                ),
            )
            for key, text in items
        ]
        return os.getpid(), out

    def add_shard(self, trained: np.ndarray, vectors: np.ndarray, start: int) -> np.ndarray:
        """The serialised trained IVF index holding ``vectors`` as positions ``start, start + 1, ...``."""
        import faiss

        from search.vectors import add_shard

        shard = add_shard(faiss.deserialize_index(trained), vectors, start)
        return faiss.serialize_index(shard)


class RayEngine:
    """A connection to Ray (started here or joined) and, once ``embedder`` is called, the actor pool."""

    def __init__(self, settings: RaySettings, address: str | None, owned: bool) -> None:
        self.settings = settings
        self.address = address
        self.owned = owned
        self.actors: list = []
        self.info: list[dict[str, Any]] = []
        self._pending: list = []

    @classmethod
    def start(cls, settings: RaySettings | None = None) -> RayEngine:
        """Start a local Ray or join the cluster at the settings' address (fails in seconds if it is down)."""
        settings = settings or RaySettings()
        ray = _import_ray()
        address = resolve_address(settings.address)
        if ray.is_initialized():
            return cls(settings, address, owned=False)
        if address:
            check_reachable(address, settings.connect_timeout_s)
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        quiet = {"logging_level": logging.ERROR, "log_to_driver": False}
        try:
            if address:
                ray.init(address=address, **quiet)
            else:
                ray.init(address="local", num_cpus=os.cpu_count() or 1, include_dashboard=False, **quiet)
        except Exception as exc:  # Ray raises several kinds here; the user needs one line
            where = f"the Ray cluster at {address}" if address else "a local Ray"
            raise RayEngineError(f"cannot start or join {where}: {_one_line(exc)}") from None
        return cls(settings, address, owned=True)

    # ---------------------------------------------------------------- workers

    def plan_workers(self) -> int:
        """How many actors to start; refuses more than the cluster can ever hold (they would wait forever)."""
        import ray

        resources = ray.cluster_resources()
        cpus, gpus = resources.get("CPU", 0.0), resources.get("GPU", 0.0)
        s = self.settings
        n = s.workers or max(1, int(cpus // s.worker_cpus))
        if not s.workers and s.worker_gpus:
            n = max(1, min(n, int(gpus // s.worker_gpus)))
        if n * s.worker_cpus > cpus + 1e-9 or n * s.worker_gpus > gpus + 1e-9:
            where = f"the cluster at {self.address}" if self.address else "the local Ray"
            raise RayEngineError(
                f"{n} worker(s) x {s.worker_cpus:g} CPU / {s.worker_gpus:g} GPU do not fit: {where} has "
                f"{cpus:g} CPU / {gpus:g} GPU; lower --workers, --worker-cpus or --worker-gpus"
            )
        return n

    def start_workers(self, model: str | None, cache_dir: Path | None, backend: str) -> None:
        """Create the actors (they load the model in the background; ``embedder`` waits for them)."""
        ray = _import_ray()
        s = self.settings
        actor = ray.remote(EmbedWorker).options(
            num_cpus=s.worker_cpus,
            num_gpus=s.worker_gpus,
            max_restarts=s.max_restarts,
            max_task_retries=s.max_restarts,
        )
        cache = str(cache_dir) if cache_dir else None
        self.actors = [actor.remote(model, cache, backend) for _ in range(self.plan_workers())]
        self._pending = [a.info.remote() for a in self.actors]

    def embedder(self, local, model: str | None = None, cache_dir: Path | None = None) -> RayEmbedder:
        """A ``RayEmbedder`` over the driver's model ``local``; starts the actors if not yet started.

        Raises:
            RayEngineError: an actor could not start or load the model in time, or it loaded another
                model than the driver's (the vectors would not match the index).
        """
        ray = _import_ray()
        if not self.actors:
            self.start_workers(model, cache_dir, local.backend)
        ready, waiting = ray.wait(
            self._pending, num_returns=len(self._pending), timeout=self.settings.start_timeout_s
        )
        if waiting:
            raise RayEngineError(
                f"{len(waiting)} of {len(self.actors)} Ray worker(s) did not start within "
                f"{self.settings.start_timeout_s:g} s (is the cluster busy, or short of CPUs/GPUs?)"
            )
        try:
            self.info = ray.get(ready)
        except Exception as exc:
            raise RayEngineError(f"a Ray worker could not load the model: {_one_line(exc)}") from None
        for info in self.info:
            if info["fingerprint"] != local.ref.fingerprint:
                raise RayEngineError(
                    f"a Ray worker on node {info['node'][:12]} loaded model {info['fingerprint']}, the "
                    f"driver {local.ref.fingerprint}: give every node the same model (index.prepare)"
                )
        return RayEmbedder(local, self)

    def worker_pids(self) -> list[int]:
        """Process ids of the actors as they started (for tests that kill one)."""
        return [info["pid"] for info in self.info]

    @property
    def record(self) -> dict[str, Any]:
        """What the manifest records about this engine."""
        return {
            "name": "ray",
            "address": self.address or "local",
            "workers": len(self.actors),
            "worker_cpus": self.settings.worker_cpus,
            "worker_gpus": self.settings.worker_gpus,
            "nodes": len({info["node"] for info in self.info}),
        }

    # ---------------------------------------------------------------- work

    def run_tasks(
        self,
        method: str,
        jobs: Iterable[tuple[Any, tuple]],
        what: str,
        resume: str,
        reraise: tuple[type[Exception], ...] = (),
    ) -> Iterator[tuple[Any, Any]]:
        """Run ``EmbedWorker.<method>(*args)`` for every ``(tag, args)`` of ``jobs`` on the actors.

        Jobs are taken from ``jobs`` only as workers free up (``IN_FLIGHT`` per worker), and
        ``(tag, result)`` pairs are yielded as tasks finish, in any order.

        Args:
            method: the actor method.
            jobs: ``(tag, args)`` per task; the tag comes back with the result.
            what: the step, for messages (``embedding``, ``chunking``, ``index``).
            resume: what the user can do after a failure (ends the one-line message).
            reraise: exception types of the task itself that are raised as they are (e.g. the
                chunker's ``ValueError``) instead of as a lost worker.

        Raises:
            RayEngineError: a worker failed past its retries, or no task finished for ``stall_timeout_s``.
        """
        ray = _import_ray()
        stall = self.settings.stall_timeout_s
        pending = iter(jobs)
        more = True
        free = [a for _ in range(IN_FLIGHT) for a in self.actors]
        inflight: dict = {}
        while True:
            while free and more:
                job = next(pending, None)
                if job is None:
                    more = False
                    break
                actor = free.pop(0)
                tag, args = job
                inflight[getattr(actor, method).remote(*args)] = (actor, tag)
            if not inflight:
                return
            done, _ = ray.wait(list(inflight), num_returns=1, timeout=stall)
            if not done:
                raise RayEngineError(
                    f"no Ray {what} worker finished a task in {stall:g} s (workers lost, or the cluster is "
                    f"short of CPUs/GPUs); {resume}"
                )
            for ref in done:
                actor, tag = inflight.pop(ref)
                try:
                    result = ray.get(ref)
                except Exception as exc:
                    cause = getattr(exc, "cause", None)
                    if reraise and isinstance(cause, reraise):
                        raise cause from None
                    raise RayEngineError(f"a Ray {what} worker failed ({_one_line(exc)}); {resume}") from None
                free.append(actor)
                yield tag, result

    def run(
        self,
        method: str,
        texts: Sequence[str],
        extra: Sequence | None,
        batch_size: int,
        progress: Callable[[int], None] | None,
    ) -> list[tuple[np.ndarray, Any]]:
        """Run ``Embedder.<method>`` over ``texts`` (and per-text ``extra``) on the actors.

        Returns ``(positions, result)`` per task: the task's rows of ``texts`` and what the method gave.
        """
        n = len(texts)
        if not n:
            return []
        order = np.argsort([-len(t) for t in texts], kind="stable")  # as Embedder.encode_passages sorts
        per_worker = math.ceil(n / len(self.actors) / batch_size) * batch_size
        unit = max(batch_size, min(batch_size * TASK_BATCHES, per_worker))
        units = [order[s : s + unit] for s in range(0, n, unit)]
        jobs = (
            (
                rows,
                (
                    method,
                    [texts[i] for i in rows],
                    [extra[i] for i in rows] if extra is not None else None,
                    batch_size,
                ),
            )
            for rows in units
        )
        results: list[tuple[np.ndarray, Any]] = []
        for rows, result in self.run_tasks("run", jobs, "embedding", EMBED_RESUME):
            results.append((rows, result))
            if progress:
                progress(len(rows))
        return results

    def chunk(
        self, items: Sequence[tuple[str, str]], *, max_tokens: int, overlap_sentences: int, hard_limit: int
    ) -> tuple[dict[str, list], dict[int, int]]:
        """Chunk ``(article id, text)`` items on the actors (``EmbedWorker.chunk``).

        Tasks hold the longest articles first (so the last tasks are short), so they are not in input
        order; every result is keyed by its article id.

        Returns:
            ``(passages by article id, articles chunked per worker pid)``.

        Raises:
            ValueError: ids repeat, or the chunker refused an article (as ``chunk_article`` raises it).
            RayEngineError: a worker failed, or an id came back missing or twice.
        """
        keys = [key for key, _ in items]
        if len(set(keys)) != len(keys):
            raise ValueError("article ids must be unique to chunk them on Ray")
        order = sorted(range(len(items)), key=lambda i: -len(items[i][1]))
        per = max(1, min(CHUNK_TASK_ARTICLES, math.ceil(len(items) / (len(self.actors) * IN_FLIGHT))))
        jobs = (
            (None, ([items[i] for i in order[s : s + per]], max_tokens, overlap_sentences, hard_limit))
            for s in range(0, len(order), per)
        )
        out: dict[str, list] = {}
        by_worker: dict[int, int] = {}
        for _, (pid, pairs) in self.run_tasks("chunk", jobs, "chunking", OTHER_RESUME, reraise=(ValueError,)):
            by_worker[pid] = by_worker.get(pid, 0) + len(pairs)
            for key, passages in pairs:
                if key in out:
                    raise RayEngineError(f"article {key!r} came back twice from the Ray chunking workers")
                out[key] = passages
        if len(out) != len(keys):
            missing = next(key for key in keys if key not in out)
            raise RayEngineError(f"article {missing!r} did not come back from the Ray chunking workers")
        return out, by_worker

    def add_shards(self, trained: Any, shards: Sequence[tuple[int, np.ndarray]]) -> dict[int, np.ndarray]:
        """Add each ``(start, vectors)`` shard to a copy of the trained IVF index on the actors.

        Returns the serialised shard indexes (``faiss.serialize_index``) keyed by ``start``.
        """
        import faiss

        ray = _import_ray()
        ref = ray.put(faiss.serialize_index(trained))  # sent to each node once, not once per task
        jobs = ((start, (ref, vectors, start)) for start, vectors in shards)
        return dict(self.run_tasks("add_shard", jobs, "index", OTHER_RESUME))

    def close(self) -> None:
        """Stop the actors, and Ray itself if it was started here."""
        try:
            import ray
        except ImportError:
            return
        if not ray.is_initialized():
            return
        for actor in self.actors:
            with contextlib.suppress(Exception):  # already dead
                ray.kill(actor)
        self.actors = []
        if self.owned:
            ray.shutdown()


class RayEmbedder:
    """An ``Embedder`` for ``build``: chunking, bulk passage encoding and IVF assembly on the Ray actors,
    the rest from ``local``."""

    def __init__(self, local, engine: RayEngine) -> None:
        self._local = local
        self._engine = engine
        self.chunked_by_worker: dict[int, int] = {}
        """Articles chunked per worker pid by the last ``chunk_articles``."""
        self.chunked_articles = 0
        """Articles chunked on the workers since the build began (all its segments)."""
        self.ivf_shards = 0
        """Shards the build's IVF indexes were assembled from on the workers (0: built in the driver)."""

    def __getattr__(self, name: str):
        return getattr(self._local, name)

    @property
    def engine_record(self) -> dict[str, Any]:
        """What the manifest records: the engine, and what its workers did in this build."""
        return {
            **self._engine.record,
            "chunked_articles": self.chunked_articles,
            "ivf_shards": self.ivf_shards,
        }

    def begin_build(self) -> None:
        """Start the record of what the workers do for one build (``SegmentJob.write_segments``)."""
        self.chunked_articles = self.ivf_shards = 0

    def chunk_articles(
        self, items: Sequence[tuple[str, str]], *, max_tokens: int, overlap_sentences: int, hard_limit: int
    ) -> dict[str, list]:
        """``index.chunking.chunk_article`` of every ``(article id, text)`` on the actors, by article id
        (once per segment)."""
        chunks, self.chunked_by_worker = self._engine.chunk(
            items, max_tokens=max_tokens, overlap_sentences=overlap_sentences, hard_limit=hard_limit
        )
        self.chunked_articles += len(chunks)
        return chunks

    def build_vector_index(self, vectors: np.ndarray, ids: np.ndarray, spec: IndexSpec) -> Any:
        """As ``search.vectors.build_index``; ``SHARDED_KINDS`` are assembled from shards added on the actors.

        The quantisers are trained in the driver on the seeded sample (``search.vectors.training_rows``),
        shards of at most ``SHARD_ROWS`` vectors (one per worker when that is fewer) are added on the
        actors and merged in position order (``index.shards.assemble_ivf``).
        """
        from search.vectors import build_index, resolve_spec

        spec = resolve_spec(spec, len(ids))
        if spec.kind not in SHARDED_KINDS or not len(ids):
            return build_index(vectors, ids, spec)
        from index.shards import assemble_ivf

        rows = max(1, min(SHARD_ROWS, math.ceil(len(ids) / len(self._engine.actors))))
        index = assemble_ivf(vectors, ids, spec, self._engine.add_shards, shard_rows=rows)
        self.ivf_shards += math.ceil(len(ids) / rows)
        return index

    def encode_passages(
        self, texts: Sequence[str], *, batch_size: int = 32, progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        """As ``Embedder.encode_passages``, on the actors: L2-normalised float32 rows in input order."""
        out = np.empty((len(texts), self._local.dimension), dtype=np.float32)
        for rows, vectors in self._engine.run("encode_passages", texts, None, batch_size, progress):
            out[rows] = vectors
        return out

    def encode_passages_late(
        self,
        texts: Sequence[str],
        spans: Sequence,
        *,
        batch_size: int = 32,
        progress: Callable[[int], None] | None = None,
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """As ``Embedder.encode_passages_late`` (passage and span vectors from one pass), on the actors."""
        if len(spans) != len(texts):
            raise ValueError(f"{len(spans)} span lists for {len(texts)} texts")
        out = np.empty((len(texts), self._local.dimension), dtype=np.float32)
        span_out: list = [None] * len(texts)
        for rows, (vectors, pooled) in self._engine.run(
            "encode_passages_late", texts, spans, batch_size, progress
        ):
            out[rows] = vectors
            for i, part in zip(rows, pooled):
                span_out[i] = part
        return out, span_out


@contextmanager
def ray_engine(settings: RaySettings | None = None) -> Iterator[RayEngine]:
    """``RayEngine.start`` ... ``close`` as a context."""
    engine = RayEngine.start(settings)
    try:
        yield engine
    finally:
        engine.close()
