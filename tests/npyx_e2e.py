"""phy_c4 against npyx 4.3.1's own outputs on a generated folder (``benchmarks/
npyx_end_to_end.py`` makes them; ``tests/paths/test_npyx_e2e.py`` checks them without npyx).

npyx's probabilities are those of the same archive on npyx's rows (its network step is
``tests/model/test_laplace.py``'s), formatted into its four files by its own rule: mean over
members, argmax, top probability, top / second ratio, ``"k/N"`` votes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from phy_c4.model import Bundle, predict_raw
from phy_c4.pipeline import PipelineOptions, classify
from phy_c4.result import ClassificationResult

DATA = Path(__file__).resolve().parent / "data" / "npyx_e2e"


@dataclass
class NpyxUnits:
    """npyx's per-unit outputs on one folder."""

    units: list[int]
    skipped: dict[int, str]
    masks: dict[int, np.ndarray] = field(default_factory=dict)
    raw_waveforms: dict[int, np.ndarray] = field(default_factory=dict)
    waveforms: dict[int, np.ndarray] = field(default_factory=dict)
    acg_logs: dict[int, np.ndarray] = field(default_factory=dict)

    @property
    def classified(self) -> list[int]:
        return [u for u in self.units if u not in self.skipped]

    def rows(self) -> np.ndarray:
        """npyx's network rows (2010 log-ACG values x 10, then 90 waveform values)."""
        return np.stack([np.r_[self.acg_logs[u].ravel() * 10, self.waveforms[u]]
                         for u in self.classified])


def read_npyx(path: Path, n_spikes: dict[int, int]) -> NpyxUnits:
    """npyx's saved outputs; ``n_spikes`` (unique spike times per unit) unpacks the masks."""
    with np.load(path, allow_pickle=False) as data:
        out = NpyxUnits([int(u) for u in data["units"]],
                        {int(k.split("/")[1]): str(data[k]) for k in data.files
                         if k.startswith("skipped/")})
        for key in data.files:
            kind, _, unit = key.partition("/")
            if not unit:
                continue
            u = int(unit)
            if kind == "mask":
                out.masks[u] = np.unpackbits(data[key])[: n_spikes[u]].astype(bool)
            elif kind == "raw_waveform":
                out.raw_waveforms[u] = data[key]
            elif kind == "waveform":
                out.waveforms[u] = data[key]
            elif kind == "acg_log":
                out.acg_logs[u] = data[key]
    return out


def unit_times(folder: Path) -> dict[int, np.ndarray]:
    """Each cluster's unique spike times (npyx's ``trn``)."""
    times = np.load(folder / "spike_times.npy").astype(np.int64).ravel()
    clusters = np.load(folder / "spike_clusters.npy").ravel()
    return {int(c): np.unique(times[clusters == c]) for c in np.unique(clusters)}


def npyx_files(bundle: Bundle, npyx: NpyxUnits, threshold: float
               ) -> tuple[np.ndarray, dict[str, dict[int, object]]]:
    """npyx's mean probabilities (units, classes) and its four files' values."""
    raw = predict_raw(bundle, npyx.rows(), calibrated=True)
    mean = raw.mean(axis=2)
    ordered = np.sort(mean, axis=1)
    ratio = ordered[:, -1] / ordered[:, -2]
    best = mean.argmax(axis=1)
    votes = (raw.argmax(axis=1) == best[:, None]).sum(axis=1)
    files: dict[str, dict[int, object]] = {
        "predicted_cell_type": {}, "pred_probability": {}, "confidence_ratio": {},
        "model_votes": {}}
    for i, u in enumerate(npyx.classified):
        if ratio[i] >= threshold:
            files["predicted_cell_type"][u] = bundle.labels[best[i]]
            files["pred_probability"][u] = float(mean[i].max())
            files["confidence_ratio"][u] = float(ratio[i])
            files["model_votes"][u] = f"{votes[i]}/{raw.shape[2]}"
    return mean, files


def run_phy_c4(folder: Path, bundle: Bundle, threshold: float,
               periods: str = "auto") -> ClassificationResult:
    from phy_c4.features.quality import QualitySpec

    options = PipelineOptions(threshold=threshold, cache=False, pairing=None, threads=1,
                              quality=QualitySpec(periods=periods))
    return classify(folder, None, bundle=bundle, options=options)


@dataclass
class Comparison:
    lines: list[str]
    same_units: bool
    max_prob: float
    max_waveform: float
    max_raw_waveform: float
    max_acg: float
    masks_equal: bool
    files_equal: bool


def compare_folder(folder: Path, reference: Path, bundle: Bundle, threshold: float = 1.0,
                   periods: str = "auto") -> Comparison:
    """phy_c4's classification of ``folder`` against npyx's outputs in ``reference``
    (``periods``: the quality filter's, ``auto`` = npyx's for C4's models)."""
    from phy_c4.io.results import npyx_values
    from phy_c4.status import Status, status_of

    times = unit_times(folder)
    npyx = read_npyx(reference, {u: t.size for u, t in times.items()})
    result = run_phy_c4(folder, bundle, threshold, periods)
    row = {int(c): i for i, c in enumerate(result.cluster_ids)}
    ours = [c for c in npyx.units if status_of(result.status[row[c]]) in (
        Status.OK, Status.BELOW_THRESHOLD)]
    lines = [f"units: npyx {npyx.classified}, phy_c4 {ours}"]
    mean, files = npyx_files(bundle, npyx, threshold)
    worst = {"prob": 0.0, "wvf": 0.0, "raw": 0.0, "acg": 0.0}
    masks_equal = True
    pipeline_kept = _kept_by_pipeline(folder, bundle, npyx.units, periods)
    for u in npyx.units:
        features = result.features[u]
        status = result.status[row[u]]
        if u in npyx.skipped:  # npyx kept no spike (or fewer than 10)
            masks_equal &= u not in pipeline_kept
        else:
            masks_equal &= u in pipeline_kept and np.array_equal(
                pipeline_kept[u], times[u][npyx.masks[u]])
        if u in npyx.skipped:
            lines.append(f"unit {u}: npyx skips it ({npyx.skipped[u]}); phy_c4: {status}")
            continue
        if u not in ours:
            lines.append(f"unit {u}: npyx classifies it; phy_c4 does not ({status})")
            continue
        i = npyx.classified.index(u)
        d_prob = float(np.abs(result.probabilities[row[u]] - mean[i]).max())
        d_wvf = float(np.abs(features.inputs["waveform"] - npyx.waveforms[u]).max())
        d_raw = float(np.abs(features.raw_waveform - npyx.raw_waveforms[u]).max() /
                      np.abs(npyx.raw_waveforms[u]).max())
        d_acg = float(np.abs(features.inputs["acg_3d_log"] - npyx.acg_logs[u]).max())
        for key, value in zip(worst, (d_prob, d_wvf, d_raw, d_acg), strict=True):
            worst[key] = max(worst[key], value)
        lines.append(f"unit {u}: {result.labels[int(np.argmax(mean[i]))]} (npyx) "
                     f"{result.labels[int(np.argmax(result.probabilities[row[u]]))]} (phy_c4); "
                     f"max |dp| {d_prob:.2e}, waveform {d_wvf:.2e}, raw waveform (relative) "
                     f"{d_raw:.2e}, log 3D-ACG {d_acg:.2e}, {features.n_spikes_used} spikes")
    written = npyx_values(result.table)
    files_equal = True
    for name, values in files.items():
        theirs = written[name]
        if set(theirs) != set(values):
            files_equal = False
            continue
        for u, value in values.items():
            if isinstance(value, float):
                files_equal &= abs(theirs[u] - value) <= 0.5e-4 + 1e-12  # 4 decimals
            else:
                files_equal &= theirs[u] == value
    lines.append(f"npyx's four files equal to file precision (4 decimals): {files_equal}; "
                 f"kept spikes equal: {masks_equal}")
    return Comparison(lines, ours == npyx.classified, worst["prob"], worst["wvf"], worst["raw"],
                      worst["acg"], masks_equal, files_equal)


def _kept_by_pipeline(folder: Path, bundle: Bundle, ids: list[int],
                      periods: str) -> dict[int, np.ndarray]:
    """The spikes the pipeline keeps for each unit (``prepare_units``, as ``classify`` runs it)."""
    from phy_c4.features.quality import QualitySpec
    from phy_c4.io.dataset import open_recording
    from phy_c4.pipeline import prepare_units, resolve_periods

    options = resolve_periods(PipelineOptions(cache=False, threads=1,
                                              quality=QualitySpec(periods=periods)),
                              bundle.architecture)
    features, kept = prepare_units(open_recording(folder), ids, options, spec=bundle.spec)
    return {c: kept[c] for c in ids if features[c].status == "ok"}
