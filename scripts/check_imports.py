"""Fail when phy_c4's modules import each other in a circle, or a part imports what it must not,
or a module has no row in docs/architecture.md; or when a function takes more than three
positional parameters, a record of more than three fields is not keyword-only, or two modules
define the same public name (issue #26: calls and records read by name, each name has one home).

The rules are read from docs/architecture.md's table "Parts and what they never import", so the
document is the rule: every word of its last column must be one this script knows (``WORDS``,
a part's name, or a package), else the check fails. Every import counts, including those inside
functions (a deferred import that closes a circle is still a circle; deferral is for start-up
time only). Run by CI: ``python scripts/check_imports.py``; prints the cycles, the forbidden
edges, the modules without a row, the long positional signatures, the positional records and the
names defined twice; exits 1 if any.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "phy_c4"
DOC = ROOT / "docs" / "architecture.md"
TESTS_OF_PATHS = "tests/paths/"  # a user's path across modules: named after the path
TESTS_OF_SCRIPTS = "tests/scripts/"  # tests of scripts/<name>.py
RULES_HEADING = "## Parts and what they never import"
MODULES_HEADING = "## Every module"

WORDS = {  # the document's words for groups of imports
    "faces": ("phy_c4.plugin", "phy_c4.cli", "phy_c4.plugin_install"),
    "CLI": ("phy_c4.cli", "phy_c4.plugin_install"),
    "Qt": ("qtpy", "PyQt5"),
    "phy": ("phy",),  # phy itself: phylib is another package
}
PARTS = ("plugin", "training", "model", "features", "families", "io", "pipeline", "run")
PACKAGES = ("torch", "numba", "scipy", "matplotlib", "numpy", "pandas")
ANYTHING = re.compile(r"^anything of phy_c4's(?: but (?P<but>.+))?$")

MAX_POSITIONAL = 3  # parameters after the third are keyword-only (self and cls not counted)
MAX_FIELDS = 3  # a record of more fields is a kw_only dataclass
# numba compiles these; a compiled caller cannot bind keyword-only parameters (numba 0.6x fails
# "missing a required argument"), and @intrinsic's (typingctx, ...) and its nested codegen's
# (context, builder, sig, args) are numba's signatures
COMPILED = ("njit", "jit", "intrinsic")
POSITIONAL_ALLOWED = {  # "module:function": whose signature it is
    "phy_c4.plugin.view:C4View._on_rendered": "the slot of a Qt signal emitting 4 values",
}
RECORDS_ALLOWED: dict[str, str] = {}  # "module:class": why it is unpacked by position
NAMES_ALLOWED = {  # public names several modules define by convention
    "main": "each `python -m` module's entry point",
    "logger": "each module's logging.getLogger(__name__)",
}


class Rule(NamedTuple):  # not a dataclass: tests load this script without sys.modules
    """A part (one module, or a package and everything under it) and what it never imports."""

    part: str  # dotted: phy_c4.config, phy_c4.features
    package: bool
    banned: tuple[str, ...]
    allowed: tuple[str, ...] = ()  # exceptions inside the banned names

    def applies_to(self, module: str) -> bool:
        return module == self.part or (self.package and module.startswith(self.part + "."))

    def forbids(self, target: str) -> bool:
        def within(name: str) -> bool:
            return target == name or target.startswith(name + ".")

        return any(within(b) for b in self.banned) and not any(within(a) for a in self.allowed)


def _dotted(path_text: str) -> tuple[str, bool]:
    """`config.py` -> (phy_c4.config, False); `features/` -> (phy_c4.features, True);
    `__init__.py` -> (phy_c4, False); `io/lock.py` -> (phy_c4.io.lock, False)."""
    package = path_text.endswith("/")
    parts = path_text.strip("/").removesuffix(".py").split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(["phy_c4", *parts]), package


def _table(text: str, heading: str) -> list[list[str]]:
    """The cells of the first Markdown table after ``heading`` (header row excluded)."""
    if heading not in text:
        raise ValueError(f"{DOC.name} has no section {heading!r}")
    rows = []
    for line in text.split(heading, 1)[1].splitlines():
        if line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif rows:
            break
    return [r for r in rows[1:] if not set("".join(r)) <= set("-: ")]


def _banned(word: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(banned, allowed) of one word of the "never imports" column."""
    match = ANYTHING.match(word)
    if match:
        but = re.findall(r"`([^`]+)`", match["but"] or "")
        return ("phy_c4",), tuple(_dotted(b)[0] for b in but)
    if word in WORDS:
        return WORDS[word], ()
    if word in PARTS:
        return (f"phy_c4.{word}",), ()
    if word in PACKAGES:
        return (word,), ()
    raise ValueError(f"{DOC.name}: unknown word {word!r} in \"never imports\"; add it to "
                     "scripts/check_imports.py's WORDS or say it with known words")


def read_rules(text: str) -> list[Rule]:
    """The rules of the document's parts table."""
    rules = []
    for cells in _table(text, RULES_HEADING):
        if len(cells) != 3:
            raise ValueError(f"{DOC.name}: a parts row needs 3 cells: {cells}")
        banned: list[str] = []
        allowed: list[str] = []
        for word in (w.strip() for w in cells[2].split(",")):
            more, exceptions = _banned(word)
            banned += more
            allowed += exceptions
        for name in re.findall(r"`([^`]+)`", cells[0]):
            part, package = _dotted(name)
            rules.append(Rule(part, package, tuple(banned), tuple(allowed)))
    return rules


def read_module_rows(text: str) -> dict[str, str]:
    """{module path under phy_c4/: its part's name} from the document's module table."""
    rows = {}
    for cells in _table(text, MODULES_HEADING):
        module, part = (re.sub(r"`", "", c) for c in cells[:2])
        rows[module] = part
    return rows


def check_module_rows(paths: list[str], rows: dict[str, str], rules: list[Rule]) -> list[str]:
    """Problems: a module without a row, a row without a module, a part that has no rule or
    does not hold the module."""
    problems = [f"no row in {DOC.name}: phy_c4/{p}" for p in sorted(set(paths) - set(rows))]
    problems += [f"row for a module that does not exist: {p}"
                 for p in sorted(set(rows) - set(paths))]
    for path, part in sorted(rows.items()):
        if path not in paths:
            continue
        name, package = _dotted(part)
        rule = next((r for r in rules if (r.part, r.package) == (name, package)), None)
        if rule is None or not rule.applies_to(_dotted(path)[0]):
            problems.append(f"{path}: its part {part!r} is not a part of the rules table that "
                            "holds it")
    return problems


def read_module_tests(text: str) -> dict[str, list[str]]:
    """{module path under phy_c4/: the test files its row names} (the table's last column)."""
    rows = {}
    for cells in _table(text, MODULES_HEADING):
        if len(cells) != 4:
            raise ValueError(f"{DOC.name}: a module row needs 4 cells (module, part, holds, "
                             f"tests): {cells}")
        rows[cells[0].strip("`")] = re.findall(r"`(tests/[^`]+\.py)`", cells[3])
    return rows


def mirror_test(module: str) -> str:
    """The test file of a module: ``io/lock.py`` -> ``tests/io/test_lock.py``."""
    folder, _, name = module.rpartition("/")
    return "/".join(filter(None, ("tests", folder, "test_" + name)))


def check_test_layout(modules: list[str], named: dict[str, list[str]], test_files: list[str],
                      scripts: list[str]) -> list[str]:
    """Problems: a test file named after no module (tests grouped by concern), a module row
    naming no test file or one that is gone, a mirror file its module's row does not name."""
    problems = []
    for test in sorted(test_files):
        if test.startswith(TESTS_OF_PATHS):
            continue
        if test.startswith(TESTS_OF_SCRIPTS):
            script = "scripts/" + test.removeprefix(TESTS_OF_SCRIPTS).removeprefix("test_")
            if script not in scripts:
                problems.append(f"{test}: no {script} to test")
            continue
        folder, _, name = test.removeprefix("tests/").rpartition("/")
        module = "/".join(filter(None, (folder, name.removeprefix("test_"))))
        if module not in modules:
            problems.append(f"{test}: named after no module of phy_c4 (a module's tests go in "
                            f"tests/<its folder>/test_<its name>.py, a user's path in "
                            f"{TESTS_OF_PATHS})")
    for module in sorted(set(modules) & set(named)):
        files = named[module]
        if not files:
            problems.append(f"{module}: its row in {DOC.name} names no test file")
        problems += [f"{module}: its row names {f}, which does not exist"
                     for f in files if f not in test_files]
        if mirror_test(module) in test_files and mirror_test(module) not in files:
            problems.append(f"{module}: its row does not name {mirror_test(module)}")
    return problems


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, name: str) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _name(node: ast.expr) -> str:
    """`numba.njit(cache=True)` -> njit; `dataclasses.dataclass` -> dataclass."""
    if isinstance(node, ast.Call):
        node = node.func
    return node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")


def _record_fields(node: ast.ClassDef) -> tuple[str, bool] | None:
    """(kind, keyword-only) of a dataclass or NamedTuple class, else None."""
    for decorator in node.decorator_list:
        if _name(decorator) == "dataclass":
            kw_only = isinstance(decorator, ast.Call) and any(
                k.arg == "kw_only" and isinstance(k.value, ast.Constant) and k.value.value is True
                for k in decorator.keywords)
            return "dataclass", kw_only
    if any(_name(base) == "NamedTuple" for base in node.bases):
        return "NamedTuple", False
    return None


def _fields(node: ast.ClassDef) -> list[str]:
    """The class body's annotated fields before any ``KW_ONLY`` marker, ClassVars excluded."""
    fields = []
    for statement in node.body:
        if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
            annotation = ast.unparse(statement.annotation)
            if "KW_ONLY" in annotation:
                break
            if "ClassVar" not in annotation:
                fields.append(statement.target.id)
    return fields


def signature_problems(tree: ast.Module, module: str) -> list[str]:
    """Functions with more than MAX_POSITIONAL positional parameters, and records of more than
    MAX_FIELDS fields that are not keyword-only (each reported as module:qualified name)."""
    problems: list[str] = []

    def visit(node: ast.AST, prefix: str, in_class: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = f"{module}:{prefix}{child.name}"
                compiled = any(_name(d) in COMPILED for d in child.decorator_list)
                if compiled:
                    continue  # and its nested codegen
                positional = child.args.posonlyargs + child.args.args
                static = any(_name(d) == "staticmethod" for d in child.decorator_list)
                if in_class and not static and positional and positional[0].arg in ("self",
                                                                                   "cls"):
                    positional = positional[1:]
                if len(positional) > MAX_POSITIONAL and name not in POSITIONAL_ALLOWED:
                    problems.append(f"positional: {name} takes {len(positional)} positional "
                                    f"parameters; put * before {positional[MAX_POSITIONAL].arg!r}")
                visit(child, f"{prefix}{child.name}.", False)
            elif isinstance(child, ast.ClassDef):
                name = f"{module}:{prefix}{child.name}"
                record = _record_fields(child)
                if record and not record[1] and name not in RECORDS_ALLOWED:
                    n = len(_fields(child))
                    if n > MAX_FIELDS:
                        problems.append(f"positional: {name} is a {record[0]} of {n} fields; make "
                                        "it @dataclass(kw_only=True)")
                visit(child, f"{prefix}{child.name}.", True)
            else:
                visit(child, prefix, in_class)

    visit(tree, "", False)
    return problems


def public_names(tree: ast.Module) -> set[str]:
    """The public functions, classes and constants a module defines (imports excluded)."""
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return {n for n in names if not n.startswith("_") and n not in NAMES_ALLOWED}


def name_problems(names: dict[str, set[str]]) -> list[str]:
    """Public names defined by more than one module ({module: its names})."""
    homes: dict[str, list[str]] = {}
    for module, defined in sorted(names.items()):
        for name in defined:
            homes.setdefault(name, []).append(module)
    return [f"defined twice: {name} in {', '.join(modules)}"
            for name, modules in sorted(homes.items()) if len(modules) > 1]


def main() -> int:
    text = DOC.read_text(encoding="utf-8")
    try:
        rules = read_rules(text)
        rows = read_module_rows(text)
        named_tests = read_module_tests(text)
    except ValueError as error:
        print(error)
        return 1
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    forbidden = []
    signatures: list[str] = []
    names: dict[str, set[str]] = {}
    for name, path in sorted(modules.items()):
        tree = ast.parse(path.read_text(), filename=str(path))
        signatures += signature_problems(tree, name)
        names[name] = public_names(tree)
        targets = imports_of(path, name)
        for rule in rules:
            if rule.applies_to(name):
                forbidden += [f"{name} -> {t}" for t in sorted(targets)
                              if t != name and rule.forbids(t)]
        # an edge to a package means its __init__; keep edges inside phy_c4 only
        graph[name] = {t for t in targets if t in modules and t != name}
    cycles = _cycles(graph)
    missing = check_module_rows(
        [p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py")], rows, rules)
    missing += check_test_layout(
        [p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py")], named_tests,
        [p.relative_to(ROOT).as_posix() for p in (ROOT / "tests").rglob("test_*.py")],
        [p.relative_to(ROOT).as_posix() for p in (ROOT / "scripts").glob("*.py")])
    for cycle in cycles:
        print("circle among: " + ", ".join(cycle[:-1]))
    for edge in sorted(set(forbidden)):
        print("forbidden: " + edge)
    twice = name_problems(names)
    for problem in missing + signatures + twice:
        print(problem)
    print(f"{len(modules)} modules, {sum(map(len, graph.values()))} imports, "
          f"{len(rules)} rules, {len(cycles)} cycles, {len(set(forbidden))} forbidden imports, "
          f"{len(missing)} module-table and test-layout problems, "
          f"{len(signatures)} positional signatures or records, {len(twice)} names defined twice")
    return 1 if cycles or forbidden or missing or signatures or twice else 0


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One representative cycle per strongly connected component (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [[*c, c[0]] for c in components]


if __name__ == "__main__":
    sys.exit(main())
