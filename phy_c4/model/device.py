"""Which torch device runs the networks: one rule for training and prediction.

``auto`` takes CUDA when torch sees it. Prediction defaults to the CPU: a few hundred units
take under a second there (docs/performance.md), less than starting CUDA, and the CPU gives the
same probabilities on every machine. Asking for CUDA where there is none is an error, not a
silent fallback, so a user who asked for the GPU knows they did not get it.
"""

from __future__ import annotations

import torch

from phy_c4.config import DEVICE_CHOICES


def resolve_device(name: str | torch.device | None = "auto") -> torch.device:
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N`` -> a device torch can use, or ValueError."""
    if isinstance(name, torch.device):
        name = str(name)
    name = (name or "auto").strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"unknown device {name!r}: use one of {', '.join(DEVICE_CHOICES)}"
                         ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for, but torch {torch.__version__} sees no "
                         "CUDA GPU; use --device cpu (or auto)")
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"device {name!r} is not supported: use one of "
                         f"{', '.join(DEVICE_CHOICES)}")
    return device
