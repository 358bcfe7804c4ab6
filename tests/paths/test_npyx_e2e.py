"""End to end against npyx 4.3.1 itself, without npyx: its kept spikes, waveforms, 3D-ACGs,
unit set and four files on generated folders (tests/data/npyx_e2e, made by
``benchmarks/npyx_end_to_end.py --write-references``).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

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
