"""Training and prediction on a CUDA GPU, against the CPU in the same run. Run by hand on a
machine with an NVIDIA GPU (CI has none); not a test.

    python benchmarks/cuda_check.py --table TABLE_FOLDER --out OUT

1. ``phy-c4 train --device cuda`` and ``--device cpu`` on the same table (a small recipe:
   4 members); wall time of each and the in-sample balanced accuracy each bundle reaches.
2. ``phy-c4 classify --device cuda`` and ``--device cpu`` on a generated 20-unit Phy folder
   with the default bundle: the written types must be the same, probabilities within 1e-5.
3. 1,000 units through a 50-member official-architecture ensemble on each device.
GPU memory use is printed to show the work ran there.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_predict import random_bundle

from phy_c4.cli import main as phy_c4
from phy_c4.families import load_bundle
from phy_c4.model import predict, save_bundle
from phy_c4.testing import make_dataset


def run_cli(*argv: str) -> tuple[float, dict]:
    out = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(out):
        status = phy_c4(list(argv))
    seconds = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"phy-c4 {' '.join(argv)} exited with {status}")
    return seconds, json.loads(out.getvalue())


def gpu_peak_mb() -> float:
    if not torch.cuda.is_available():
        return 0.0
    peak = torch.cuda.max_memory_allocated() / 2**20
    torch.cuda.reset_peak_memory_stats()
    return peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--table", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--devices", default="cuda,cpu",
                        help="the two devices compared (cpu,cpu tries the script without a GPU)")
    args = parser.parse_args()
    devices = args.devices.split(",")
    if "cuda" in devices and not torch.cuda.is_available():
        raise SystemExit("no CUDA GPU: nothing to check")
    out = Path(args.out)
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    print(f"torch {torch.__version__}, {gpu}")

    for n, device in enumerate(devices):
        bundle = out / f"bundle_{n}_{device}"
        seconds, summary = run_cli("train", "--table", args.table, "--out", str(bundle),
                                   "--members", "4", "--epochs", "30", "--vae-epochs", "10",
                                   "--device", device, "--json")
        peak = gpu_peak_mb()
        _, evaluation = run_cli("evaluate", "--bundle", str(bundle), "--table", args.table,
                                "--json")
        accuracy = evaluation.get("balanced_accuracy")
        print(f"train --device {device}: {seconds:.1f} s, {summary['labelled']} labelled units, "
              f"in-sample balanced accuracy {accuracy}, GPU peak {peak:.0f} MB")

    folder = out / "example"
    make_dataset(folder, n_units_per_type=4, duration_s=480.0, seed=0, n_channels=6)
    tables = {}
    for n, device in enumerate(devices):
        target = out / f"classified_{n}_{device}"
        seconds, _ = run_cli("classify", str(folder), "--group", "all", "--overwrite",
                             "--no-cache", "--device", device, "--out", str(target), "--json")
        peak = gpu_peak_mb()
        types = pd.read_csv(target / "cluster_c4_type.tsv", sep="\t")
        confidence = pd.read_csv(target / "cluster_c4_confidence.tsv", sep="\t")
        tables[n] = types.merge(confidence, on="cluster_id")
        print(f"classify --device {device}: {seconds:.1f} s end to end, GPU peak {peak:.0f} MB")
    cuda, cpu = tables[0], tables[1]
    same_types = cuda["c4_type"].fillna("").equals(cpu["c4_type"].fillna(""))
    difference = np.nanmax(np.abs(cuda["c4_confidence"].to_numpy(float)
                                  - cpu["c4_confidence"].to_numpy(float)))
    print(f"written types equal on {devices[0]} and {devices[1]}: {same_types} "
          f"({len(cuda)} units); largest confidence difference {difference:.1e}")

    bundle = load_bundle(save_bundle(random_bundle(50), out / "bundle_official_random"))
    rng = np.random.default_rng(0)
    acg = rng.random((1000, 10, 201)) * 0.05
    wvf = rng.standard_normal((1000, 90))
    results = {}
    for n, device in enumerate(devices):
        predict(bundle, acg[:4], wvf[:4], device=device)  # warm-up
        times = []
        for _ in range(3):
            start = time.perf_counter()
            results[n] = predict(bundle, acg, wvf, device=device)
            times.append(time.perf_counter() - start)
        print(f"1,000 units x 50 members (calibrated) on {device}: best {min(times):.3f} s, "
              f"GPU peak {gpu_peak_mb():.0f} MB")
    gap = np.abs(results[0].probabilities - results[1].probabilities).max()
    agree = np.mean(results[0].predicted == results[1].predicted)
    print(f"official architecture, {devices[0]} vs {devices[1]}: largest probability "
          f"difference {gap:.1e}, same type for {agree:.1%} of units")


if __name__ == "__main__":
    main()
