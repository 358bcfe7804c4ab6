"""Tests of ``phy_c4.features.jit``: whether this run compiles the numba kernels (said as
progress).
"""

from __future__ import annotations

import os
import sys


def test_needs_compiling_follows_numbas_cache_index(tmp_path, monkeypatch):
    """Item 7: a kernel module without a cached index as new as its source compiles."""
    import time

    from phy_c4.features.jit import needs_compiling

    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)

    source = tmp_path / "kernels_i21.py"
    source.write_text("x = 1\n")
    cache = tmp_path / "__pycache__"
    cache.mkdir()
    tag = f"py{sys.version_info.major}{sys.version_info.minor}"
    assert needs_compiling(tmp_path, ("kernels_i21.py",))
    index = cache / f"kernels_i21.f-3.{tag}.nbi"
    index.write_bytes(b"")
    assert not needs_compiling(tmp_path, ("kernels_i21.py",))
    old = time.time() - 100
    os.utime(index, (old, old))  # the source was edited after the kernel was cached
    assert needs_compiling(tmp_path, ("kernels_i21.py",))
    os.utime(index)
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "numba"))  # numba looks only there
    assert needs_compiling(tmp_path, ("kernels_i21.py",))
    (tmp_path / "numba" / "x_1234").mkdir(parents=True)
    (tmp_path / "numba" / "x_1234" / index.name).write_bytes(b"")
    assert not needs_compiling(tmp_path, ("kernels_i21.py",))


def test_progress_says_when_kernels_compile_and_what_follows_prediction(example_dir,
                                                                        monkeypatch):
    """Item 7: a first run says it is compiling (not a bar stuck at 0), and the steps after
    "predicting" have a message each."""
    import phy_c4.features.jit as jit
    from phy_c4.pipeline import PipelineOptions, classify

    monkeypatch.setattr(jit, "needs_compiling", lambda: True)
    messages: list[str] = []
    classify(example_dir, progress=lambda done, total, message: messages.append(message),
             options=PipelineOptions(quality=None, cache=False))
    assert messages[0] == jit.COMPILING
    after = messages[messages.index(next(m for m in messages if m.startswith("predicting"))):]
    assert any(m.startswith("novelty") for m in after)
    assert any(m.startswith("pairing") for m in after)


def test_unwritable_install_and_home_give_numba_a_cache_folder_and_one_line(monkeypatch,
                                                                           caplog):
    """numba's cache=True with nowhere to write fails every kernel ("no locator available");
    root cannot be denied a write, so os.access is what says no here."""
    import numba

    import phy_c4

    monkeypatch.setenv("NUMBA_CACHE_DIR", "")  # unset for the check; both restored after
    monkeypatch.setattr(numba.config, "CACHE_DIR", numba.config.CACHE_DIR)
    fallback = phy_c4._numba_cache_fallback(access=lambda path, mode: False)
    assert fallback is not None and os.environ["NUMBA_CACHE_DIR"] == str(fallback)
    assert "set NUMBA_CACHE_DIR" in caplog.text
    assert str(fallback) == numba.config.CACHE_DIR
    assert phy_c4._numba_cache_fallback(access=lambda path, mode: True) is None
