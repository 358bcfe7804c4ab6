"""Example datasets: complete Phy folders whose units look like the five C4 cell types.

``make_dataset`` writes params.py, spike_times/clusters/templates, templates, amplitudes,
channel map and positions, whitening matrices, cluster_group.tsv, cluster_layer.tsv and a small
int16 raw binary, so every code path (Phy GUI, raw-data waveforms, quality filter) can run.

The firing statistics follow the cerebellar literature the C4 paper summarises (Beau et al.
2025, Fig. 1; Zhou et al. 2014 and Lisberger-lab recordings for Purkinje cells; Van Dijck et al.
2013 for mossy fibres; Prsa et al. 2009; Holtzman et al. 2006 for Golgi cells; Häusser & Clark
1997 for interneurons). They are generative caricatures, not fitted models:

Types (rate in Hz; ISI model):

- PkC_ss: 40-100; gamma shape 6 (regular), 10-25 ms pause after each spike of the partner
  PkC_cs.
- PkC_cs: 0.5-2; gamma shape 2 with a 100-ms refractory period.
- MLI: 5-30; gamma shape 1.2 (irregular).
- GoC: 5-15; gamma shape 5 (regular).
- MFB: 30-70; bursts of 3-6 spikes 1.5-3 ms apart, gamma shape 1 between bursts.

Waveforms are real except PkC_cs: each type's median waveform over the labelled mouse units of
the C4 database (``phy_c4/_example_shapes.py``, with its attribution); PkC_cs keeps a drawn
broad multi-phasic shape (``DRAWN_SHAPES``). All are tapered to zero at the template's ends, so
no spike ends in a step. ``benchmarks/example_types.py`` measures what the default bundle calls
each type of the demo's dataset.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TYPES = ("PkC_ss", "PkC_cs", "MLI", "GoC", "MFB")
N_TEMPLATE_SAMPLES = 82
TEMPLATE_PEAK = 41


@dataclass(frozen=True)
class TypeModel:
    """How one cell type fires and what its spike looks like (see the module table)."""

    rate_hz: tuple[float, float]
    shape: float
    refractory_s: float
    amplitude_uv: tuple[float, float]


MODELS: dict[str, TypeModel] = {
    "PkC_ss": TypeModel((40, 100), 6.0, 0.002, (80, 200)),
    "PkC_cs": TypeModel((0.5, 2.0), 2.0, 0.100, (100, 250)),
    "MLI": TypeModel((5, 30), 1.2, 0.002, (50, 150)),
    "GoC": TypeModel((5, 15), 5.0, 0.003, (60, 160)),
    "MFB": TypeModel((30, 70), 1.0, 0.0015, (60, 180)),
}
DRAWN_SHAPES = {
    "PkC_ss": ((-1.0, 0.0, 0.10), (0.45, 0.35, 0.18)),
    "PkC_cs": ((-1.0, 0.0, 0.25), (0.5, 0.8, 0.35), (-0.45, 1.6, 0.3), (0.3, 2.4, 0.4)),
    "MLI": ((-1.0, 0.0, 0.09), (0.35, 0.30, 0.15)),
    "GoC": ((-1.0, 0.0, 0.22), (0.30, 0.90, 0.60)),
    "MFB": ((0.35, -0.25, 0.08), (-1.0, 0.0, 0.08), (0.30, 0.30, 0.12)),
}
"""(amplitude, centre ms, width ms) Gaussian components of drawn caricature shapes. PkC_cs always
uses its own: within an 82-sample template the complex spike's long real tail is cut, and the
default bundle then calls it GoC. ``make_dataset(waveforms="drawn")`` uses them for every type
(the default bundle misreads some of those units: a dataset where adapting can help)."""
TAPER_SAMPLES = 10
"""Cosine ramps at each end of a template: the waveform reaches 0 where the template stops."""
LAYER_OF = {"PkC_ss": "PCL", "PkC_cs": "PCL", "MLI": "ML", "GoC": "GCL", "MFB": "GCL"}


def _gamma_train(rng: np.random.Generator, rate: float, shape: float, refractory: float,
                 duration: float) -> np.ndarray:
    mean_isi = max(1.0 / rate - refractory, 1e-4)
    n = int(duration * rate * 1.5) + 20
    times = np.cumsum(refractory + rng.gamma(shape, mean_isi / shape, n))
    while times[-1] < duration:
        more = np.cumsum(refractory + rng.gamma(shape, mean_isi / shape, n)) + times[-1]
        times = np.concatenate([times, more])
    return times[times < duration]


def _mossy_train(rng: np.random.Generator, rate: float, duration: float) -> np.ndarray:
    burst_sizes_mean = 4.5
    burst_rate = rate / burst_sizes_mean
    starts = _gamma_train(rng, burst_rate, 1.0, 0.008, duration)
    spikes = []
    for start in starts:
        size = int(rng.integers(3, 7))
        spikes.append(start + np.cumsum(np.r_[0.0, rng.uniform(0.0015, 0.003, size - 1)]))
    times = np.sort(np.concatenate(spikes))
    return times[times < duration]


def _with_pauses(times: np.ndarray, triggers: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Remove simple spikes in a 10-25 ms pause after each complex spike of the same cell."""
    keep = np.ones(times.size, dtype=bool)
    for trigger in triggers:
        pause = rng.uniform(0.010, 0.025)
        lo, hi = np.searchsorted(times, [trigger - 0.0005, trigger + pause])
        keep[lo:hi] = False
    return times[keep]


def unit_waveform(cell_type: str, fs: float = 30000.0, n_samples: int = N_TEMPLATE_SAMPLES,
                  peak: int = TEMPLATE_PEAK, drawn: bool = False) -> np.ndarray:
    """Unit-amplitude 1-D template of a type (peak at ``peak``): the C4 database's median
    waveform of the type, resampled to ``fs`` and tapered to 0 at both ends."""
    from phy_c4._example_shapes import PEAK, SHAPES

    t = (np.arange(n_samples) - peak) / fs
    if drawn or cell_type == "PkC_cs":
        wave = sum(a * np.exp(-0.5 * ((t * 1000.0 - c) / w) ** 2)
                   for a, c, w in DRAWN_SHAPES[cell_type])
    else:
        shape = np.asarray(SHAPES[cell_type], dtype=np.float64)
        wave = np.interp(t, (np.arange(shape.size) - PEAK) / 30000.0, shape, left=0.0, right=0.0)
    ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(TAPER_SAMPLES) / TAPER_SAMPLES)
    taper = np.ones(n_samples)
    taper[:TAPER_SAMPLES] = ramp
    taper[n_samples - TAPER_SAMPLES:] = ramp[::-1]
    wave *= taper
    return wave / np.abs(wave).max()


@dataclass
class ExampleUnit:
    cluster_id: int
    cell_type: str
    rate_hz: float
    peak_channel: int
    layer: str
    partner: int = -1
    """The other unit of the same Purkinje cell (PkC_ss <-> PkC_cs), or -1."""


def make_dataset(path: str | os.PathLike, n_units_per_type: int = 2, duration_s: float = 240.0,
                 seed: int = 0, n_channels: int = 8, fs: float = 30000.0, raw: bool = True,
                 noise_uv: float = 8.0, unpaired_ss: int = 0,
                 waveforms: str = "real") -> list[ExampleUnit]:
    """Write a complete Phy folder at ``path``; return the units with their true types.

    Each PkC_cs is paired with a PkC_ss of the same cell (the simple spikes pause after each
    complex spike); ``partner`` and ``cluster_true_partner.tsv`` record the pairs.
    ``unpaired_ss`` adds simple-spike units whose complex spikes were not recorded (no pause).
    The raw binary (``raw.bin``, int16, 1 unit = 1 µV) holds Gaussian noise plus
    every spike's template; set ``raw=False`` to skip it (phy then shows templates only).
    ``waveforms="drawn"``: caricature shapes (``DRAWN_SHAPES``) instead of the real medians.
    """
    if waveforms not in ("real", "drawn"):
        raise ValueError(f"waveforms must be 'real' or 'drawn', not {waveforms!r}")
    if duration_s <= 0 or n_units_per_type < 1 or n_channels < 1 or fs <= 0:
        raise ValueError("duration_s, n_units_per_type, n_channels and fs must be positive")
    rng = np.random.default_rng(seed)
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    units: list[ExampleUnit] = []
    trains: list[np.ndarray] = []
    cluster = 0
    for _ in range(n_units_per_type):
        for cell_type in TYPES:
            if cell_type == "PkC_ss":
                continue  # made together with its complex spikes
            model = MODELS[cell_type]
            rate = float(rng.uniform(*model.rate_hz))
            if cell_type == "PkC_cs":
                cs = _gamma_train(rng, rate, model.shape, model.refractory_s, duration_s)
                ss_model = MODELS["PkC_ss"]
                ss_rate = float(rng.uniform(*ss_model.rate_hz))
                ss = _gamma_train(rng, ss_rate, ss_model.shape, ss_model.refractory_s, duration_s)
                ss = _with_pauses(ss, cs, rng)
                channel = int(rng.integers(n_channels))
                for offset, (kind, train, unit_rate) in enumerate(
                        (("PkC_ss", ss, ss_rate), ("PkC_cs", cs, rate))):
                    partner = cluster + 1 if offset == 0 else cluster - 1
                    units.append(ExampleUnit(cluster, kind, unit_rate, channel, LAYER_OF[kind],
                                             partner))
                    trains.append(train)
                    cluster += 1
                continue
            train = (_mossy_train(rng, rate, duration_s) if cell_type == "MFB"
                     else _gamma_train(rng, rate, model.shape, model.refractory_s, duration_s))
            units.append(ExampleUnit(cluster, cell_type, rate, int(rng.integers(n_channels)),
                                     LAYER_OF[cell_type]))
            trains.append(train)
            cluster += 1
    for _ in range(unpaired_ss):
        ss_model = MODELS["PkC_ss"]
        rate = float(rng.uniform(*ss_model.rate_hz))
        units.append(ExampleUnit(cluster, "PkC_ss", rate, int(rng.integers(n_channels)), "PCL"))
        trains.append(_gamma_train(rng, rate, ss_model.shape, ss_model.refractory_s, duration_s))
        cluster += 1
    _write_folder(folder, units, trains, rng, n_channels, fs, duration_s, raw, noise_uv,
                  waveforms == "drawn")
    return units


def _templates(units: list[ExampleUnit], rng: np.random.Generator, n_channels: int, fs: float,
               drawn: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(n_units, samples, channels) templates in µV and each unit's amplitude."""
    templates = np.zeros((len(units), N_TEMPLATE_SAMPLES, n_channels), dtype=np.float32)
    amplitudes = np.zeros(len(units))
    channels = np.arange(n_channels)
    for i, unit in enumerate(units):
        amplitude = float(rng.uniform(*MODELS[unit.cell_type].amplitude_uv))
        decay = np.exp(-np.abs(channels - unit.peak_channel) / 1.5)
        wave = unit_waveform(unit.cell_type, fs, drawn=drawn)
        templates[i] = (amplitude * wave[:, None] * decay[None, :]).astype(np.float32)
        amplitudes[i] = amplitude
    return templates, amplitudes


def _write_folder(folder: Path, units: list[ExampleUnit], trains: list[np.ndarray],
                  rng: np.random.Generator, n_channels: int, fs: float, duration_s: float,
                  raw: bool, noise_uv: float, drawn: bool = False) -> None:
    samples = [np.unique(np.round(t * fs).astype(np.int64)) for t in trains]
    clusters = np.concatenate([np.full(s.size, u.cluster_id) for s, u in zip(samples, units,
                                                                               strict=True)])
    times = np.concatenate(samples)
    margin = N_TEMPLATE_SAMPLES
    n_total = int(duration_s * fs)
    valid = (times >= margin) & (times < n_total - margin)
    order = np.argsort(times[valid], kind="stable")
    times = times[valid][order]
    clusters = clusters[valid][order].astype(np.int32)
    templates, _ = _templates(units, rng, n_channels, fs, drawn)
    # Kilosort's "amplitudes" are per-spike template scalings: jitter around 1, as sorted data
    scaling = rng.normal(1.0, 0.08, times.size).clip(0.6, 1.4)
    np.save(folder / "spike_times.npy", times.astype(np.uint64))
    np.save(folder / "spike_clusters.npy", clusters)
    np.save(folder / "spike_templates.npy", clusters.astype(np.uint32))
    np.save(folder / "amplitudes.npy", (scaling * 20.0).astype(np.float64))
    np.save(folder / "templates.npy", templates)
    np.save(folder / "channel_map.npy", np.arange(n_channels, dtype=np.int32))
    positions = np.c_[np.zeros(n_channels), np.arange(n_channels) * 20.0].astype(np.float64)
    np.save(folder / "channel_positions.npy", positions)
    np.save(folder / "whitening_mat.npy", np.eye(n_channels))
    np.save(folder / "whitening_mat_inv.npy", np.eye(n_channels))
    np.save(folder / "similar_templates.npy", np.eye(len(units), dtype=np.float32))
    with open(folder / "cluster_group.tsv", "w") as out:
        out.write("cluster_id\tgroup\n")
        for unit in units:
            out.write(f"{unit.cluster_id}\tgood\n")
    with open(folder / "cluster_layer.tsv", "w") as out:
        out.write("cluster_id\tlayer\n")
        for unit in units:
            out.write(f"{unit.cluster_id}\t{unit.layer}\n")
    with open(folder / "cluster_true_partner.tsv", "w") as out:
        out.write("cluster_id\ttrue_partner\n")
        for unit in units:  # every unit (-1: none): SpikeInterface's read_phy merges columns
            out.write(f"{unit.cluster_id}\t{unit.partner}\n")
    with open(folder / "cluster_true_type.tsv", "w") as out:
        out.write("cluster_id\ttrue_type\n")
        for unit in units:
            out.write(f"{unit.cluster_id}\t{unit.cell_type}\n")
    dat_path = "raw.bin" if raw else None
    if raw:
        _write_raw(folder / "raw.bin", times, clusters, scaling, templates, n_total, n_channels,
                   rng, noise_uv)
    (folder / "params.py").write_text(
        f"dat_path = {[dat_path] if dat_path else []!r}\n"
        f"n_channels_dat = {n_channels}\n"
        "dtype = 'int16'\n"
        "offset = 0\n"
        f"sample_rate = {float(fs)!r}\n"
        "hp_filtered = True\n"
    )


def _write_raw(path: Path, times: np.ndarray, clusters: np.ndarray, scaling: np.ndarray,
               templates: np.ndarray, n_total: int, n_channels: int, rng: np.random.Generator,
               noise_uv: float, block: int = 3_000_000) -> None:
    """Noise plus spikes, written block by block so memory stays small."""
    with open(path, "wb") as out:
        for start in range(0, n_total, block):
            stop = min(n_total, start + block)
            data = rng.normal(0.0, noise_uv, (stop - start, n_channels))
            lo, hi = np.searchsorted(times, [start - N_TEMPLATE_SAMPLES, stop])
            for t, c, s in zip(times[lo:hi], clusters[lo:hi], scaling[lo:hi], strict=True):
                first = int(t) - TEMPLATE_PEAK
                a, b = max(first, start), min(first + N_TEMPLATE_SAMPLES, stop)
                if a < b:
                    data[a - start : b - start] += s * templates[c, a - first : b - first]
            out.write(np.clip(np.round(data), -32768, 32767).astype(np.int16).tobytes())
