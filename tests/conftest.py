"""Shared fixtures. Reference data lives in ``tests/data/`` (committed, see its README.md; a
clone needs nothing beside it); tests fail loudly (not skip) when a file is missing, so a green
run always means the equivalence claims were checked."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

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
    import shutil

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
    import hashlib

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
    import shutil

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
