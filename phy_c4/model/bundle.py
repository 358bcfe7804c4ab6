"""Weight bundles: safetensors tensors plus a JSON manifest, verified on load, never executed.

A bundle is a folder::

    manifest.json            name, version, labels, feature spec, network config, provenance,
                             number of members, sha256 of every tensor file
    weights.safetensors      every member's parameters and buffers, stacked on a leading axis
    calibration.safetensors  (optional) the Laplace predictive factors and prior precisions

or a single ``*.safetensors`` file holding the same tensors (``weights/`` and ``calibration/``
prefixes) with the manifest and a sha256 of the tensors in its metadata.

``read_bundle`` checks the format, hashes and manifest keys; the bundle's model family
(``phy_c4.families.load_bundle``) then reads its network config and feature spec strictly and
checks every tensor against the network.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_tensors_bytes
from safetensors.torch import save as save_tensors_bytes
from torch import nn

from phy_c4.atomic import atomic_open
from phy_c4.model.laplace import PredictiveFactors

FORMAT = "phy_c4.bundle/1"
MANIFEST = "manifest.json"
WEIGHTS = "weights.safetensors"
CALIBRATION = "calibration.safetensors"
REFERENCE = "reference.safetensors"
"""Optional: the labelled training units in the model's own feature space (``features``,
(n, d): the ensemble-mean input of the last layer), their class index (``labels``) and their
named inputs (``input/waveform``, ...), for the novelty score and the nearest training units
the C4 view shows."""
REQUIRED_KEYS = ("format", "name", "version", "labels", "architecture", "network", "features",
                 "n_members", "files")
OPTIONAL_KEYS = ("calibration", "evaluation", "provenance", "training", "temperature", "parent")
CALIBRATION_KEYS = ("out_vectors_sq", "in_vectors", "inv_weight_eigs", "bias_var",
                    "prior_precision")


class BundleError(ValueError):
    """A bundle is missing, malformed, tampered with or truncated."""


@dataclass(kw_only=True)
class Bundle:
    """An ensemble ready to predict: config, stacked member tensors, optional calibration."""

    manifest: dict[str, Any]
    weights: dict[str, torch.Tensor]
    calibration: dict[str, torch.Tensor] | None = None
    path: Path | None = None
    reference: dict[str, torch.Tensor] | None = None
    spec: Any = None
    """The family's typed feature spec, set by ``phy_c4.families.load_bundle``."""
    config: Any = None
    """The family's typed network config, set with ``spec``."""
    network_factory: Callable[[], nn.Module] | None = field(default=None, repr=False)
    _factors: PredictiveFactors | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return str(self.manifest["name"])

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.manifest["labels"])

    @property
    def n_members(self) -> int:
        return int(self.manifest["n_members"])

    @property
    def architecture(self) -> str:
        return str(self.manifest["architecture"])

    @property
    def network_config(self) -> Any:
        return self._attached().config

    @property
    def use_layer(self) -> bool:
        return bool(getattr(self._attached().config, "use_layer", False))

    def new_network(self) -> nn.Module:
        """A fresh network of the bundle's family (eval mode), to load member weights into."""
        return self._attached().network_factory()

    def _attached(self) -> Bundle:
        if self.network_factory is None:
            raise BundleError(f"bundle {self.name} was read without its model family; load it "
                              "with phy_c4.families.load_bundle")
        return self

    @property
    def factors(self) -> PredictiveFactors | None:
        if self.calibration is None:
            return None
        if self._factors is None:
            c = self.calibration
            self._factors = PredictiveFactors(out_vectors_sq=c["out_vectors_sq"],
                                              in_vectors=c["in_vectors"],
                                              inv_weight_eigs=c["inv_weight_eigs"],
                                              bias_var=c["bias_var"])
        return self._factors

    @property
    def sha256(self) -> str:
        """One hash of the bundle's content (its files' hashes, or its tensors for a single-file
        bundle), for provenance: the same weights give the same hash on any machine."""
        files = self.manifest.get("files") or {}
        if files:
            return _sha256(json.dumps(files, sort_keys=True).encode())
        return _tensor_digest({**{f"weights/{k}": v for k, v in self.weights.items()},
                               **{f"calibration/{k}": v
                                  for k, v in (self.calibration or {}).items()}})

    @property
    def label(self) -> str:
        """``name@version``, written next to every prediction."""
        return f"{self.name}@{self.manifest['version']}"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _atomic_write(path: Path, data: bytes) -> None:
    with atomic_open(path, "wb") as out:
        out.write(data)


def _contiguous(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {key: value.detach().cpu().contiguous() for key, value in tensors.items()}


def save_bundle(bundle: Bundle, path: str | os.PathLike) -> Path:
    """Write a bundle folder (or a single ``.safetensors`` file) atomically, with hashes."""
    path = Path(path)
    manifest = dict(bundle.manifest)
    manifest["format"] = FORMAT
    if path.suffix == ".safetensors":
        tensors = {f"weights/{k}": v for k, v in _contiguous(bundle.weights).items()}
        if bundle.calibration is not None:
            tensors.update({f"calibration/{k}": v
                            for k, v in _contiguous(bundle.calibration).items()})
        manifest["files"] = {}
        body = save_tensors_bytes(tensors)
        digest = _tensor_digest(load_tensors_bytes(body))
        data = save_tensors_bytes(tensors, metadata={"manifest": json.dumps(manifest),
                                                     "tensors_sha256": digest})
        _atomic_write(path, data)
        return path
    files = {WEIGHTS: save_tensors_bytes(_contiguous(bundle.weights))}
    if bundle.calibration is not None:
        files[CALIBRATION] = save_tensors_bytes(_contiguous(bundle.calibration))
    if bundle.reference is not None:
        files[REFERENCE] = save_tensors_bytes(_contiguous(bundle.reference))
    manifest["files"] = {name: _sha256(data) for name, data in files.items()}
    for name, data in files.items():
        _atomic_write(path / name, data)
    _atomic_write(path / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True).encode())
    return path


def _tensor_digest(tensors: dict[str, torch.Tensor]) -> str:
    """sha256 over names, dtypes, shapes and raw bytes, in sorted order (for single files)."""
    digest = hashlib.sha256()
    for key in sorted(tensors):
        tensor = tensors[key].contiguous()
        digest.update(f"{key}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def _read_safetensors(data: bytes, where: Path) -> dict[str, torch.Tensor]:
    try:
        return load_tensors_bytes(data)
    except (SafetensorError, ValueError, RuntimeError, OSError) as error:
        raise BundleError(f"{where}: not a readable safetensors file ({error})") from None


def read_bundle(path: str | os.PathLike) -> Bundle:
    """Read and verify a bundle folder or file: hashes and manifest (not yet its family)."""
    path = Path(path)
    if not path.exists():
        raise BundleError(f"no weight bundle at {path}")
    if path.is_file():
        return _load_single_file(path)
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise BundleError(f"{path} is not a weight bundle: {MANIFEST} is missing")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise BundleError(f"{manifest_path}: malformed JSON ({error})") from None
    _check_manifest(manifest, manifest_path)
    tensors: dict[str, dict[str, torch.Tensor]] = {}
    for name, expected in manifest["files"].items():
        if name not in (WEIGHTS, CALIBRATION, REFERENCE):
            raise BundleError(f"{manifest_path}: unexpected file {name!r} in manifest")
        file_path = path / name
        if not file_path.is_file():
            raise BundleError(f"{path}: {name} is listed in the manifest but missing")
        data = file_path.read_bytes()
        if _sha256(data) != expected:
            raise BundleError(f"{file_path}: sha256 does not match the manifest "
                              "(file corrupted, truncated or modified)")
        tensors[name] = _read_safetensors(data, file_path)
    if WEIGHTS not in tensors:
        raise BundleError(f"{path}: the manifest lists no {WEIGHTS}")
    reference = tensors.get(REFERENCE)
    if reference is not None:
        _check_reference(reference, path)
    return Bundle(manifest=manifest, weights=tensors[WEIGHTS],
                  calibration=tensors.get(CALIBRATION), path=path, reference=reference)


def _check_reference(reference: dict[str, torch.Tensor], path: Path) -> None:
    """features (n, d), labels (n,), and optionally the units' named inputs ``input/<name>``
    (n, ...) that the C4 view overlays."""
    extra = {k for k in reference if k.startswith("input/")}
    features, labels = reference.get("features"), reference.get("labels")
    if set(reference) - extra != {"features", "labels"} or features.ndim != 2 or \
            labels.shape != features.shape[:1] or \
            any(reference[k].ndim < 1 or reference[k].shape[0] != features.shape[0]
                for k in extra):
        raise BundleError(f"{path}: {REFERENCE} must hold features (n, d), labels (n,) and "
                          "optional input/<name> arrays of n rows")


def _load_single_file(path: Path) -> Bundle:
    data = path.read_bytes()
    tensors = _read_safetensors(data, path)
    try:
        header_len = int.from_bytes(data[:8], "little")
        header = json.loads(data[8 : 8 + header_len])
        metadata = header.get("__metadata__") or {}
        manifest = json.loads(metadata["manifest"])
        expected = metadata["tensors_sha256"]
    except (KeyError, ValueError, TypeError) as error:
        raise BundleError(f"{path}: no phy_c4 manifest in the file's metadata ({error})") from None
    if _tensor_digest(tensors) != expected:
        raise BundleError(f"{path}: tensor sha256 does not match the manifest (modified file)")
    _check_manifest(manifest, path)
    weights = {k.split("/", 1)[1]: v for k, v in tensors.items() if k.startswith("weights/")}
    calibration = {k.split("/", 1)[1]: v for k, v in tensors.items()
                   if k.startswith("calibration/")} or None
    return Bundle(manifest=manifest, weights=weights, calibration=calibration, path=path)


def _check_manifest(manifest: Any, where: Path) -> None:
    if not isinstance(manifest, dict):
        raise BundleError(f"{where}: manifest must be a JSON object")
    missing = [key for key in REQUIRED_KEYS if key not in manifest]
    if missing:
        raise BundleError(f"{where}: manifest lacks {', '.join(missing)}")
    unknown = sorted(set(manifest) - set(REQUIRED_KEYS) - set(OPTIONAL_KEYS))
    if unknown:
        raise BundleError(f"{where}: unknown manifest key {unknown[0]!r}")
    if manifest["format"] != FORMAT:
        raise BundleError(f"{where}: unsupported bundle format {manifest['format']!r}")
    if not isinstance(manifest["labels"], list) or not manifest["labels"]:
        raise BundleError(f"{where}: labels must be a non-empty list")
    if not all(isinstance(label, str) and label for label in manifest["labels"]):
        raise BundleError(f"{where}: labels must be non-empty strings")
    if not isinstance(manifest["n_members"], int) or manifest["n_members"] < 1:
        raise BundleError(f"{where}: n_members must be a positive integer")
    for key in ("name", "version", "architecture"):
        if not isinstance(manifest[key], str) or not manifest[key]:
            raise BundleError(f"{where}: {key} must be a non-empty string")
    for key in ("network", "features"):
        if not isinstance(manifest[key], dict):
            raise BundleError(f"{where}: {key} must be an object")


def check_tensors(bundle: Bundle, network: nn.Module) -> None:
    """Tensor names and shapes must be exactly those of the declared network, per member."""
    expected = {k: tuple(v.shape) for k, v in network.state_dict().items()
                if not k.endswith("num_batches_tracked")}
    got = {k: tuple(v.shape) for k, v in bundle.weights.items()}
    if set(got) != set(expected):
        extra, missing = sorted(set(got) - set(expected)), sorted(set(expected) - set(got))
        raise BundleError(f"{bundle.path}: tensors do not match the network "
                          f"(missing {missing[:3]}, unexpected {extra[:3]})")
    for key, shape in expected.items():
        if got[key] != (bundle.n_members, *shape):
            raise BundleError(f"{bundle.path}: {key} has shape {got[key]}, "
                              f"expected {(bundle.n_members, *shape)}")
        if not torch.isfinite(bundle.weights[key]).all():
            raise BundleError(f"{bundle.path}: {key} contains NaN or infinite values")
    if bundle.calibration is not None:
        missing = [k for k in CALIBRATION_KEYS if k not in bundle.calibration]
        if missing:
            raise BundleError(f"{bundle.path}: calibration lacks {missing}")
        if bundle.calibration["prior_precision"].shape != (bundle.n_members,):
            raise BundleError(f"{bundle.path}: calibration is not for {bundle.n_members} members")
