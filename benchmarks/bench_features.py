"""Time phy_c4's 3D-ACG against npyx 4.3.1's on the same spike trains, in one run.

Run by hand (``make bench``); not a test. Prints a table and, with ``--markdown FILE``, writes it.
npyx is optional (``pip install npyx==4.3.1 six``); without it only our times are reported.
Every configuration also checks that both give the same ACG (max |difference|).
"""

from __future__ import annotations

import argparse
import io
import os
import time
from contextlib import redirect_stdout

import numpy as np

from phy_c4.features import acg_3d, acg_3d_log, acg_3d_many


def gamma_train(rate_hz: float, n_spikes: int, fs: float = 30000.0, seed: int = 0) -> np.ndarray:
    """Gamma(shape 4) ISIs with a 1-ms floor: a moderately regular unit."""
    rng = np.random.default_rng(seed)
    isis = 0.001 + rng.gamma(4.0, (1.0 / rate_hz) / 4.0, n_spikes)
    return np.unique((np.cumsum(isis) * fs).astype(np.int64))


def load_npyx():
    try:
        with redirect_stdout(io.StringIO()):
            from npyx.corr import convert_acg_log, crosscorr_vs_firing_rate
    except Exception as error:  # npyx is optional and its import chain is fragile
        print(f"npyx not available ({error.__class__.__name__}: {error}); ours only")
        return None
    return crosscorr_vs_firing_rate, convert_acg_log


def best_of(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def bench_single(npyx, sizes, rates) -> list[dict]:
    rows = []
    acg_3d(gamma_train(50, 2000), 30000.0)  # compile / load the numba cache outside the timing
    for n in sizes:
        for rate in rates:
            times = gamma_train(rate, n, seed=n + int(rate))
            ours = best_of(lambda t=times: acg_3d_log(acg_3d(t, 30000.0)[1]), 3 if n < 10**6 else 1)
            row = {"spikes": times.size, "rate": rate, "hours": times[-1] / 30000 / 3600,
                   "ours_s": ours, "npyx_s": float("nan"), "max_diff": float("nan")}
            if npyx is not None and (n < 10**6 or rate >= 50):
                ccg, to_log = npyx
                start = time.perf_counter()
                _, ref = ccg(times, times, 2000, 1, fs=30000)
                to_log(ref, 1, 2000)
                row["npyx_s"] = time.perf_counter() - start
                row["max_diff"] = float(np.abs(ref - acg_3d(times, 30000.0)[1]).max())
            rows.append(row)
            print(format_row(row), flush=True)
    return rows


def format_row(row: dict) -> str:
    ratio = row["npyx_s"] / row["ours_s"] if np.isfinite(row["npyx_s"]) else float("nan")
    return (f"| {row['spikes']:>9,d} | {row['rate']:>5.0f} Hz | {row['hours']:6.2f} h | "
            f"{row['ours_s']:8.4f} | {row['npyx_s']:8.3f} | {ratio:7.1f}x | "
            f"{row['max_diff']:.1e} |")


def bench_recording(n_units: int = 400, duration_s: float = 3600.0, total: float = 20e6) -> str:
    rng = np.random.default_rng(0)
    rates = rng.uniform(1, 100, n_units)
    rates *= total / (rates.sum() * duration_s)
    times, clusters = [], []
    for unit, rate in enumerate(rates):
        t = np.sort(rng.integers(0, int(duration_s * 30000), rng.poisson(rate * duration_s)))
        times.append(t)
        clusters.append(np.full(t.size, unit))
    t = np.concatenate(times)
    c = np.concatenate(clusters)
    order = np.argsort(t, kind="stable")
    t, c = t[order], c[order]
    start = time.perf_counter()
    _, _acgs, status = acg_3d_many(t, c, range(n_units), fs=30000.0)
    elapsed = time.perf_counter() - start
    return (f"{n_units} units, {duration_s / 3600:.1f} h, {t.size:,d} spikes, "
            f"{os.cpu_count()} cores: all 3D-ACGs in {elapsed:.2f} s "
            f"({sum(s == 'ok' for s in status)} ok)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--markdown", help="write the results table to this file")
    parser.add_argument("--quick", action="store_true", help="skip the 1 M-spike rows")
    parser.add_argument("--target-only", action="store_true",
                        help="only the issue's 90 k-spike unit (best of 11 vs npyx's best of 3)")
    args = parser.parse_args()
    npyx = load_npyx()
    sizes = [10_000, 100_000] + ([] if args.quick else [1_000_000])
    header = ("| spikes | rate | length | phy_c4 (s) | npyx (s) | speed-up | max abs diff |\n"
              "|---:|---:|---:|---:|---:|---:|---:|")
    rows = []
    if not args.target_only:
        print(header)
        rows = bench_single(npyx, sizes, [5.0, 50.0, 150.0])
    target = gamma_train(50, 90_000, seed=7)
    acg_3d(target, 30000.0)
    ours = best_of(lambda: acg_3d(target, 30000.0), 11)
    lines = [f"Target unit (90 k spikes, 50 Hz): phy_c4 {ours:.4f} s (best of 11)"]
    if npyx is not None:
        theirs = best_of(lambda: npyx[0](target, target, 2000, 1, fs=30000), 3)
        lines[0] += (f", npyx {theirs:.3f} s (best of 3), speed-up {theirs / ours:.0f}x "
                     "(one core each)")
    if not args.target_only:
        lines.append(bench_recording())
    for line in lines:
        print(line)
    if args.markdown:
        with open(args.markdown, "w") as handle:
            handle.write(header + "\n" + "\n".join(format_row(r) for r in rows) + "\n\n")
            handle.write("\n".join(f"- {line}" for line in lines) + "\n")


if __name__ == "__main__":
    main()
