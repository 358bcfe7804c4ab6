"""Where bundles live, which is the default, and how official C4 archives become bundles.

- Shipped bundles: the repository's ``weights/`` folder (installed to ``<prefix>/share/phy_c4/
  weights``); ``weights/DEFAULT`` names the default one.
- User bundles: ``$PHY_C4_HOME/bundles`` (default: the platform's user cache folder, from
  platformdirs: ``~/.cache/phy_c4/bundles`` on Linux, ``~/Library/Caches/phy_c4`` on macOS,
  ``%LOCALAPPDATA%\\phy_c4\\Cache`` on Windows), where imported and downloaded C4 models go.
- ``import_c4_archive`` reads ``trained_models.tar.gz`` (+ ``hessians.pt``) without extracting
  anything to disk and without executing code (``torch.load(weights_only=True)``).
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import tarfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from phy_c4._version import __version__
from phy_c4.atomic import atomic_open
from phy_c4.config import BASE_LABELS, MLI_SPLIT_LABELS, NO_LABEL_PREFIX, FeatureSpec
from phy_c4.default_model import (  # noqa: F401 - re-exported: the weights API
    INSTALLED_WEIGHTS,
    REPO_WEIGHTS,
    default_bundle_name,
    default_description,
    shipped_default_name,
    user_default_file,
    user_dir,
)
from phy_c4.families import load_bundle
from phy_c4.model.bundle import Bundle, BundleError, save_bundle
from phy_c4.model.laplace import KronHessian, calibrate_members
from phy_c4.model.networks import config_from_state_dict

_MEMBER = re.compile(r"(?:^|/)model_(\d+)\.pt$")
_MAX_MEMBER_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, kw_only=True)
class C4Variant:
    """An official C4 model family and where npyx 4.3.1 downloads it from."""

    name: str
    use_layer: bool
    mli_split: bool
    models_url: str
    hessians_url: str
    models_sha256: str | None = None
    """Pinned sha256 of the figshare file; None: not known to phy_c4 yet (figshare cannot be
    reached from where this release was made), so the hash of what was downloaded is recorded
    in the bundle's provenance instead (trust on first use)."""
    hessians_sha256: str | None = None


_FIGSHARE = "https://ndownloader.figshare.com/files/{}?private_link={}"
VARIANTS: dict[str, C4Variant] = {
    v.name: v
    for v in (
        C4Variant(name="base", use_layer=False, mli_split=False,
                  models_url=_FIGSHARE.format(42117042, "2530fd0da03e18296d51"),
                  hessians_url=_FIGSHARE.format(42117033, "2530fd0da03e18296d51")),
        C4Variant(name="mli_clustering", use_layer=False, mli_split=True,
                  models_url=_FIGSHARE.format(42129447, "d508ebc51d544ed8cd4c"),
                  hessians_url=_FIGSHARE.format(42129435, "d508ebc51d544ed8cd4c")),
        C4Variant(name="layer_information", use_layer=True, mli_split=False,
                  models_url=_FIGSHARE.format(42853297, "6531855c261b7bad032d"),
                  hessians_url=_FIGSHARE.format(42853141, "6531855c261b7bad032d")),
        C4Variant(name="layer_information_mli_clustering", use_layer=True, mli_split=True,
                  models_url=_FIGSHARE.format(42853708, "3a81e48aff77d844a402"),
                  hessians_url=_FIGSHARE.format(42853567, "3a81e48aff77d844a402")),
    )
}
ALIASES = {"layer": "layer_information", "mli": "mli_clustering",
           "layer_mli": "layer_information_mli_clustering"}


def variant_info(variant: str) -> C4Variant:
    name = ALIASES.get(variant, variant)
    if name not in VARIANTS:
        choices = sorted(VARIANTS) + sorted(ALIASES)
        raise ValueError(f"unknown C4 variant {variant!r}; choose one of {', '.join(choices)}")
    return VARIANTS[name]


def bundle_dirs() -> list[Path]:
    return [p for p in (REPO_WEIGHTS, INSTALLED_WEIGHTS, user_dir() / "bundles") if p.is_dir()]


def set_default_bundle(name: str | None) -> str | None:
    """Make bundle ``name`` the default (None: back to the shipped one), after checking that it
    loads; returns the new default's name."""
    marker = user_default_file()
    if name is None:
        marker.unlink(missing_ok=True)
        return shipped_default_name()
    if name == "default" or Path(name).exists():
        raise BundleError(f"{name!r}: give an installed bundle's name (phy-c4 weights list)")
    get_bundle(name)  # refuses a missing or broken bundle before it becomes the default
    marker.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(marker, "w") as out:
        out.write(name + "\n")
    return name


def list_bundles() -> list[tuple[str, Path]]:
    """(name, path) of every bundle found, shipped first."""
    found: dict[str, Path] = {}
    for folder in bundle_dirs():
        for entry in sorted(folder.iterdir()):
            is_bundle = (entry / "manifest.json").is_file() or entry.suffix == ".safetensors"
            name = entry.name.removesuffix(".safetensors")
            if is_bundle and name not in found:
                found[name] = entry
    return list(found.items())


def resolve_bundle(name_or_path: str | os.PathLike = "default") -> Path:
    """A bundle path from a path, a bundle name, or ``"default"``."""
    candidate = Path(name_or_path)
    if candidate.exists():
        return candidate
    name = str(name_or_path)
    if name == "default":
        default = default_bundle_name()
        if default is None:
            raise BundleError("no default bundle is installed (weights/DEFAULT is missing)")
        if default != shipped_default_name() and default not in dict(list_bundles()):
            raise BundleError(f"the default bundle {default!r} (phy-c4 weights default) is not "
                              f"installed any more; choose another with phy-c4 weights default "
                              f"NAME, or --shipped")
        name = default
    for bundle_name, path in list_bundles():
        if bundle_name == name:
            return path
    known = ", ".join(n for n, _ in list_bundles()) or "none"
    raise BundleError(f"no bundle named {name!r} (installed: {known})")


def get_bundle(name_or_path: str | os.PathLike = "default") -> Bundle:
    return load_bundle(resolve_bundle(name_or_path))


def _read_archive_members(path: Path) -> list[dict[str, torch.Tensor]]:
    """State dicts of ``model_<i>.pt`` members in integer order, read from the tar stream."""
    try:
        archive = tarfile.open(path, "r:*")  # noqa: SIM115 - closed by the with block below
    except (tarfile.TarError, OSError) as error:
        raise BundleError(f"{path}: not a readable tar archive ({error})") from None
    found: dict[int, dict[str, torch.Tensor]] = {}
    with archive:
        for member in archive:
            name = member.name
            if name.startswith(("/", "\\")) or ".." in Path(name).parts:
                raise BundleError(f"{path}: unsafe path {name!r} in archive")
            match = _MEMBER.search(name)
            if not match:
                continue
            if not member.isfile():
                raise BundleError(f"{path}: {name} is not a regular file (link or device)")
            if member.size > _MAX_MEMBER_BYTES:
                raise BundleError(f"{path}: {name} is implausibly large ({member.size} bytes)")
            index = int(match.group(1))
            if index in found:
                raise BundleError(f"{path}: model_{index}.pt appears twice")
            handle = archive.extractfile(member)
            if handle is None:
                raise BundleError(f"{path}: cannot read {name}")
            found[index] = _load_state_dict(handle.read(), f"{path}:{name}")
    if not found:
        raise BundleError(f"{path}: no model_<i>.pt files in the archive")
    return [found[i] for i in sorted(found)]


def _load_state_dict(data: bytes, where: str) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for bad or unsafe pickles
        raise BundleError(f"{where}: not a weights-only torch state dict ({error})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise BundleError(f"{where}: expected a state dict of tensors")
    return state


def _load_hessians(path: Path, n_members: int) -> list[KronHessian]:
    try:
        entries = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise BundleError(f"{path}: not a weights-only torch file ({error})") from None
    if not isinstance(entries, list | tuple) or len(entries) != n_members:
        count = len(entries) if isinstance(entries, list | tuple) else type(entries).__name__
        raise BundleError(f"{path}: expected a list of {n_members} Hessians, got {count}")
    try:
        return [KronHessian.from_npyx(entry) for entry in entries]
    except ValueError as error:
        raise BundleError(f"{path}: {error}") from None


def npyx_labels(n_classes: int, variant: C4Variant, where: Path) -> tuple[tuple[str, ...], str]:
    """The labels npyx 4.3.1 gives ``n_classes`` outputs of ``variant``, and a note on it.

    npyx names outputs from its table by the MLI-clustering flag alone (the MLI-split table with
    it, the 5-class table without) and builds ``n_classes = 6 if use_layer else 5``. So the
    ``layer_information`` archive's 6 outputs get the 5 base labels and output 5 none: phy_c4
    calls it ``no_label_5`` (never a type). An ``mli_clustering`` archive whose 6 outputs npyx
    cannot load (it builds 5) gets the full MLI-split table; weights fitting neither npyx's
    network nor the table are refused."""
    table = MLI_SPLIT_LABELS if variant.mli_split else BASE_LABELS
    npyx_classes = 6 if variant.use_layer else 5
    if n_classes not in (npyx_classes, len(table)):
        fits = [v.name for v in VARIANTS.values() if v.use_layer == variant.use_layer
                and n_classes in (6 if v.use_layer else 5,
                                  len(MLI_SPLIT_LABELS if v.mli_split else BASE_LABELS))]
        hint = f" (variant {fits[0]} has {n_classes})" if fits else ""
        raise BundleError(f"{where}: variant {variant.name} has {len(table)} classes "
                          f"({', '.join(table)}) but the weights have {n_classes} outputs: "
                          f"wrong variant?{hint}")
    labels = table[:n_classes] + tuple(f"{NO_LABEL_PREFIX}{i}"
                                       for i in range(len(table), n_classes))
    if n_classes > len(table):
        note = (f"npyx 4.3.1 names these {n_classes} outputs with its {len(table)}-class table; "
                f"output(s) {', '.join(labels[len(table):])} have no label and never give a type")
    elif n_classes < len(table):
        note = (f"npyx 4.3.1 builds {npyx_classes} outputs for {variant.name} and names them "
                f"{', '.join(labels)}; {', '.join(table[n_classes:])} cannot be predicted")
    elif n_classes != npyx_classes:
        note = (f"npyx 4.3.1 builds {npyx_classes} outputs for {variant.name} and cannot load "
                f"these {n_classes}-output weights; phy_c4 uses its {len(table)}-class table")
    else:
        note = f"npyx 4.3.1's {len(table)}-class table, checked against fc2's outputs"
    return labels, note


def import_c4_archive(path: str | os.PathLike, variant: str, dest: str | os.PathLike | None = None,
                      *, hessians: str | os.PathLike | None = None) -> Bundle:
    """Convert an official C4 ``trained_models.tar.gz`` (+ ``hessians.pt``) into a bundle.

    Class count and layer use come from the weight shapes; ``variant`` must agree with them.
    The Laplace prior precision of each member is fitted here, once, as npyx does at first use.
    The bundle is written to ``dest`` (default: the user bundle folder) and returned.
    """
    path = Path(path)
    info = variant_info(variant)
    states = _read_archive_members(path)
    first = states[0]
    try:
        n_classes = int(first["fc2.weight"].shape[0])
    except KeyError:
        raise BundleError(f"{path}: model_0.pt is not a C4 CNNCerebellum state dict") from None
    labels, labels_note = npyx_labels(n_classes, info, path)
    try:
        config = config_from_state_dict(first, labels=labels)
    except ValueError as error:
        raise BundleError(f"{path}: {error}") from None
    if config.use_layer != info.use_layer:
        kind = "uses" if config.use_layer else "does not use"
        raise BundleError(f"{path}: these weights {kind} layer input, but variant "
                          f"{info.name} {'does' if info.use_layer else 'does not'}: wrong variant?")
    keys = [k for k in first if not k.endswith("num_batches_tracked")]
    for i, state in enumerate(states):
        if [k for k in state if not k.endswith("num_batches_tracked")] != keys or any(
            state[k].shape != first[k].shape for k in keys
        ):
            raise BundleError(f"{path}: model_{i}.pt has a different architecture from model_0")
    weights = {k: torch.stack([s[k].float() for s in states]) for k in keys}
    manifest = {
        "name": f"c4-{info.name}",
        "version": "official",
        "labels": list(labels),
        "architecture": "c4_cnn",
        "network": config.to_dict(),
        "features": FeatureSpec().to_dict(),
        "n_members": len(states),
        "files": {},
        "provenance": {
            "source": "official C4 archive (Beau et al. 2025, npyx 4.3.1 layout)",
            "variant": info.name,
            "archive": path.name,
            "archive_sha256": file_sha256(path),
            "imported_by": f"phy_c4 {__version__}",
            "labels_from": f"variant {info.name}: {labels_note}",
        },
    }
    calibration = None
    hessian_path = Path(hessians) if hessians is not None else path.parent / "hessians.pt"
    if hessian_path.is_file():
        try:
            calibration = calibrate_members(states, _load_hessians(hessian_path, len(states)),
                                            config)
        except ValueError as error:
            raise BundleError(f"{hessian_path}: {error}") from None
        manifest["calibration"] = {
            "method": "last-layer KFAC Laplace, marglik prior precision (Adam lr 0.1, 100 "
                      "steps from 1), GLM predictive with probit link (laplace-torch 0.1a2)",
            "prior_precision": calibration["prior_precision"].tolist(),
            "hessians_sha256": file_sha256(hessian_path),
        }
    bundle = Bundle(manifest=manifest, weights=weights, calibration=calibration)
    target = Path(dest) if dest is not None else user_dir() / "bundles" / manifest["name"]
    bundle.path = save_bundle(bundle, target)
    return load_bundle(bundle.path)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def download(url: str, target: Path, progress: Callable[[int, int | None], None] | None = None,
             *, timeout: float = 60.0, sha256: str | None = None) -> Path:
    """Download ``url`` to ``target`` through ``target.part``: resumes, checks the size and,
    when given, the sha256 (a mismatch removes the file)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    done = partial.stat().st_size if partial.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": f"phy_c4/{__version__}"})
    if done:
        request.add_header("Range", f"bytes={done}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and done:  # already complete
            partial.replace(target)
            return target
        raise OSError(f"download of {url} failed: HTTP {error.code}") from None
    except (urllib.error.URLError, TimeoutError) as error:
        raise OSError(f"download of {url} failed: {error}") from None
    with response:
        resumed = response.status == 206
        if not resumed:
            done = 0
        length = response.headers.get("Content-Length")
        total = done + int(length) if length is not None else None
        content_type = response.headers.get("Content-Type", "")
        if "text/html" in content_type:
            raise OSError(f"{url} returned an HTML page instead of a file (a login or "
                          "challenge page?)")
        with open(partial, "ab" if resumed else "wb") as out:
            while chunk := response.read(1 << 20):
                out.write(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
    if total is not None and partial.stat().st_size != total:
        raise OSError(f"download of {url} is incomplete: {partial.stat().st_size} of {total} "
                      "bytes; run the command again to resume")
    if sha256 is not None and (found := file_sha256(partial)) != sha256.lower():
        partial.unlink()
        raise OSError(f"download of {url} has sha256 {found}, expected {sha256}: not used")
    partial.replace(target)
    return target


def fetch_official(variant: str, base_url: str | None = None,
                   progress: Callable[[str, int, int | None], None] | None = None,
                   *, sha256: dict[str, str] | None = None) -> Bundle:
    """Download an official C4 archive and its Hessians into the user cache, then import them.

    ``base_url`` replaces the figshare host (tests serve files from 127.0.0.1): the files are then
    ``{base_url}/{variant}/trained_models.tar.gz`` and ``.../hessians.pt``. Each file is checked
    against ``sha256`` (by file name; default: the variant's pinned hashes, where known). A
    failed fetch leaves nothing behind.
    """
    info = variant_info(variant)
    folder = user_dir() / "downloads" / info.name
    urls = {"trained_models.tar.gz": info.models_url, "hessians.pt": info.hessians_url}
    if base_url is not None:
        urls = {name: f"{base_url.rstrip('/')}/{info.name}/{name}" for name in urls}
    pinned = {"trained_models.tar.gz": info.models_sha256, "hessians.pt": info.hessians_sha256}
    expected = {**pinned, **(sha256 or {})}
    target = user_dir() / "bundles" / f"c4-{info.name}"
    existed = target.exists()
    try:
        for name, url in urls.items():
            report = (lambda done, total, n=name: progress(n, done, total)) if progress else None
            download(url, folder / name, report, sha256=expected.get(name))
        return import_c4_archive(folder / "trained_models.tar.gz", info.name, dest=target)
    except BaseException:
        # a failed fetch leaves nothing: no partial or unverified download, no half bundle
        shutil.rmtree(folder, ignore_errors=True)
        if not existed:
            shutil.rmtree(target, ignore_errors=True)
        raise
