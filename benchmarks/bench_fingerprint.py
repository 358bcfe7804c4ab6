"""What keying the feature cache on the recording's inputs costs (phy_c4/cache.py): the
fingerprint hashes params.py's values, the template, channel and whitening files by content
and the raw file by identity, once per run. Measured on a folder of a large sort's sizes
(40 M spikes, 500 templates x 82 samples x 384 channels), written to a temporary folder.

    python benchmarks/bench_fingerprint.py [--spikes 40000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from phy_c4.cache import recording_fingerprint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--spikes", type=int, default=40_000_000)
    parser.add_argument("--templates", type=int, default=500)
    parser.add_argument("--channels", type=int, default=384)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rng = np.random.default_rng(0)
        np.save(folder / "spike_templates.npy",
                rng.integers(0, args.templates, args.spikes, dtype=np.int32))
        np.save(folder / "templates.npy",
                rng.standard_normal((args.templates, 82, args.channels), dtype=np.float32))
        np.save(folder / "channel_map.npy", np.arange(args.channels, dtype=np.int32))
        np.save(folder / "channel_positions.npy", rng.standard_normal((args.channels, 2)))
        np.save(folder / "whitening_mat_inv.npy", np.eye(args.channels))
        (folder / "raw.bin").write_bytes(b"\0" * 1024)  # by identity: its size does not matter
        arguments = {"dir_path": folder, "dat_path": [folder / "raw.bin"], "n_channels_dat":
                     args.channels, "dtype": np.dtype("int16"), "offset": 0,
                     "sample_rate": 30000.0}
        recording = SimpleNamespace(model_arguments=arguments, folder=folder)
        size = sum(p.stat().st_size for p in folder.iterdir()) / 2 ** 20
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            recording_fingerprint(recording)
            times.append(time.perf_counter() - start)
        print(f"fingerprint of {size:.0f} MB of inputs ({args.spikes:,} spikes, "
              f"{args.templates} templates x {args.channels} channels): best "
              f"{min(times):.3f} s, first {times[0]:.3f} s of {args.repeat}")


if __name__ == "__main__":
    main()
