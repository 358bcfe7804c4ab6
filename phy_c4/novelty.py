"""``c4_novelty``: how little a unit fires and looks like a unit of the cerebellar cortex.

The ensemble's own feature space only knows its training lab: its distance to the training units
said "not Lisberger" more than "not cerebellum" (issue #25: AUROC 0.70 on held-out labs). This
score uses what separates cerebellar from cortical firing in the literature and in the data
(``benchmarks/novelty_heldout.py`` measures every candidate on held-out units first):

- the firing rate: cerebellar cortex units fire fast and tonically (Purkinje simple spikes
  40-100 Hz, mossy fibres and interneurons 10-60 Hz; Zhou et al. 2014, Van Dijck et al. 2013),
  most cortical and hippocampal units far slower (Mizuseki & Buzsáki 2013);
- the local regularity of consecutive intervals (CV2, Holt et al. 1996; LvR, Shinomoto et al.
  2009): local measures, so slow changes of rate over a long recording do not count;
- the spike's trough-to-peak width.

Global measures (the ISI's CV, the long-interval tail) are measured but not used: spike trains
made from the cerebellar tables are renewal processes whose tail is exponential by construction,
so those measures would tell surrogate trains from real ones, not cerebellum from cortex.

The score is a logistic model of "cortical rather than cerebellar" over those features
(standardised), between 0 (cerebellar-like) and 1; the contract (features, their definitions'
version, coefficients, threshold, data) is ``MODEL`` below and is written into every run's
parameters. Above ``MODEL.threshold`` (set so that about 10 % of held-out cerebellar units are
flagged) ``c4_status`` says "unlike cerebellar units".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

LVR_REFRACTORY_S = 0.005  # Shinomoto et al. 2009's R
FEATURE_NAMES = ("log10_rate", "cv2", "lvr", "width_ms")


@dataclass(frozen=True, kw_only=True)
class NoveltyModel:
    """A fitted score: ``1 / (1 + exp(-(coef . (x - mean) / scale + intercept)))``."""

    version: str
    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    threshold: float
    data: str

    def score(self, values: np.ndarray) -> np.ndarray:
        """(N,) scores from (N, len(features)) feature values; NaN where a value is missing."""
        x = (np.asarray(values, dtype=np.float64) - np.asarray(self.mean)) / \
            np.asarray(self.scale)
        logit = x @ np.asarray(self.coef) + self.intercept
        return 1.0 / (1.0 + np.exp(-logit))

    def to_dict(self) -> dict:
        return asdict(self)


def interval_features(times: np.ndarray, fs: float) -> tuple[float, float, float]:
    """(log10 rate Hz, CV2, LvR) of sorted spike times in samples; NaN with < 3 intervals.

    The rate is 1 / mean interval, so the gaps the quality filter leaves count as intervals
    only where they are (one each)."""
    t = np.asarray(times, dtype=np.int64)
    if t.size > 1 and np.any(t[1:] < t[:-1]):
        t = np.sort(t)
    d = np.diff(t)
    d = d[d > 0] / float(fs)  # duplicate times are one spike (np.unique's hash sort is slow)
    if d.size < 3:
        return float("nan"), float("nan"), float("nan")
    a, b = d[:-1], d[1:]
    total = a + b
    cv2 = float(np.mean(2.0 * np.abs(b - a) / total))
    lvr = float(3.0 / (d.size - 1) * np.sum((1.0 - 4.0 * a * b / total ** 2) *
                                            (1.0 + 4.0 * LVR_REFRACTORY_S / total)))
    return float(np.log10(1.0 / np.mean(d))), cv2, lvr


def trough_to_peak_ms(waveform: np.ndarray | None, fs: float) -> float:
    """Time from the largest deflection (taken as the trough, the sign flipped if positive) to
    the following maximum, on a 10x linearly interpolated copy; NaN without a waveform."""
    if waveform is None or fs <= 0:
        return float("nan")
    w = np.asarray(waveform, dtype=np.float64).ravel()
    if w.size < 3 or not np.all(np.isfinite(w)) or np.ptp(w) == 0:
        return float("nan")
    fine = np.interp(np.linspace(0, w.size - 1, (w.size - 1) * 10 + 1), np.arange(w.size), w)
    if abs(fine.min()) < abs(fine.max()):
        fine = -fine
    trough = int(np.argmin(fine))
    peak = trough + int(np.argmax(fine[trough:]))
    return (peak - trough) / 10.0 / fs * 1000.0


def unit_features(times: np.ndarray, fs: float, waveform: np.ndarray | None,
                  *, waveform_fs: float) -> np.ndarray:
    """The ``FEATURE_NAMES`` values of one unit."""
    return np.array([*interval_features(times, fs), trough_to_peak_ms(waveform, waveform_fs)])


MODEL = NoveltyModel(
    version="firing-1",
    features=FEATURE_NAMES,
    mean=(1.424912, 0.64687, 0.805906, 0.375538),
    scale=(0.444309, 0.246707, 0.576568, 0.306822),
    coef=(-1.148657, 2.121017, -1.663249, -0.377097),
    intercept=-1.391078,
    threshold=0.6232,
    data="Lisberger + Häusser (c4_derived, trains from surrogate_phy) against CellExplorer "
         "ground truth; benchmarks/novelty_heldout.py",
)
"""The shipped score, fitted by ``benchmarks/novelty_heldout.py`` (which checks that these
numbers are what the data give)."""


def novelty_scores(features: np.ndarray, model: NoveltyModel = MODEL) -> np.ndarray:
    """(N,) scores; a unit without a waveform is scored as if its width were the reference
    mean (the firing alone)."""
    values = np.array(features, dtype=np.float64, ndmin=2)
    if values.size == 0:
        return np.zeros(0)
    mean = np.asarray(model.mean)
    missing = ~np.isfinite(values)
    values[missing] = np.broadcast_to(mean, values.shape)[missing]
    return model.score(values)
