"""Shared fixtures. Reference data lives in ``../shared`` beside the checkout; tests fail loudly
(not skip) when it is missing, so a green run always means the equivalence claims were checked."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PHY_C4_SHARED", ROOT.parent / "shared"))


def shared_path(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.fail(f"reference data missing: {path} (set PHY_C4_SHARED to the shared/ folder)")
    return path


@pytest.fixture(scope="session")
def npyx_features() -> dict[str, np.ndarray]:
    with np.load(shared_path("reference", "npyx_4.3.1_features.npz")) as data:
        return {key: data[key] for key in data.files}


def poisson_train(rate_hz: float, duration_s: float, fs: float = 30000.0, seed: int = 0,
                  start_s: float = 0.0, refractory_s: float = 0.001) -> np.ndarray:
    """Sorted unique integer spike samples of a Poisson train with a refractory floor."""
    rng = np.random.default_rng(seed)
    n = int(rate_hz * duration_s * 1.3) + 10
    isis = refractory_s + rng.exponential(1.0 / rate_hz, n)
    times = start_s + np.cumsum(isis)
    times = times[times < start_s + duration_s]
    return np.unique((times * fs).astype(np.int64))
