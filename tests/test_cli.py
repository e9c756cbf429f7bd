"""The terminal search command, ``python -m search``: output, JSON lines, exit codes and error messages.

Most tests call its ``main`` in this process on an index built with the hashing fake model (so no model
is loaded); two run the real command as a subprocess, one of them with the real model on the seed index.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from index.build import build
from search.__main__ import main
from search.model.embedder import Embedder
from tests.conftest import FIXTURES, SEED_ARTICLE
from tests.fakes import HashEmbedder

ROOT = Path(__file__).resolve().parent.parent
SEED_TITLE = "CNN: بايدن سيتحدث مع بوتين يوم الخميس بناء على طلب الرئيس الروسي"


@pytest.fixture()
def index(tmp_path, monkeypatch) -> Path:
    """The seed article and the news fixture, indexed with HashEmbedder, which ``Embedder.load`` returns."""
    out = tmp_path / "idx"
    build([SEED_ARTICLE, FIXTURES / "news" / "small.jsonl"], out, embedder=HashEmbedder())
    monkeypatch.setattr(
        Embedder, "load", classmethod(lambda cls, name=None, cache_dir=None, backend=None: HashEmbedder())
    )
    return out


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_prints_ranked_hits_with_title_answer_and_passage(index, capsys):
    code, out, err = run(capsys, "بوخارست", "--index", index, "-k", "2", "--mode", "lexical")
    assert code == 0 and err == ""
    assert out.startswith("1 result(s) in ")
    assert "#1  score " in out and SEED_TITLE in out and "#2" not in out
    answer = next(line for line in out.splitlines() if line.strip().startswith("answer:"))
    assert "بوخارست" in answer


def test_k_and_per_article_limit_the_hits(index, capsys):
    code, out, _ = run(capsys, "بايدن بوتين", "--index", index, "-k", "4", "--per-article", "1")
    assert code == 0 and out.startswith("4 result(s) in ")
    assert [line.split()[0] for line in out.splitlines() if line.startswith("#")] == ["#1", "#2", "#3", "#4"]
    titles = [line.split("  ", 2)[2] for line in out.splitlines() if line.startswith("#")]
    assert len(set(titles)) == 4


def test_json_lines_carry_every_hit_field(index, capsys):
    code, out, _ = run(capsys, "بايدن بوتين", "--index", index, "-k", "3", "--json")
    hits = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [h["rank"] for h in hits] == [1, 2, 3]
    for hit in hits:
        assert hit["sentence"] == hit["text"][hit["sentence_start"] : hit["sentence_end"]]
        assert {"score", "title", "url", "date", "source", "article_id", "index_version"} <= set(hit)
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)


@pytest.mark.parametrize("query", ["", "   ", "\u200f\u200e"])
def test_empty_query_exits_2_with_one_line(index, capsys, query):
    code, out, err = run(capsys, query, "--index", index)
    assert code == 2 and out == ""
    assert err.startswith("error: the query is empty") and err.count("\n") == 1


def test_missing_index_exits_2_saying_how_to_build_one(tmp_path, capsys):
    code, out, err = run(capsys, "Biden", "--index", tmp_path / "nowhere")
    assert code == 2 and out == ""
    assert err.startswith(f"error: no index at {tmp_path / 'nowhere'}") and "python -m index.build" in err
    assert err.count("\n") == 1


def test_damaged_index_exits_2_naming_the_file(index, tmp_path, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(index.resolve(), copy)
    (copy / "vectors.faiss").write_bytes((copy / "vectors.faiss").read_bytes()[:-10])
    code, _, err = run(capsys, "Biden", "--index", copy)
    assert code == 2 and "vectors.faiss is damaged" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [(["-k", "0"], "k must be"), (["--from", "2015-13-01"], "date_from"), (["--to", "soon"], "date_to")],
)
def test_bad_options_exit_2_naming_the_option(index, capsys, args, message):
    code, out, err = run(capsys, "بايدن", "--index", index, *args)
    assert code == 2 and out == "" and err.startswith("error: ") and message in err


def test_missing_query_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([])
    assert exit_info.value.code == 2 and "usage: python -m search" in capsys.readouterr().err


def command(*argv: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "search", *map(str, argv)],
        cwd=ROOT,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_real_command_without_an_index_exits_2(tmp_path):
    """The installed entry point (a real process): a missing index is exit status 2, one line on stderr."""
    done = command("Biden", "--index", tmp_path / "nowhere")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("error: no index at") and done.stderr.count("\n") == 1


def test_real_command_answers_from_the_seed_index(seed_index):
    """``python -m search`` with the real model finds the seed story for an English question."""
    done = command("When will Biden and Putin speak by phone?", "--index", seed_index, "-k", "2")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("2 result(s) in ")
    assert lines[2].startswith("#1  score ") and lines[2].endswith(SEED_TITLE)
    assert any(line.startswith("#2  score ") for line in lines)
    assert any(line.strip().startswith("answer: ") for line in lines)
