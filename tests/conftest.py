"""Shared fixtures. Reference data lives in ``tests/data/`` (committed, see its README.md; a
clone needs nothing beside it); tests fail loudly (not skip) when a file is missing, so a green
run always means the equivalence claims were checked."""

from __future__ import annotations

import functools
import hashlib
import http.server
import importlib.util
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from phy.apps.template import TemplateController
from phylib.io.model import load_model
from phylib.utils import reset
from qtpy.QtWidgets import QAction

from phy_c4.cli import main
from phy_c4.families import load_bundle
from phy_c4.io.tsv import read_cluster_column, write_cluster_column
from phy_c4.model import Bundle, save_bundle
from phy_c4.pipeline import PipelineOptions, classify
from phy_c4.plugin import C4Plugin
from phy_c4.testing import make_dataset
from phy_c4.training.tables import read_c4_derived, save_c4_derived
from phy_c4.training.train import TrainConfig, train_bundle
from phy_c4.weights import get_bundle, import_c4_archive

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"


def _drop_stale_numba_caches(package: Path) -> None:
    """numba keys a cached kernel on its own file's timestamp, not on what it inlined from other
    modules (``acg3d`` inlines ``_exactsum``): after an edit, a kernel could load stale and a
    test pass or fail for code that is no longer there. Drop every cached kernel older than the
    package's newest source, before any test imports it."""
    newest = max(path.stat().st_mtime for path in package.rglob("*.py"))
    for cached in [*package.rglob("__pycache__/*.nbi"), *package.rglob("__pycache__/*.nbc")]:
        if cached.stat().st_mtime < newest:
            cached.unlink(missing_ok=True)


_drop_stale_numba_caches(ROOT / "phy_c4")


_UNPACKED: list[Path] = []


def _unpacked_root() -> Path:
    """One temporary folder per session for the gzipped test files, removed at exit."""
    if not _UNPACKED:
        import atexit
        import shutil
        import tempfile

        _UNPACKED.append(Path(tempfile.mkdtemp(prefix="phy_c4_testdata_")))
        atexit.register(shutil.rmtree, _UNPACKED[0], ignore_errors=True)
    return _UNPACKED[0]


def _unpack(source: Path, target: Path) -> Path:
    """``source`` (a file, ``name.gz`` or a folder of them) as plain files under ``target``."""
    import gzip

    if source.is_dir():
        target.mkdir(parents=True, exist_ok=True)
        for child in source.iterdir():
            _unpack(child, target / child.name.removesuffix(".gz"))
    elif not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        if source.suffix == ".gz" and source.suffixes[-2:-1] != [".tar"]:
            with gzip.open(source, "rb") as src, partial.open("wb") as out:
                shutil.copyfileobj(src, out)
        else:
            shutil.copyfile(source, partial)
        partial.replace(target)
    return target


def data_path(*parts: str) -> Path:
    """A file or folder of ``tests/data/`` as plain files: gzipped ones (``x.csv.gz``) come back
    unpacked (``x.csv``) in a temporary folder, byte for byte; others are returned in place."""
    path = DATA.joinpath(*parts)
    packed = path.with_name(path.name + ".gz")
    if path.is_file():
        return path
    if packed.is_file():
        return _unpack(packed, _unpacked_root().joinpath(*parts))
    if path.is_dir():
        if not any(p.suffix == ".gz" and not p.name.endswith(".tar.gz") for p in path.rglob("*")):
            return path
        return _unpack(path, _unpacked_root().joinpath(*parts))
    pytest.fail(f"test data missing: {path} (tests/data/ is part of the repository)")


@pytest.fixture(autouse=True)
def _private_feature_cache(monkeypatch, tmp_path_factory):
    """Each test its own feature cache (phy_c4/cache.py): never the user's, and no test finds
    units another test cached. Subprocesses inherit it."""
    monkeypatch.setenv("PHY_C4_CACHE_DIR", str(tmp_path_factory.mktemp("feature_cache")))


def shared_path(*parts: str) -> Path:
    """The old name (parts as laid out in ../shared: ``data/...``, ``reference/...``,
    ``tools/...``), for branches written before the data moved into ``tests/data/``."""
    return data_path(*(parts[1:] if parts[:1] == ("data",) else parts))


@pytest.fixture(scope="session")
def npyx_features() -> dict[str, np.ndarray]:
    with np.load(shared_path("reference", "npyx_4.3.1_features.npz")) as data:
        return {key: data[key] for key in data.files}


def poisson_train(rate_hz: float, duration_s: float, fs: float = 30000.0, seed: int = 0,
                  start_s: float = 0.0, refractory_s: float = 0.001) -> np.ndarray:
    """Sorted unique integer spike samples of a Poisson train with a refractory floor."""
    rng = np.random.default_rng(seed)
    n = int(rate_hz * duration_s * 1.3) + 10
    isis = refractory_s + rng.exponential(1.0 / rate_hz, n)
    times = start_s + np.cumsum(isis)
    times = times[times < start_s + duration_s]
    return np.unique((times * fs).astype(np.int64))


@pytest.fixture(scope="session")
def c4_bundle(tmp_path_factory):
    """The reference base archive (random weights, official layout) imported as a bundle."""
    from phy_c4.weights import import_c4_archive

    archive = shared_path("reference", "c4_format", "base", "trained_models.tar.gz")
    return import_c4_archive(archive, "base", dest=tmp_path_factory.mktemp("bundle") / "c4-base")


PHY_C4_OUTPUTS = ("cluster_c4_", "cluster_predicted_cell_type", "cluster_pred_probability",
                  "cluster_confidence_ratio", "cluster_model_votes")


def sorter_files(folder: Path) -> dict[str, str]:
    """sha256 of every file in a Phy folder that is not phy_c4's own output. ``cluster_*.tsv``
    columns are compared by their values: Phy's own Save rewrites every column file (with CRLF
    line ends), which is Phy's doing and changes no value."""

    from phy_c4.io.tsv import read_cluster_column

    def digest(path: Path) -> str:
        if path.name.startswith("cluster_") and path.suffix == ".tsv":
            try:
                return repr(sorted(read_cluster_column(path).items()))
            except (ValueError, KeyError):  # a test's damaged one: by its bytes
                pass
        return hashlib.sha256(path.read_bytes()).hexdigest()

    return {p.name: digest(p) for p in sorted(folder.iterdir())
            if p.is_file() and not p.is_symlink() and not p.name.startswith(PHY_C4_OUTPUTS)}


_SNAPSHOTS: dict[Path, dict[str, str]] = {}


def inputs_changed_on_purpose(folder: Path) -> None:
    """A test that edits a folder's inputs (to make them bad) re-takes the snapshot the
    teardown compares against."""
    _SNAPSHOTS[folder] = sorter_files(folder)


@pytest.fixture(scope="session")
def example_dir(tmp_path_factory):
    """A generated Phy folder (1 unit per type, 200 s, 4 channels, with raw binary); no test
    may change any of its files (checked at the end of the session)."""
    from phy_c4.testing import make_dataset

    folder = tmp_path_factory.mktemp("example") / "rec"
    make_dataset(folder, n_units_per_type=1, duration_s=200.0, seed=1, n_channels=4)
    before = sorter_files(folder)
    yield folder
    assert sorter_files(folder) == before, "a test changed the sorter's files"


@pytest.fixture
def example_copy(example_dir, tmp_path):
    """A private copy of the example folder a test may write results into (raw binary linked).
    Every input file must be byte-identical after the test (phy_c4 never writes them)."""

    target = tmp_path / "rec"
    shutil.copytree(example_dir, target, ignore=shutil.ignore_patterns("raw.bin", ".phy_c4"))
    (target / "raw.bin").symlink_to(example_dir / "raw.bin")
    inputs_changed_on_purpose(target)
    yield target
    before = _SNAPSHOTS.pop(target)
    after = sorter_files(target)
    changed = sorted(n for n in before if after.get(n) != before[n])
    assert not changed, f"the sorter's files changed: {changed}"


def load_check_imports():
    """``scripts/check_imports.py`` as a module (a script, not part of the package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("check_imports",
                                                  ROOT / "scripts" / "check_imports.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def open_phy_gui(folder: Path, config_dir: Path, qtbot, threading: bool = True):
    """Phy on ``folder`` with the plugin; ``threading`` True is Phy's own default. Returns the
    controller, its window and the plugin, once Phy's start-up tasks are done."""
    from phy.apps.template import TemplateController
    from phylib.io.model import load_model

    controller = TemplateController(dir_path=folder, config_dir=config_dir,
                                    model=load_model(folder / "params.py"),
                                    plugins=["C4Plugin"], clear_cache=True, clear_state=True,
                                    enable_threading=threading)
    window = controller.create_gui(do_prompt_save=False)
    window.show()
    qtbot.waitExposed(window)
    controller.supervisor.block()
    return controller, window, controller.c4_plugin


#
# Shared by tests/model/test_bundle.py, tests/test_weights.py:


BASE = "base"


@pytest.fixture(scope="module")
def base_bundle(tmp_path_factory) -> Bundle:
    folder = data_path("reference", "c4_format", BASE)
    return import_c4_archive(folder / "trained_models.tar.gz", "base",
                             dest=tmp_path_factory.mktemp("b") / "base")


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


#
# Shared by tests/features/test_table_features.py, tests/test_pipeline.py:


def _surrogate_tool():
    spec = importlib.util.spec_from_file_location(
        "surrogate_phy", data_path("tools", "surrogate_phy.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def surrogate(tmp_path_factory):
    """Lisberger rows with all three features -> a Phy folder of spike trains, classified."""
    tool = _surrogate_tool()
    lisberger = read_c4_derived(data_path("c4_derived", "lisberger"))
    lisberger = lisberger.subset(lisberger.present.all(axis=1))
    table = save_c4_derived(lisberger, tmp_path_factory.mktemp("table"))  # 75-sample windows
    folder = tmp_path_factory.mktemp("surrogate") / "phy"
    times, acg_rows, isi_rows, labels = tool.build(table, folder, 300.0, 20000)
    waves, _, _, _ = tool.read_table(table)
    fidelity = np.array([[np.corrcoef(a[101:121], row_a[101:121])[0, 1],
                          np.corrcoef(i, row_i)[0, 1]]
                         for (a, i), row_a, row_i in zip(map(tool.table_features, times),
                                                         acg_rows, isi_rows, strict=True)])
    faithful = (fidelity[:, 0] >= 0.9) & (fidelity[:, 1] >= 0.99)
    bundle = get_bundle("default")
    result = classify(folder, bundle=bundle, threshold=1.0,
                      options=PipelineOptions(quality=None, cache=False))
    return dict(folder=folder, waves=waves, acg=acg_rows, isi=isi_rows, labels=labels,
                faithful=faithful, result=result, bundle=bundle)


#
# Shared by tests/features/test_acg3d.py, tests/features/test_acglog.py,
# tests/features/test_waveform.py:


SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


#
# Shared by tests/features/test_acg3d.py, tests/features/test_acglog.py:


trains = st.builds(
    poisson_train,
    rate_hz=st.floats(2, 120),
    duration_s=st.floats(30, 200),
    fs=st.sampled_from([25000.0, 30000.0, 40000.0]),
    seed=st.integers(0, 10_000),
    start_s=st.floats(3, 50),
)


#
# Shared by tests/features/test_acg3d.py, tests/features/test_acglog.py:


ACG_CASES = ["poisson_5hz", "regular_60hz", "complex_1hz", "bursty_mf", "modulated", "short_150",
             "fs25k_30hz"]


#
# Shared by tests/features/test_acg3d.py, tests/features/test_waveform.py:


WVF_CASES = ["neg_narrow_1d", "neg_broad_multi", "pos_peak_multi", "pos_keep_sign", "late_peak_1d",
             "early_peak_1d"]


#
# Shared by tests/features/test_acg3d.py, tests/features/test_acglog.py,
# tests/features/test_waveform.py:


TOLERANCE = 1e-9


#
# Shared by tests/test_default_model.py, tests/test_weights.py:


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


#
# Shared by tests/test_layers.py, tests/test_plugin_install.py:


def _tree(folder: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None
            for p in sorted(folder.rglob("*"))}


#
# Shared by tests/model/test_bundle.py, tests/model/test_laplace.py, tests/test_weights.py:


# The reference "layer" archive has 6 outputs: C4's layer model with the MLI split.
VARIANTS = {"base": "base", "layer": "layer_information_mli_clustering"}


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def imported(request, tmp_path_factory):
    folder = data_path("reference", "c4_format", request.param)
    dest = tmp_path_factory.mktemp(request.param) / "bundle"
    bundle = import_c4_archive(folder / "trained_models.tar.gz", VARIANTS[request.param], dest=dest)
    with np.load(folder / "expected.npz") as expected:
        return bundle, {k: expected[k] for k in expected.files}


#
# Shared by tests/plugin/test_c4plugin.py, tests/plugin/test_phy_compat.py,
# tests/plugin/test_service.py, tests/plugin/test_view.py:


@pytest.fixture
def gui(qtbot, example_copy, tmp_path, c4_bundle):
    C4Plugin.bundle = str(c4_bundle.path)
    model = load_model(example_copy / "params.py")
    controller = TemplateController(dir_path=example_copy, config_dir=tmp_path / "config",
                                    model=model, plugins=["C4Plugin"], clear_cache=True,
                                    clear_state=True)  # Phy's threading on, its default
    window = controller.create_gui(do_prompt_save=False)
    window.show()
    qtbot.waitExposed(window)
    controller.supervisor.block()
    yield controller, window, controller.c4_plugin
    window.close()
    controller.close()
    reset()


#
# Shared by tests/paths/test_curation_in_phy.py, tests/plugin/test_c4plugin.py,
# tests/plugin/test_service.py, tests/plugin/test_view.py:


def _wait(qtbot, plugin, n_runs):
    qtbot.waitUntil(lambda: len(plugin.n_undo_steps) >= n_runs and not plugin.worker.isRunning(),
                    timeout=120_000)


#
# Shared by tests/paths/test_curation_in_phy.py, tests/plugin/test_c4plugin.py,
# tests/plugin/test_phy_compat.py, tests/plugin/test_service.py:


def _meta(controller, field, clusters):
    return {c: controller.supervisor.cluster_meta.get(field, c) for c in clusters}


#
# Shared by tests/paths/test_curation_in_phy.py, tests/plugin/test_c4plugin.py,
# tests/plugin/test_view.py:


def _settle(qtbot, supervisor):
    """Wait until the supervisor has taken in the cluster view's selection (the view emits it
    debounced, after ``block()`` may already have returned)."""
    supervisor.block()
    qtbot.waitUntil(lambda: supervisor.selected_clusters ==
                    supervisor.cluster_view.get_selected_ids(), timeout=5_000)


#
# Shared by tests/paths/test_curation_in_phy.py, tests/plugin/test_c4plugin.py:


def _press(window, keys):
    """Trigger the action bound to ``keys`` (what pressing them does when the GUI has focus)."""
    matches = [a for a in window.findChildren(QAction)
               if keys in [k.toString() for k in a.shortcuts()]]
    assert len(matches) == 1, (keys, [a.text() for a in matches])
    matches[0].trigger()


#
# Shared by tests/paths/test_curation_in_phy.py, tests/plugin/test_c4plugin.py,
# tests/plugin/test_view.py:


@pytest.fixture
def curation(qtbot, tmp_path, monkeypatch):
    """A generated 10-unit Phy folder opened in Phy (threading on) with the plugin."""
    from phy_c4.pipeline import PipelineOptions
    from phy_c4.testing import make_dataset

    folder = tmp_path / "rec10"
    make_dataset(folder, n_units_per_type=2, duration_s=200.0, seed=5, n_channels=4, raw=False)
    monkeypatch.setattr(C4Plugin, "bundle", "default")
    monkeypatch.setattr(C4Plugin, "threshold", 1.0)
    monkeypatch.setattr(C4Plugin, "options", PipelineOptions(quality=None))
    opened = []

    def open_gui():
        controller, window, plugin = open_phy_gui(folder, tmp_path / "config", qtbot,
                                               threading=True)
        opened.append((controller, window))
        return controller, window, plugin

    def close():
        while opened:
            controller, window = opened.pop()
            window.close()
            controller.close()
            reset()

    yield folder, open_gui, close
    close()


def _classify_all(qtbot, plugin):
    n = len(plugin.n_undo_steps)
    assert plugin.classify_all()
    _wait(qtbot, plugin, n + 1)


def _save(qtbot, supervisor, plugin):
    plugin.saved = []
    supervisor.save()
    qtbot.waitUntil(lambda: bool(plugin.saved), timeout=30_000)


#
# Shared by tests/paths/test_curation_in_phy.py, tests/plugin/test_c4plugin.py:


DECISIONS = ("cell_type", "cell_type_source", "cell_type_by", "cell_type_rejected")


#
# Shared by tests/paths/test_curation_in_phy.py, tests/plugin/test_c4plugin.py,
# tests/plugin/test_view.py:


def _screen(controller, fields):
    """{field: {cluster: value}} of every current cluster, blank cells (None, "") left out:
    Phy saves no None and loads no empty value."""
    meta = controller.supervisor.cluster_meta
    return {f: {int(c): meta.get(f, c) for c in controller.supervisor.clustering.cluster_ids
                if meta.get(f, c) not in (None, "")} for f in fields}


#
# Shared by tests/paths/test_curation_in_phy.py, tests/plugin/test_c4plugin.py:


def _files(folder, fields):
    """The same, read back from the folder's ``cluster_<field>.tsv`` files (as strings)."""
    from phy_c4.io.tsv import read_cluster_column

    out = {}
    for field in fields:
        path = folder / f"cluster_{field}.tsv"
        values = read_cluster_column(path) if path.exists() else {}
        out[field] = {c: v for c, v in values.items() if v != ""}
    return out


def _as_text(values):
    return {f: {c: str(v) for c, v in per.items()} for f, per in values.items()}


#
# Shared by tests/model/test_ensemble.py, tests/model/test_stacked.py:


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    out = {}
    for name, variant in (("base", "base"), ("layer", "layer_information_mli_clustering")):
        folder = data_path("reference", "c4_format", name)
        out[name] = import_c4_archive(folder / "trained_models.tar.gz", variant,
                                      dest=tmp_path_factory.mktemp(name) / "bundle")
    return out


#
# Shared by tests/io/test_lock.py, tests/io/test_publish.py, tests/io/test_waveforms.py,
# tests/test_cli.py:


FAST = ["--all-spikes", "--quiet"]


#
# Shared by tests/features/test_quality.py, tests/test_cli.py:


def _edit_array(folder, name, edit):
    np.save(folder / name, edit(np.load(folder / name)))


#
# Shared by tests/training/test_adapt.py, tests/training/test_review.py:


@pytest.fixture(scope="module")
def curated(tmp_path_factory):
    """Two recordings classified by the default bundle, every unit labelled with its type."""
    root = tmp_path_factory.mktemp("curated")
    folders = []
    for name, seed in (("rec_a", 1), ("rec_b", 2)):
        folder = root / name
        make_dataset(folder, n_units_per_type=3, duration_s=240.0, seed=seed, raw=False,
                     waveforms="drawn")  # shapes the default bundle partly misreads
        assert main(["classify", str(folder), "--group", "all", "--all-spikes", "--quiet"]) == 0
        truth = read_cluster_column(folder / "cluster_true_type.tsv")
        write_cluster_column(folder, "cell_type", truth)
        write_cluster_column(folder, "cell_type_source", {c: "optotagged" for c in truth})
        folders.append(folder)
    return folders


def _review(capsys, *args):
    assert main(["review", *map(str, args), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _saved(folder):
    probabilities = pd.read_csv(folder / "cell_type_classification" / "phy_c4_probabilities.tsv",
                                sep="\t").set_index("cluster_id")
    truth = read_cluster_column(folder / "cluster_true_type.tsv")
    return probabilities, truth


#
# Shared by tests/families/test_c4_tables.py, tests/training/test_commands.py,
# tests/training/test_train.py:


TINY = TrainConfig(members=2, epochs=20, vae_epochs=5)


#
# Shared by tests/families/test_c4_tables.py, tests/features/test_table_features.py,
# tests/training/test_commands.py, tests/training/test_train.py:


@pytest.fixture(scope="module")
def lisberger():
    return read_c4_derived(data_path("c4_derived", "lisberger"))


#
# Shared by tests/features/test_table_features.py, tests/training/test_commands.py,
# tests/training/test_tables.py, tests/training/test_train.py:


@pytest.fixture(scope="module")
def hausser():
    return read_c4_derived(data_path("c4_derived", "hausser"))


#
# Shared by tests/families/test_c4_tables.py, tests/training/test_commands.py,
# tests/training/test_train.py:


@pytest.fixture(scope="module")
def small_bundle(lisberger, tmp_path_factory):
    bundle, calibration = train_bundle(lisberger, TINY, name="tiny", version="0")
    path = save_bundle(bundle, tmp_path_factory.mktemp("tiny") / "tiny")
    return load_bundle(path), calibration


#
# Shared by tests/features/test_jit.py, tests/io/test_dataset.py, tests/io/test_params.py,
# tests/io/test_publish.py, tests/test_cache.py, tests/test_cli.py:


def phy_c4(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``phy-c4 ARGS`` in a fresh process (this checkout first on the path)."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "phy_c4.cli", *args], capture_output=True,
                          text=True, timeout=300, env=environment)


#
# Shared by tests/io/test_dataset.py, tests/io/test_params.py:


def _append(folder: Path, text: str) -> None:
    with open(folder / "params.py", "a") as out:
        out.write(text + "\n")
    inputs_changed_on_purpose(folder)


#
# Shared by tests/test_cache.py, tests/test_cli.py:


def _set_param(folder: Path, key: str, line: str) -> None:
    lines = [x for x in (folder / "params.py").read_text().splitlines() if not x.startswith(key)]
    (folder / "params.py").write_text("\n".join([*lines, line]) + "\n")
    inputs_changed_on_purpose(folder)


#
# Shared by tests/io/test_dataset.py, tests/test_cli.py:


def _edit(folder: Path, name: str, edit) -> None:
    np.save(folder / name, edit(np.load(folder / name)))
    inputs_changed_on_purpose(folder)


#
# Shared by tests/test_result.py, tests/test_worker.py:


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    from phy_c4.testing import make_dataset

    path = tmp_path_factory.mktemp("worker") / "rec"
    make_dataset(path, n_units_per_type=2, duration_s=240.0, seed=1, raw=False)
    return path
