"""Figures a person can look at: one per unit, one summary per recording (matplotlib, no Qt)."""

from __future__ import annotations

import os
import textwrap
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from phy_c4.config import C4_SAMPLE_RATE
from phy_c4.features import log_lags

WAVEFORM_PEAK_MS = 1.0
"""Where both families put the waveform's peak in their input window (at C4's 30 kHz)."""


def waveform_ms(n_samples: int) -> np.ndarray:
    """Time (ms from the peak) of each sample of a model's waveform input."""
    return (np.arange(n_samples) - round(WAVEFORM_PEAK_MS * C4_SAMPLE_RATE / 1000.0)) * \
        1000.0 / C4_SAMPLE_RATE


def ratio_note(threshold: float) -> str:
    """What the dashed line of the probability panel means."""
    return (f"dashed line: top / {threshold:g}. A type is confident when every other class "
            f"is left of it (top / second ≥ {threshold:g})")


def _empty(ax, text: str) -> None:
    """An empty panel that says why it is empty."""
    ax.text(0.5, 0.5, textwrap.fill(text, 30), ha="center", va="center", fontsize=8,
            color="0.35", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def _draw_acg_3d(ax, acg_log: np.ndarray) -> Any:
    """C4's 3D autocorrelogram: positive log lags, rate rows, in spikes/s; returns the image."""
    positive = acg_log[:, acg_log.shape[1] // 2 + 1 :] * 1000.0  # spikes/s
    lags = np.log10(log_lags(n_log_bins=positive.shape[1]))  # evenly spaced in log
    mesh = ax.imshow(positive, aspect="auto", origin="lower", cmap="viridis",
                     extent=(lags[0], lags[-1], -0.5, positive.shape[0] - 0.5),
                     interpolation="nearest")
    ticks = [t for t in (0, 1, 2, 3) if lags[0] <= t <= lags[-1]]
    ax.set_xticks(ticks, [f"{10 ** t:g}" for t in ticks])
    ax.set_xlabel("lag (ms, log)")
    return mesh


def draw_unit(fig, cluster_id: int, inputs: dict[str, np.ndarray] | None,
              *, probabilities: dict[str, float], threshold: float, title_extra: str = "",
              tight: bool = True, reason: str = "") -> None:
    """3D-ACG heat map over log lags (or the 1-D ACG), the preprocessed waveform, and class
    probabilities with the confidence-ratio threshold; ``inputs`` are the model inputs of the
    unit as its family named them; an empty panel says why (``reason``: the unit's status)."""
    why = f": {reason}" if reason else ""
    inputs = inputs or {}
    acg_log, waveform, acg_1d = (inputs.get(k) for k in ("acg_3d_log", "waveform", "acg_1d"))
    fig.clear()
    axes = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1.3, 1, 1]})
    ax_acg, ax_wvf, ax_prob = axes
    if acg_log is not None:
        mesh = _draw_acg_3d(ax_acg, acg_log)
        ax_acg.set_ylabel("firing-rate decile (low → high)")
        fig.colorbar(mesh, ax=ax_acg, label="rate (sp/s)")
        ax_acg.set_title("3D autocorrelogram")
    elif acg_1d is not None:
        lags = np.arange(acg_1d.size) - acg_1d.size // 2
        ax_acg.set_title("autocorrelogram")
        if np.nanmax(acg_1d, initial=0) > 0:
            ax_acg.bar(lags, acg_1d, width=1.0, color="0.3")
            ax_acg.set_xlabel("lag (ms)")
            ax_acg.set_ylabel("spike pairs")
        else:  # e.g. complex spikes (~1 Hz): rarely two within the window
            _empty(ax_acg, f"no two spikes within ±{acg_1d.size // 2} ms of each other "
                         "(a slowly firing unit)")
    else:
        _empty(ax_acg, f"no ACG{why}")
    if waveform is not None:
        ax_wvf.plot(waveform_ms(waveform.size), waveform, color="black")
        ax_wvf.axhline(0, color="0.8", lw=0.5)
        ax_wvf.set_xlabel("time from peak (ms)")
    else:
        _empty(ax_wvf, f"no waveform{why}")
    ax_wvf.set_title("waveform (normalised)")
    if not probabilities:
        _empty(ax_prob, f"no probabilities: the unit was not classified{why}")
    if probabilities:
        labels = list(probabilities)
        values = [probabilities[k] for k in labels]
        colors = ["tab:blue" if v == max(values) else "0.6" for v in values]
        ax_prob.barh(labels, values, color=colors)
        ax_prob.set_xlim(0, 1)
        top = max(values)
        ax_prob.axvline(top / threshold, color="tab:red", ls="--", lw=1,
                        label=f"top / {threshold:g}")
        ax_prob.legend(loc="lower right", fontsize=7)
        ax_prob.set_xlabel("probability")
        fig.text(0.5, 0.01, ratio_note(threshold), ha="center", fontsize=7, color="0.3")
    ax_prob.set_title("class probabilities")
    fig.suptitle(f"cluster {cluster_id} {title_extra}".strip())
    if not tight:  # fixed margins: a tight layout needs an extra draw pass
        fig.subplots_adjust(left=0.07, right=0.98, bottom=0.17, top=0.78, wspace=0.45)
        return
    with warnings.catch_warnings():  # a small figure may be too narrow for a tight layout
        warnings.simplefilter("ignore", UserWarning)
        fig.tight_layout()


def draw_why(fig, explanation: Any, threshold: float, *, title_extra: str = "") -> None:
    """The C4 view's figure (``phy_c4.explain.Explanation``): the unit's ACG and waveform with
    its nearest training units of the predicted class overlaid, the class probabilities with
    each member's vote, the 3D-ACG, the Purkinje partner's cross-correlogram, and the status."""
    e = explanation
    fig.clear()
    grid = fig.add_gridspec(2, 3, width_ratios=[1.2, 1, 1])
    ax_acg, ax_wvf, ax_prob = (fig.add_subplot(grid[0, c]) for c in range(3))
    ax_3d, ax_ccg, ax_text = (fig.add_subplot(grid[1, c]) for c in range(3))
    near = f"nearest {e.predicted} training units" if e.neighbours else None
    acg = e.inputs.get("acg_1d")
    if acg is not None and not np.isfinite(acg).all():
        acg = None
    if acg is not None:  # each curve over its own peak: shapes compared, not rates
        lags = np.arange(acg.size) - acg.size // 2
        for n in e.neighbours:
            other = n.get("acg_1d")
            if other is not None and np.isfinite(other).all() and other.max() > 0:
                ax_acg.plot(lags, other / other.max(), color="tab:orange", lw=0.8, alpha=0.8)
        if acg.max() > 0:
            ax_acg.bar(lags, acg / acg.max(), width=1.0, color="0.25")
        else:
            ax_acg.text(0.5, 0.5, "no spike pairs within the window", ha="center",
                        va="center", transform=ax_acg.transAxes, fontsize=8)
        ax_acg.set_xlim(lags[0], lags[-1])
        ax_acg.set_xlabel("lag (ms)")
        ax_acg.set_ylabel("relative to peak")
        shown = [n for n in e.neighbours if n.get("acg_1d") is not None
                 and np.isfinite(n["acg_1d"]).all() and n["acg_1d"].max() > 0]
        ax_acg.set_title("ACG" + (f" (orange: {near})" if shown else
                                  f" ({e.predicted} training units: no ACG in the reference)"
                                  if near else ""), fontsize=9)
    elif "acg_3d_log" in e.inputs:
        _empty(ax_acg, "this bundle reads the 3D autocorrelogram (below), not a 1-D ACG")
    else:
        _empty(ax_acg, "no ACG: " + (e.status or "the unit has no ACG input"))
    waveform = e.inputs.get("waveform")
    if waveform is not None and not np.isfinite(waveform).all():
        waveform = None
    if waveform is None:
        _empty(ax_wvf, "no waveform: " + (e.status or "the unit has no waveform input"))
    else:
        t = waveform_ms(waveform.size)
        for n in e.neighbours:
            other = n.get("waveform")
            if other is not None and other.size == waveform.size and np.isfinite(other).all():
                ax_wvf.plot(t, other, color="tab:orange", lw=0.8, alpha=0.7)
        ax_wvf.plot(t, waveform, color="black", lw=1.5)
        ax_wvf.set_xlabel("time from peak (ms)")
    ax_wvf.set_title("waveform" + (" (orange: nearest)" if near else ""), fontsize=9)
    k = np.arange(len(e.labels))
    ax_prob.barh(k, e.probabilities, color=["tab:blue" if lab == e.predicted else "0.7"
                                            for lab in e.labels], alpha=0.6)
    spread = np.random.default_rng(0).uniform(-0.25, 0.25, e.members.shape)
    ax_prob.scatter(e.members.ravel(), (k[:, None] + spread).ravel(), s=6, color="black",
                    label="one member")
    ax_prob.axvline(e.probabilities.max() / threshold, color="tab:red", ls="--", lw=1,
                    label=f"top / {threshold:g}")
    ax_prob.set_yticks(k, e.labels)
    ax_prob.set_xlim(0, 1)
    ax_prob.legend(loc="lower right", fontsize=6)
    ax_prob.set_title(f"probabilities and the {e.members.shape[1]} members' votes", fontsize=9)
    if e.acg_3d_log is not None:
        _draw_acg_3d(ax_3d, e.acg_3d_log)
        ax_3d.set_ylabel("rate decile")
        ax_3d.set_title(f"3D autocorrelogram ({e.acg_3d_source})", fontsize=9)
    else:
        _empty(ax_3d, "3D autocorrelogram: too few spikes (fewer than 100)")
    if e.ccg is not None:
        lags, counts = e.ccg
        ax_ccg.bar(lags, counts, width=lags[1] - lags[0], color="tab:purple")
        ax_ccg.axvline(0, color="0.5", lw=0.5)
        ax_ccg.set_xlabel(f"lag from cluster {e.cluster_id}'s spikes (ms)")
        ax_ccg.set_title(f"partner {e.partner}: cross-correlogram", fontsize=9)
    else:
        _empty(ax_ccg, "cross-correlogram: no Purkinje partner (shown for a CS-SS pair only)")
    ax_text.axis("off")
    lines = [f"network's best class: {e.predicted}", f"novelty: {e.novelty:.2f}"
             if np.isfinite(e.novelty) else "novelty: not known"]
    if e.neighbour_distances:
        lines.append("nearest distances: " + ", ".join(f"{d:.2f}" for d in e.neighbour_distances))
    lines += [part.strip() for part in e.status.split(";")]
    lines.append(ratio_note(threshold))
    ax_text.text(0, 1, "\n".join(textwrap.fill(line, 42) for line in lines), va="top",
                 fontsize=8, transform=ax_text.transAxes)
    fig.suptitle(f"cluster {e.cluster_id} {title_extra}".strip(), fontsize=10)
    fig.subplots_adjust(left=0.06, right=0.98, bottom=0.1, top=0.86, wspace=0.35, hspace=0.55)


def unit_probabilities(row: Mapping[str, Any]) -> dict[str, float]:
    """``{label: probability}`` from a result row's ``c4_p_<label>`` fields (missing skipped)."""
    return {k[len("c4_p_"):]: float(v) for k, v in row.items()
            if k.startswith("c4_p_") and v is not None and np.isfinite(v)}


def write_report(folder: str | os.PathLike, result, channel_positions: np.ndarray | None = None,
                 *, unit_depths: dict[int, float] | None = None) -> list[Path]:
    """PNGs per unit and a summary figure into ``folder``; returns their paths."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    threshold = float(result.parameters.get("threshold", 2.0))
    fig = plt.figure(figsize=(11, 3.4))
    for _, row in result.table.iterrows():
        cluster_id = int(row["cluster_id"])
        unit = result.features.get(cluster_id)
        label = row["c4_type"] or "not classified"
        title = (f"— {label} (ratio {row['c4_ratio']:.2f})" if np.isfinite(row["c4_ratio"])
                 else f"— {row['c4_status']}")
        draw_unit(fig, cluster_id, getattr(unit, "inputs", None),
                  probabilities=unit_probabilities(row), threshold=threshold, title_extra=title,
                  reason=str(row["c4_status"]))
        path = out / f"unit_{cluster_id}.png"
        fig.savefig(path, dpi=90)
        written.append(path)
    plt.close(fig)
    written.append(_summary(out / "summary.png", result.table, threshold, depths=unit_depths or {}))
    return written


def _summary(path: Path, table: pd.DataFrame, threshold: float,
             *, depths: dict[int, float]) -> Path:
    fig, (ax_depth, ax_ratio) = plt.subplots(1, 2, figsize=(10, 4.5))
    types = sorted(t for t in table["c4_type"].unique() if t)
    for i, cell_type in enumerate(types):
        rows = table[table["c4_type"] == cell_type]
        y = [depths.get(int(c), np.nan) for c in rows["cluster_id"]]
        jitter = np.random.default_rng(i).uniform(-0.2, 0.2, len(rows))
        ax_depth.scatter(np.full(len(rows), i) + jitter, y, label=f"{cell_type} ({len(rows)})")
    ax_depth.set_xticks(range(len(types)), types, rotation=30)
    ax_depth.set_ylabel("depth on probe (µm)")
    ax_depth.set_title("predicted types along the probe")
    ratios = table["c4_ratio"].replace(np.inf, np.nan).dropna()
    if len(ratios):
        ax_ratio.hist(np.log10(ratios.clip(lower=1)), bins=20, color="0.5")
    ax_ratio.axvline(np.log10(threshold), color="tab:red", ls="--",
                     label=f"threshold {threshold:g}")
    ax_ratio.set_xlabel("log10 confidence ratio (top / second)")
    ax_ratio.set_ylabel("units")
    kept = int((table["c4_ratio"] >= threshold).sum())
    ax_ratio.set_title(f"{kept} of {len(table)} units at ratio ≥ {threshold:g}")
    ax_ratio.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
