"""Tests of ``phy_c4.model.bundle``: weight bundles: safetensors + JSON manifest, verified,
never executed.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from phy_c4.families import load_bundle
from phy_c4.model import Bundle, BundleError, predict_raw, save_bundle
from phy_c4.weights import get_bundle, import_c4_archive
from tests.conftest import _archive, _state_bytes


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


def test_mismatched_hessians_are_refused(base_bundle, tmp_path):
    states = {k: v[0] for k, v in base_bundle.weights.items()}
    path = _archive(tmp_path, {"m/model_0.pt": _state_bytes(states)})
    torch.save([{"eigenvalues": [[torch.ones(3), torch.ones(100)], [torch.ones(3)]],
                 "eigenvectors": [[torch.eye(3), torch.eye(100)], [torch.eye(3)]],
                 "deltas": torch.zeros(2), "damping": False}], tmp_path / "hessians.pt")
    with pytest.raises(BundleError, match="Hessian is for a 3 x 100"):
        import_c4_archive(path, "base", dest=tmp_path / "h")


@pytest.fixture
def default_copy(tmp_path):
    bundle = get_bundle("default")
    return save_bundle(bundle, tmp_path / "b"), bundle


def _edit_manifest(path, edit):
    manifest = json.loads((path / "manifest.json").read_text())
    edit(manifest)
    (path / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize("edit, key", [
    (lambda m: m["features"]["isi"].pop("bin_ms"), "features.isi.bin_ms: missing"),
    (lambda m: m["features"]["isi"].update(range_ms=200), "features.isi.range_ms: unknown"),
    (lambda m: m["features"]["isi"].update(n_bins="100"), "features.isi.n_bins: expected int"),
    (lambda m: m["features"]["acg"].update(lag_rule="floor"), "features.acg.lag_rule"),
    (lambda m: m["features"].update(modalities=["isi", "spikes"]), "features.modalities"),
    (lambda m: m["features"]["isi"].update(n_bins=200), "widths"),
    (lambda m: m["network"].pop("hidden"), "network.hidden: missing"),
    (lambda m: m.update(features={"table": {"isi": "0-200 ms"}}), "features.table: unknown"),
    (lambda m: m.update(modalities=["waveform"]), "unknown manifest key 'modalities'"),
    (lambda m: m.update(architecture="c4_new"), "unknown architecture 'c4_new'"),
])
def test_manifest_problems_are_bundle_errors_naming_the_key(default_copy, edit, key):
    path, _ = default_copy
    _edit_manifest(path, edit)
    with pytest.raises(BundleError, match=key.replace("(", r"\(").replace("[", r"\[")):
        load_bundle(path)


def test_saved_bundle_reloads_identically(imported):
    bundle, expected = imported
    again = load_bundle(bundle.path)
    np.testing.assert_array_equal(predict_raw(again, expected["X"], calibrated=True),
                                  predict_raw(bundle, expected["X"], calibrated=True))
