"""Array helpers for very large spike arrays, compiled with numba and run without the
interpreter lock, so that a GUI thread stays responsive while a worker handles 40 M spikes.

The spike arrays are read-only maps of the sorter's files (``map_npy``). Whole-array passes go
chunk by chunk (``chunks``) and drop the map's resident pages after each (``release``): the
pages stay in the kernel's page cache, so a second pass reads memory, not the disk, but the
process holds one chunk of each file instead of the file (4 GB for a 3-h, 1,000-unit
recording; docs/performance.md).
"""

from __future__ import annotations

import math
import mmap
import os
import re
import weakref
from collections.abc import Iterator

import numba
import numpy as np

CHUNK = 1 << 22
"""Elements per chunk of a whole-array pass (32 MB of int64)."""

_READ_ONLY_MAPS: weakref.WeakSet[mmap.mmap] = weakref.WeakSet()
"""The maps ``map_npy`` made: read-only and shared, so dropping their pages loses nothing."""


_NPY_HEADER = re.compile(r"\{'descr': '([<>|=]?[a-zA-Z]\d*)', 'fortran_order': (True|False), "
                         r"'shape': \(((?:\d+, ?)*\d*)\), \}")
"""A plain .npy header as numpy writes it (other forms go to ``np.load``)."""


def npy_without_ast(path: str | os.PathLike, mmap_mode: str | None) -> np.ndarray | None:
    """A .npy file as ``np.load(path, mmap_mode)`` gives it (mapped, or read when
    ``mmap_mode`` is None), its header read by a regular expression instead of ``ast``: phylib's
    model loads in a background thread while the main thread parses, and CPython 3.11's AST
    constructor is not safe in two threads at once. None when the header is not the plain
    form, or the array is empty (``np.load`` then)."""
    try:
        with open(path, "rb") as data:
            magic = data.read(8)
            if magic[:6] != b"\x93NUMPY" or magic[6] not in (1, 2, 3):
                return None
            size_bytes = 2 if magic[6] == 1 else 4
            length = int.from_bytes(data.read(size_bytes), "little")
            header = data.read(length).decode("latin1").strip()
    except OSError:
        return None
    match = _NPY_HEADER.fullmatch(header)
    if match is None:
        return None
    shape = tuple(int(n) for n in match.group(3).replace(" ", "").split(",") if n)
    if not shape or 0 in shape:
        return None
    dtype, offset = np.dtype(match.group(1)), 8 + size_bytes + length
    order = "F" if match.group(2) == "True" else "C"
    if mmap_mode is None:
        values = np.fromfile(path, dtype=dtype, count=math.prod(shape), offset=offset)
        if values.size != math.prod(shape):
            return None  # truncated: np.load says so
        return values.reshape(shape, order=order)
    try:
        return np.memmap(path, dtype=dtype, mode=mmap_mode, offset=offset, shape=shape,
                         order=order)
    except ValueError:
        return None  # shorter than its header says: np.load says so


def map_npy(path: str | os.PathLike, squeeze: bool = True) -> np.ndarray:
    """A ``.npy`` file as a read-only map, whose pages ``release`` may drop (its header read
    without ``ast``: ``npy_without_ast``)."""
    array = npy_without_ast(path, "r")
    if array is None:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    buffer = _map_of(array)
    if buffer is not None:
        _READ_ONLY_MAPS.add(buffer)
    return array.squeeze() if squeeze else array


def _map_of(array: object) -> mmap.mmap | None:
    while array is not None and not isinstance(array, mmap.mmap):
        array = getattr(array, "base", None)
    return array


def release(*arrays: object) -> None:
    """Drop the resident pages of the read-only maps behind ``arrays`` (others: nothing).

    Only maps made by ``map_npy`` (read-only, shared) are touched: their pages come back from
    the page cache, unchanged, when read again."""
    for array in arrays:
        buffer = _map_of(array)
        if buffer is not None and buffer in _READ_ONLY_MAPS and not buffer.closed:
            buffer.madvise(mmap.MADV_DONTNEED)


def chunks(array: np.ndarray, size: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """``(start, array[start:start + size])`` over a 1-D array (``size``: ``CHUNK``),
    releasing its map's pages after each chunk (and at the end)."""
    size = size or CHUNK
    try:
        for start in range(0, array.shape[0], size):
            yield start, array[start : start + size]
            release(array)
    finally:
        release(array)


def gather(array: np.ndarray, indices: list[np.ndarray], size: int | None = None
           ) -> list[np.ndarray]:
    """``[array[i] for i in indices]`` for sorted index arrays, read one chunk of ``array`` at
    a time for all of them (the map's pages dropped after each): a batch of units spread over
    the whole recording holds one chunk of the file, not the file."""
    out = [np.empty(i.size, dtype=array.dtype) for i in indices]
    for start, chunk in chunks(array, size):
        stop = start + chunk.shape[0]
        for index, target in zip(indices, out, strict=True):
            lo, hi = np.searchsorted(index, (start, stop))
            if hi > lo:
                target[lo:hi] = chunk[index[lo:hi] - start]
    return out


def min_max(values: np.ndarray) -> tuple[int | float, int | float]:
    """Smallest and largest value of a non-empty array, in chunks."""
    low, high = None, None
    for _, chunk in chunks(values):
        a, b = chunk.min(), chunk.max()
        low = a if low is None else min(low, a)
        high = b if high is None else max(high, b)
    return low.item(), high.item()


def all_finite(values: np.ndarray) -> bool:
    """Whether no value is NaN or infinite, in chunks (no whole-size boolean array)."""
    return all(bool(np.isfinite(chunk).all()) for _, chunk in chunks(values))


@numba.njit(cache=True, nogil=True)
def sorted_unique(values: np.ndarray) -> np.ndarray:
    """Unique values of an already sorted array (np.unique would sort it again)."""
    out = np.empty(values.size, dtype=values.dtype)
    n = 0
    for i in range(values.size):
        if i == 0 or values[i] != values[i - 1]:
            out[n] = values[i]
            n += 1
    return out[:n]


@numba.njit(cache=True, nogil=True)
def _is_sorted(values: np.ndarray) -> bool:
    for i in range(1, values.size):  # noqa: SIM110 - a plain loop is what numba compiles
        if values[i] < values[i - 1]:
            return False
    return True


def is_sorted(values: np.ndarray) -> bool:
    """Whether a 1-D array is non-decreasing (without the interpreter lock, in chunks)."""
    previous = None
    for _, chunk in chunks(values):
        if not _is_sorted(chunk) or (previous is not None and chunk[0] < previous):
            return False
        previous = chunk[-1]
    return True


@numba.njit(cache=True, nogil=True)
def copy_nogil(values: np.ndarray) -> np.ndarray:
    """A copy of a 1-D array made without the interpreter lock (numpy's copy holds it, which
    stalls a GUI thread for ~0.3 s on 40 M spikes)."""
    out = np.empty_like(values)
    for i in range(values.size):
        out[i] = values[i]
    return out


@numba.njit(cache=True, nogil=True)
def _mark_ids(values: np.ndarray, seen: np.ndarray) -> None:
    for v in values:
        seen[v] = True


def unique_ids(values: np.ndarray) -> np.ndarray:
    """Sorted unique non-negative integer ids; GIL-free for ids under 10 M (cluster ids), in
    chunks of the array as stored (an int32 file is not widened)."""
    values = np.asarray(values)
    if values.size and values.dtype.kind in "iu":
        low, high = min_max(values)
        if low >= 0 and high < _DENSE_IDS:
            seen = np.zeros(int(high) + 1, dtype=np.bool_)
            for _, chunk in chunks(values):
                _mark_ids(chunk, seen)
            return np.flatnonzero(seen).astype(np.int64)
    return np.unique(values).astype(np.int64)


def count_by_cluster(clusters: np.ndarray, wanted: np.ndarray,
                     id_range: tuple[int, int] | None = None) -> np.ndarray:
    """Spikes of each ``wanted`` cluster id, in one pass in chunks (no per-spike array)."""
    wanted = np.asarray(wanted, dtype=np.int64)
    slot = _slots(np.asarray(clusters), wanted, id_range)
    if slot is None:  # ids too large for a lookup array: rare, and whole-size
        return np.diff(group_by_cluster(clusters, wanted)[1])
    counts = np.zeros(wanted.size + 1, dtype=np.int64)
    for _, chunk in chunks(clusters):
        _count_slots(chunk, slot, counts)
    return counts[1:]


def _slots(clusters: np.ndarray, wanted: np.ndarray, id_range: tuple[int, int] | None = None
           ) -> np.ndarray | None:
    """``slot[id]``: the position of ``id`` in ``wanted``, -1 for others; None when the ids
    are not small non-negative integers (then a dictionary maps them). ``id_range``: the
    clusters' smallest and largest id when known (saves a pass)."""
    if id_range is not None and clusters.dtype.kind in "iu":
        low, high = id_range
    else:
        low, high = min_max(clusters) if clusters.size and clusters.dtype.kind in "iu" else \
            (0, 0)
    largest = max(int(high), int(wanted.max()) if wanted.size else 0)
    if clusters.dtype.kind not in "iu" or low < 0 or largest >= _DENSE_IDS or (
            wanted.size and wanted.min() < 0):
        return None
    slot = np.full(largest + 1, -1, dtype=np.int64)
    slot[wanted] = np.arange(wanted.size)
    return slot


def group_by_cluster(clusters: np.ndarray, wanted: np.ndarray,
                     id_range: tuple[int, int] | None = None,
                     *, counts: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Spike indices grouped by the ``wanted`` cluster ids, time order kept (a counting sort).

    Returns ``(indices, offsets)``: ``wanted[i]`` owns ``indices[offsets[i]:offsets[i + 1]]``.
    ``id_range`` (smallest, largest id) and ``counts`` (``count_by_cluster``), when known,
    save the passes that would find them.
    """
    clusters = np.asarray(clusters)
    wanted = np.asarray(wanted, dtype=np.int64)
    slot = _slots(clusters, wanted, id_range)
    if slot is not None:
        return _group_by_slot(clusters, slot, wanted.size, known=counts)
    return _group_by_cluster(clusters.astype(np.int64, copy=False), wanted)


def _group_by_slot(clusters: np.ndarray, slot: np.ndarray, n_wanted: int,
                   *, known: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``_group_by_cluster`` with the id -> position map as an array (``slot[id]``, -1 when
    not wanted; ids must be non-negative and within it): two passes in chunks of the array as
    stored, the second writing each chunk's spikes at their clusters' cursors."""
    counts = np.zeros(n_wanted + 1, dtype=np.int64)
    if known is not None:
        counts[1:] = known
    else:
        for _, chunk in chunks(clusters):
            _count_slots(chunk, slot, counts)
    counts[0] = 0  # unwanted spikes were counted there
    offsets = np.cumsum(counts)
    cursor = offsets[:-1].copy()
    indices = np.empty(offsets[-1], dtype=np.int64)
    for start, chunk in chunks(clusters):
        _fill_slots(chunk, start, slot, cursor, indices)
    return indices, offsets


_DENSE_IDS = 10_000_000
"""Cluster ids below this are looked up in an array (2 ns a spike) rather than a dict (25 ns)."""


@numba.njit(cache=True, nogil=True)
def _count_slots(clusters: np.ndarray, slot: np.ndarray, counts: np.ndarray) -> None:
    for j in range(clusters.size):
        counts[slot[clusters[j]] + 1] += 1  # unwanted spikes count in counts[0]


@numba.njit(cache=True, nogil=True)
def _fill_slots(clusters: np.ndarray, start: int, slot: np.ndarray, cursor: np.ndarray,
                indices: np.ndarray) -> None:
    for j in range(clusters.size):
        k = slot[clusters[j]]
        if k >= 0:
            indices[cursor[k]] = start + j
            cursor[k] += 1


@numba.njit(cache=True, nogil=True)
def _group_by_cluster(clusters: np.ndarray, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Spike indices grouped by requested cluster, in time order within each (a counting sort).

    Returns ``(indices, offsets)``: cluster ``wanted[i]`` owns ``indices[offsets[i]:offsets[i+1]]``.
    """
    slot = {}
    for i in range(wanted.size):
        slot[wanted[i]] = i
    counts = np.zeros(wanted.size + 1, dtype=np.int64)
    which = np.full(clusters.size, -1, dtype=np.int64)
    for j in range(clusters.size):
        k = slot.get(clusters[j], -1)
        which[j] = k
        if k >= 0:
            counts[k + 1] += 1
    offsets = np.cumsum(counts)
    cursor = offsets[:-1].copy()
    indices = np.empty(offsets[-1], dtype=np.int64)
    for j in range(clusters.size):
        k = which[j]
        if k >= 0:
            indices[cursor[k]] = j
            cursor[k] += 1
    return indices, offsets
