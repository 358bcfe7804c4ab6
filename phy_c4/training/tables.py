"""Feature tables: the ``c4_derived`` CSV layout, a documented ``.npz`` layout, and tables built
from Phy folders, all turned into the same normalised model inputs.

``c4_derived`` folder: ``waveforms.csv`` (required), ``acg.csv`` (201 lags), ``isi_dist.csv``
(100 bins), ``labels.csv`` (one ``label`` column; ``b'...'`` quoting and ``unlabeled`` allowed),
each with a header row and one row per unit, rows aligned.

``.npz`` layout (features computed once, reused): ``waveform`` (N, 75) as ``table_waveform``
returns, ``acg`` (N, 201) counts, ``isi`` (N, 100) counts (NaN rows = modality missing), ``labels``
(N,) strings ('' = unlabelled), optional ``name``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from phy_c4.config import TABLE_MODALITIES, TableFeatureSpec
from phy_c4.features.table_features import DEFAULT_SPEC, model_rows, presence, table_waveform

WAVE_SAMPLES = DEFAULT_SPEC.waveform.n_samples
ACG_LAGS = 2 * DEFAULT_SPEC.acg.half_width_ms + 1
ISI_BINS = DEFAULT_SPEC.isi.n_bins

TABLE_RATES = {90: 30000.0, 100: 40000.0}
"""Waveform sample rate by row length in ``c4_derived`` (Häusser 30 kHz, Lisberger 40 kHz)."""
TABLE_PEAKS = {90: 45, 100: 40}
"""Where the tables put the peak (a few Häusser rows are saturated, so argmax is unreliable)."""
UNLABELLED = {"", "unlabeled", "unlabelled", "nan", "none"}
EXCLUDED = {"GrC"}  # C4 never predicts granule cells


class TableError(ValueError):
    """A feature table is missing, malformed or inconsistent."""


@dataclass(kw_only=True)
class FeatureTable:
    name: str
    waveform: np.ndarray  # (N, 75), NaN rows where missing
    acg: np.ndarray  # (N, 201) counts, NaN rows where missing
    isi: np.ndarray  # (N, 100) counts, NaN rows where missing
    labels: np.ndarray  # (N,) str, '' when unlabelled

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def present(self) -> np.ndarray:
        """(N, 3) presence flags for waveform, ACG, ISI."""
        return presence(self.waveform, self.acg, self.isi)

    @property
    def labelled(self) -> np.ndarray:
        return np.array([lab not in UNLABELLED and lab not in EXCLUDED for lab in self.labels])

    def inputs(self, spec: TableFeatureSpec = DEFAULT_SPEC) -> np.ndarray:
        """Normalised model rows, exactly as the table family makes them at run time."""
        return model_rows(self.waveform, self.acg, self.isi, spec=spec)

    def subset(self, mask: np.ndarray) -> FeatureTable:
        return FeatureTable(name=self.name, waveform=self.waveform[mask], acg=self.acg[mask],
                            isi=self.isi[mask],
                            labels=self.labels[mask])


def _clean_label(value: object) -> str:
    text = str(value).strip()
    if text.startswith(("b'", 'b"')) and text.endswith(("'", '"')):
        text = text[2:-1]
    return "" if text.lower() in UNLABELLED else text


def _read_numeric(path: Path, n_rows: int | None, width: int | None) -> np.ndarray:
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as error:
        raise TableError(f"{path}: not a readable CSV ({error})") from None
    try:
        values = frame.to_numpy(dtype=np.float64)
    except ValueError:
        raise TableError(f"{path}: contains non-numeric values") from None
    if n_rows is not None and values.shape[0] != n_rows:
        raise TableError(f"{path}: {values.shape[0]} rows, expected {n_rows} (one per unit)")
    if width is not None and values.shape[1] != width:
        raise TableError(f"{path}: {values.shape[1]} columns, expected {width}")
    return values


def read_c4_derived(folder: str | os.PathLike, fs: float | None = None,
                    peak_index: int | None = None) -> FeatureTable:
    """Read a ``c4_derived`` folder into a table of ``table_waveform`` windows and counts.

    ``fs`` is the waveform rows' sample rate where their length does not tell it (90 samples:
    30 kHz, 100: 40 kHz); ``peak_index`` where the peak is not the largest sample.
    """
    folder = Path(folder)
    if not (folder / "waveforms.csv").is_file() or not (folder / "labels.csv").is_file():
        raise TableError(f"{folder}: needs waveforms.csv and labels.csv")
    labels_frame = pd.read_csv(folder / "labels.csv")
    column = "label" if "label" in labels_frame else labels_frame.columns[-1]
    labels = np.array([_clean_label(v) for v in labels_frame[column]], dtype=object)
    n = len(labels)
    raw = _read_numeric(folder / "waveforms.csv", n, None)
    rate = fs or TABLE_RATES.get(raw.shape[1])
    if rate is None:
        raise TableError(f"{folder}: cannot tell the waveform rate of {raw.shape[1]}-sample rows;"
                         " pass --fs (the rows' sample rate in Hz)")
    peak = TABLE_PEAKS.get(raw.shape[1]) if peak_index is None and fs is None else peak_index
    if peak is not None and not 0 <= peak < raw.shape[1]:
        raise TableError(f"{folder}: peak index {peak} is outside the {raw.shape[1]}-sample rows")
    waveform = np.full((n, WAVE_SAMPLES), np.nan)
    for i, row in enumerate(raw):
        if np.all(np.isfinite(row)) and np.any(row):
            try:
                waveform[i] = table_waveform(row, rate, peak)
            except ValueError as error:
                raise TableError(f"{folder / 'waveforms.csv'}: row {i}: {error}") from None
    acg = (_read_numeric(folder / "acg.csv", n, ACG_LAGS) if (folder / "acg.csv").is_file()
           else np.full((n, ACG_LAGS), np.nan))
    isi = (_read_numeric(folder / "isi_dist.csv", n, ISI_BINS)
           if (folder / "isi_dist.csv").is_file() else np.full((n, ISI_BINS), np.nan))
    for name, values in (("acg.csv", acg), ("isi_dist.csv", isi)):
        finite = values[np.isfinite(values).all(axis=1)]
        if finite.size and finite.min() < 0:
            raise TableError(f"{folder / name}: negative counts")
    return FeatureTable(name=folder.name, waveform=waveform, acg=acg, isi=isi, labels=labels)


def read_npz(path: str | os.PathLike) -> FeatureTable:
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            labels = np.array([_clean_label(v) for v in data["labels"]], dtype=object)
            n = len(labels)
            table = FeatureTable(name=str(data["name"]) if "name" in data else path.stem,
                                 waveform=np.asarray(data["waveform"], float),
                                 acg=np.asarray(data["acg"], float) if "acg" in data
                                 else np.full((n, 201), np.nan),
                                 isi=np.asarray(data["isi"], float) if "isi" in data
                                 else np.full((n, ISI_BINS), np.nan), labels=labels)
    except (OSError, KeyError, ValueError) as error:
        raise TableError(f"{path}: not a phy_c4 feature table ({error})") from None
    expected = {"waveform": WAVE_SAMPLES, "acg": ACG_LAGS, "isi": ISI_BINS}
    for name, width in expected.items():
        values = getattr(table, name)
        if values.shape != (n, width):
            raise TableError(f"{path}: {name} has shape {values.shape}, expected ({n}, {width})")
    return table


def save_c4_derived(table: FeatureTable, folder: str | os.PathLike) -> Path:
    """Write a table in the ``c4_derived`` CSV layout (waveform windows as ``table_waveform``
    returns them, 75 samples at 30 kHz, as ``surrogate_phy.py`` reads them)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, values in (("waveforms", table.waveform), ("acg", table.acg),
                         ("isi_dist", table.isi)):
        pd.DataFrame(values).to_csv(folder / f"{name}.csv", index=False)
    pd.DataFrame({"label": table.labels}).to_csv(folder / "labels.csv", index=False)
    return folder


def save_npz(table: FeatureTable, path: str | os.PathLike) -> None:
    np.savez_compressed(path, waveform=table.waveform, acg=table.acg, isi=table.isi,
                        labels=np.asarray(table.labels, dtype=str), name=table.name)


def concat(tables: list[FeatureTable], name: str | None = None) -> FeatureTable:
    return FeatureTable(name=name or "+".join(t.name for t in tables),
                        waveform=np.concatenate([t.waveform for t in tables]),
                        acg=np.concatenate([t.acg for t in tables]),
                        isi=np.concatenate([t.isi for t in tables]),
                        labels=np.concatenate([t.labels for t in tables]))


__all__ = ["TABLE_MODALITIES", "FeatureTable", "TableError", "concat", "read_c4_derived",
           "read_npz", "save_c4_derived", "save_npz"]
