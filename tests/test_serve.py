"""The HTTP API (search/serve.py): every endpoint and error, the OpenAPI schema, and a load test."""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from itertools import pairwise
from pathlib import Path

import httpx
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance

from search import serve
from search.serve import MAX_UPLOAD_BYTES, TOKEN_ENV, create_app

pytestmark = pytest.mark.server

BUCHAREST = "Which countries make up the Bucharest Nine"
TOKEN = "s3cret-admin-token"
NEW_ARTICLE = {
    "title": "افتتاح مرصد فلكي في الصحراء",
    "text": "افتتحت الحكومة مرصدا فلكيا جديدا في قلب الصحراء لرصد المذنبات والكواكب البعيدة. "
    "ويضم المرصد تلسكوبا عملاقا قطر مرآته أربعة أمتار.",
    "url": "https://serve.test/observatory",
    "source": "serve-test",
    "date": "2024-03-05",
}


def wait_ready(client: TestClient, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while client.get("/v1/ready").status_code != 200:
        assert time.monotonic() < deadline, client.get("/v1/ready").json()
        time.sleep(0.02)


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict:
    """The response has this status and exactly the error shape {"error": {"code", "message"}}."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    assert body["error"]["message"] and "Traceback" not in response.text
    if code is not None:
        assert body["error"]["code"] == code, body
    return body["error"]


def copy_index(index: Path, dest_parent: Path) -> Path:
    """A private copy of a published index: its version link (relative) and the versions folder."""
    versions = index.resolve().parent
    dest_parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(versions, dest_parent / versions.name, symlinks=True)
    copy = dest_parent / index.name
    os.symlink(os.readlink(index), copy)
    assert copy.resolve().parent == dest_parent / versions.name
    return copy


@pytest.fixture(scope="module")
def client(seed_index, seed_searcher):
    app = create_app(seed_index, searcher_factory=lambda path: seed_searcher)
    with TestClient(app) as test_client:
        wait_ready(test_client)
        yield test_client


@pytest.fixture
def admin_index(seed_index, tmp_path):
    return copy_index(seed_index, tmp_path / "admin")


# ---------------------------------------------------------------- status, loading and retrying


def test_health_answers_at_once_and_ready_waits_for_the_index(tmp_path, seed_index, embedder, monkeypatch):
    from search import Searcher

    monkeypatch.setattr(serve, "RETRY_OPEN_S", 0.05)
    gate = threading.Event()
    opened: list[Path] = []

    def slow_open(path: Path) -> Searcher:
        gate.wait(30)
        opened.append(path)
        return Searcher.open(path, embedder=embedder)

    index_dir = tmp_path / "later"  # no index here yet
    with TestClient(create_app(index_dir, searcher_factory=slow_open)) as client:
        assert client.get("/v1/health").json() == {"status": "ok", "index_version": None}
        assert "loading" in assert_error(client.get("/v1/ready"), 503, "not_ready")["message"]
        assert_error(client.get("/v1/search", params={"q": "Putin"}), 503, "not_ready")
        assert_error(client.get("/v1/index"), 503, "not_ready")
        gate.set()  # opening now fails (no index) and is retried
        deadline = time.monotonic() + 10
        while "no index" not in client.get("/v1/ready").text:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert_error(client.get("/v1/search", params={"q": "Putin"}), 503, "not_ready")
        os.symlink(seed_index.resolve(), index_dir)  # the index appears
        wait_ready(client, timeout=20)
        ready = client.get("/v1/ready").json()
        assert ready == {"status": "ready", "index_version": seed_index.resolve().name}
        assert client.get("/v1/health").json() == {**ready, "status": "ok"}
        assert client.get("/v1/search", params={"q": "Putin"}).json()["hits"]
    assert len(opened) >= 2 and set(opened) == {index_dir}  # retried until the index appeared


# ---------------------------------------------------------------- search


def test_bucharest_nine_in_english_finds_the_member_states_sentence(client, seed_index):
    response = client.get("/v1/search", params={"q": BUCHAREST})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["query"] == BUCHAREST
    assert body["index_version"] == seed_index.resolve().name
    assert body["took_ms"] >= 0
    hits = body["hits"]
    assert 1 <= len(hits) <= 10
    top = hits[0]
    assert "بولندا" in top["sentence"] and "رومانيا" in top["sentence"], top["sentence"]
    assert top["text"][top["sentence_start"] : top["sentence_end"]] == top["sentence"]
    assert [h["rank"] for h in hits] == list(range(1, len(hits) + 1))
    assert all(a["score"] >= b["score"] for a, b in pairwise(hits))
    expected = {"rank", "score", "passage_id", "article_id", "title", "url", "date", "source", "text"}
    assert expected | {"sentence", "sentence_start", "sentence_end"} == set(top)


def test_post_equals_get_and_the_query_is_echoed_normalised(client, seed_searcher):
    query = "متى سيتحدث بايدن مع بوتين؟"
    got = client.get("/v1/search", params={"q": f"  {query}\x00 ", "k": 3}).json()
    posted = client.post("/v1/search", json={"q": query, "k": 3}).json()
    assert got["query"] == posted["query"] == query
    assert [h["passage_id"] for h in got["hits"]] == [h["passage_id"] for h in posted["hits"]]
    direct = seed_searcher.search(query, k=3)
    assert [h["passage_id"] for h in posted["hits"]] == [h.passage_id for h in direct]
    assert "بايدن" in posted["hits"][0]["text"]


def test_pages_are_cut_from_one_ranked_list(client):
    params = {"q": "Russia Ukraine NATO", "per_article": 0}
    whole = client.get("/v1/search", params={**params, "k": 6}).json()["hits"]
    first = client.get("/v1/search", params={**params, "k": 3}).json()["hits"]
    second = client.get("/v1/search", params={**params, "k": 3, "offset": 3}).json()["hits"]
    assert len(whole) == 6
    assert [h["passage_id"] for h in first + second] == [h["passage_id"] for h in whole]
    assert [h["rank"] for h in second] == [4, 5, 6]
    beyond = client.get("/v1/search", params={**params, "k": 10, "offset": 990}).json()
    assert beyond["hits"] == [] and beyond["index_version"]


def test_filters_sources_dates_article_mode_per_article(client):
    q = {"q": "أخبار السعودية"}
    both = client.get("/v1/search", params={**q, "sources": ["okaz", "sabq"], "k": 20}).json()["hits"]
    assert both and {h["source"] for h in both} <= {"okaz", "sabq"}
    posted = client.post("/v1/search", json={**q, "sources": ["okaz"], "k": 20}).json()["hits"]
    assert posted and {h["source"] for h in posted} == {"okaz"}
    dated = client.get("/v1/search", params={**q, "date_from": "2015-07-21", "date_to": "2015-07-21"}).json()
    assert dated["hits"] and all(h["date"].startswith("2015-07-21") for h in dated["hits"])
    assert client.get("/v1/search", params={**q, "date_from": "2016-01-01"}).json()["hits"] == []
    top = client.get("/v1/search", params={"q": BUCHAREST}).json()["hits"][0]
    within = client.get("/v1/search", params={"q": "Putin", "article_id": top["article_id"], "k": 50}).json()[
        "hits"
    ]
    assert within and {h["article_id"] for h in within} == {top["article_id"]}
    one_each = client.get("/v1/search", params={"q": "Putin", "per_article": 1, "k": 20}).json()["hits"]
    ids = [h["article_id"] for h in one_each]
    assert len(ids) == len(set(ids)) > 1
    for mode in ("dense", "lexical", "hybrid"):
        hits = client.get("/v1/search", params={"q": "بوخارست", "mode": mode}).json()["hits"]
        assert "بوخارست" in hits[0]["text"], mode


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"q": ""}, "empty"),
        ({"q": " \t "}, "empty"),
        ({}, "q"),
        ({"q": "x", "k": 0}, "k"),
        ({"q": "x", "k": 101}, "k"),
        ({"q": "x", "k": "ten"}, "k"),
        ({"q": "x", "offset": -1}, "offset"),
        ({"q": "x", "k": 100, "offset": 901}, "offset + k"),
        ({"q": "x", "mode": "semantic"}, "mode"),
        ({"q": "x", "date_from": "2022-13-01"}, "date_from"),
        ({"q": "x", "date_from": "20220101"}, "date_from"),
        ({"q": "x", "date_to": "1654646400"}, "date_to"),
        ({"q": "x", "date_from": "2022-02-01", "date_to": "2022-01-01"}, "after"),
        ({"q": "x", "per_article": -1}, "per_article"),
        ({"q": "x", "top_k": 3}, "top_k"),
    ],
)
def test_bad_parameters_are_422_for_get_and_post(client, params, needle):
    error = assert_error(client.get("/v1/search", params=params), 422)
    assert needle in error["message"], error
    error = assert_error(client.post("/v1/search", json=params), 422)
    assert needle in error["message"], error


def test_bad_bodies_are_422_not_500(client):
    assert_error(
        client.post("/v1/search", content=b"{not json", headers={"content-type": "application/json"}), 422
    )
    assert_error(client.post("/v1/search", json=["q"]), 422)
    assert_error(client.post("/v1/search", json={"q": 5}), 422)
    assert_error(client.post("/v1/search", json={"q": "x", "sources": "okaz"}), 422)


# ---------------------------------------------------------------- batch


def test_batch_answers_in_input_order(client):
    queries = [BUCHAREST, "متى سيتحدث بايدن مع بوتين؟", "نزوح بسبب الكوارث الطبيعية"]
    shared = client.post("/v1/search/batch", json={"queries": [{"q": q, "k": 3} for q in queries]})
    assert shared.status_code == 200, shared.text
    results = shared.json()["results"]
    assert [r["query"] for r in results] == queries
    for query, result in zip(queries, results):
        single = client.get("/v1/search", params={"q": query, "k": 3}).json()
        assert [h["passage_id"] for h in result["hits"]] == [h["passage_id"] for h in single["hits"]]
    assert "بولندا" in results[0]["hits"][0]["sentence"]
    mixed = [
        {"q": queries[0], "k": 1},
        {"q": queries[1], "k": 2, "mode": "lexical"},
        {"q": queries[2], "offset": 1},
    ]
    answers = client.post("/v1/search/batch", json={"queries": mixed}).json()["results"]
    assert [len(r["hits"]) for r in answers] == [1, 2, 10]
    assert answers[2]["hits"][0]["rank"] == 2
    lexical = client.post("/v1/search", json=mixed[1]).json()["hits"]
    assert [h["passage_id"] for h in answers[1]["hits"]] == [h["passage_id"] for h in lexical]


@pytest.mark.parametrize(
    "body",
    [
        {"queries": []},
        {"queries": [{"q": "x"}] * 33},
        {"queries": [{"q": "x"}, {"q": "  "}]},
        {"queries": [{"q": "x", "k": 0}]},
        {"q": "x"},
    ],
)
def test_batch_errors_are_422(client, body):
    assert_error(client.post("/v1/search/batch", json=body), 422)


# ---------------------------------------------------------------- articles, index, routes, docs


def test_article_and_its_passages(client, seed_searcher):
    top = client.get("/v1/search", params={"q": BUCHAREST}).json()["hits"][0]
    response = client.get(f"/v1/articles/{top['article_id']}")
    assert response.status_code == 200, response.text
    article = response.json()
    assert article["article_id"] == top["article_id"] and article["title"] == top["title"]
    assert top["text"] in article["text"] and "مجموعة بوخارست التسعة" in article["text"]
    spans = seed_searcher.article_passages(top["article_id"])
    assert [(p["start"], p["end"]) for p in article["passages"]] == spans and len(spans) >= 1
    assert all(article["text"][p["start"] : p["end"]] == p["text"] for p in article["passages"])
    assert top["text"] in [p["text"] for p in article["passages"]]


def test_unknown_article_route_and_method_are_json_errors(client):
    assert "c:0000" in assert_error(client.get("/v1/articles/c:0000"), 404, "not_found")["message"]
    assert_error(client.get("/v1/nothing-here"), 404, "not_found")
    assert_error(client.get("/"), 404, "not_found")
    assert_error(client.put("/v1/search", json={"q": "x"}), 405, "method_not_allowed")


def test_index_describes_the_published_version(client, seed_index, seed_searcher):
    info = client.get("/v1/index").json()
    manifest = json.loads((seed_index / "manifest.json").read_text())
    assert info["version"] == seed_index.resolve().name
    assert info["built_at"] == manifest["built_at"]
    assert info["counts"] == manifest["counts"] and info["counts"]["articles"] == 11
    assert info["model"] == manifest["model"]["name"] and "e5" in info["model"]
    assert info["backend"] == manifest["model"]["backend"]
    assert info["index_kind"] == manifest["index"]["kind"] == "flat"
    assert info["sources"] == seed_searcher.sources() and "okaz" in info["sources"]
    assert (info["date_from"], info["date_to"]) == seed_searcher.date_range()
    assert info["date_from"].startswith("2015-07-21")


def test_openapi_declares_models_and_the_error_shape(client):
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    expected = {
        "/v1/search",
        "/v1/search/batch",
        "/v1/articles/{article_id}",
        "/v1/index",
        "/v1/health",
        "/v1/ready",
        "/v1/admin/articles",
        "/v1/admin/articles/{article_id}",
    }
    assert expected <= set(paths)
    get = paths["/v1/search"]["get"]
    assert get["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/SearchResponse"
    )
    for code in ("422", "503"):
        assert get["responses"][code]["content"]["application/json"]["schema"]["$ref"].endswith(
            "/ErrorResponse"
        )
    assert {p["name"] for p in get["parameters"]} >= {"q", "k", "offset", "mode", "sources", "date_from"}
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    assert "bearer" in json.dumps(schema["components"]["securitySchemes"]).lower()
    assert client.get("/docs").status_code == 200


def test_every_request_is_logged_once(client, caplog):
    with caplog.at_level(logging.INFO, logger="search.serve"):
        client.get("/v1/search", params={"q": "Putin"})
        client.get("/v1/articles/c:0000")
    lines = [r.getMessage() for r in caplog.records if r.name == "search.serve"]
    assert len(lines) == 2, lines
    assert lines[0].startswith("GET /v1/search 200 ") and lines[0].endswith("ms")
    assert lines[1].startswith("GET /v1/articles/c:0000 404 ")


def test_cors_is_off_unless_an_origin_is_given(seed_index, seed_searcher):
    origin = "https://news.example"
    headers = {"Origin": origin}
    with TestClient(create_app(seed_index, searcher_factory=lambda p: seed_searcher)) as plain:
        assert "access-control-allow-origin" not in plain.get("/v1/health", headers=headers).headers
    app = create_app(seed_index, cors_origin=origin, searcher_factory=lambda p: seed_searcher)
    with TestClient(app) as cors:
        assert cors.get("/v1/health", headers=headers).headers["access-control-allow-origin"] == origin
        other = cors.get("/v1/health", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


# ---------------------------------------------------------------- admin


def test_admin_is_forbidden_without_a_configured_token(client):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert (
        TOKEN_ENV
        in assert_error(client.post("/v1/admin/articles", json=[NEW_ARTICLE], headers=auth), 403)["message"]
    )
    assert_error(client.delete("/v1/admin/articles/c:0000", headers=auth), 403, "forbidden")


def test_admin_needs_the_right_bearer_token(admin_index, seed_searcher):
    before = admin_index.resolve().name
    app = create_app(admin_index, token=TOKEN, searcher_factory=lambda p: seed_searcher)
    with TestClient(app) as client:
        wait_ready(client)
        for headers in (
            {},
            {"Authorization": "Bearer wrong"},
            {"Authorization": TOKEN},
            {"Authorization": f"Basic {TOKEN}"},
        ):
            response = client.post("/v1/admin/articles", json=[NEW_ARTICLE], headers=headers)
            assert_error(response, 401, "unauthorized")
            assert response.headers["www-authenticate"] == "Bearer"
            assert_error(client.delete("/v1/admin/articles/x", headers=headers), 401)
        auth = {"Authorization": f"Bearer {TOKEN}"}
        too_big = b"[" + b" " * MAX_UPLOAD_BYTES + b"]"
        assert_error(client.post("/v1/admin/articles", content=too_big, headers=auth), 413, "too_large")
        chunked = (b" " * (1 << 20) for _ in range(11))  # no Content-Length: counted while read
        assert_error(client.post("/v1/admin/articles", content=chunked, headers=auth), 413, "too_large")
        assert_error(client.post("/v1/admin/articles", content=b" \n", headers=auth), 422)
        assert_error(client.delete("/v1/admin/articles/c:0000", headers=auth), 404, "not_found")
    assert admin_index.resolve().name == before  # nothing was published


def test_admin_update_and_delete_publish_new_versions(admin_index, embedder):
    from search import Searcher

    before = admin_index.resolve().name
    app = create_app(admin_index, token=TOKEN, searcher_factory=lambda p: Searcher.open(p, embedder=embedder))
    auth = {"Authorization": f"Bearer {TOKEN}"}
    query = {"q": "astronomical observatory telescope in the desert", "k": 1}
    with TestClient(app) as client:
        wait_ready(client)
        assert client.get("/v1/search", params=query).json()["hits"][0]["source"] != "serve-test"

        jsonl = json.dumps(NEW_ARTICLE, ensure_ascii=False).encode() + b"\n"
        added = client.post("/v1/admin/articles", content=jsonl, headers=auth)
        assert added.status_code == 200, added.text
        version = added.json()["index_version"]
        assert version != before and version == admin_index.resolve().name
        assert "articles   12" in added.json()["summary"]
        hit = client.get("/v1/search", params=query).json()["hits"][0]
        assert hit["source"] == "serve-test" and "تلسكوبا" in hit["text"]
        assert client.get("/v1/search", params=query).json()["index_version"] == version
        assert client.get("/v1/index").json()["counts"]["articles"] == 12

        bad = b'{"title": "ok", "text": "fine"}\n{"title": broken\n'
        error = assert_error(
            client.post("/v1/admin/articles", content=bad, headers=auth), 422, "update_failed"
        )
        assert error["message"].startswith("error:") and "strict" in error["message"]
        assert admin_index.resolve().name == version  # a failed update publishes nothing

        deleted = client.delete(f"/v1/admin/articles/{hit['article_id']}", headers=auth)
        assert deleted.status_code == 200, deleted.text
        assert "1 deleted" in deleted.json()["summary"]
        assert deleted.json()["index_version"] not in (before, version)
        assert client.get("/v1/search", params=query).json()["hits"][0]["source"] != "serve-test"
        assert_error(client.get(f"/v1/articles/{hit['article_id']}"), 404)


# ---------------------------------------------------------------- the schema, fuzzed


# The schema is loaded at collection time (schemathesis' lazy fixture loader fails on pytest 9); the
# cases are sent to an app over the session's seed index, whose schema is the same.
SCHEMA = create_app(Path("unused")).openapi()
schema = schemathesis.openapi.from_dict(SCHEMA)


@schemathesis.serializer("application/x-ndjson")
def _ndjson(ctx, value) -> bytes:
    return value.encode() if isinstance(value, str) else json.dumps(value).encode()


@pytest.fixture(scope="module")
def fuzz_app(seed_index, seed_searcher):
    # With a token set, admin calls without it are 401 (what schemathesis expects) and nothing is built.
    app = create_app(seed_index, token=TOKEN, searcher_factory=lambda p: seed_searcher)
    with TestClient(app) as client:
        wait_ready(client)  # the loader keeps the searcher when schemathesis starts the app again
        assert client.get("/openapi.json").json() == SCHEMA
    return app


# derandomize: the same cases every run (the suite is deterministic). Unseeded, a rare case failed once:
# schemathesis sent `sources=false` as "not an array of strings", but in a query string it is the string
# "false", a valid source name, so the 200 was right (a false positive of negative query-string data).
@schema.parametrize()
@settings(
    max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None, derandomize=True
)
def test_schemathesis_no_server_errors_and_responses_match_the_schema(case, fuzz_app):
    # All default checks (no 5xx, documented status codes and content types, bodies that match their
    # schema, schema-invalid requests rejected) but one: JSON Schema cannot say "offset + k <= 1000",
    # "date_from not after date_to" or "not empty once control characters are removed", so a
    # schema-valid request may rightly get a 422.
    case.call_and_validate(app=fuzz_app, excluded_checks=[positive_data_acceptance])


# ---------------------------------------------------------------- load: a real uvicorn, a publish mid-way


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


LOAD_QUERIES = [
    BUCHAREST,
    "When will Biden and Putin speak?",
    "متى سيتحدث بايدن مع بوتين؟",
    "How many people were displaced by natural disasters?",
    "مجموعة بوخارست التسعة",
    "Russian troops on the border with Ukraine",
    "الحشد العسكري الروسي على الحدود",
    "oil prices",
]


@pytest.mark.slow
def test_load_16_clients_while_an_update_publishes(seed_index, tmp_path):
    clients, per_client = 16, 100
    index = copy_index(seed_index, tmp_path / "load")
    first_version = index.resolve().name
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, TOKEN_ENV: TOKEN}
    log_file = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "search.serve", "--index", str(index), "--port", str(port)],
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, (tmp_path / "server.log").read_text()
            try:
                if httpx.get(f"{base}/v1/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not become ready"
            time.sleep(0.2)

        answers: list[tuple[float, float, int, str]] = []  # (sent, latency, status, version)
        failures: list[str] = []
        lock = threading.Lock()
        update: dict[str, object] = {}

        def run_client(n: int) -> None:
            with httpx.Client(base_url=base, timeout=60) as http:
                for i in range(per_client):
                    q = LOAD_QUERIES[(n + i) % len(LOAD_QUERIES)]
                    sent = time.monotonic()
                    try:
                        if i % 2:
                            r = http.post("/v1/search", json={"q": q, "k": 5})
                        else:
                            r = http.get("/v1/search", params={"q": q, "k": 5})
                        latency = time.monotonic() - sent
                        version = r.json().get("index_version", "") if r.status_code == 200 else r.text
                    except httpx.HTTPError as exc:
                        with lock:
                            failures.append(repr(exc))
                        continue
                    with lock:
                        answers.append((sent, latency, r.status_code, version))

        def run_update() -> None:
            time.sleep(1.0)
            r = httpx.post(
                f"{base}/v1/admin/articles",
                json=[NEW_ARTICLE],
                headers={"Authorization": f"Bearer {TOKEN}"},
                timeout=600,
            )
            update.update(status=r.status_code, body=r.json(), done=time.monotonic())

        threads = [threading.Thread(target=run_client, args=(n,)) for n in range(clients)]
        threads.append(threading.Thread(target=run_update))
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.monotonic() - started
    finally:
        server.terminate()
        server.wait(timeout=30)
        log_file.close()

    assert not failures, failures[:5]
    assert update["status"] == 200, update
    new_version = update["body"]["index_version"]
    assert new_version != first_version
    errors = [a for a in answers if a[2] != 200]
    assert not errors, errors[:5]
    assert len(answers) == clients * per_client
    versions_dir = index.resolve().parent
    seen = {a[3] for a in answers}
    assert seen <= {first_version, new_version}, seen
    assert all((versions_dir / v / "manifest.json").is_file() for v in seen)
    after = [a for a in answers if a[0] > update["done"]]
    assert all(a[3] == new_version for a in after)
    latencies = sorted(a[1] * 1000 for a in answers)
    p50, p95 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.95)]
    log_lines = (tmp_path / "server.log").read_text().count("POST /v1/search 200")
    assert log_lines == clients * per_client // 2
    print(
        f"\nload: {clients} clients x {per_client} queries in {wall:.1f} s = {len(answers) / wall:.1f} queries/s; "
        f"p50 {p50:.0f} ms, p95 {p95:.0f} ms; versions seen {sorted(seen)} "
        f"({len(after)} answers after the update published, update took {update['done'] - started - 1:.1f} s)"
    )
