"""npyx 4.3.1 and phy_c4 end to end on the same generated Phy folders, compared unit by unit.

Run with the project's Python; npyx runs in its own environment (``--npyx-python``, default
``/work/venv-npyx/bin/python``; see the Makefile's bench target) as a subprocess of this script::

    python benchmarks/npyx_end_to_end.py                       # compare, print a table
    python benchmarks/npyx_end_to_end.py --write-references    # also refresh tests/data/npyx_e2e

Folders come from ``phy_c4.testing.make_npyx_folder`` (one unit per type, a raw ``*.ap.bin``
with a sync channel, a unit stopping at 150 s, one at 205 s, a spike on a chunk edge). npyx's
side is what ``predict_cell_types`` computes per unit before the network: ``trn`` (< 100 spikes:
skipped), ``trn_filtered(period_m=None, consecutive_n_seconds=180)`` (< 10 spikes left:
skipped), ``wvf_dsmatch(t_waveforms=120)[0]`` through ``preprocess_template``, and
``crosscorr_vs_firing_rate`` + ``convert_acg_log`` x 10. npyx's network step needs laplace-torch
0.1a2, which does not install with torch 2.x; its probabilities are those of the same archive on
npyx's rows, whose equality with laplace-torch's is ``tests/model/test_laplace.py``'s.

``--npyx-worker FOLDER OUT`` is the part that runs inside npyx's environment.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
REFERENCES = ROOT / "tests" / "data" / "npyx_e2e"
CASES = ((1, 300.0), (2, 240.0), (3, 420.0))
"""(seed, duration in s) of the reference folders."""


def npyx_worker(folder: Path, out: Path) -> None:
    """npyx's per-unit features of every good unit of ``folder``, saved to ``out`` (npz)."""
    import pandas as pd
    from npyx.corr import convert_acg_log, crosscorr_vs_firing_rate
    from npyx.datasets import preprocess_template
    from npyx.spk_t import trn, trn_filtered
    from npyx.spk_wvf import wvf_dsmatch

    groups = pd.read_csv(folder / "cluster_group.tsv", sep="\t")
    units = groups.loc[groups["group"] == "good", "cluster_id"].astype(int).tolist()
    saved: dict[str, np.ndarray] = {"units": np.asarray(units, dtype=np.int64)}
    for u in units:
        with contextlib.redirect_stdout(io.StringIO()):
            t = trn(folder, u, again=True)
            saved[f"n_spikes/{u}"] = np.asarray(t.size)
            if t.size < 100:
                saved[f"skipped/{u}"] = np.asarray("fewer than 100 spikes")
                continue
            try:
                kept, mask = trn_filtered(folder, u, period_m=None, fp_threshold=0.05,
                                          fn_threshold=0.05, consecutive_n_seconds=180,
                                          again=True)
            except (IndexError, ValueError):
                kept, mask = trn_filtered(folder, u, period_m=None, fp_threshold=0.05,
                                          fn_threshold=0.05, consecutive_n_seconds=180,
                                          again=True, enforced_rp=-1)
            saved[f"mask/{u}"] = np.packbits(np.asarray(mask, dtype=bool))
            if len(kept) < 10:
                saved[f"skipped/{u}"] = np.asarray("fewer than 10 good spikes")
                continue
            raw = wvf_dsmatch(folder, u, t_waveforms=120, again=True)[0]
            saved[f"raw_waveform/{u}"] = np.asarray(raw, dtype=np.float64)
            saved[f"waveform/{u}"] = np.asarray(preprocess_template(raw, peak_sign="negative"))
            _, acg = crosscorr_vs_firing_rate(kept, kept, 2000, 1)
            log, _ = convert_acg_log(acg, 1, 2000)
            saved[f"acg_log/{u}"] = np.asarray(log, dtype=np.float64)
    np.savez_compressed(out, **saved)


def run_npyx(folder: Path, npyx_python: str, out: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HOME": str(folder.parent)}
    subprocess.run([npyx_python, __file__, "--npyx-worker", str(folder), str(out)], check=True,
                   env=env)


def compare(folder: Path, reference: Path, bundle, periods: str) -> list[str]:
    """One line per unit: phy_c4 against npyx's saved features on ``folder``."""
    from tests.npyx_e2e import compare_folder

    result = compare_folder(folder, reference, bundle, periods=periods)
    return [*result.lines, f"same units {result.same_units}; max |dp| {result.max_prob:.2e}, "
            f"waveform {result.max_waveform:.2e}, log 3D-ACG {result.max_acg:.2e}"]


def archive_bundle(folder: Path, archive: Path):
    """The C4 archive the probabilities go through, imported as ``base``."""
    from phy_c4.weights import import_c4_archive

    print(f"model: {archive}")
    return import_c4_archive(archive, "base", dest=folder / "bundle")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--npyx-python", default="/work/venv-npyx/bin/python")
    parser.add_argument("--write-references", action="store_true",
                        help=f"save npyx's outputs to {REFERENCES.relative_to(ROOT)}")
    parser.add_argument("--cases", default=",".join(f"{s}:{d:g}" for s, d in CASES),
                        help="seed:seconds,...")
    parser.add_argument("--archive", default=str(REFERENCES / "trained_models.tar.gz"),
                        help="C4 archive (+ hessians.pt beside it) for the probabilities "
                             "(default: member 0 of c4_format/base, in tests/data)")
    parser.add_argument("--units-per-type", type=int, default=1,
                        help="units of each type per folder (references: 1)")
    parser.add_argument("--channels", type=int, default=6)
    parser.add_argument("--periods", default="auto", choices=["auto", "npyx", "whole"],
                        help="phy_c4's quality-filter periods (auto: npyx's)")
    parser.add_argument("--npyx-worker", nargs=2, metavar=("FOLDER", "OUT"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.npyx_worker:
        npyx_worker(Path(args.npyx_worker[0]), Path(args.npyx_worker[1]))
        return 0
    if not Path(args.npyx_python).is_file():
        print(f"npyx's environment is not at {args.npyx_python}: nothing to compare "
              "(build it as the Makefile's bench target does)")
        return 0
    sys.path.insert(0, str(ROOT))
    from phy_c4.testing import make_npyx_folder

    cases = [(int(s), float(d)) for s, d in (c.split(":") for c in args.cases.split(","))]
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        bundle = archive_bundle(Path(tmp), Path(args.archive))
        for seed, duration in cases:
            folder = Path(tmp) / f"seed{seed}"
            make_npyx_folder(folder, seed, duration, n_channels=args.channels,
                             n_units_per_type=args.units_per_type)
            out = Path(tmp) / f"npyx_seed{seed}.npz"
            run_npyx(folder, args.npyx_python, out)
            if args.write_references:
                REFERENCES.mkdir(parents=True, exist_ok=True)
                target = REFERENCES / f"npyx_seed{seed}_{duration:g}s.npz"
                target.write_bytes(out.read_bytes())
            lines.append(f"## seed {seed}, {duration:g} s")
            lines.extend(compare(folder, out, bundle, args.periods))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
