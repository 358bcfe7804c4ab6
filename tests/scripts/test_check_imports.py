"""Tests of ``scripts/check_imports.py``.

The import rules of docs/architecture.md, checked by scripts/check_imports.py (also in CI).

scripts/check_imports.py: docs/architecture.md's rules are the checked rules, and every module
of phy_c4 has a row there (issue #26).
"""

from __future__ import annotations

import ast

import pytest

from tests.conftest import load_check_imports


def test_the_checker_finds_circles():
    checker = load_check_imports()
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert checker._cycles(graph) == [["a", "b", "c", "a"]]
    assert checker._cycles({"a": {"b"}, "b": set()}) == []


def test_the_package_has_no_circles_and_no_forbidden_imports(capsys):
    assert load_check_imports().main() == 0, capsys.readouterr().out


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


def _signature_problems(checker, source: str) -> list[str]:
    return checker.signature_problems(ast.parse(source), "phy_c4.x")


def test_a_fourth_positional_parameter_fails_and_keyword_only_passes(checker):
    assert _signature_problems(checker, "def f(a, b, c, d=1): pass\n") == [
        "positional: phy_c4.x:f takes 4 positional parameters; put * before 'd'"]
    assert _signature_problems(checker, "def f(a, b, c, *, d=1): pass\n") == []
    assert _signature_problems(checker, "def f(a, b, c, *d): pass\n") == []
    # self and cls are not counted, a static method's first parameter is
    methods = ("class A:\n    def m(self, a, b, c): pass\n"
               "    @classmethod\n    def k(cls, a, b, c): pass\n"
               "    @staticmethod\n    def s(self, a, b, c): pass\n")
    assert _signature_problems(checker, methods) == [
        "positional: phy_c4.x:A.s takes 4 positional parameters; put * before 'c'"]
    nested = "def f():\n    def g(a, b, c, d): pass\n"
    assert _signature_problems(checker, nested) == [
        "positional: phy_c4.x:f.g takes 4 positional parameters; put * before 'd'"]


def test_numba_kernels_and_listed_callbacks_may_stay_positional(checker):
    compiled = ("@numba.njit(cache=True)\ndef k(a, b, c, d): pass\n"
                "@intrinsic\ndef i(typingctx, a, b, c):\n"
                "    def codegen(context, builder, sig, args): pass\n")
    assert _signature_problems(checker, compiled) == []
    allowed = next(iter(checker.POSITIONAL_ALLOWED))
    module, qualname = allowed.split(":")
    cls, method = qualname.split(".")
    source = f"class {cls}:\n    def {method}(self, a, b, c, d): pass\n"
    assert checker.signature_problems(ast.parse(source), module) == []


def test_a_record_of_four_fields_must_be_keyword_only(checker):
    fields = "    a: int\n    b: int\n    c: int\n    d: int = 0\n"
    assert _signature_problems(checker, "@dataclass(frozen=True)\nclass R:\n" + fields) == [
        "positional: phy_c4.x:R is a dataclass of 4 fields; make it @dataclass(kw_only=True)"]
    assert _signature_problems(checker, "class R(typing.NamedTuple):\n" + fields) == [
        "positional: phy_c4.x:R is a NamedTuple of 4 fields; make it @dataclass(kw_only=True)"]
    assert _signature_problems(checker, "@dataclass(kw_only=False)\nclass R:\n" + fields) == [
        "positional: phy_c4.x:R is a dataclass of 4 fields; make it @dataclass(kw_only=True)"]
    assert _signature_problems(checker, "@dataclass(frozen=True, kw_only=True)\nclass R:\n"
                               + fields) == []
    three = "    a: int\n    b: int\n    c: int\n    d: ClassVar[int] = 0\n"
    assert _signature_problems(checker, "@dataclasses.dataclass\nclass R:\n" + three) == []
    marked = "    a: int\n    _: KW_ONLY\n    b: int\n    c: int\n    d: int\n"
    assert _signature_problems(checker, "@dataclass\nclass R:\n" + marked) == []


def test_a_public_name_defined_in_two_modules_fails(checker):
    names = {m: checker.public_names(ast.parse(s)) for m, s in {
        "phy_c4.a": "OK = 1\ndef check(): pass\ndef main(): pass\n_private = 1\n",
        "phy_c4.b": "from phy_c4.a import check\nOK: int = 2\ndef main(): pass\n_private = 2\n",
    }.items()}
    assert checker.name_problems(names) == ["defined twice: OK in phy_c4.a, phy_c4.b"]


def test_the_package_has_no_positional_signatures_and_no_name_twice(checker):
    signatures, names = [], {}
    for path in checker.PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        signatures += checker.signature_problems(tree, checker.module_name(path))
        names[checker.module_name(path)] = checker.public_names(tree)
    assert signatures == []
    assert checker.name_problems(names) == []


def test_tests_mirror_the_package_and_each_row_names_its_modules_tests(checker):
    named = checker.read_module_tests(checker.DOC.read_text(encoding="utf-8"))
    modules = ["io/lock.py", "cli.py", "io/errors.py", "io/dataset.py"]
    rows = {"io/lock.py": ["tests/io/test_lock.py"], "cli.py": ["tests/test_cli.py"],
            "io/errors.py": ["tests/io/test_dataset.py"]}
    tests = ["tests/io/test_lock.py", "tests/test_cli.py", "tests/io/test_dataset.py",
             "tests/paths/test_first_run.py", "tests/scripts/test_check_imports.py"]
    scripts = ["scripts/check_imports.py"]
    assert named["io/lock.py"] == ["tests/io/test_lock.py"]
    assert checker.check_test_layout(modules, rows, tests, scripts) == []
    assert checker.mirror_test("io/lock.py") == "tests/io/test_lock.py"
    assert checker.mirror_test("cli.py") == "tests/test_cli.py"
    concern = checker.check_test_layout(modules, rows, [*tests, "tests/test_reliability.py"],
                                        scripts)
    assert len(concern) == 1 and concern[0].startswith(
        "tests/test_reliability.py: named after no module of phy_c4")
    assert checker.check_test_layout(modules, rows, [*tests, "tests/scripts/test_gone.py"],
                                     scripts) == ["tests/scripts/test_gone.py: no "
                                                  "scripts/gone.py to test"]
    assert checker.check_test_layout(modules, {**rows, "cli.py": ["tests/test_region.py"]},
                                     tests, scripts) == [
        "cli.py: its row names tests/test_region.py, which does not exist",
        "cli.py: its row does not name tests/test_cli.py"]
    assert checker.check_test_layout(modules, {**rows, "io/errors.py": []}, tests, scripts) == [
        "io/errors.py: its row in architecture.md names no test file"]


def test_a_module_row_without_its_tests_cell_is_an_error(checker):
    text = (checker.MODULES_HEADING + "\n\n| module | part | holds |\n|---|---|---|\n"
            "| `cli.py` | `cli.py` | the commands |\n")
    with pytest.raises(ValueError, match="a module row needs 4 cells"):
        checker.read_module_tests(text)
