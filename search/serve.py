"""HTTP API over a Searcher (FastAPI + uvicorn): python -m search.serve --index DIR."""

from __future__ import annotations

import argparse
import hmac
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

if TYPE_CHECKING:
    from search import Hit, Searcher, SearchOptions

log = logging.getLogger("search.serve")

TOKEN_ENV = "ARABIC_NEWS_SEARCH_TOKEN"
MAX_K = 100
MAX_DEPTH = 1000  # offset + k: pages are cut from one ranked list of at most this many hits
MAX_BATCH = 32
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
ADMIN_TIMEOUT_S = 900.0
RETRY_OPEN_S = 5.0
_BEARER = HTTPBearer(auto_error=False, description=f"the admin token set in ${TOKEN_ENV}")


# ---------------------------------------------------------------- request and response models


def _iso_date(value: object) -> object:
    """Only a real calendar date written YYYY-MM-DD (pydantic alone would also take timestamps)."""
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or len(value) != 10:
        raise ValueError("dates are written YYYY-MM-DD")
    return date.fromisoformat(value)


IsoDate = Annotated[date, BeforeValidator(_iso_date)]


class SearchParams(BaseModel):
    """One query as a JSON object (POST); strict: 10 is a number, "10" or false is not."""

    model_config = ConfigDict(extra="forbid", strict=True)

    q: str = Field(
        description="the question or keywords, in English or Arabic (at least one visible character)",
        json_schema_extra={"minLength": 1, "pattern": r"\S"},  # checked by the searcher's validate_query
    )
    k: int = Field(10, ge=1, le=MAX_K, description="hits per page")
    offset: int = Field(0, ge=0, le=MAX_DEPTH - 1, description=f"hits to skip; offset + k <= {MAX_DEPTH}")
    mode: Literal["hybrid", "dense", "lexical"] = "hybrid"
    per_article: int = Field(2, ge=0, le=MAX_DEPTH, description="passages per article at most (0: no limit)")
    sources: list[str] | None = Field(None, description="keep only articles from these sources")
    date_from: IsoDate | None = Field(None, description="articles dated on or after (YYYY-MM-DD)")
    date_to: IsoDate | None = Field(None, description="articles dated on or before (YYYY-MM-DD)")
    article_id: str | None = Field(None, description="rank the passages of this article only")

    @model_validator(mode="after")
    def _check_window(self) -> SearchParams:
        if self.offset + self.k > MAX_DEPTH:
            raise ValueError(f"offset + k must be at most {MAX_DEPTH}")
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ValueError("date_from is after date_to")
        return self

    def options(self) -> SearchOptions:
        """The search options (everything but the query and k) for Searcher.search."""
        from search.options import SearchOptions

        return SearchOptions(
            mode=self.mode,
            per_article=self.per_article or None,
            sources=tuple(self.sources or ()),
            date_from=self.date_from.isoformat() if self.date_from else None,
            date_to=self.date_to.isoformat() if self.date_to else None,
            article_id=self.article_id,
        )


class SearchQuery(SearchParams):
    """One query as GET /v1/search query parameters, which arrive as text."""

    model_config = ConfigDict(extra="forbid", strict=False)


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    queries: list[SearchParams] = Field(min_length=1, max_length=MAX_BATCH)


class HitOut(BaseModel):
    rank: int = Field(description="1-based rank in the whole ranked list (offset included)")
    score: float
    passage_id: int
    article_id: str
    title: str
    url: str | None
    date: str | None
    source: str | None
    text: str = Field(description="the Arabic passage")
    sentence: str = Field(description="the sentence that best answers, text[sentence_start:sentence_end]")
    sentence_start: int
    sentence_end: int


class SearchResponse(BaseModel):
    took_ms: float
    index_version: str
    query: str = Field(description="the query as searched (stripped, control characters removed)")
    hits: list[HitOut]


class BatchResponse(BaseModel):
    took_ms: float
    results: list[SearchResponse] = Field(description="one answer per query, in input order")


class PassageSpan(BaseModel):
    start: int
    end: int
    text: str


class ArticleResponse(BaseModel):
    article_id: str
    title: str
    text: str
    url: str | None
    date: str | None
    source: str | None
    author: str | None
    category: str | None
    passages: list[PassageSpan]
    index_version: str


class IndexResponse(BaseModel):
    version: str
    built_at: str | None
    counts: dict[str, int]
    model: str
    backend: str
    index_kind: str
    sources: list[str]
    date_from: str | None
    date_to: str | None


class Status(BaseModel):
    status: str
    index_version: str | None = None


class AdminResponse(BaseModel):
    summary: str = Field(description="the summary printed by python -m index.build")
    index_version: str


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorBody


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorResponse} for code in codes}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


# ---------------------------------------------------------------- the searcher, loaded in the background


class _Loader:
    """Opens the Searcher in a thread, retrying while the index does not exist or cannot be opened."""

    def __init__(self, index_dir: Path, factory: Callable[[Path], Searcher] | None) -> None:
        self.index_dir = index_dir
        self.factory = factory
        self.searcher: Searcher | None = None
        self.problem = "the index and model are still loading"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.searcher is None and (self._thread is None or not self._thread.is_alive()):
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="searcher-loader", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self.factory is None:
                    from search import Searcher  # imported here: the model loads while /v1/health answers

                    self.searcher = Searcher.open(self.index_dir)
                else:
                    self.searcher = self.factory(self.index_dir)
                log.info("index %s loaded (version %s)", self.index_dir, self.version())
                return
            except Exception as exc:  # a missing index, a damaged one, a model that fails to load
                self.problem = f"no index can be opened at {self.index_dir}: {exc}"
                log.warning("%s; retrying in %.0f s", self.problem, RETRY_OPEN_S)
            self._stop.wait(RETRY_OPEN_S)

    def ready(self) -> Searcher:
        if self.searcher is None:
            raise ApiError(503, "not_ready", self.problem)
        return self.searcher

    def version(self) -> str:
        return self.index_dir.resolve().name


# ---------------------------------------------------------------- the application


def _validate_query(q: str) -> str:
    from search import validate_query

    try:
        return validate_query(q)
    except ValueError as exc:
        raise ApiError(422, "invalid_query", str(exc)) from exc


def _answer(hits: list[Hit], query: str, offset: int, version: str, took_ms: float) -> SearchResponse:
    page = hits[offset:]
    return SearchResponse(
        took_ms=round(took_ms, 2),
        index_version=hits[0].index_version if hits else version,
        query=query,
        hits=[HitOut.model_validate(hit.to_dict()) for hit in page],
    )


def _run_tool(args: list[str]) -> str:
    """Run python -m index.build (a separate process: search/ never imports index/); its stdout."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", "index.build", *args, "--quiet", "--wait"],
            capture_output=True,
            text=True,
            timeout=ADMIN_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ApiError(504, "timeout", f"index.build did not finish in {ADMIN_TIMEOUT_S:.0f} s") from exc
    if done.returncode != 0:
        lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
        reason = next((line for line in reversed(lines) if "error:" in line), lines[-1] if lines else "")
        raise ApiError(422, "update_failed", reason or f"index.build exited with status {done.returncode}")
    return done.stdout.strip()


async def _read_upload(request: Request) -> bytes:
    if int(request.headers.get("content-length") or 0) > MAX_UPLOAD_BYTES:
        raise ApiError(413, "too_large", f"the body is over {MAX_UPLOAD_BYTES} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_UPLOAD_BYTES:
            raise ApiError(413, "too_large", f"the body is over {MAX_UPLOAD_BYTES} bytes")
    if not body.strip():
        raise ApiError(
            422, "invalid_request", "the body is empty: send JSON Lines or a JSON array of articles"
        )
    return bytes(body)


def _upload_suffix(body: bytes, content_type: str) -> str:
    """.json for one JSON document (an array or an object), .jsonl for JSON Lines."""
    if "ndjson" in content_type or "jsonl" in content_type:
        return ".jsonl"
    try:
        json.loads(body)
    except ValueError:
        return ".jsonl"
    return ".json"


_UPLOAD_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {"anyOf": [{"type": "array", "items": {"type": "object"}}, {"type": "object"}]}
        },
        "application/x-ndjson": {"schema": {"type": "string"}},
    },
}


def create_app(
    index_dir: Path,
    *,
    token: str | None = None,
    cors_origin: str | None = None,
    searcher_factory: Callable[[Path], Searcher] | None = None,
) -> FastAPI:
    """The API over the index at ``index_dir``; admin endpoints only when ``token`` is given."""
    index_dir = Path(index_dir)
    loader = _Loader(index_dir, searcher_factory)
    admin_lock = threading.Lock()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loader.start()
        yield
        loader.stop()

    app = FastAPI(
        title="Arabic news search",
        version="1",
        description="Cross-lingual (English/Arabic) semantic search over Arabic news.",
        lifespan=lifespan,
    )
    if cors_origin:
        app.add_middleware(
            CORSMiddleware, allow_origins=[cors_origin], allow_methods=["GET", "POST"], allow_headers=["*"]
        )

    @app.middleware("http")
    async def log_requests(request: Request, call_next: Callable) -> Any:
        started = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            ms = (time.perf_counter() - started) * 1000
            log.info("%s %s %d %.1fms", request.method, request.url.path, status, ms)

    @app.exception_handler(ApiError)
    async def on_api_error(request: Request, exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return _error_response(exc.status, exc.code, exc.message, headers)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error.get("loc", ()))
            problems.append(
                f"{where}: {error.get('msg', 'invalid')}" if where else error.get("msg", "invalid")
            )
        return _error_response(422, "invalid_request", "; ".join(problems) or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        status = 422 if exc.status_code == 400 else exc.status_code  # a body that cannot be parsed
        code = {404: "not_found", 405: "method_not_allowed", 422: "invalid_request"}.get(status, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        headers = getattr(exc, "headers", None)
        if status == 405:  # every method of the path, not only those of the first route that matched
            routes = [r for r in app.routes if r.matches(request.scope)[0] is Match.PARTIAL]
            headers = {"Allow": ", ".join(sorted({m for r in routes for m in r.methods}))}
        return _error_response(status, code, message, headers)

    @app.exception_handler(Exception)
    async def on_crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error on %s %s", request.method, request.url.path)
        return _error_response(500, "internal", "internal error; the server log has the details")

    def run_search(params: SearchParams) -> SearchResponse:
        searcher = loader.ready()
        query = _validate_query(params.q)
        started = time.perf_counter()
        try:
            hits = searcher.search(query, k=params.offset + params.k, options=params.options())
        except ValueError as exc:
            raise ApiError(422, "invalid_request", str(exc)) from exc
        took = (time.perf_counter() - started) * 1000
        return _answer(hits, query, params.offset, loader.version(), took)

    @app.get("/v1/search", response_model=SearchResponse, responses=_errors(422, 503), tags=["search"])
    def search_get(params: Annotated[SearchQuery, Query()]) -> SearchResponse:
        """Ranked Arabic passages for an English or Arabic query (repeat `sources=` for several)."""
        return run_search(params)

    @app.post("/v1/search", response_model=SearchResponse, responses=_errors(422, 503), tags=["search"])
    def search_post(params: SearchParams) -> SearchResponse:
        """The same search with a JSON body."""
        return run_search(params)

    @app.post("/v1/search/batch", response_model=BatchResponse, responses=_errors(422, 503), tags=["search"])
    def search_batch(batch: BatchRequest) -> BatchResponse:
        """Up to 32 queries; answers in input order (one embedding batch when they share parameters)."""
        searcher = loader.ready()
        started = time.perf_counter()
        queries = [_validate_query(p.q) for p in batch.queries]
        first = batch.queries[0]
        shared = all(p.model_dump(exclude={"q"}) == first.model_dump(exclude={"q"}) for p in batch.queries)
        try:
            if shared:
                depth = first.offset + first.k
                ranked = searcher.search_batch(queries, k=depth, options=first.options())
            else:
                ranked = [
                    searcher.search(q, k=p.offset + p.k, options=p.options())
                    for q, p in zip(queries, batch.queries)
                ]
        except ValueError as exc:
            raise ApiError(422, "invalid_request", str(exc)) from exc
        took = (time.perf_counter() - started) * 1000
        version = loader.version()
        results = [_answer(h, q, p.offset, version, took) for h, q, p in zip(ranked, queries, batch.queries)]
        return BatchResponse(took_ms=round(took, 2), results=results)

    @app.get(
        "/v1/articles/{article_id:path}",
        response_model=ArticleResponse,
        responses=_errors(404, 422, 503),
        tags=["articles"],
    )
    def get_article(article_id: str) -> ArticleResponse:
        """The whole article and the character spans of its passages."""
        searcher = loader.ready()
        article = searcher.article(article_id)
        if article is None:
            raise ApiError(404, "not_found", f"no article with id {article_id!r} in the index")
        spans = searcher.article_passages(article_id)
        passages = [PassageSpan(start=s, end=e, text=article["text"][s:e]) for s, e in spans]
        return ArticleResponse(**article, passages=passages, index_version=loader.version())

    @app.get("/v1/index", response_model=IndexResponse, responses=_errors(503), tags=["index"])
    def index_info() -> IndexResponse:
        """What the published index holds and how it was built."""
        searcher = loader.ready()
        version = loader.version()
        manifest = searcher.manifest
        date_from, date_to = searcher.date_range()
        return IndexResponse(
            version=version,
            built_at=manifest.built_at,
            counts=manifest.counts,
            model=manifest.model_name,
            backend=manifest.backend,
            index_kind=manifest.index_spec.kind,
            sources=searcher.sources(),
            date_from=date_from,
            date_to=date_to,
        )

    @app.get("/v1/health", response_model=Status, tags=["status"])
    async def health() -> Status:  # on the event loop: answers even while every worker searches
        """The process is alive (always 200); the index version once one is loaded."""
        return Status(status="ok", index_version=loader.version() if loader.searcher else None)

    @app.get("/v1/ready", response_model=Status, responses=_errors(503), tags=["status"])
    async def ready() -> Status:
        """200 once the index and the model are loaded; 503 before and while no index exists."""
        loader.ready()
        return Status(status="ready", index_version=loader.version())

    def admin(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)]) -> None:
        if token is None:
            raise ApiError(
                403, "forbidden", f"the server is read-only: set {TOKEN_ENV} to enable admin endpoints"
            )
        given = credentials.credentials if credentials else ""
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise ApiError(401, "unauthorized", "send the admin token as 'Authorization: Bearer TOKEN'")

    admin_errors = _errors(401, 403, 413, 422, 504)

    @app.post(
        "/v1/admin/articles",
        response_model=AdminResponse,
        responses=admin_errors,
        dependencies=[Depends(admin)],
        openapi_extra={"requestBody": _UPLOAD_BODY},
        tags=["admin"],
    )
    async def add_articles(request: Request) -> AdminResponse:
        """Add or replace articles (JSON Lines, or a JSON array or object; at most 10 MB) and publish."""
        body = await _read_upload(request)
        suffix = _upload_suffix(body, request.headers.get("content-type", ""))
        return await run_in_threadpool(_update, body, suffix)

    def _update(body: bytes, suffix: str) -> AdminResponse:
        with tempfile.TemporaryDirectory(prefix="serve-upload-") as tmp:
            upload = Path(tmp) / f"articles{suffix}"
            upload.write_bytes(body)
            with admin_lock:
                summary = _run_tool(["--out", str(index_dir), "--update", "--strict", str(upload)])
        return AdminResponse(summary=summary, index_version=loader.version())

    @app.delete(
        "/v1/admin/articles/{article_id:path}",
        response_model=AdminResponse,
        responses=_errors(401, 403, 404, 422, 503, 504),
        dependencies=[Depends(admin)],
        tags=["admin"],
    )
    def delete_article(article_id: str) -> AdminResponse:
        """Remove one article and publish the new version."""
        if loader.ready().article(article_id) is None:
            raise ApiError(404, "not_found", f"no article with id {article_id!r} in the index")
        with admin_lock:
            # --delete=ID: an id that starts with "-" is still an id, never an option
            summary = _run_tool(["--out", str(index_dir), f"--delete={article_id}"])
        return AdminResponse(summary=summary, index_version=loader.version())

    return app


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m search.serve", description=__doc__)
    parser.add_argument("--index", required=True, type=Path, help="index directory (built by index.build)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    parser.add_argument("--port", type=int, default=8000, help="port (default %(default)s)")
    parser.add_argument("--cors-origin", default=None, help="allow browser calls from this origin")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(args.index, token=os.environ.get(TOKEN_ENV) or None, cors_origin=args.cors_origin)
    uvicorn.run(app, host=args.host, port=args.port, access_log=False, log_config=None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
