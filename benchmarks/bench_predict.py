"""1,000 units through a 50-member C4 ensemble on CPU: time and peak memory (issue target:
under 1 s and under 500 MB). Run by hand; not a test.

The 50 members are random networks of the official architecture (weights do not change the
cost), calibrated with random Kronecker factors so the Laplace predictive is timed too.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time

import numpy as np
import torch

from phy_c4.config import FeatureSpec
from phy_c4.families import load_bundle
from phy_c4.model import Bundle, C4NetConfig, C4Network, predict, save_bundle
from phy_c4.model.laplace import KronHessian, PredictiveFactors


def random_bundle(n_members: int, seed: int = 0) -> Bundle:
    torch.manual_seed(seed)
    config = C4NetConfig()
    states = [C4Network(config).state_dict() for _ in range(n_members)]
    weights = {k: torch.stack([s[k].float() for s in states]) for k in states[0]
               if not k.endswith("num_batches_tracked")}
    k, d = config.n_classes, config.head_hidden
    hessians = []
    for _ in range(n_members):
        q1 = torch.linalg.qr(torch.randn(k, k, dtype=torch.float64))[0]
        q2 = torch.linalg.qr(torch.randn(d, d, dtype=torch.float64))[0]
        f64 = torch.float64
        hessians.append(KronHessian(out_values=torch.rand(k, dtype=f64), in_values=torch.rand(d,
                                                                                              dtype=f64),
                                    bias_values=torch.rand(k, dtype=f64), out_vectors=q1,
                                    in_vectors=q2, bias_vectors=torch.eye(k, dtype=f64),
                                    deltas=torch.zeros(2, dtype=f64)))
    factors = PredictiveFactors.from_hessians(hessians, [1.0] * n_members)
    calibration = {"out_vectors_sq": factors.out_vectors_sq, "in_vectors": factors.in_vectors,
                   "inv_weight_eigs": factors.inv_weight_eigs, "bias_var": factors.bias_var,
                   "prior_precision": torch.ones(n_members, dtype=torch.float64)}
    manifest = {"name": "bench", "version": "0", "labels": list(config.labels),
                "architecture": "c4_cnn", "network": config.to_dict(),
                "features": FeatureSpec().to_dict(), "n_members": n_members, "files": {}}
    return Bundle(manifest=manifest, weights=weights, calibration=calibration)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--units", type=int, default=1000)
    parser.add_argument("--members", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        bundle = load_bundle(save_bundle(random_bundle(args.members), f"{folder}/b"))
    rng = np.random.default_rng(0)
    acg = rng.random((args.units, 10, 201)) * 0.05
    wvf = rng.standard_normal((args.units, 90))
    predict(bundle, acg[:4], wvf[:4])  # warm-up (thread pools, first-call overhead)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    times = []
    for _ in range(3):
        start = time.perf_counter()
        result = predict(bundle, acg, wvf)
        times.append(time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{args.units} units x {args.members} members (calibrated), torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads: best {min(times):.3f} s, "
          f"median {sorted(times)[1]:.3f} s; peak RSS {peak:.0f} MB "
          f"({before:.0f} MB after imports and warm-up, {peak - before:+.0f} MB during "
          f"prediction); raw {result.raw.shape}")


if __name__ == "__main__":
    main()
