"""Input checks shared by the feature functions: clear errors before any numba kernel runs."""

from __future__ import annotations

import math

import numpy as np


class TooFewSpikesError(ValueError):
    """A unit has fewer spikes than the minimum a feature needs (C4 skips units under 100)."""


def check_sample_rate(fs: float) -> float:
    """A finite sample rate of at least 1 kHz (the ACG bins at 1 ms)."""
    try:
        value = float(fs)
    except (TypeError, ValueError):
        raise ValueError(f"sample rate must be a number in Hz, got {fs!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"sample rate must be positive and finite, got {fs!r}")
    if value < 1000:
        raise ValueError(f"sample rate {value:g} Hz is below 1 kHz: is it in kHz instead of Hz?")
    return value


def check_spike_times(spike_times: np.ndarray, *, min_spikes: int = 100) -> np.ndarray:
    """Sorted, unique, non-negative integer sample indices as int64, or a ValueError saying why."""
    times = np.asarray(spike_times)
    if times.ndim != 1:
        raise ValueError(f"spike_times must be 1-D, got shape {times.shape}")
    if times.size == 0:
        raise ValueError("spike_times is empty")
    if not np.issubdtype(times.dtype, np.integer):
        if np.issubdtype(times.dtype, np.floating) and np.all(np.isfinite(times)):
            if np.all(times == np.round(times)):
                times = times.astype(np.int64)
            else:
                raise ValueError(
                    "spike_times must be integer sample indices (as in spike_times.npy), "
                    "got non-integer floats: are they in seconds?"
                )
        else:
            raise ValueError(f"spike_times must be integer sample indices, got {times.dtype}")
    if times.dtype == np.uint64 and times.size and times.max() > np.iinfo(np.int64).max:
        raise ValueError("spike_times overflow int64")
    times = times.astype(np.int64, copy=False)
    if times[0] < 0 or times.min() < 0:
        raise ValueError("spike_times contains negative sample indices")
    steps = np.diff(times)
    if np.any(steps < 0):
        raise ValueError("spike_times must be sorted in increasing order")
    if np.any(steps == 0):
        raise ValueError(
            f"spike_times contains {int(np.sum(steps == 0))} duplicate times; drop them first "
            "(np.unique), as npyx does"
        )
    if times.size < min_spikes:
        raise TooFewSpikesError(f"too few spikes: {times.size} < {min_spikes}")
    return np.ascontiguousarray(times)
