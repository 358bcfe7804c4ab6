"""``params.py`` read as data, never executed.

phylib ``exec``s ``params.py`` (``get_template_params``): a file that ends in
``__import__('os').system(...)`` would run, and ``dir_path = '<another sort>'`` would silently
take another folder's templates. phy_c4 parses it with ``ast`` instead and accepts only data:
literals (numbers, text, True/False/None, lists, tuples, dicts), simple arithmetic on numbers
(``30 * 1000``, ``-1``, ``2 ** 15``) and names assigned earlier in the file. The last assignment
wins, as Python would do; keys are lower-cased, as phylib does. Other statements are ignored
with a note, and a key phy_c4 needs whose value is not data is a clear error.
"""

from __future__ import annotations

import ast
import math
import operator
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from phy_c4.io.errors import DatasetError

NEEDED = ("sample_rate", "dat_path", "n_channels_dat", "dtype", "offset", "hp_filtered",
          "dir_path")
"""The keys phylib's model reads (and ``dir_path``, which is checked): they must be data."""

MAX_BYTES = 1_000_000
"""A params.py is a few lines; anything larger is not one."""

_ARITHMETIC = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
               ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
               ast.Pow: operator.pow}


class _NotDataError(Exception):
    """An expression that is not a literal or simple arithmetic."""


@dataclass(kw_only=True)
class Params:
    """The data assignments of one ``params.py`` and what was ignored in it."""

    path: Path
    values: dict[str, Any] = field(default_factory=dict)
    unreadable: dict[str, str] = field(default_factory=dict)
    """key -> the source text of an assignment that is not data (the key is not in values)."""
    notes: list[str] = field(default_factory=list)


def params_path(path: str | os.PathLike) -> Path:
    """``params.py`` from a path to it or to its folder."""
    path = Path(path)
    candidate = path / "params.py" if path.is_dir() else path
    if not candidate.is_file():
        raise DatasetError(f"no params.py at {path}")
    return candidate


def parse_params(path: str | os.PathLike) -> Params:
    """``params.py``'s data assignments, read without executing anything."""
    file = params_path(path)
    try:
        if file.stat().st_size > MAX_BYTES:
            raise DatasetError(f"{file}: not a readable params.py ({file.stat().st_size} bytes)")
        source = file.read_text(encoding="utf-8-sig")
        tree = ast.parse(source, filename=str(file))
    except (SyntaxError, UnicodeDecodeError, ValueError, MemoryError, RecursionError) as error:
        if isinstance(error, DatasetError):
            raise
        raise DatasetError(f"{file}: not a readable params.py ({error})") from None
    except OSError as error:
        raise DatasetError(f"{file}: cannot be read ({error.strerror or error})") from None
    params = Params(path=file)
    ignored = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) for t in node.targets):
            names = [t.id.lower() for t in node.targets]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and \
                node.value is not None:
            names = [node.target.id.lower()]
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and \
                isinstance(node.value.value, str):
            continue  # a docstring
        else:
            ignored.append(node.lineno)
            continue
        try:
            value = _evaluate(node.value, params.values)
        except (_NotDataError, ArithmeticError, ValueError, TypeError, MemoryError, RecursionError):
            for name in names:
                params.values.pop(name, None)
                params.unreadable[name] = f"line {node.lineno}: " \
                    f"{ast.get_source_segment(source, node) or '...'}"[:120]
            continue
        for name in names:
            params.values[name] = value
            params.unreadable.pop(name, None)
    if ignored:
        lines = ", ".join(str(n) for n in ignored[:5]) + (" ..." if len(ignored) > 5 else "")
        params.notes.append(f"params.py: line {lines} ignored (not an assignment of data; "
                            "phy_c4 never runs params.py)")
    other = sorted(set(params.unreadable) - set(NEEDED))
    if other:
        params.notes.append(f"params.py: {', '.join(other)} ignored (not data)")
    return params


def _evaluate(node: ast.AST, known: dict[str, Any]) -> Any:
    """A literal, simple arithmetic on numbers, or a name assigned earlier."""
    if isinstance(node, ast.Constant):
        if isinstance(node.value, int | float | str | bool | type(None)):
            return node.value
        raise _NotDataError
    if isinstance(node, ast.Name):
        lowered = node.id.lower()
        if lowered in known:
            return known[lowered]
        if node.id in ("True", "False", "None"):  # pragma: no cover - constants in 3.8+
            return {"True": True, "False": False, "None": None}[node.id]
        raise _NotDataError
    if isinstance(node, ast.List | ast.Tuple):
        items = [_evaluate(item, known) for item in node.elts]
        return items if isinstance(node, ast.List) else tuple(items)
    if isinstance(node, ast.Dict):
        if any(key is None for key in node.keys):
            raise _NotDataError
        return {_evaluate(k, known): _evaluate(v, known)  # type: ignore[arg-type]
                for k, v in zip(node.keys, node.values, strict=True)}
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        value = _number(_evaluate(node.operand, known))
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
        left, right = _evaluate(node.left, known), _evaluate(node.right, known)
        if isinstance(node.op, ast.Add) and isinstance(left, str) and isinstance(right, str):
            return left + right
        left, right = _number(left), _number(right)
        if isinstance(node.op, ast.Pow) and abs(right) > 64:
            raise _NotDataError  # 10 ** 10 ** 10 would take the machine
        if isinstance(node.op, ast.Mult) and max(abs(left), abs(right)) > 1e30:
            raise _NotDataError
        result = _ARITHMETIC[type(node.op)](left, right)
        if isinstance(result, complex) or (isinstance(result, float) and
                                           not math.isfinite(result)):
            raise _NotDataError
        return result
    raise _NotDataError


def _number(value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _NotDataError
    return value


def _whole(value: Any) -> Any:
    """``384.0`` as 384 (some exporters write floats); anything else unchanged."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def model_arguments(params: Params, sample_rate: float) -> dict[str, Any]:
    """The keyword arguments of phylib's ``TemplateModel`` for the folder ``params.py`` is in
    (what ``get_template_params`` would return, without executing the file), checked."""
    folder = params.path.parent
    for key in NEEDED:
        if key in params.unreadable:
            raise DatasetError(f"{params.path}: {key} is not a value phy_c4 can read without "
                               f"running the file ({params.unreadable[key]})")
    values = params.values
    if "dir_path" in values:
        given = values["dir_path"]
        target = Path(given) if isinstance(given, str) else None
        if target is not None and not target.is_absolute():
            target = folder / target
        if target is None or not target.is_dir() or target.resolve() != folder.resolve():
            raise DatasetError(f"{params.path}: dir_path = {given!r} names another folder; "
                               "phy_c4 reads only the folder params.py is in (remove dir_path "
                               "or open that folder)")
    try:
        dtype = np.dtype(values.get("dtype", "int16"))
    except (TypeError, ValueError):
        raise DatasetError(f"{params.path}: dtype = {values.get('dtype')!r} is not a numeric "
                           "dtype") from None
    if dtype.kind not in "iuf" or dtype.itemsize == 0:
        raise DatasetError(f"{params.path}: dtype = {values.get('dtype')!r} is not a numeric "
                           "dtype")
    n_channels = _whole(values.get("n_channels_dat"))
    if n_channels is not None and (isinstance(n_channels, bool) or not isinstance(n_channels, int)
                                   or not 0 < n_channels <= 100_000):
        raise DatasetError(f"{params.path}: n_channels_dat = {n_channels!r} is not a channel "
                           "count")
    offset = _whole(values.get("offset", 0))
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise DatasetError(f"{params.path}: offset = {offset!r} is not a byte count")
    dat = values.get("dat_path", [])
    dat = [dat] if isinstance(dat, str) else dat
    if not isinstance(dat, list | tuple) or not all(isinstance(p, str) for p in dat):
        raise DatasetError(f"{params.path}: dat_path = {values.get('dat_path')!r} is not a "
                           "file name or a list of them")
    dat_paths = [Path(p) if Path(p).is_absolute() else folder / p for p in dat if p.strip()]
    arguments: dict[str, Any] = {"dir_path": folder, "dat_path": dat_paths, "dtype": dtype,
                                 "offset": offset, "sample_rate": sample_rate,
                                 "n_channels_dat": n_channels}
    if "hp_filtered" in values:
        arguments["hp_filtered"] = bool(values["hp_filtered"])
    return arguments
