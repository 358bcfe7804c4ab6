"""Peak memory and wall time of a whole classification as users run it, over recording length
and unit count: a fresh ``phy-c4 classify --group all --no-cache`` process per recording (the
CLI), and a fresh ``python -m phy_c4.worker`` process answering one Classify request (what Phy's
plugin runs). Run by hand; writes a Markdown table.

Recordings are generated without a raw binary (as ``bench_classify.py``: waveforms from the
templates). ``make_dataset`` holds a whole recording in memory while it writes it (~60 bytes a
spike), so larger ones are composed from 400-unit, 1-hour blocks made with different seeds
(seed 3 is ``bench_classify.py``'s recording): ``U`` units x ``H`` hours takes ``U / 400``
blocks side by side (cluster and template ids offset) and repeats them ``H`` times in time,
written window by window. Spike trains therefore repeat every hour; per hour the statistics,
rates and the quality filter's work are the same as the 1-hour block's.

Peak memory is the process's maximum resident set size (``ru_maxrss`` from ``wait4``: file
pages mapped in are counted, as ``/usr/bin/time -v`` counts them). The spike arrays column is
what a run reads: spike times, clusters, templates and amplitudes.

    python benchmarks/bench_memory.py                       # the scaling table
    python benchmarks/bench_memory.py --only 1000x3 --cli   # one recording, one way
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BLOCK_UNITS = 400
SPIKE_FILES = ("spike_times.npy", "spike_clusters.npy", "spike_templates.npy", "amplitudes.npy")
TABLE = ("400x1", "400x2", "400x4", "1000x1", "2000x1")
WINDOW_S = 60.0


def block(root: Path, seed: int, units_per_type: int = BLOCK_UNITS // 5) -> Path:
    """A generated 1-hour recording (``make_dataset``), made once."""
    from phy_c4.testing import make_dataset

    folder = root / f"block_{units_per_type * 5}u_seed{seed}"
    if not (folder / "params.py").is_file():
        start = time.perf_counter()
        make_dataset(folder, n_units_per_type=units_per_type, duration_s=3600.0, seed=seed,
                     n_channels=32, raw=False)
        print(f"generated {folder} in {time.perf_counter() - start:.0f} s", flush=True)
    return folder


def _write_npy_header(out, dtype: np.dtype, n: int) -> None:
    np.lib.format.write_array_header_2_0(out, {"descr": np.lib.format.dtype_to_descr(dtype),
                                               "fortran_order": False, "shape": (n,)})


def compose(root: Path, units: int, hours: int) -> Path:
    """``units`` x ``hours`` from 400-unit, 1-hour blocks (seeds 3, 4, ...; the remainder in a
    smaller block, so ``units`` must be a multiple of 5)."""
    if units % 5 or units <= 0:
        raise SystemExit("units must be a positive multiple of 5 (one unit of each type)")
    sizes = [BLOCK_UNITS] * (units // BLOCK_UNITS) + ([units % BLOCK_UNITS] if units %
                                                       BLOCK_UNITS else [])
    blocks = [block(root, 3 + i, size // 5) for i, size in enumerate(sizes)]
    first_ids = np.cumsum([0, *sizes])
    if len(blocks) == 1 and hours == 1:
        return blocks[0]
    folder = root / f"rec_{units}u_{hours}h"
    if (folder / "params.py").is_file():
        return folder
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    arrays = [{name: np.load(b / name, mmap_mode="r") for name in SPIKE_FILES} for b in blocks]
    fs = 30000.0
    n_total = hours * sum(a["spike_times.npy"].shape[0] for a in arrays)
    outs = {name: open(partial / name, "wb") for name in SPIKE_FILES}  # noqa: SIM115
    dtypes = {"spike_times.npy": np.dtype(np.uint64), "spike_clusters.npy": np.dtype(np.int32),
              "spike_templates.npy": np.dtype(np.uint32),
              "amplitudes.npy": np.dtype(np.float64)}
    for name, out in outs.items():
        _write_npy_header(out, dtypes[name], n_total)
    written = 0
    edges = np.arange(0.0, 3600.0 + WINDOW_S, WINDOW_S) * fs
    for hour in range(hours):
        shift = np.uint64(round(hour * 3600 * fs))
        for lo, hi in itertools.pairwise(edges):
            parts: dict[str, list[np.ndarray]] = {name: [] for name in SPIKE_FILES}
            for i, a in enumerate(arrays):
                times = a["spike_times.npy"]
                a_lo, a_hi = np.searchsorted(times, [lo, hi])
                parts["spike_times.npy"].append(np.asarray(times[a_lo:a_hi]) + shift)
                for name in ("spike_clusters.npy", "spike_templates.npy"):
                    parts[name].append(np.asarray(a[name][a_lo:a_hi]).astype(dtypes[name])
                                       + dtypes[name].type(first_ids[i]))
                parts["amplitudes.npy"].append(np.asarray(a["amplitudes.npy"][a_lo:a_hi]))
            window = {name: np.concatenate(p) for name, p in parts.items()}
            order = np.argsort(window["spike_times.npy"], kind="stable")
            for name, out in outs.items():
                out.write(window[name][order].astype(dtypes[name]).tobytes())
            written += order.size
    for out in outs.values():
        out.close()
    assert written == n_total
    templates = np.concatenate([np.load(b / "templates.npy") for b in blocks])
    np.save(partial / "templates.npy", templates)
    np.save(partial / "similar_templates.npy", np.eye(len(templates), dtype=np.float32))
    for name in ("channel_map.npy", "channel_positions.npy", "whitening_mat.npy",
                 "whitening_mat_inv.npy", "params.py"):
        shutil.copy2(blocks[0] / name, partial / name)
    for name in ("cluster_group.tsv", "cluster_layer.tsv"):
        lines = [(blocks[0] / name).read_text().splitlines()[0]]
        for i, b in enumerate(blocks):
            for line in (b / name).read_text().splitlines()[1:]:
                cluster, value = line.split("\t")
                lines.append(f"{int(cluster) + first_ids[i]}\t{value}")
        (partial / name).write_text("\n".join(lines) + "\n")
    partial.rename(folder)
    print(f"composed {folder}: {n_total:,d} spikes", flush=True)
    return folder


def spike_bytes(folder: Path) -> int:
    return sum(np.load(folder / name, mmap_mode="r").nbytes for name in SPIKE_FILES)


def _peak_of(process: subprocess.Popen) -> tuple[int, int]:
    """Wait for the process; its exit status and peak resident memory in bytes."""
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, usage.ru_maxrss * 1024


def run_cli(folder: Path) -> tuple[float, int, float]:
    """(wall s, peak bytes, the seconds the CLI reports) of a fresh classify process."""
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "phy_c4.cli", "classify", str(folder), "--group", "all",
         "--no-cache", "--overwrite", "--quiet"], stdout=subprocess.PIPE, text=True)
    output = process.stdout.read()
    code, peak = _peak_of(process)
    if code:
        raise SystemExit(f"phy-c4 classify failed ({code}) on {folder}")
    reported = float(output.split(" units in ")[1].split(" s")[0])
    return time.perf_counter() - start, peak, reported


def run_worker(folder: Path) -> tuple[float, int, float]:
    """(wall s, peak bytes, classify request s) of a fresh worker process: warm-up, then one
    Classify of every cluster under an assignment sent as a file, as the plugin sends it."""
    scratch = Path(tempfile.mkdtemp(prefix="phy_c4_bench_"))
    try:
        clusters = np.load(folder / "spike_clusters.npy", mmap_mode="r")
        assignment = scratch / "spike_clusters.npy"
        with open(assignment, "wb") as out:  # Phy's assignment is int64
            _write_npy_header(out, np.dtype(np.int64), clusters.shape[0])
            for lo in range(0, clusters.shape[0], 1 << 22):
                out.write(np.asarray(clusters[lo:lo + (1 << 22)], dtype=np.int64).tobytes())
        ids = sorted({int(line.split("\t")[0]) for line in
                      (folder / "cluster_group.tsv").read_text().splitlines()[1:]})
        start = time.perf_counter()
        process = subprocess.Popen([sys.executable, "-m", "phy_c4.worker"],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

        def ask(request: dict) -> dict:
            process.stdin.write(json.dumps(request) + "\n")
            process.stdin.flush()
            while True:
                answer = json.loads(process.stdout.readline())
                if answer["op"] != "progress":
                    return answer

        ask({"op": "warm_up", "bundle": "default"})
        asked = time.perf_counter()
        answer = ask({"op": "classify", "id": 1, "folder": str(folder),
                      "spike_clusters": str(assignment), "clusters": ids, "bundle": "default",
                      "options": None, "layer": None, "rejected": {},
                      "out": str(scratch / "result.npz"), "cancel": str(scratch / "cancel")})
        seconds = time.perf_counter() - asked
        if answer["op"] != "result":
            raise SystemExit(f"worker: {answer}")
        process.stdin.write(json.dumps({"op": "quit"}) + "\n")
        process.stdin.close()
        code, peak = _peak_of(process)
        if code:
            raise SystemExit(f"the worker process ended with {code}")
        return time.perf_counter() - start, peak, seconds
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=".bench/memory", help="where recordings are kept")
    parser.add_argument("--only", nargs="*", help="UNITSxHOURS, e.g. 1000x3 (default: table)")
    parser.add_argument("--cli", action="store_true", help="only the CLI")
    parser.add_argument("--worker", action="store_true", help="only the worker process")
    parser.add_argument("--out", help="also write the table to this Markdown file")
    args = parser.parse_args()
    root = Path(args.root)
    ways = [w for w, on in (("cli", args.cli or not args.worker),
                            ("worker", args.worker or not args.cli)) if on]
    header = ("| recording | spikes | spike arrays | way | wall | classify | peak RSS | "
              "peak / arrays |\n|---|---:|---:|---|---:|---:|---:|---:|")
    rows = []
    print(header, flush=True)
    for item in args.only or TABLE:
        units, hours = (int(v) for v in item.lower().split("x"))
        folder = compose(root, units, hours)
        n_spikes = np.load(folder / "spike_times.npy", mmap_mode="r").shape[0]
        arrays = spike_bytes(folder)
        for way in ways:
            wall, peak, seconds = (run_cli if way == "cli" else run_worker)(folder)
            rows.append(f"| {units:,d} units x {hours} h | {n_spikes / 1e6:.1f} M | "
                        f"{arrays / 1e9:.2f} GB | {way} | {wall:.1f} s | {seconds:.1f} s | "
                        f"{peak / 1e9:.2f} GB | {peak / arrays:.2f} |")
            print(rows[-1], flush=True)
    if args.out:
        Path(args.out).write_text(header + "\n" + "\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
