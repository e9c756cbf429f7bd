"""The layout's rules: the runtime never imports the pipeline, and only the store touches the index database."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNTIME = ROOT / "search"
STORE = RUNTIME / "store"
# Table names of the index database, as they would appear in SQL.
INDEX_SQL = re.compile(r"\b(FROM|INTO|UPDATE|JOIN)\s+(articles|passages|sentences|passages_fts\w*)\b")


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at any depth (function-level imports included)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def python_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if ".venv" not in p.parts)


def test_the_runtime_never_imports_the_pipeline():
    offenders = {
        str(path.relative_to(ROOT)): sorted(m for m in imported_modules(path) if m.split(".")[0] == "index")
        for path in python_files(RUNTIME)
    }
    offenders = {k: v for k, v in offenders.items() if v}
    assert offenders == {}, f"modules under search/ import the offline side: {offenders}"


def test_the_check_sees_an_import_of_index(tmp_path):
    """The rule above can fail: a function-level ``from index...`` import is found."""
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from index.build import build\n    return build\n")
    assert "index.build" in imported_modules(module)


def test_only_the_store_runs_sql_on_the_index_database():
    offenders = []
    for path in python_files(RUNTIME) + python_files(ROOT / "index") + [ROOT / "app.py"]:
        if STORE in path.parents:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if INDEX_SQL.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == [], "SQL on the index database outside search/store:\n" + "\n".join(offenders)


def test_the_sql_pattern_finds_index_queries():
    assert INDEX_SQL.search('"SELECT p.id FROM passages p JOIN articles a ON a.id = p.article_id"')
    assert not INDEX_SQL.search('"SELECT key, vector FROM vectors WHERE model = ?"')  # the embedding cache
