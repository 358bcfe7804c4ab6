"""``phy-c4 weights fetch`` against an HTTP server on 127.0.0.1 serving the reference archive."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from phy_c4.model import predict_raw
from phy_c4.weights import download, fetch_official
from tests.conftest import data_path


class _RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files and honours ``Range: bytes=N-`` so resumption can be tested."""

    def log_message(self, *args):  # keep test output quiet
        pass

    def send_head(self):
        range_header = self.headers.get("Range")
        path = Path(self.translate_path(self.path))
        if not range_header or not path.is_file():
            return super().send_head()
        start = int(range_header.split("=")[1].split("-")[0])
        data = path.read_bytes()
        self.send_response(206)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        import io

        return io.BytesIO(data[start:])


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
    from phy_c4.cli import main

    url, _ = server
    monkeypatch.setenv("PHY_C4_HOME", str(tmp_path / "home"))
    assert main(["weights", "fetch", "base", "--base-url", url]) == 0
    assert "installed c4-base (4 members)" in capsys.readouterr().out
    assert main(["weights", "list"]) == 0
    listing = capsys.readouterr().out
    assert "c4-base" in listing and "* c4-tables" in listing  # the shipped default is starred


@pytest.fixture
def own_server(tmp_path):
    """127.0.0.1 serving files this test made: the one-member C4 base archive of
    tests/data/npyx_e2e under base/, nothing under layer_information/."""
    from tests.npyx_e2e import DATA

    root = tmp_path / "own" / "base"
    root.mkdir(parents=True)
    for name in ("trained_models.tar.gz", "hessians.pt"):
        (root / name).write_bytes((DATA / name).read_bytes())
    handler = functools.partial(_RangeHandler, directory=str(tmp_path / "own"))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    httpd.shutdown()
    httpd.server_close()


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


def test_weights_default_makes_the_cli_and_the_plugin_use_the_official_model(
        own_server, tmp_path, monkeypatch, capsys):
    from types import SimpleNamespace

    from phy_c4.cli import main
    from phy_c4.plugin.c4plugin import C4Plugin
    from phy_c4.weights import get_bundle

    url, _ = own_server
    monkeypatch.setenv("PHY_C4_HOME", str(tmp_path / "home"))
    assert main(["weights", "fetch", "base", "--base-url", url]) == 0
    assert get_bundle("default").name == "c4-tables"
    assert main(["weights", "default", "c4-nothing"]) == 1  # one clear line, default unchanged
    assert "no bundle named 'c4-nothing'" in capsys.readouterr().err
    assert main(["weights", "default", "c4-base"]) == 0
    assert "c4-base (chosen with phy-c4 weights default)" in capsys.readouterr().out
    assert get_bundle("default").name == "c4-base"  # what classify and the plugin load
    assert main(["weights", "list"]) == 0
    assert "* c4-base" in capsys.readouterr().out
    plugin = SimpleNamespace(bundle="default", gui=SimpleNamespace(status_message=""))
    plugin._model_text = lambda: C4Plugin._model_text(plugin)
    C4Plugin.show_model(plugin)
    assert "c4-base" in plugin.gui.status_message
    assert main(["weights", "default", "--shipped"]) == 0
    assert get_bundle("default").name == "c4-tables"
