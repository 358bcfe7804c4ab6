"""The import rules of docs/architecture.md, checked by scripts/check_imports.py (also in CI)."""

from __future__ import annotations

import importlib.util

from tests.conftest import ROOT


def _checker():
    spec = importlib.util.spec_from_file_location("check_imports",
                                                  ROOT / "scripts" / "check_imports.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_checker_finds_circles():
    checker = _checker()
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert checker._cycles(graph) == [["a", "b", "c", "a"]]
    assert checker._cycles({"a": {"b"}, "b": set()}) == []


def test_the_package_has_no_circles_and_no_forbidden_imports(capsys):
    assert _checker().main() == 0, capsys.readouterr().out
