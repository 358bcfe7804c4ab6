"""The import rules of docs/architecture.md, checked by scripts/check_imports.py (also in CI)."""

from __future__ import annotations

from tests.conftest import load_check_imports


def test_the_checker_finds_circles():
    checker = load_check_imports()
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert checker._cycles(graph) == [["a", "b", "c", "a"]]
    assert checker._cycles({"a": {"b"}, "b": set()}) == []


def test_the_package_has_no_circles_and_no_forbidden_imports(capsys):
    assert load_check_imports().main() == 0, capsys.readouterr().out
