"""Does npyx 4.3.1, run on this machine, reproduce its own reference outputs?

Runs npyx's ``crosscorr_vs_firing_rate`` on the inputs of ``../shared/reference/
npyx_4.3.1_features.npz`` and prints, per case, the max |difference| of npyx-here and of phy_c4
against the reference. npyx's box-car goes through OpenBLAS ``ddot``, whose summation order
depends on the CPU; phy_c4 emulates the reference machine's order (docs/features.md).
"""

from __future__ import annotations

import io
import sys
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np

from phy_c4.features import acg_3d


def main() -> None:
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/reference/npyx_4.3.1_features.npz")
    with redirect_stdout(io.StringIO()):
        from npyx.corr import crosscorr_vs_firing_rate
    ref = np.load(path)
    cases = sorted({k.split("/")[1] for k in ref.files if k.startswith("acg/")})
    print("| case | npyx here vs reference | phy_c4 vs reference |\n|---|---:|---:|")
    for case in cases:
        times = ref[f"acg/{case}/times"]
        fs = float(ref[f"acg/{case}/fs"])
        _, theirs = crosscorr_vs_firing_rate(times, times, 2000, 1, fs=fs)
        _, ours = acg_3d(times, fs)
        expected = ref[f"acg/{case}/acg_lin"]
        print(f"| {case} | {np.abs(theirs - expected).max():.1e} | "
              f"{np.abs(ours - expected).max():.1e} |")


if __name__ == "__main__":
    main()
