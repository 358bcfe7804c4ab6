"""Where the feature cache lives, and the fingerprint of everything that shapes a feature.

The cache is never in the sorter's folder (it may be read-only, or the user asked for
``--out``, or called the Python API that "writes nothing"): it is in the user cache folder
(``platformdirs``), or ``$PHY_C4_CACHE_DIR``; when that cannot be written, a temporary folder,
said once. A cached unit is keyed by its spikes, every setting, the package version and the
recording's fingerprint: ``params.py``'s values, the content of the template, channel and
whitening files and the raw file's identity, so a cache can never return features of inputs
that changed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from phy_c4._version import __version__

logger = logging.getLogger(__name__)

CACHE_ENV = "PHY_C4_CACHE_DIR"

SHAPING_FILES = ("templates.npy", "templates_ind.npy", "spike_templates.npy", "channel_map.npy",
                 "channel_positions.npy", "channel_shanks.npy", "whitening_mat.npy",
                 "whitening_mat_inv.npy")
"""Files of a Phy folder a unit's waveform or position is computed from (spike times,
clusters and amplitudes enter each unit's key by value)."""

HASH_LIMIT_BYTES = 512 * 2 ** 20
"""Files up to this size are keyed by content; larger ones (rare) by size, time and inode."""

_WARNED: set[str] = set()


def feature_cache_dir() -> Path:
    """The feature cache folder (created): ``$PHY_C4_CACHE_DIR``, else the user cache folder,
    else (unwritable) a temporary one, with one line saying which variable to set."""
    chosen = os.environ.get(CACHE_ENV)
    if chosen:
        base = Path(chosen)
    else:
        import platformdirs

        base = Path(platformdirs.user_cache_dir("phy_c4")) / "features"
    if _writable(base):
        return base
    fallback = Path(tempfile.gettempdir()) / f"phy_c4-features-{_user()}"
    if str(base) not in _WARNED:
        _WARNED.add(str(base))
        logger.warning("feature cache: %s cannot be written; using %s (set %s to a writable "
                       "folder to keep it)", base, fallback, CACHE_ENV)
    if _writable(fallback):
        return fallback
    raise OSError(f"no writable folder for the feature cache (tried {base}, {fallback}); set "
                  f"{CACHE_ENV} or pass --no-cache")


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
        return True
    except OSError:
        return False


def _user() -> str:
    return str(os.getuid()) if hasattr(os, "getuid") else os.environ.get("USERNAME", "user")


def recording_fingerprint(recording: Any) -> str:
    """What every unit's features depend on besides its own spikes: ``params.py``'s values,
    the files the waveforms come from (by content) and the raw file (by identity)."""
    arguments = getattr(recording, "model_arguments", None)
    digest = hashlib.sha256(f"phy_c4 {__version__}".encode())
    if arguments is None:  # a loaded model (the plugin's, an analyzer's): its values
        model = recording.model
        arguments = {key: getattr(model, key, None) for key in
                     ("dir_path", "dat_path", "n_channels_dat", "dtype", "offset",
                      "sample_rate", "hp_filtered")}
        arguments["model"] = type(model).__name__
        for name in ("templates", "spike_templates", "channel_positions", "channel_mapping",
                     "wm", "wmi"):
            value = getattr(model, name, None)
            sparse = getattr(model, "sparse_templates", None) if name == "templates" else None
            value = getattr(sparse, "data", value) if sparse is not None else value
            if isinstance(value, np.ndarray):
                digest.update(f"{name}:{value.shape}:{value.dtype}".encode())
                digest.update(memoryview(np.ascontiguousarray(value)).cast("B"))
    folder = Path(arguments.get("dir_path") or recording.folder)
    digest.update(json.dumps(arguments, sort_keys=True, default=str).encode())
    for name in SHAPING_FILES:
        digest.update(f"{name}:{_file_stamp(folder / name)}".encode())
    for raw in arguments.get("dat_path") or []:
        digest.update(f"raw:{_identity(Path(raw))}".encode())
    return digest.hexdigest()[:32]


def _identity(path: Path) -> str:
    try:
        stat = path.stat()
    except OSError:
        return f"{path}:missing"
    return f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}:{stat.st_ino}"


def _file_stamp(path: Path) -> str:
    """sha256 of a file's content (its identity when very large), or "missing"."""
    try:
        size = path.stat().st_size
        if size > HASH_LIMIT_BYTES:
            return _identity(path)
        digest = hashlib.sha256()
        with open(path, "rb") as data:
            while chunk := data.read(2 ** 22):
                digest.update(chunk)
        return digest.hexdigest()
    except OSError:
        return "missing"
