"""Build ``tests/data/`` from the project's ``shared/`` folder (run by a maintainer, once).

The test suite must pass on a clone with nothing beside it, so the reference outputs and the
small real datasets it checks against live in the repository, compressed where that helps:
text and ``.npy`` files are stored gzipped (``tests/conftest.py``'s ``data_path`` unpacks them
into a temporary folder, byte for byte), already-compressed archives as they are. Only what
the tests read is kept (see tests/data/README.md for what, where from, and the licences).

Usage: python scripts/make_test_data.py [SHARED_DIR]   (default: ../shared)
"""

from __future__ import annotations

import gzip
import json
import shutil
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "data"
N_CORTICAL_CELLS = 40
"""tests/test_novelty.py scores the first 40 CellExplorer ground-truth cells."""
MAX_CORTICAL_SPIKES = 20_000
"""The first spikes of each of those cells (their median is ~66 k): enough for an ACG and an ISI
histogram, and 0.9 MB instead of 43 MB."""


def _gzip(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with source.open("rb") as src, gzip.GzipFile(target.with_name(target.name + ".gz"), "wb",
                                                 compresslevel=9, mtime=0) as out:
        shutil.copyfileobj(src, out)


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)


def main(shared: Path) -> None:
    if not (shared / "reference").is_dir():
        sys.exit(f"{shared}: not the shared folder (no reference/ in it)")
    if OUT.exists():
        for child in OUT.iterdir():
            if child.name != "README.md":
                shutil.rmtree(child) if child.is_dir() else child.unlink()
    ref = shared / "reference"
    _copy(ref / "npyx_4.3.1_features.npz", OUT / "reference" / "npyx_4.3.1_features.npz")
    _copy(ref / "README.md", OUT / "reference" / "README.md")
    for variant in ("base", "layer"):
        for name in ("trained_models.tar.gz", "hessians.pt", "expected.npz"):
            _copy(ref / "c4_format" / variant / name,
                  OUT / "reference" / "c4_format" / variant / name)
    data = shared / "data"
    for folder in ("c4_derived", "phy_real"):
        _copy(data / folder / "LICENSE", OUT / folder / "LICENSE")
        for path in sorted((data / folder).rglob("*")):
            if path.is_file() and path.name != "LICENSE":
                target = OUT / folder / path.relative_to(data / folder)
                if path.suffix in (".csv", ".npy"):
                    _gzip(path, target)
                else:
                    _copy(path, target)
    ce = data / "cellexplorer_groundtruth"
    _copy(ce / "LICENSE", OUT / "cellexplorer_groundtruth" / "LICENSE")
    meta = json.loads((ce / "ce_groundtruth_meta.json").read_text())[:N_CORTICAL_CELLS]
    (OUT / "cellexplorer_groundtruth" / "ce_groundtruth_meta.json").write_text(
        json.dumps(meta, indent=1) + "\n")
    arrays = {}
    with np.load(ce / "ce_groundtruth_spiketimes.npz") as source:
        for record in meta:
            key = f"cell{record['cell']:03d}"
            samples = np.unique(np.round(source[f"{key}/spike_times_s"] * 30000)
                                .astype(np.int64))
            samples = samples[samples >= 0][:MAX_CORTICAL_SPIKES]
            arrays[f"{key}/spike_samples_diff"] = np.diff(samples, prepend=0).astype(np.int64)
            arrays[f"{key}/wf_peak"] = source[f"{key}/wf_peak"]
    np.savez_compressed(OUT / "cellexplorer_groundtruth" / "ce_groundtruth_subset.npz",
                        **arrays)
    _copy(shared / "tools" / "surrogate_phy.py", OUT / "tools" / "surrogate_phy.py")
    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"wrote {OUT} ({total / 1e6:.1f} MB)")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared")
