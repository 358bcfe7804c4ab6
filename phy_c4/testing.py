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


@dataclass(frozen=True, kw_only=True)
class TypeModel:
    """How one cell type fires and what its spike looks like (see the module table)."""

    rate_hz: tuple[float, float]
    shape: float
    refractory_s: float
    amplitude_uv: tuple[float, float]


MODELS: dict[str, TypeModel] = {
    "PkC_ss": TypeModel(rate_hz=(40, 100), shape=6.0, refractory_s=0.002, amplitude_uv=(80, 200)),
    "PkC_cs": TypeModel(rate_hz=(0.5, 2.0), shape=2.0, refractory_s=0.100, amplitude_uv=(100, 250)),
    "MLI": TypeModel(rate_hz=(5, 30), shape=1.2, refractory_s=0.002, amplitude_uv=(50, 150)),
    "GoC": TypeModel(rate_hz=(5, 15), shape=5.0, refractory_s=0.003, amplitude_uv=(60, 160)),
    "MFB": TypeModel(rate_hz=(30, 70), shape=1.0, refractory_s=0.0015, amplitude_uv=(60, 180)),
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
(the default bundle misreads some of those units: a dataset where adapting can help);
``waveforms="v0.2"`` uses them untapered, as version 0.2 did: ``make_npyx_folder`` keeps them,
since the npyx 4.3.1 references in tests/data/npyx_e2e were computed on such folders."""
WAVEFORMS = ("real", "drawn", "v0.2")
TAPER_SAMPLES = 10
"""Cosine ramps at each end of a template: the waveform reaches 0 where the template stops."""
LAYER_OF = {"PkC_ss": "PCL", "PkC_cs": "PCL", "MLI": "ML", "GoC": "GCL", "MFB": "GCL"}


def _gamma_train(rng: np.random.Generator, rate: float, shape: float, *, refractory: float,
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
    starts = _gamma_train(rng, burst_rate, 1.0, refractory=0.008, duration=duration)
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


def type_waveform(cell_type: str, fs: float = 30000.0, n_samples: int = N_TEMPLATE_SAMPLES,
                  *, peak: int = TEMPLATE_PEAK, waveforms: str = "real") -> np.ndarray:
    """Unit-amplitude 1-D template of a type (peak at ``peak``): the C4 database's median
    waveform of the type, resampled to ``fs`` and tapered to 0 at both ends; or the drawn
    shapes (``DRAWN_SHAPES``, ``waveforms`` "drawn", or "v0.2" untapered)."""
    from phy_c4._example_shapes import PEAK, SHAPES

    t = (np.arange(n_samples) - peak) / fs
    if waveforms == "v0.2":
        wave = sum(a * np.exp(-0.5 * ((t * 1000.0 - c) / w) ** 2)
                   for a, c, w in DRAWN_SHAPES[cell_type])
        return wave / np.abs(wave).max()
    if waveforms == "drawn" or cell_type == "PkC_cs":
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


@dataclass(kw_only=True)
class ExampleUnit:
    cluster_id: int
    cell_type: str
    rate_hz: float
    peak_channel: int
    layer: str
    partner: int = -1
    """The other unit of the same Purkinje cell (PkC_ss <-> PkC_cs), or -1."""


def make_dataset(path: str | os.PathLike, n_units_per_type: int = 2, duration_s: float = 240.0,
                 *, seed: int = 0, n_channels: int = 8, fs: float = 30000.0, raw: bool = True,
                 noise_uv: float = 8.0, unpaired_ss: int = 0,
                 waveforms: str = "real") -> list[ExampleUnit]:
    """Write a complete Phy folder at ``path``; return the units with their true types.

    Each PkC_cs is paired with a PkC_ss of the same cell (the simple spikes pause after each
    complex spike); ``partner`` and ``cluster_true_partner.tsv`` record the pairs.
    ``unpaired_ss`` adds simple-spike units whose complex spikes were not recorded (no pause).
    The raw binary (``raw.bin``, int16, 1 unit = 1 µV) holds Gaussian noise plus
    every spike's template; set ``raw=False`` to skip it (phy then shows templates only).
    ``waveforms="drawn"``: caricature shapes (``DRAWN_SHAPES``) instead of the real medians
    (``"v0.2"``: untapered, see ``DRAWN_SHAPES``).
    """
    if waveforms not in WAVEFORMS:
        raise ValueError(f"waveforms must be one of {WAVEFORMS}, not {waveforms!r}")
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
                cs = _gamma_train(rng, rate, model.shape, refractory=model.refractory_s,
                                  duration=duration_s)
                ss_model = MODELS["PkC_ss"]
                ss_rate = float(rng.uniform(*ss_model.rate_hz))
                ss = _gamma_train(rng, ss_rate, ss_model.shape, refractory=ss_model.refractory_s,
                                  duration=duration_s)
                ss = _with_pauses(ss, cs, rng)
                channel = int(rng.integers(n_channels))
                for offset, (kind, train, unit_rate) in enumerate(
                        (("PkC_ss", ss, ss_rate), ("PkC_cs", cs, rate))):
                    partner = cluster + 1 if offset == 0 else cluster - 1
                    units.append(ExampleUnit(cluster_id=cluster, cell_type=kind, rate_hz=unit_rate,
                                             peak_channel=channel, layer=LAYER_OF[kind],
                                             partner=partner))
                    trains.append(train)
                    cluster += 1
                continue
            train = (_mossy_train(rng, rate, duration_s) if cell_type == "MFB"
                     else _gamma_train(rng, rate, model.shape, refractory=model.refractory_s,
                                       duration=duration_s))
            units.append(ExampleUnit(cluster_id=cluster, cell_type=cell_type, rate_hz=rate,
                                     peak_channel=int(rng.integers(n_channels)),
                                     layer=LAYER_OF[cell_type]))
            trains.append(train)
            cluster += 1
    for _ in range(unpaired_ss):
        ss_model = MODELS["PkC_ss"]
        rate = float(rng.uniform(*ss_model.rate_hz))
        units.append(ExampleUnit(cluster_id=cluster, cell_type="PkC_ss", rate_hz=rate,
                                 peak_channel=int(rng.integers(n_channels)), layer="PCL"))
        trains.append(_gamma_train(rng, rate, ss_model.shape, refractory=ss_model.refractory_s,
                                   duration=duration_s))
        cluster += 1
    _write_folder(folder, units, trains, rng=rng, n_channels=n_channels, fs=fs,
                  duration_s=duration_s, raw=raw, noise_uv=noise_uv, waveforms=waveforms)
    return units


def _templates(units: list[ExampleUnit], rng: np.random.Generator, n_channels: int, *, fs: float,
               waveforms: str = "real") -> tuple[np.ndarray, np.ndarray]:
    """(n_units, samples, channels) templates in µV and each unit's amplitude."""
    templates = np.zeros((len(units), N_TEMPLATE_SAMPLES, n_channels), dtype=np.float32)
    amplitudes = np.zeros(len(units))
    channels = np.arange(n_channels)
    for i, unit in enumerate(units):
        amplitude = float(rng.uniform(*MODELS[unit.cell_type].amplitude_uv))
        decay = np.exp(-np.abs(channels - unit.peak_channel) / 1.5)
        wave = type_waveform(unit.cell_type, fs, waveforms=waveforms)
        templates[i] = (amplitude * wave[:, None] * decay[None, :]).astype(np.float32)
        amplitudes[i] = amplitude
    return templates, amplitudes


def _write_folder(folder: Path, units: list[ExampleUnit], trains: list[np.ndarray],
                  *, rng: np.random.Generator, n_channels: int, fs: float, duration_s: float,
                  raw: bool, noise_uv: float, waveforms: str = "real") -> None:
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
    templates, _ = _templates(units, rng, n_channels, fs=fs, waveforms=waveforms)
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
        _write_raw(folder / "raw.bin", times, clusters, scaling=scaling, templates=templates,
                   n_total=n_total, n_channels=n_channels,
                   rng=rng, noise_uv=noise_uv)
    (folder / "params.py").write_text(
        f"dat_path = {[dat_path] if dat_path else []!r}\n"
        f"n_channels_dat = {n_channels}\n"
        "dtype = 'int16'\n"
        "offset = 0\n"
        f"sample_rate = {float(fs)!r}\n"
        "hp_filtered = True\n"
    )


def _write_raw(path: Path, times: np.ndarray, clusters: np.ndarray, *, scaling: np.ndarray,
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


NPYX_BINARY = "recording_g0_t0.imec0.ap.bin"


def make_npyx_folder(path: str | os.PathLike, seed: int, duration_s: float,
                     *, n_channels: int = 6, stops_s: dict[int, float] | None = None,
                     edge_spike_s: float = 120.0, n_units_per_type: int = 1
                     ) -> list[ExampleUnit]:
    """An example Phy folder that npyx 4.3.1 reads as well (its end-to-end references,
    ``benchmarks/npyx_end_to_end.py``): ``n_units_per_type`` units per type, a SpikeGLX-style
    ``*.ap.bin`` with an extra last (sync) channel and an ``.ap.meta`` whose conversion factor
    is exactly 1 µV per bit, ``channel_map.npy`` shaped (n, 1). The filter's edge cases are
    built in: cluster ``c`` stops at ``stops_s[c]`` s (default: the MLI at 150 s, too short to
    pass, and the GoC at 205 s, near the 180-s limit), and cluster 0 (a PkC_ss, over 5,000
    spikes) has a spike exactly on the chunk edge ``edge_spike_s``."""
    folder = Path(path)
    units = make_dataset(folder, n_units_per_type=n_units_per_type, duration_s=duration_s,
                         seed=seed, n_channels=n_channels, waveforms="v0.2")
    fs = 30000.0
    times = np.load(folder / "spike_times.npy").astype(np.int64)
    clusters = np.load(folder / "spike_clusters.npy")
    amplitudes = np.load(folder / "amplitudes.npy")
    keep = np.ones(times.size, bool)
    for cluster, stop in ({2: 150.0, 3: 205.0} if stops_s is None else stops_s).items():
        keep &= ~((clusters == cluster) & (times >= stop * fs))
    edge = int(round(edge_spike_s * fs))
    extra = edge not in set(times[clusters == 0].tolist())
    times, clusters, amplitudes = times[keep], clusters[keep], amplitudes[keep]
    if extra:
        at = int(np.searchsorted(times, edge))
        times = np.insert(times, at, edge)
        clusters = np.insert(clusters, at, 0)
        amplitudes = np.insert(amplitudes, at, 20.0)
    np.save(folder / "spike_times.npy", times.astype(np.uint64))
    np.save(folder / "spike_clusters.npy", clusters.astype(np.int32))
    np.save(folder / "spike_templates.npy", clusters.astype(np.uint32))
    np.save(folder / "amplitudes.npy", amplitudes)
    np.save(folder / "channel_map.npy", np.arange(n_channels, dtype=np.int32)[:, None])
    raw = np.fromfile(folder / "raw.bin", dtype=np.int16).reshape(-1, n_channels)
    with_sync = np.zeros((raw.shape[0], n_channels + 1), dtype=np.int16)
    with_sync[:, :n_channels] = raw
    with_sync.tofile(folder / NPYX_BINARY)
    (folder / "raw.bin").unlink()
    size = (folder / NPYX_BINARY).stat().st_size
    # Neuropixels 1.0 conversion: (max - min) / 2**10 / gain = 1.2e6 / 1024 / 1171.875 = 1 µV
    (folder / NPYX_BINARY.replace(".bin", ".meta")).write_text(
        f"typeThis=imec\nimSampRate={fs:g}\nnSavedChans={n_channels + 1}\n"
        f"fileSizeBytes={size}\nimDatPrb_type=0\nimAiRangeMax=0.6\nimAiRangeMin=-0.6\n"
        f"~imroTbl=(0,{n_channels})(0 0 0 1171.875 250 1)\n")
    params = (folder / "params.py").read_text()
    params = params.replace("['raw.bin']", repr([NPYX_BINARY]))
    params = params.replace(f"n_channels_dat = {n_channels}\n",
                            f"n_channels_dat = {n_channels + 1}\n")
    (folder / "params.py").write_text(params)
    return units


@dataclass(frozen=True, kw_only=True)
class SortingErrors:
    """How a spike sorter spoils a Purkinje cell's two units (fractions drawn per unit)."""

    cs_missed: tuple[float, float] = (0.10, 0.30)
    contamination: tuple[float, float] = (0.01, 0.03)
    """Spikes of other units added to each complex- and simple-spike unit, as a fraction."""
    ss_missed: tuple[float, float] = (0.05, 0.20)
    ss_drift: bool = True
    """Simple spikes go missing more and more over the recording (amplitude drifting below
    the detection threshold): from none at the start to twice the drawn fraction at the end."""


@dataclass(frozen=True)
class InterneuronDip:
    """How an interneuron that the same climbing fibre inhibits dips after each of its
    discharges: disynaptic, so it starts later than the Purkinje cell's own pause."""

    latency_ms: tuple[float, float] = (2.0, 5.0)
    duration_ms: tuple[float, float] = (15.0, 40.0)
    depth: tuple[float, float] = (0.7, 1.0)
    """Fraction of the interneuron's spikes removed in the dip."""


def _dipped(times: np.ndarray, triggers: np.ndarray, dip: InterneuronDip,
            *, rng: np.random.Generator) -> np.ndarray:
    depth = rng.uniform(*dip.depth)
    latency = rng.uniform(*dip.latency_ms) / 1000.0
    duration = rng.uniform(*dip.duration_ms) / 1000.0
    index = np.searchsorted(triggers, times, side="right") - 1
    since = times - triggers[np.maximum(index, 0)]
    inside = (index >= 0) & (since >= latency) & (since < latency + duration)
    return times[~(inside & (rng.random(times.size) < depth))]


def make_pairing_dataset(path: str | os.PathLike, n_cells: int = 6, duration_s: float = 600.0,
                         *, seed: int = 0, n_channels: int = 6,
                         errors: SortingErrors = SortingErrors(),
                         dip: InterneuronDip = InterneuronDip()) -> list[ExampleUnit]:
    """A Phy folder (no raw binary) for testing Purkinje pairing against a spike sorter's
    errors and against look-alikes, every unit within 100 µm of every other:

    - ``n_cells`` Purkinje cells recorded as a complex- and a simple-spike unit (``errors``);
    - for each, an interneuron (MLI or GoC) that dips after the same climbing fibre (``dip``);
    - a simple-spike unit whose complex spikes were not recorded (it pauses after its own);
    - a complex-spike unit of another Purkinje cell whose simple spikes were not recorded, with
      an interneuron dipping after it;
    - a Golgi cell and a mossy fibre.

    ``partner`` holds the true pairs; ``cluster_true_type.tsv`` every unit's type."""
    if n_cells < 1 or duration_s <= 0 or n_channels < 1:
        raise ValueError("n_cells, duration_s and n_channels must be positive")
    rng = np.random.default_rng(seed)
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    units: list[ExampleUnit] = []
    trains: list[np.ndarray] = []

    def add(kind: str, train: np.ndarray, channel: int, *, partner: int = -1) -> int:
        units.append(ExampleUnit(cluster_id=len(units), cell_type=kind,
                                 rate_hz=train.size / duration_s, peak_channel=channel,
                                 layer=LAYER_OF[kind], partner=partner))
        trains.append(train)
        return len(units) - 1

    def train_of(kind: str, rate: tuple[float, float] | None = None) -> np.ndarray:
        model = MODELS[kind]
        drawn = float(rng.uniform(*(rate or model.rate_hz)))
        if kind == "MFB":
            return _mossy_train(rng, drawn, duration_s)
        return _gamma_train(rng, drawn, model.shape, refractory=model.refractory_s,
                            duration=duration_s)

    def interneuron(climbing: np.ndarray) -> None:
        kind = "MLI" if rng.random() < 0.5 else "GoC"
        rate = (10.0, 40.0) if kind == "MLI" else (5.0, 20.0)
        add(kind, _dipped(train_of(kind, rate), climbing, dip, rng=rng),
            int(rng.integers(n_channels)))

    cells = []
    for _ in range(n_cells + 2):  # the paired cells, then the lone simple- and complex-spike
        climbing = train_of("PkC_cs")
        cells.append((climbing, _with_pauses(train_of("PkC_ss"), climbing, rng)))
    true_units = []
    for climbing, simple in cells[:n_cells]:
        channel = int(rng.integers(n_channels))
        cs = add("PkC_cs", climbing, channel)
        ss = add("PkC_ss", simple, min(channel + int(rng.integers(0, 2)), n_channels - 1))
        units[cs].partner, units[ss].partner = ss, cs
        true_units += [cs, ss]
        interneuron(climbing)
    add("PkC_ss", cells[n_cells][1], int(rng.integers(n_channels)))
    add("PkC_cs", cells[n_cells + 1][0], int(rng.integers(n_channels)))
    interneuron(cells[n_cells + 1][0])
    add("GoC", train_of("GoC"), int(rng.integers(n_channels)))
    add("MFB", train_of("MFB"), int(rng.integers(n_channels)))
    clean = [t.copy() for t in trains]
    everyone = np.concatenate(clean)
    for i in true_units:
        train = clean[i]
        if units[i].cell_type == "PkC_cs":
            train = train[rng.random(train.size) >= rng.uniform(*errors.cs_missed)]
        else:
            missed = rng.uniform(*errors.ss_missed)
            chance = (2.0 * missed * train / duration_s if errors.ss_drift
                      else np.full(train.size, missed))
            train = train[rng.random(train.size) >= chance]
        others = everyone[~np.isin(everyone, clean[i])]
        extra = rng.choice(others, int(rng.uniform(*errors.contamination) * train.size))
        trains[i] = np.sort(np.concatenate([train, extra + rng.normal(0, 2e-4, extra.size)]))
    _write_folder(folder, units, trains, rng=rng, n_channels=n_channels, fs=30000.0,
                  duration_s=duration_s, raw=False, noise_uv=0.0)
    return units
