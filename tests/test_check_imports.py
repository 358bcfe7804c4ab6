"""scripts/check_imports.py: docs/architecture.md's rules are the checked rules, and every module
of phy_c4 has a row there (issue #26)."""

from __future__ import annotations

import pytest

from tests.conftest import load_check_imports


@pytest.fixture(scope="module")
def checker():
    return load_check_imports()


@pytest.fixture(scope="module")
def rules(checker):
    return checker.read_rules(checker.DOC.read_text(encoding="utf-8"))


def _rule_of(rules, module):
    return [r for r in rules if r.applies_to(module)]


def _forbidden(rules, module, target):
    return any(r.forbids(target) for r in _rule_of(rules, module))


@pytest.mark.parametrize("module, target, forbidden", [
    # the plugin never imports the CLI or training
    ("phy_c4.plugin.c4plugin", "phy_c4.cli", True),
    ("phy_c4.plugin.request_thread", "phy_c4.plugin_install", True),
    ("phy_c4.plugin.view", "phy_c4.training.review", True),
    ("phy_c4.plugin.view", "phy_c4.explain", False),
    # the CLI never imports the plugin (or Qt)
    ("phy_c4.cli", "phy_c4.plugin", True),
    ("phy_c4.plugin_install", "phy_c4.plugin.c4plugin", True),
    ("phy_c4.cli", "qtpy.QtCore", True),
    ("phy_c4.cli", "phy_c4.training.commands", False),
    # leaf modules import nothing of phy_c4's
    ("phy_c4.config", "phy_c4.status", True),
    ("phy_c4.status", "phy_c4._version", True),
    ("phy_c4.atomic", "phy_c4.io.lock", True),
    ("phy_c4.arrays", "numba", False),
    # curation: nothing of phy_c4's but status
    ("phy_c4.curation", "phy_c4.status", False),
    ("phy_c4.curation", "phy_c4.io.tsv", True),
    ("phy_c4.curation", "phy_c4.config", True),
    # a package's rule covers its modules; phy is not phylib
    ("phy_c4.features.acg3d", "torch", True),
    ("phy_c4.features.acg3d", "phy.gui", True),
    ("phy_c4.io.dataset", "phylib.io.model", False),
    ("phy_c4.result", "matplotlib.pyplot", True),
    ("phy_c4", "phy_c4.training", True),  # the package root's own rule, not its children's
    ("phy_c4.run", "phy_c4.pipeline", True),
])
def test_the_documents_rules_are_the_checked_rules(rules, module, target, forbidden):
    assert _rule_of(rules, module), f"no rule for {module}"
    assert _forbidden(rules, module, target) is forbidden


def test_the_package_root_rule_does_not_reach_its_subpackages(rules):
    assert not _forbidden(rules, "phy_c4.io.publish", "phy.apps")  # the root bans phy
    assert [r.part for r in _rule_of(rules, "phy_c4")] == ["phy_c4"]


def test_an_unknown_word_in_the_document_is_an_error_not_a_rule_skipped(checker):
    text = (checker.RULES_HEADING + "\n\n| part | holds | never imports |\n|---|---|---|\n"
            "| `x.py` | x | faces, the GUI |\n")
    with pytest.raises(ValueError, match="unknown word 'the GUI'"):
        checker.read_rules(text)


def test_every_module_needs_a_row_whose_part_holds_it(checker, rules):
    rows = checker.read_module_rows(checker.DOC.read_text(encoding="utf-8"))
    paths = sorted(rows)
    assert checker.check_module_rows(paths, rows, rules) == []
    assert checker.check_module_rows([*paths, "io/new.py"], rows, rules) == [
        "no row in architecture.md: phy_c4/io/new.py"]
    assert checker.check_module_rows([p for p in paths if p != "region.py"], rows, rules) == [
        "row for a module that does not exist: region.py"]
    wrong = {**rows, "io/lock.py": "model/"}
    assert checker.check_module_rows(paths, wrong, rules) == [
        "io/lock.py: its part 'model/' is not a part of the rules table that holds it"]


def test_a_forbidden_import_in_the_package_fails_the_check(checker, tmp_path, monkeypatch,
                                                           capsys):
    package = tmp_path / "phy_c4"
    (package / "plugin").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "cli.py").write_text("")
    (package / "plugin" / "__init__.py").write_text("")
    (package / "plugin" / "view.py").write_text("def f():\n    from phy_c4 import cli\n")
    monkeypatch.setattr(checker, "ROOT", tmp_path)
    monkeypatch.setattr(checker, "PACKAGE", package)
    assert checker.main() == 1
    out = capsys.readouterr().out
    assert "forbidden: phy_c4.plugin.view -> phy_c4.cli" in out
    assert "no row in architecture.md: phy_c4/plugin/view.py" not in out  # it has a row
    assert "row for a module that does not exist: region.py" in out
