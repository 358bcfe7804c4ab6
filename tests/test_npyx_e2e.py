"""End to end against npyx 4.3.1 itself, without npyx: its kept spikes, waveforms, 3D-ACGs,
unit set and four files on generated folders (tests/data/npyx_e2e, made by
``benchmarks/npyx_end_to_end.py --write-references``)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from phy_c4.features.quality import QualitySpec, quality_filter
from phy_c4.testing import make_npyx_folder
from phy_c4.weights import import_c4_archive
from tests.npyx_e2e import DATA, compare_folder, read_npyx, unit_times

REFERENCES = sorted(DATA.glob("npyx_seed*_*s.npz"))


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """One member of ../shared/reference/c4_format/base (the issue's archive), imported."""
    return import_c4_archive(DATA / "trained_models.tar.gz", "base",
                             dest=tmp_path_factory.mktemp("npyx_e2e") / "bundle")


def test_references_exist():
    assert len(REFERENCES) >= 3


@pytest.mark.parametrize("reference", REFERENCES, ids=lambda p: p.stem)
def test_same_units_inputs_probabilities_and_files_as_npyx(reference: Path, bundle, tmp_path):
    seed, duration = re.match(r"npyx_seed(\d+)_([\d.]+)s", reference.stem).groups()
    folder = tmp_path / "folder"
    make_npyx_folder(folder, int(seed), float(duration))
    times = unit_times(folder)
    with np.load(reference) as saved:  # the generator still makes what npyx saw
        assert {u: int(saved[f"n_spikes/{u}"]) for u in saved["units"]} == \
            {u: t.size for u, t in times.items()}, "regenerate with npyx_end_to_end.py"
    result = compare_folder(folder, reference, bundle)
    report = "\n".join(result.lines)
    assert result.same_units, report
    assert result.masks_equal, report
    assert result.max_waveform <= 1e-5, report
    assert result.max_acg <= 1e-9, report
    assert result.max_prob <= 1e-4, report
    assert result.files_equal, report
    npyx = read_npyx(reference, {u: t.size for u, t in times.items()})
    assert npyx.skipped and npyx.classified  # both kinds of unit are exercised


def _train(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.cumsum(rng.exponential(1 / 20, int(seconds * 25)) + 0.002)
    t = np.unique(np.round(t[t < seconds] * 30000).astype(np.int64))
    return np.unique(np.r_[t, 3_600_000])  # one spike exactly on the 120-s chunk edge


def test_npyx_periods_drop_the_last_minutes_and_edge_spikes_whole_keeps_them():
    times = _train(300)
    amplitudes = np.random.default_rng(1).normal(30, 3, times.size)
    seconds = times / 30000
    npyx = quality_filter(times, amplitudes, 30000.0, spec=QualitySpec(periods="npyx"))
    whole = quality_filter(times, amplitudes, 30000.0, spec=QualitySpec(periods="whole"))
    assert npyx.reason == whole.reason == "ok"
    # floor(300 / 60) = 5 min analysed, the last 30-s window ends at 260 s
    edge = times == 3_600_000
    assert not npyx.keep[seconds > 260].any() and npyx.keep[(seconds < 259) & ~edge].all()
    assert not npyx.keep[edge].any()
    assert whole.keep.all()


def test_periods_are_decided_by_the_model_family_and_checked():
    from phy_c4.pipeline import PipelineOptions, resolve_periods

    options = PipelineOptions()
    assert options.quality.periods == "auto"
    assert resolve_periods(options, "c4_cnn").quality.periods == "npyx"
    assert resolve_periods(options, "c4_tabular").quality.periods == "whole"
    explicit = PipelineOptions(quality=QualitySpec(periods="whole"))
    assert resolve_periods(explicit, "c4_cnn").quality.periods == "whole"
    with pytest.raises(ValueError, match="filter periods"):
        QualitySpec(periods="all")
