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
