"""The 3D autocorrelogram: ACG rows conditioned on the neuron's own smoothed firing rate.

Numerically this is npyx 4.3.1's ``crosscorr_vs_firing_rate(t, t, 2000, 1, fs=fs)``, but the cost
grows with spikes x neighbours in the window instead of with the recording's length: no array
spanning the recording is ever built. The smoothed rate is computed only at spike bins, with the
same floating-point summation as npyx (``_exactsum``: the reference machine's BLAS dot product over
the 250-bin window, as ``np.convolve`` did there; numpy's pairwise sum at the edges, as ``np.mean``
does), because the rate is piecewise constant and spikes often sit exactly on a decile edge: a
1e-10 difference moves them between rows.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

from phy_c4.arrays import group_by_cluster, sorted_unique
from phy_c4.config import AcgSpec
from phy_c4.features._exactsum import constant_kernel_dot, numpy_pairwise_sum
from phy_c4.features.validation import check_sample_rate, check_spike_times

_DEFAULT = AcgSpec()


@numba.njit(cache=True, nogil=True)
def _fill_rate(
    buffer: np.ndarray,
    offset: int,
    first_bin: int,
    length: int,
    cell_start: np.ndarray,
    cell_stop: np.ndarray,
    cell_rate: np.ndarray,
    cell: int,
) -> int:
    """Write the inverse-ISI rate of bins [first_bin, first_bin + length) to buffer[offset:].

    ``cell`` is the first cell whose stop lies after ``first_bin`` (cells are contiguous);
    returns the first cell whose stop lies after the last bin written.
    """
    n_cells = cell_start.size
    position = first_bin
    end = offset + length
    j = offset
    while j < end:
        if cell >= n_cells:
            for k in range(j, end):
                buffer[k] = 0.0
            return cell
        if position < cell_start[cell]:
            run = min(cell_start[cell] - position, end - j)
            value = 0.0
        else:
            run = min(cell_stop[cell] - position, end - j)
            value = cell_rate[cell]
            if position + run >= cell_stop[cell]:
                cell += 1
        for k in range(j, j + run):  # a plain loop: numba's slice assignment costs ~50 ns
            buffer[k] = value
        j += run
        position += run
    return cell


_CHUNK = 1 << 15
_FILL_AHEAD = 1 << 10


@numba.njit(cache=True, nogil=True)
def _smoothed_rate_at_spikes(bins: np.ndarray, bin_s: float, kernel_size: int) -> np.ndarray:
    """npyx's box-car-smoothed inverse-ISI rate (Hz), evaluated at each spike's bin only.

    Rates are materialised in a sliding chunk that covers only the union of the spikes' windows,
    so the cost is bounded by spikes x window, never by the recording's length.
    """
    n_spikes = bins.size
    n_bins = bins[-1] + 1
    n_cells = max(n_spikes - 2, 0)
    cell_start = np.empty(n_cells, dtype=np.int64)
    cell_stop = np.empty(n_cells, dtype=np.int64)
    cell_rate = np.empty(n_cells, dtype=np.float64)
    for i in range(1, n_spikes - 1):
        start = bins[i - 1] + (bins[i] - bins[i - 1]) // 2
        stop = bins[i] + (bins[i + 1] - bins[i]) // 2
        cell_start[i - 1] = start
        cell_stop[i - 1] = stop
        cell_rate[i - 1] = 1.0 / ((stop - start) * bin_s) if stop > start else 0.0

    weight = 1.0 / kernel_size
    half = kernel_size // 2
    chunk = np.empty(max(_CHUNK, 4 * kernel_size), dtype=np.float64)
    chunk_first = -1  # bin held at chunk[0]
    chunk_filled = 0  # bins of the chunk already written
    cell = 0
    rates = np.empty(n_spikes, dtype=np.float64)
    previous_bin = -1
    previous_rate = 0.0
    for j in range(n_spikes):
        b = bins[j]
        if b == previous_bin:
            rates[j] = previous_rate
            continue
        edge = b < kernel_size or b >= n_bins - kernel_size
        # npyx replaces the convolution at both ends by a plain mean over a clipped window
        lo = max(0, b - half) if edge else b - half
        hi = min(n_bins, b + half) if edge else lo + kernel_size
        if chunk_first < 0 or lo > chunk_first + chunk_filled:
            # a gap since the last window: start afresh (bins in between are never needed)
            chunk_first = lo
            chunk_filled = 0
            while cell < n_cells and cell_stop[cell] <= lo:
                cell += 1
        elif hi - chunk_first > chunk.size:
            # slide: keep the filled bins from lo on, drop the rest
            shift = lo - chunk_first
            for k in range(chunk_filled - shift):
                chunk[k] = chunk[k + shift]
            chunk_first = lo
            chunk_filled -= shift
        if hi - chunk_first > chunk_filled:
            # fill ahead for the next spikes whose windows continue this one (a call per
            # spike costs more than the bins it writes), never across a gap between windows
            fill_end = hi
            limit = min(chunk_first + chunk.size, hi + _FILL_AHEAD)
            k = j + 1
            while k < n_spikes and bins[k] - half <= fill_end and \
                    bins[k] - half + kernel_size <= limit:
                fill_end = max(fill_end, bins[k] - half + kernel_size)
                k += 1
            fill_to = fill_end - chunk_first
            cell = _fill_rate(chunk, chunk_filled, chunk_first + chunk_filled,
                              fill_to - chunk_filled, cell_start, cell_stop, cell_rate, cell)
            chunk_filled = fill_to
        if edge:
            count = hi - lo
            value = numpy_pairwise_sum(chunk, lo - chunk_first, count) / count if count else 0.0
        else:
            value = constant_kernel_dot(chunk, lo - chunk_first, weight, kernel_size)
        rates[j] = value
        previous_bin = b
        previous_rate = value
    return rates


@numba.njit(cache=True, nogil=True)
def _accumulate(
    bins: np.ndarray,
    rates: np.ndarray,
    edges: np.ndarray,
    offset: int,
    n_lags: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Occupancy counts per rate row and lag.

    npyx adds the boolean occupancy of the window around every trigger spike. Spikes sharing a
    1-ms bin share a smoothed rate and therefore a row, so triggers are grouped by unique bin
    with a multiplicity; each unique bin within a trigger bin's window then adds that
    multiplicity at its lag in the trigger's row.
    """
    n_rows = edges.size
    n_bins = bins[-1] + 1
    first = bins[0]
    last = bins[-1]
    half = n_lags // 2
    # unique bins, their trigger weight (0 when npyx skips them) and their row
    unique = np.empty(bins.size, dtype=np.int64)
    weight = np.zeros(bins.size, dtype=np.int64)
    row_of = np.zeros(bins.size, dtype=np.int64)
    triggers = np.zeros(n_rows, dtype=np.int64)
    ascending = True  # quantiles are, but NaN rates or rounding could break it: then check
    for r in range(n_rows - 1):
        if not edges[r] <= edges[r + 1]:
            ascending = False
    n_unique = 0
    for j in range(bins.size):
        b = bins[j]
        if n_unique == 0 or unique[n_unique - 1] != b:
            unique[n_unique] = b
            n_unique += 1
        start = b + offset
        if start < 0 or start + n_lags >= n_bins or b < first or b >= last:
            continue
        rate = rates[j]
        if ascending:  # the first edge >= rate is the number of edges below it (no branch)
            row = 0
            for r in range(n_rows):
                row += edges[r] < rate
            if row == n_rows:
                row = n_rows - 1  # above every edge: the top row, as below
        else:
            row = -1
            for r in range(n_rows):
                if edges[r] >= rate:
                    row = r
                    break
            if row < 0:
                # npyx: argmax of an all-False mask is 0, then the top row if above edge 0
                row = n_rows - 1 if rate > edges[0] else 0
        weight[n_unique - 1] += 1
        row_of[n_unique - 1] = row
        triggers[row] += 1
    # flat counts: row r, lag l at r * n_lags + half + l. Each trigger adds its weight at the
    # lag of every unique bin within the window, both sides, into its own row: one contiguous
    # scan whose increments stay in one row (in cache), instead of two scattered increments
    # per pair. The trigger's own bin counts too (lag 0 is zeroed afterwards, as npyx).
    flat = np.zeros(n_rows * n_lags, dtype=np.int64)
    first = 0  # first unique bin at or after the window's start
    stop = 0  # first unique bin after the window's end
    for t in range(n_unique):
        bt = unique[t]
        while unique[first] < bt - half:
            first += 1
        while stop < n_unique and unique[stop] <= bt + half:
            stop += 1
        wt = weight[t]
        if wt == 0:
            continue
        base = row_of[t] * n_lags + half - bt  # + unique[x] >= row start: never negative
        for x in range(first, stop):
            flat[np.uint64(base + unique[x])] += wt
    counts = flat.reshape(n_rows, n_lags).astype(np.float64)
    return counts, triggers


def quantiles_linear(values: np.ndarray, quantiles: np.ndarray) -> np.ndarray:
    """``np.quantile(values, quantiles)`` (method "linear") bit for bit, from a full sort.

    numpy partitions around every needed rank, which for the 20 ranks of 10 rate rows costs
    2.3x a sort of the same 90 k rates; the order statistics are the same either way, and the
    interpolation below is numpy's own ``_lerp`` (tests/features/test_acg3d.py checks equality).
    """
    ordered = np.sort(np.asarray(values, dtype=np.float64))
    n = ordered.size
    # numpy's "linear" get_virtual_index, (n - 1) * q; its clipping of the ranks follows
    virtual = (n - 1) * np.asarray(quantiles, dtype=np.float64)
    previous = np.floor(virtual)
    gamma = virtual - previous
    below = previous.astype(np.intp)
    above = below + 1
    last = virtual >= n - 1
    below[last] = above[last] = n - 1
    first = virtual < 0
    below[first] = above[first] = 0
    a, b = ordered[below], ordered[above]
    # numpy's _lerp, operation for operation (a + d*t, or b - d*(1 - t) from t = 0.5 on):
    # the rate-row edges are compared with rates that often sit exactly on them
    difference = b - a
    return np.where(gamma >= 0.5, b - difference * (1 - gamma), a + difference * gamma)


def _window(spec: AcgSpec, fs: float) -> tuple[float, int, int, int]:
    """bin size (ms), lag offset, number of lags and samples per bin, as npyx derives them."""
    bin_ms = float(np.clip(spec.bin_ms, 1000.0 / fs, 1e8))
    win_ms = float(np.clip(spec.win_ms, 1e-2, 1e8))
    n_lags = 2 * int(0.5 * win_ms / bin_ms) + 1
    first_lag = np.linspace(-win_ms / 2, win_ms / 2, num=n_lags)[0]
    offset = int(np.ceil(first_lag / bin_ms))
    samples_per_bin = int(np.ceil(fs / (1000 / bin_ms)))
    return bin_ms, offset, n_lags, samples_per_bin


def _acg_3d_checked(times: np.ndarray, fs: float, spec: AcgSpec) -> tuple[np.ndarray, np.ndarray]:
    bin_ms, offset, n_lags, samples_per_bin = _window(spec, fs)
    bins = times // samples_per_bin
    kernel_size = math.ceil(spec.smooth_ms / bin_ms)
    rates = _smoothed_rate_at_spikes(bins, bin_ms / 1000, kernel_size)
    levels = np.linspace(0, 1, spec.n_rate_bins + 2)[1:-1]
    edges = quantiles_linear(rates, levels)
    counts, triggers = _accumulate(bins, rates, edges, offset, n_lags)
    with np.errstate(invalid="ignore", divide="ignore"):
        acg = np.nan_to_num(counts / triggers[:, None].astype(np.float64))
    acg[:, n_lags // 2] = 0.0
    return edges, acg


def acg_3d(
    spike_times: np.ndarray,
    fs: float,
    *,
    win_ms: float = _DEFAULT.win_ms,
    bin_ms: float = _DEFAULT.bin_ms,
    n_rate_bins: int = _DEFAULT.n_rate_bins,
    smooth_ms: float = _DEFAULT.smooth_ms,
    min_spikes: int = 100,
) -> tuple[np.ndarray, np.ndarray]:
    """3D-ACG of one unit: ``(rate_bin_edges (n_rate_bins,) in Hz, acg (n_rate_bins, n_lags))``.

    ``spike_times`` are sorted, unique integer sample indices; ``fs`` is the recording's real
    sample rate. ``acg[k, lag]`` is the probability of a spike in a ``bin_ms`` bin at that lag,
    given a trigger spike whose smoothed firing rate falls in row ``k`` (lag 0 set to 0).
    Raises ``ValueError`` on bad input and ``TooFewSpikesError`` under ``min_spikes``.
    """
    fs = check_sample_rate(fs)
    times = check_spike_times(spike_times, min_spikes=min_spikes)
    spec = AcgSpec(win_ms=win_ms, bin_ms=bin_ms, n_rate_bins=n_rate_bins, smooth_ms=smooth_ms)
    _check_spec(spec)
    return _acg_3d_checked(times, fs, spec)


def _check_spec(spec: AcgSpec) -> None:
    if not (spec.win_ms > 0 and spec.bin_ms > 0 and spec.smooth_ms > 0):
        raise ValueError("win_ms, bin_ms and smooth_ms must be positive")
    if spec.n_rate_bins < 1:
        raise ValueError("n_rate_bins must be at least 1")


def acg_3d_units(
    units: Sequence[np.ndarray],
    fs: float,
    *,
    spec: AcgSpec = _DEFAULT,
    min_spikes: int = 100,
    n_jobs: int | None = None,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """3D-ACGs of many units given as one spike-time array each, on all cores.

    Returns ``(edges (n, R), acgs (n, R, n_lags), status)`` in the order of ``units``. Exact
    duplicate spike times are dropped (as npyx's ``trn`` does). A unit that cannot be computed
    gets NaN arrays and a status saying why; others get ``"ok"``.
    """
    fs = check_sample_rate(fs)
    _check_spec(spec)
    _, _, n_lags, _ = _window(spec, fs)
    edges = np.full((len(units), spec.n_rate_bins), np.nan)
    acgs = np.full((len(units), spec.n_rate_bins, n_lags), np.nan)
    status = ["ok"] * len(units)

    def work(i: int) -> None:
        unit = np.asarray(units[i])
        if unit.size > 1 and np.any(unit[1:] < unit[:-1]):
            unit = np.sort(unit)
        unit = sorted_unique(unit)
        if unit.size == 0:
            status[i] = "no spikes"
            return
        try:
            checked = check_spike_times(unit, min_spikes=min_spikes)
        except ValueError as error:
            status[i] = str(error)
            return
        edges[i], acgs[i] = _acg_3d_checked(checked, fs, spec)

    workers = n_jobs or os.cpu_count() or 1
    # Largest units first so the pool ends together; kernels release the GIL.
    schedule = sorted(range(len(units)), key=lambda i: -len(units[i]))
    if workers == 1 or len(units) < 2:
        for i in schedule:
            work(i)
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(work, schedule))
    return edges, acgs, status


def acg_3d_many(
    spike_times: np.ndarray,
    spike_clusters: np.ndarray,
    cluster_ids: Sequence[int],
    *,
    fs: float,
    spec: AcgSpec = _DEFAULT,
    min_spikes: int = 100,
    n_jobs: int | None = None,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """3D-ACGs of many clusters from Phy's flat arrays (``acg_3d_units`` after grouping).

    Returns ``(edges (n, R), acgs (n, R, n_lags), status)``: one entry per requested cluster, in
    order; a cluster without spikes gets the status ``"no spikes"``.
    """
    times = np.asarray(spike_times)
    clusters = np.asarray(spike_clusters)
    if times.ndim != 1 or clusters.shape != times.shape:
        raise ValueError(
            f"spike_times {times.shape} and spike_clusters {clusters.shape} must be 1-D and equal"
        )
    order, offsets = group_by_cluster(clusters, np.asarray(list(cluster_ids), dtype=np.int64))
    units = [times[order[offsets[i] : offsets[i + 1]]] for i in range(offsets.size - 1)]
    return acg_3d_units(units, fs, spec=spec, min_spikes=min_spikes, n_jobs=n_jobs)
