"""Fail when phy_c4's modules import each other in a circle, or a layer imports what it must not.

Every import counts, including those inside functions (a deferred import that closes a circle
is still a circle; deferral is for start-up time only). Run by CI: ``python
scripts/check_imports.py``; prints the cycles and the forbidden edges, exits 1 if any.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "phy_c4"

NEVER = {  # layer -> what it never imports (docs/architecture.md)
    "phy_c4.features": ("phy_c4.model", "phy_c4.families", "phy_c4.io", "phy_c4.pipeline",
                        "phy_c4.plugin", "phy_c4.cli", "phy_c4.training", "torch", "phy",
                        "qtpy", "PyQt5"),
    "phy_c4.model": ("phy_c4.features", "phy_c4.families", "phy_c4.io", "phy_c4.pipeline",
                     "phy_c4.plugin", "phy_c4.cli", "phy_c4.training", "phy", "qtpy"),
    "phy_c4.families": ("phy_c4.io", "phy_c4.pipeline", "phy_c4.plugin", "phy_c4.cli",
                        "phy_c4.training", "phy", "qtpy"),
    "phy_c4.io": ("torch", "phy_c4.model", "phy_c4.families", "phy_c4.pipeline",
                  "phy_c4.plugin", "phy_c4.cli", "phy_c4.training", "qtpy"),
    "phy_c4.pipeline": ("phy_c4.plugin", "phy_c4.cli", "phy_c4.training", "qtpy", "phy"),
    "phy_c4.curation": ("phy_c4.config", "phy_c4.features", "phy_c4.model", "phy_c4.families",
                        "phy_c4.io", "phy_c4.pipeline", "phy_c4.run", "phy_c4.plugin",
                        "phy_c4.cli", "phy_c4.training", "torch", "numpy", "phy", "qtpy"),
    "phy_c4.layers": ("phy_c4.config", "phy_c4.features", "phy_c4.model", "phy_c4.families",
                      "phy_c4.io", "phy_c4.pipeline", "phy_c4.run", "phy_c4.plugin",
                      "phy_c4.cli", "phy_c4.training", "torch", "phy", "qtpy"),
    "phy_c4.explain": ("phy_c4.plugin", "phy_c4.cli", "phy_c4.training", "qtpy", "phy"),
    "phy_c4.result": ("phy_c4.features", "phy_c4.model", "phy_c4.families", "phy_c4.io",
                      "phy_c4.pipeline", "phy_c4.plugin", "phy_c4.cli", "phy_c4.training",
                      "torch", "numba", "scipy", "matplotlib", "phy", "qtpy"),
    "phy_c4.worker": ("phy_c4.plugin", "phy_c4.cli", "qtpy", "phy"),
    "phy_c4.run": ("phy_c4.plugin", "phy_c4.cli", "phy_c4.training", "phy_c4.pipeline",
                   "phy_c4.model", "torch", "numba", "qtpy", "phy"),
    "phy_c4.training": ("phy_c4.plugin", "phy_c4.cli", "qtpy", "phy"),
    "phy_c4.weights": ("phy_c4.plugin", "phy_c4.cli", "qtpy", "phy"),
    "phy_c4.default_model": ("phy_c4.config", "phy_c4.features", "phy_c4.model",
                             "phy_c4.families", "phy_c4.io", "phy_c4.pipeline", "phy_c4.plugin",
                             "phy_c4.cli", "phy_c4.training", "phy_c4.weights", "torch", "numpy",
                             "numba", "phy", "qtpy"),
    "phy_c4.report": ("phy_c4.plugin", "phy_c4.cli", "qtpy", "phy"),
}


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


def main() -> int:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    forbidden = []
    for name, path in sorted(modules.items()):
        targets = imports_of(path, name)
        for layer, banned in NEVER.items():
            if name == layer or name.startswith(layer + "."):
                forbidden += [f"{name} -> {t}" for t in sorted(targets)
                              if any(t == b or t.startswith(b + ".") for b in banned)]
        # an edge to a package means its __init__; keep edges inside phy_c4 only
        graph[name] = {t for t in targets if t in modules and t != name}
    cycles = _cycles(graph)
    for cycle in cycles:
        print("circle among: " + ", ".join(cycle[:-1]))
    for edge in forbidden:
        print("forbidden: " + edge)
    print(f"{len(modules)} modules, {sum(map(len, graph.values()))} imports, "
          f"{len(cycles)} cycles, {len(forbidden)} forbidden imports")
    return 1 if cycles or forbidden else 0


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
