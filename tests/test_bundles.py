"""Bundles load only when intact; archives import only when safe and of the stated variant."""

from __future__ import annotations

import io
import json
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from phy_c4.families import load_bundle
from phy_c4.model import Bundle, BundleError, predict_raw, save_bundle
from phy_c4.weights import import_c4_archive
from tests.conftest import data_path

BASE = "base"


@pytest.fixture(scope="module")
def base_bundle(tmp_path_factory) -> Bundle:
    folder = data_path("reference", "c4_format", BASE)
    return import_c4_archive(folder / "trained_models.tar.gz", "base",
                             dest=tmp_path_factory.mktemp("b") / "base")


@pytest.fixture
def bundle_copy(base_bundle, tmp_path) -> Path:
    return save_bundle(base_bundle, tmp_path / "copy")


def test_manifest_records_what_the_issue_asks(base_bundle):
    manifest = json.loads((base_bundle.path / "manifest.json").read_text())
    for key in ("name", "version", "labels", "features", "n_members", "provenance", "files"):
        assert key in manifest
    assert manifest["labels"] == ["GoC", "MLI", "MFB", "PkC_ss", "PkC_cs"]
    assert manifest["network"]["use_layer"] is False
    assert set(manifest["files"]) == {"weights.safetensors", "calibration.safetensors"}
    assert manifest["features"]["acg"]["scale"] == 10.0


def test_flipped_byte_is_detected(bundle_copy):
    weights = bundle_copy / "weights.safetensors"
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="sha256 does not match"):
        load_bundle(bundle_copy)


def test_truncated_file_is_detected(bundle_copy):
    weights = bundle_copy / "calibration.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(BundleError, match="sha256"):
        load_bundle(bundle_copy)


def test_consistent_but_wrong_shapes_are_refused(base_bundle, tmp_path):
    weights = dict(base_bundle.weights)
    weights["fc1.weight"] = weights["fc1.weight"][:, :50]
    broken = Bundle(manifest=base_bundle.manifest, weights=weights,
                    calibration=base_bundle.calibration)
    path = save_bundle(broken, tmp_path / "broken")  # hashes are right, shapes are not
    with pytest.raises(BundleError, match=r"fc1\.weight has shape"):
        load_bundle(path)


@pytest.mark.parametrize("edit", ["json", "missing", "format"])
def test_bad_manifests(bundle_copy, edit):
    manifest_path = bundle_copy / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    if edit == "json":
        manifest_path.write_text("{not json")
    elif edit == "missing":
        del manifest["labels"]
        manifest_path.write_text(json.dumps(manifest))
    else:
        manifest["format"] = "something/9"
        manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(BundleError):
        load_bundle(bundle_copy)


def test_missing_bundle_and_missing_manifest(tmp_path):
    with pytest.raises(BundleError, match="no weight bundle"):
        load_bundle(tmp_path / "nowhere")
    with pytest.raises(BundleError, match=r"manifest\.json is missing"):
        load_bundle(tmp_path)


def test_single_file_bundle_round_trip_and_tamper(base_bundle, tmp_path):
    path = save_bundle(base_bundle, tmp_path / "one.safetensors")
    again = load_bundle(path)
    X = np.random.default_rng(0).random((3, 2100)).astype(np.float32)
    np.testing.assert_array_equal(predict_raw(again, X, calibrated=True),
                                  predict_raw(base_bundle, X, calibrated=True))
    data = bytearray(path.read_bytes())
    data[-4] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="sha256"):
        load_bundle(path)


def _archive(tmp_path: Path, members: dict[str, bytes], name: str = "a.tar.gz") -> Path:
    path = tmp_path / name
    with tarfile.open(path, "w:gz") as tar:
        for member_name, data in members.items():
            info = tarfile.TarInfo(member_name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _state_bytes(state) -> bytes:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def test_path_traversal_is_refused(tmp_path):
    path = _archive(tmp_path, {"../evil/model_0.pt": b"x"})
    with pytest.raises(BundleError, match="unsafe path"):
        import_c4_archive(path, "base", dest=tmp_path / "out")
    assert not (tmp_path.parent / "evil").exists()


class _Payload:
    def __reduce__(self):
        return (print, ("code ran",))


def test_pickled_code_is_not_executed(tmp_path, capsys):
    path = _archive(tmp_path, {"m/model_0.pt": pickle.dumps({"fc2.weight": _Payload()})})
    with pytest.raises(BundleError, match="weights-only"):
        import_c4_archive(path, "base", dest=tmp_path / "out")
    assert "code ran" not in capsys.readouterr().out


def test_wrong_variant_and_missing_members(base_bundle, tmp_path):
    folder = data_path("reference", "c4_format", BASE)
    with pytest.raises(BundleError, match="wrong variant"):
        import_c4_archive(folder / "trained_models.tar.gz", "layer_information",
                          dest=tmp_path / "x")
    # npyx 4.3.1 builds 5 outputs for mli_clustering and names them from the MLI-split table,
    # so 5-output weights import as it reads them (tests/test_c4_variants.py), not refused
    mli = import_c4_archive(folder / "trained_models.tar.gz", "mli_clustering",
                            dest=tmp_path / "y")
    assert mli.labels == ("GoC", "MLI_A", "MLI_B", "MFB", "PkC_ss")
    with pytest.raises(ValueError, match="unknown C4 variant"):
        import_c4_archive(folder / "trained_models.tar.gz", "fancy", dest=tmp_path / "z")
    empty = _archive(tmp_path, {"models/readme.txt": b"hi"}, "empty.tar.gz")
    with pytest.raises(BundleError, match="no model_"):
        import_c4_archive(empty, "base", dest=tmp_path / "w")
    not_tar = tmp_path / "junk.tar.gz"
    not_tar.write_bytes(b"junk")
    with pytest.raises(BundleError, match="not a readable tar"):
        import_c4_archive(not_tar, "base", dest=tmp_path / "v")


def test_folder_name_inside_archive_does_not_matter(base_bundle, tmp_path):
    states = {k: v[0] for k, v in base_bundle.weights.items()}
    path = _archive(tmp_path, {"whatever_name/model_0.pt": _state_bytes(states)})
    bundle = import_c4_archive(path, "base", dest=tmp_path / "renamed")
    assert bundle.n_members == 1 and bundle.calibration is None


def test_mismatched_hessians_are_refused(base_bundle, tmp_path):
    states = {k: v[0] for k, v in base_bundle.weights.items()}
    path = _archive(tmp_path, {"m/model_0.pt": _state_bytes(states)})
    torch.save([{"eigenvalues": [[torch.ones(3), torch.ones(100)], [torch.ones(3)]],
                 "eigenvectors": [[torch.eye(3), torch.eye(100)], [torch.eye(3)]],
                 "deltas": torch.zeros(2), "damping": False}], tmp_path / "hessians.pt")
    with pytest.raises(BundleError, match="Hessian is for a 3 x 100"):
        import_c4_archive(path, "base", dest=tmp_path / "h")
