"""Log-lag resampling of a 3D-ACG (npyx 4.3.1 ``convert_acg_log``)."""

from __future__ import annotations

import numpy as np

from phy_c4.config import AcgSpec

_DEFAULT = AcgSpec()


def log_lags(
    bin_ms: float = _DEFAULT.bin_ms,
    win_ms: float = _DEFAULT.win_ms,
    n_log_bins: int = _DEFAULT.n_log_bins,
    *, start_log_ms: float = _DEFAULT.start_log_ms,
) -> np.ndarray:
    """The positive log-spaced lags (ms) the resampled ACG is evaluated at."""
    linear = _positive_linear_lags(bin_ms, win_ms)
    lags = np.logspace(np.log10(linear[0]), np.log10(linear[-1]), n_log_bins)
    return lags[lags >= start_log_ms]


def _positive_linear_lags(bin_ms: float, win_ms: float) -> np.ndarray:
    all_lags = np.arange(-win_ms // 2, win_ms // 2 + bin_ms, bin_ms)
    return all_lags[len(all_lags) // 2 + 1 :]


def acg_3d_log(
    acg: np.ndarray,
    *,
    bin_ms: float = _DEFAULT.bin_ms,
    win_ms: float = _DEFAULT.win_ms,
    n_log_bins: int = _DEFAULT.n_log_bins,
    start_log_ms: float = _DEFAULT.start_log_ms,
    smooth_sd: int = _DEFAULT.log_smooth_sd,
) -> np.ndarray:
    """Resample each row's positive lags onto log-spaced lags, smooth, and mirror.

    Input ``(rows, n_lags)`` (or 1-D); output ``(rows, 2 * n_log + 1)``: the reversed log bins,
    0 at lag 0, then the log bins. Gaussian smoothing (sd in log bins) with reflected edges.
    """
    values = np.asarray(acg, dtype=np.float64)
    one_d = values.ndim == 1
    rows = np.atleast_2d(values)
    if rows.ndim != 2:
        raise ValueError(f"acg must be 1-D or 2-D, got shape {values.shape}")
    all_lags = np.arange(-win_ms // 2, win_ms // 2 + bin_ms, bin_ms)
    if rows.shape[1] != all_lags.size:
        raise ValueError(
            f"acg has {rows.shape[1]} lags but bin_ms={bin_ms}, win_ms={win_ms} "
            f"imply {all_lags.size}"
        )
    if not np.all(np.isfinite(rows)):
        raise ValueError("acg contains NaN or infinite values")
    linear = _positive_linear_lags(bin_ms, win_ms)
    lags = np.logspace(np.log10(linear[0]), np.log10(linear[-1]), n_log_bins)
    positive = rows[:, all_lags.size // 2 + 1 :]
    resampled = np.stack([np.interp(lags, linear, row) for row in positive])
    resampled = resampled[:, lags >= start_log_ms]
    if smooth_sd:
        from scipy.ndimage import gaussian_filter1d  # here: figures need log_lags alone

        resampled = gaussian_filter1d(
            resampled, sigma=smooth_sd, axis=1, mode="reflect", truncate=4.0
        )
    zeros = np.zeros((resampled.shape[0], 1))
    mirrored = np.concatenate([resampled[:, ::-1], zeros, resampled], axis=1)
    return mirrored[0] if one_d else mirrored
