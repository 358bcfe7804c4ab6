"""Tests of ``phy_c4.weights``: shipped and user bundles, `import_c4_archive`, downloads."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from phy_c4.cli import main
from phy_c4.config import BASE_LABELS, MLI_SPLIT_LABELS
from phy_c4.model import BundleError, predict_raw
from phy_c4.weights import (
    VARIANTS,
    download,
    fetch_official,
    import_c4_archive,
    npyx_labels,
)
from tests.conftest import (
    BASE,
    _archive,
    _RangeHandler,
    _state_bytes,
    data_path,
)
from tests.npyx_e2e import DATA


def test_wrong_variant_and_missing_members(base_bundle, tmp_path):
    folder = data_path("reference", "c4_format", BASE)
    with pytest.raises(BundleError, match="wrong variant"):
        import_c4_archive(folder / "trained_models.tar.gz", "layer_information",
                          dest=tmp_path / "x")
    # npyx 4.3.1 builds 5 outputs for mli_clustering and names them from the MLI-split table,
    # so 5-output weights import as it reads them (see the variants' tests below), not refused
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


# (archive, variant, labels npyx gives its outputs)
CASES = {
    "base": ("", "base", BASE_LABELS),
    # npyx builds 6 outputs with layer and names them from the 5-class table: output 5 has none
    "layer_information": ("layer", "layer_information", (*BASE_LABELS, "no_label_5")),
    "layer_information_mli_clustering": ("layer", "layer_information_mli_clustering",
                                         MLI_SPLIT_LABELS),
    # npyx builds 5 outputs without layer and names them from the MLI-split table
    "mli_clustering": ("", "mli_clustering", MLI_SPLIT_LABELS[:5]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_official_variant_imports_and_predicts_as_npyx(case, tmp_path):
    folder, variant, labels = CASES[case]
    source = DATA / folder if folder else DATA
    bundle = import_c4_archive(source / "trained_models.tar.gz", variant, dest=tmp_path / "b")
    assert bundle.labels == labels
    assert bundle.use_layer == (folder == "layer")
    with np.load(DATA / f"expected_{folder or 'base'}_member0.npz") as expected:
        np.testing.assert_allclose(predict_raw(bundle, expected["X"]), expected["probs"],
                                   rtol=0, atol=1e-5)
        np.testing.assert_allclose(predict_raw(bundle, expected["X"], calibrated=True),
                                   expected["probs_calibrated"], rtol=0, atol=1e-4)
    assert "npyx 4.3.1" in bundle.manifest["provenance"]["labels_from"]


def test_output_counts_npyx_cannot_load_or_name():
    labels, note = npyx_labels(6, VARIANTS["mli_clustering"], DATA)
    assert labels == MLI_SPLIT_LABELS and "cannot load" in note
    with pytest.raises(BundleError, match="wrong variant"):
        npyx_labels(6, VARIANTS["base"], DATA)
    with pytest.raises(BundleError, match="wrong variant"):
        npyx_labels(5, VARIANTS["layer_information_mli_clustering"], DATA)


@pytest.mark.parametrize("archive, variant, message", [
    # a 6-output layer_information and a 5-output mli_clustering archive import as npyx 4.3.1
    # reads them (issue #23): test_official_variant_imports_and_predicts_as_npyx
    ("base", "layer_information", "does not use layer"),
    ("layer", "mli_clustering", "uses layer input"),
])
def test_archives_are_labelled_strictly_by_variant(tmp_path, archive, variant, message):
    path = data_path("reference", "c4_format", archive, "trained_models.tar.gz")
    with pytest.raises(BundleError, match=message):
        import_c4_archive(path, variant, dest=tmp_path / "b")


def test_archive_labels_come_from_the_variant(c4_bundle, tmp_path):
    assert c4_bundle.labels == ("GoC", "MLI", "MFB", "PkC_ss", "PkC_cs")
    layer = import_c4_archive(data_path("reference", "c4_format", "layer",
                                          "trained_models.tar.gz"),
                              "layer_information_mli_clustering", dest=tmp_path / "l")
    assert layer.labels == ("GoC", "MLI_A", "MLI_B", "MFB", "PkC_ss", "PkC_cs")
    assert layer.use_layer and layer.spec.acg.scale == 10.0


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "served" / "base"
    root.mkdir(parents=True)
    for name in ("trained_models.tar.gz", "hessians.pt"):
        shutil.copy(data_path("reference", "c4_format", "base", name), root / name)
    handler = functools.partial(_RangeHandler, directory=str(tmp_path / "served"))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    httpd.shutdown()
    httpd.server_close()


def test_fetch_downloads_imports_and_predicts(server, tmp_path, monkeypatch):
    url, _ = server
    monkeypatch.setenv("PHY_C4_HOME", str(tmp_path / "home"))
    seen = []
    bundle = fetch_official("base", base_url=url, progress=lambda n, d, t: seen.append((n, d, t)))
    assert bundle.path == tmp_path / "home" / "bundles" / "c4-base"
    assert {name for name, _, _ in seen} == {"trained_models.tar.gz", "hessians.pt"}
    assert all(done <= total for _, done, total in seen)
    expected = np.load(data_path("reference", "c4_format", "base", "expected.npz"))
    np.testing.assert_allclose(predict_raw(bundle, expected["X"], calibrated=True),
                               expected["probs_calibrated"], atol=1e-4)
    assert not list((tmp_path / "home" / "downloads").rglob("*.part"))


def test_download_resumes_a_partial_file(server, tmp_path):
    url, root = server
    full = (root / "hessians.pt").read_bytes()
    target = tmp_path / "dl" / "hessians.pt"
    target.parent.mkdir()
    target.with_name("hessians.pt.part").write_bytes(full[:1000])
    download(f"{url}/base/hessians.pt", target)
    assert target.read_bytes() == full


def test_missing_file_gives_a_clear_error(server, tmp_path):
    url, _ = server
    with pytest.raises(OSError, match="HTTP 404"):
        download(f"{url}/base/nothing.pt", tmp_path / "x.pt")


def test_cli_fetch_and_list(server, tmp_path, monkeypatch, capsys):

    url, _ = server
    monkeypatch.setenv("PHY_C4_HOME", str(tmp_path / "home"))
    assert main(["weights", "fetch", "base", "--base-url", url]) == 0
    assert "installed c4-base (4 members)" in capsys.readouterr().out
    assert main(["weights", "list"]) == 0
    listing = capsys.readouterr().out
    assert "c4-base" in listing and "* c4-tables" in listing  # the shipped default is starred


def _leftovers(home: Path) -> list[Path]:
    return [p for p in home.rglob("*") if p.is_file()] if home.exists() else []


def test_fetch_checks_pinned_hashes_and_a_failure_leaves_nothing(own_server, tmp_path,
                                                                 monkeypatch):
    import hashlib

    from phy_c4.model.bundle import BundleError

    url, root = own_server
    home = tmp_path / "home"
    monkeypatch.setenv("PHY_C4_HOME", str(home))
    good = {n: hashlib.sha256((root / n).read_bytes()).hexdigest()
            for n in ("trained_models.tar.gz", "hessians.pt")}
    with pytest.raises(OSError, match="sha256"):
        fetch_official("base", base_url=url, sha256={**good, "hessians.pt": "0" * 64})
    assert _leftovers(home) == []
    with pytest.raises(OSError, match="HTTP 404"):  # nothing served for this variant
        fetch_official("layer_information", base_url=url)
    assert _leftovers(home) == []
    (root / "hessians.pt").write_bytes(b"not a torch file")  # downloads, then fails to import
    with pytest.raises(BundleError):
        fetch_official("base", base_url=url)
    assert _leftovers(home) == []


def test_shapes_decide_classes_and_layer(imported):
    bundle, expected = imported
    assert bundle.use_layer == (expected["X"].shape[1] == 2104)
    assert len(bundle.labels) == expected["probs"].shape[1]
    assert bundle.n_members == expected["probs"].shape[2]
