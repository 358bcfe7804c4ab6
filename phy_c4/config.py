"""The numbers that define C4's science, in one place, and the strict reading of them.

Every feature function takes its parameters from these dataclasses. A weight bundle records the
feature spec of its model family in its manifest, and ``spec_from_dict`` reads it back strictly:
an unknown, missing or mistyped key is an error that names the key, never a silent default.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import asdict, dataclass, field
from typing import Any

C4_SAMPLE_RATE = 30_000.0
"""The rate C4's waveform models expect (Hz); other rates are resampled to it."""

BASE_LABELS: tuple[str, ...] = ("GoC", "MLI", "MFB", "PkC_ss", "PkC_cs")
"""npyx 4.3.1's output order for the base model (``LABELLING_NO_GRC``)."""

MLI_SPLIT_LABELS: tuple[str, ...] = ("GoC", "MLI_A", "MLI_B", "MFB", "PkC_ss", "PkC_cs")
"""npyx 4.3.1's output order with MLI clustering."""

NO_LABEL_PREFIX = "no_label_"
"""Name of a model output that npyx 4.3.1's label table does not name (``no_label_<index>``):
C4's ``layer_information`` archive has 6 outputs but npyx names them with the 5-class table."""


def is_unnamed_output(label: str) -> bool:
    """An output without a label in npyx's table: it never becomes a type."""
    return label.startswith(NO_LABEL_PREFIX)


LAYER_NAMES: tuple[str, ...] = ("unknown", "GCL", "PCL", "ML")
"""Order of the layer one-hot C4's layer models append to their input."""

DEVICE_CHOICES: tuple[str, ...] = ("auto", "cpu", "cuda")
"""Where the networks may run (``model/device.py``): auto takes CUDA when torch sees it."""

RESULT_COLUMNS: tuple[str, ...] = ("c4_type", "c4_confidence", "c4_ratio", "c4_votes",
                                   "c4_model", "c4_status", "c4_pair", "c4_novelty")
"""Cluster columns a classification writes (``cluster_<column>.tsv``, Phy's metadata)."""


class SpecError(ValueError):
    """A feature spec or network config in a manifest is incomplete, unknown or mistyped."""


def _choices(*values: str) -> Any:
    """Field metadata: the only values a string setting may take (others are refused)."""
    return {"choices": values}


# --- C4's own models: 3D autocorrelogram + aligned waveform ---------------------------------


@dataclass(frozen=True, kw_only=True)
class AcgSpec:
    """3D autocorrelogram parameters (npyx ``crosscorr_vs_firing_rate`` + ``convert_acg_log``)."""

    win_ms: float = 2000.0
    bin_ms: float = 1.0
    n_rate_bins: int = 10
    smooth_ms: float = 250.0
    n_log_bins: int = 100
    start_log_ms: float = 0.8
    log_smooth_sd: int = 1
    scale: float = 10.0
    """C4 multiplies the log 3D-ACG by 10 before the network sees it."""


@dataclass(frozen=True, kw_only=True)
class WaveformSpec:
    """Waveform preprocessing parameters (npyx ``preprocess_template``)."""

    fs: float = C4_SAMPLE_RATE
    before_s: float = 1e-3
    after_s: float = 2e-3
    peak_sign: str = field(default="negative", metadata=_choices("negative", "positive"))

    @property
    def n_samples(self) -> int:
        return round((self.before_s + self.after_s) * self.fs)

    @property
    def peak_index(self) -> int:
        return round(self.before_s * self.fs)


@dataclass(frozen=True, kw_only=True)
class FeatureSpec:
    """The inputs of C4's CNN family: log 3D-ACG (positive lags, x ``acg.scale``), waveform."""

    version: int = 1
    acg: AcgSpec = field(default_factory=AcgSpec)
    waveform: WaveformSpec = field(default_factory=WaveformSpec)
    min_spikes: int = 100
    """Spikes a unit needs before the quality filter."""
    min_filtered_spikes: int = 10
    """Spikes a unit needs after the quality filter for a 3D-ACG."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> FeatureSpec:
        return spec_from_dict(cls, data)


# --- The C4-database tables' features (the shipped default) ---------------------------------


@dataclass(frozen=True, kw_only=True)
class Acg1dSpec:
    """1-D autocorrelogram as the tables hold it: raw pair counts, lags -half..+half ms."""

    half_width_ms: int = 100
    bin_ms: float = 1.0
    lag_rule: str = field(default="grid", metadata=_choices("grid"))
    """``grid``: spike times floored onto the 1-ms grid, lag = grid difference, so bin k holds
    pairs k +- 1 ms apart with triangular weight, centred on whole ms; lag 0 is set to 0."""
    normalisation: str = field(default="positive_lags_over_max",
                               metadata=_choices("positive_lags_over_max"))


@dataclass(frozen=True)
class IsiSpec:
    """ISI histogram as the tables hold it: raw counts in ``n_bins`` bins of ``bin_ms`` from 0;
    intervals of ``n_bins * bin_ms`` or more are not counted."""

    bin_ms: float = 1.0
    n_bins: int = 100
    normalisation: str = field(default="sqrt_probability_over_max",
                               metadata=_choices("sqrt_probability_over_max"))

    @property
    def range_s(self) -> tuple[float, float]:
        return 0.0, self.n_bins * self.bin_ms / 1000.0


@dataclass(frozen=True, kw_only=True)
class TableWaveformSpec:
    """The tables' waveform window: peak-channel mean waveform around its largest peak."""

    fs: float = C4_SAMPLE_RATE
    before_ms: float = 1.0
    after_ms: float = 1.5
    alignment: str = field(default="largest_abs_peak", metadata=_choices("largest_abs_peak"))
    polarity: str = field(default="peak_negative", metadata=_choices("peak_negative"))
    scale: str = field(default="peak_is_minus_one", metadata=_choices("peak_is_minus_one"))
    resampling: str = field(default="linear_interpolation",
                            metadata=_choices("linear_interpolation"))

    @property
    def n_samples(self) -> int:
        return round((self.before_ms + self.after_ms) * self.fs / 1000.0)

    @property
    def peak_index(self) -> int:
        return round(self.before_ms * self.fs / 1000.0)


TABLE_MODALITIES: tuple[str, ...] = ("waveform", "acg", "isi")


@dataclass(frozen=True, kw_only=True)
class TableFeatureSpec:
    """The inputs of the table-feature family (the shipped default, ``c4-tables``)."""

    version: int = 1
    waveform: TableWaveformSpec = field(default_factory=TableWaveformSpec)
    acg: Acg1dSpec = field(default_factory=Acg1dSpec)
    isi: IsiSpec = field(default_factory=IsiSpec)
    modalities: tuple[str, ...] = TABLE_MODALITIES
    """Modalities the model was trained on; the others are hidden from it at run time."""
    min_spikes: int = 100
    """Spikes a unit needs before the quality filter."""
    min_filtered_spikes: int = 10
    """Spikes a unit needs after the quality filter."""

    def __post_init__(self) -> None:
        unknown = set(self.modalities) - set(TABLE_MODALITIES)
        if unknown or not self.modalities:
            raise SpecError(f"features.modalities: {list(self.modalities)} must be a non-empty "
                            f"subset of {list(TABLE_MODALITIES)}")

    @property
    def sizes(self) -> tuple[int, int, int]:
        """Input widths of waveform, ACG (positive lags) and ISI."""
        return self.waveform.n_samples, self.acg.half_width_ms, self.isi.n_bins

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> TableFeatureSpec:
        return spec_from_dict(cls, data)


# --- Strict reading ---------------------------------------------------------------------------


def spec_from_dict(cls: type, data: Any, where: str = "features") -> Any:
    """Build dataclass ``cls`` from ``data``: every field present, no other key, right types."""
    if not isinstance(data, dict):
        raise SpecError(f"{where}: expected an object, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise SpecError(f"{where}.{unknown[0]}: unknown key (known: {sorted(fields)})")
    values = {}
    for name, spec_field in fields.items():
        key = f"{where}.{name}"
        if name not in data:
            raise SpecError(f"{key}: missing")
        values[name] = _typed(hints[name], data[name], key)
        choices = spec_field.metadata.get("choices")
        if choices is not None and values[name] not in choices:
            raise SpecError(f"{key}: {values[name]!r} is not supported (one of {list(choices)})")
    return cls(**values)


def _typed(kind: Any, value: Any, key: str) -> Any:
    if dataclasses.is_dataclass(kind):
        return spec_from_dict(kind, value, key)
    if kind is bool:
        if isinstance(value, bool):
            return value
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif kind is float:
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
    elif kind is str:
        if isinstance(value, str):
            return value
    elif typing.get_origin(kind) is tuple:
        args = typing.get_args(kind)
        items = args[:1] * len(value) if args[-1] is Ellipsis else args
        if isinstance(value, list | tuple) and len(items) == len(value):
            return tuple(_typed(item, v, f"{key}[{i}]")
                         for i, (item, v) in enumerate(zip(items, value, strict=True)))
    else:  # pragma: no cover - a field type this reader does not know is a programming error
        raise TypeError(f"{key}: unsupported field type {kind!r}")
    expected = getattr(kind, "__name__", str(kind))
    raise SpecError(f"{key}: expected {expected}, got {value!r}")
