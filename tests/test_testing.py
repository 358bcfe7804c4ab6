"""The example-dataset generator writes a Phy folder whose units have their types' statistics."""

from __future__ import annotations

import numpy as np
import pytest
from phylib.io.model import load_model

from phy_c4.io.tsv import read_cluster_column
from phy_c4.testing import MODELS, make_dataset


def test_folder_is_complete_and_opens_in_phylib(example_dir):
    for name in ("params.py", "spike_times.npy", "spike_clusters.npy", "spike_templates.npy",
                 "templates.npy", "amplitudes.npy", "channel_map.npy", "channel_positions.npy",
                 "cluster_group.tsv", "raw.bin"):
        assert (example_dir / name).is_file(), name
    model = load_model(example_dir / "params.py")
    assert model.sample_rate == 30000.0
    assert model.traces.shape == (200 * 30000, 4)
    assert set(model.metadata["group"].values()) == {"good"}
    assert np.all(np.diff(model.spike_samples) >= 0)


def test_rates_regularity_and_pauses_follow_the_documented_models(example_dir):
    times = np.load(example_dir / "spike_times.npy").astype(np.int64) / 30000.0
    clusters = np.load(example_dir / "spike_clusters.npy")
    truth = read_cluster_column(example_dir / "cluster_true_type.tsv")
    by_type = {t: times[clusters == c] for c, t in truth.items()}
    for cell_type, train in by_type.items():
        rate = train.size / 200.0
        lo, hi = MODELS[cell_type].rate_hz
        assert lo * 0.7 <= rate <= hi * 1.3, (cell_type, rate)
    cv = {t: np.std(np.diff(x)) / np.mean(np.diff(x)) for t, x in by_type.items()}
    assert cv["PkC_ss"] < cv["MLI"] and cv["GoC"] < cv["MLI"]
    mfb_isis = np.diff(by_type["MFB"])
    assert np.mean(mfb_isis < 0.004) > 0.4  # bursts
    # simple spikes pause after each complex spike of the same cell
    cs, ss = by_type["PkC_cs"], by_type["PkC_ss"]
    after = np.searchsorted(ss, cs)
    delays = ss[np.minimum(after, ss.size - 1)] - cs
    assert np.median(delays) > 0.009


def test_templates_are_the_real_median_shapes_and_end_at_zero(example_dir):
    """Each template is its type's median C4-database waveform (so the types differ as real
    units do), and reaches 0 at both ends: no spike ends in a step (issue 21 item 8)."""
    from phy_c4._example_shapes import PEAK, SHAPES
    from phy_c4.testing import TEMPLATE_PEAK

    templates = np.load(example_dir / "templates.npy")
    truth = read_cluster_column(example_dir / "cluster_true_type.tsv")
    for cluster, cell_type in truth.items():
        wave = templates[cluster][:, np.abs(templates[cluster]).max(0).argmax()]
        wave = wave / np.abs(wave).max()
        assert abs(wave[0]) < 0.01 and abs(wave[-1]) < 0.01, cell_type
        assert np.abs(np.diff(wave[-4:])).max() < 0.01, cell_type  # a smooth end, no kink
        if cell_type == "PkC_cs":  # drawn (DRAWN_SHAPES)
            continue
        real = np.asarray(SHAPES[cell_type])[PEAK - TEMPLATE_PEAK + 10 : PEAK + wave.size
                                             - TEMPLATE_PEAK - 10]
        assert np.corrcoef(wave[10:-10], real)[0, 1] > 0.99, cell_type


def test_bad_arguments():
    with pytest.raises(ValueError, match="positive"):
        make_dataset("/nonexistent/never", duration_s=0)
