"""The path a new user walks first, run as that user runs it: commands in subprocesses, a
private HOME, nothing from the test's own process (issue 21)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from phy_c4.plugin_install import install, uninstall

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

DRIVER = '''\
"""Test driver (not part of phy_c4): once Phy's window is ready, checks the C4 menu, runs
C4 > Classify all from the menu, saves (Ctrl+S) and closes Phy; writes what it saw."""
import json
import os

from phy import connect
from qtpy.QtCore import QTimer

REPORT = os.environ["PHY_C4_DRIVE_REPORT"]
seen = {"steps": []}


def _say(**items):
    seen.update(items)
    with open(REPORT, "w") as out:
        json.dump(seen, out)


def _poll(condition, then, gui):
    if condition():
        then()
    elif gui.status_message.startswith(("C4 failed", "C4 plugin failed")):
        _say(failed=gui.status_message)
        gui.close()
    else:
        QTimer.singleShot(200, lambda: _poll(condition, then, gui))


@connect
def on_gui_ready(sender, gui):
    QTimer.singleShot(0, lambda: _start(sender, gui))


def _start(controller, gui):
    plugin = getattr(controller, "c4_plugin", None)
    menus = [a.text() for a in gui.menuBar().actions()]
    _say(attached=plugin is not None, menus=menus, status=gui.status_message)
    if plugin is None or "&C4" not in menus:
        gui.close()
        return
    c4_menu = next(a.menu() for a in gui.menuBar().actions() if a.text() == "&C4")
    action = next(a for a in c4_menu.actions() if a.text().lower() == "classify all")
    action.trigger()  # as a user picks C4 > Classify all
    _poll(lambda: plugin.n_undo_steps and not plugin.worker.isRunning(),
          lambda: _save(plugin, gui), gui)


def _save(plugin, gui):
    _say(classified=gui.status_message)
    gui.file_actions.save()  # Ctrl+S
    _poll(lambda: plugin.saved, lambda: _close(plugin, gui), gui)


def _close(plugin, gui):
    _say(saved=[str(p) for p in plugin.saved], status=gui.status_message)
    gui.close()
'''


def _command(name: str, module_call: str) -> list[str]:
    """The console script a user would type, from this interpreter's environment."""
    script = BIN / name
    return [str(script)] if script.exists() else [sys.executable, "-c", module_call]


def _run(args: list[str], env: dict[str, str], cwd: Path,
         timeout: float) -> subprocess.CompletedProcess:
    """Run in a session of its own, so a timeout ends Phy and its worker process too: the
    test fails, never hangs."""
    process = subprocess.Popen(args, env=env, cwd=cwd, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, _ = process.communicate()
        pytest.fail(f"{' '.join(args[:2])} did not finish in {timeout:.0f} s:\n{out[-3000:]}")
    return subprocess.CompletedProcess(args, process.returncode, out, "")


@pytest.fixture
def user_env(tmp_path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "QT_QPA_PLATFORM": "offscreen",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "PHY_C4_DRIVE_REPORT": str(tmp_path / "drive.json")}
    env.pop("XDG_CONFIG_HOME", None)
    return env


def test_install_plugin_then_phy_opens_with_c4_and_classify_saves(tmp_path, user_env):
    """`phy-c4 install-plugin` into a fresh HOME, then `phy template-gui params.py`: the plugin
    attaches, the C4 menu exists, C4 > Classify all runs and Ctrl+S writes the columns; then
    `--uninstall` leaves HOME as it was before the install."""
    from phy_c4.testing import make_dataset

    folder = tmp_path / "rec"
    make_dataset(folder, n_units_per_type=1, duration_s=60.0, seed=3, n_channels=4)
    home = Path(user_env["HOME"])
    phy_c4 = _command("phy-c4", "from phy_c4.cli import main; main()")
    done = _run([*phy_c4, "install-plugin"], user_env, folder, 120)
    assert done.returncode == 0, done.stdout
    (home / ".phy" / "plugins" / "drive_phy.py").write_text(DRIVER)

    phy = _command("phy", "from phy.apps import phycli; phycli()")
    opened = _run([*phy, "template-gui", "params.py"], user_env, folder, 300)
    report_path = Path(user_env["PHY_C4_DRIVE_REPORT"])
    log = (folder / "phy.log").read_text(errors="replace") if (folder / "phy.log").exists() else ""
    context = f"\nphy output:\n{opened.stdout[-3000:]}\nphy.log:\n{log[-3000:]}"
    assert report_path.exists(), "Phy never showed its window" + context
    seen = json.loads(report_path.read_text())
    assert seen["attached"], "C4Plugin was not attached" + context
    assert "&C4" in seen["menus"], context
    assert "failed" not in seen, seen["failed"] + context
    assert seen["classified"].startswith("C4: classified"), context
    assert "No cerebellar region set" in seen["classified"]  # item 6, in the status bar
    assert seen.get("saved"), "Ctrl+S did not publish the C4 files" + context
    from phy_c4.io.tsv import read_cluster_column

    types = read_cluster_column(folder / "cluster_c4_type.tsv")
    assert len(types) == len(read_cluster_column(folder / "cluster_true_type.tsv")), context
    assert (folder / "cell_type_classification").is_dir()

    (home / ".phy" / "plugins" / "drive_phy.py").unlink()
    phy_state = sorted(p.relative_to(home) for p in home.rglob("*"))
    removed = _run([*phy_c4, "install-plugin", "--uninstall"], user_env, folder, 120)
    assert removed.returncode == 0, removed.stdout
    assert not (home / ".phy" / "phy_config.py").exists()  # phy-c4 had written it
    assert not (home / ".phy" / "plugins").exists()
    left = sorted(p.relative_to(home) for p in home.rglob("*"))
    assert set(phy_state) - set(left) == {Path(".phy/phy_config.py"), Path(".phy/plugins"),
                                          Path(".phy/plugins/phy_c4_plugin.py")}


def _tree(folder: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None
            for p in sorted(folder.rglob("*"))}


@pytest.mark.parametrize("before", ["nothing", "phy's default", "custom, CRLF, no final newline",
                                    "older phy-c4 block"])
def test_install_plugin_works_with_every_config_and_uninstall_restores_it(tmp_path, before):
    """Phy's own loader reads the edited config as lists (the expressions of
    phy/utils/plugin.py's attach_plugins), and --uninstall gives back the folder byte for byte."""
    from phy.utils.config import load_master_config

    config_dir = tmp_path / ".phy"
    if before == "phy's default":
        load_master_config(config_dir=config_dir)  # Phy writes its default config
    elif before == "custom, CRLF, no final newline":
        config_dir.mkdir()
        (config_dir / "phy_config.py").write_bytes(
            b"c = get_config()\r\nc.Plugins.dirs.append('/elsewhere')\r\n"
            b"c.TemplateGUI.plugins = ['Other']")
    elif before == "older phy-c4 block":
        (config_dir / "plugins").mkdir(parents=True)
        (config_dir / "phy_config.py").write_text(
            "c = get_config()\n# >>> phy_c4 plugin (added by `phy-c4 install-plugin`; remove "
            "with --uninstall)\nc.Plugins.dirs.append(r'/x')\n"
            "c.TemplateGUI.plugins.append('C4Plugin')\n# <<< phy_c4 plugin\n")
    original = _tree(config_dir) if config_dir.exists() else None

    assert install(config_dir)
    assert install(config_dir) == []  # idempotent
    config = load_master_config(config_dir=config_dir)
    dirs = [] + config.get("Plugins", {}).get("dirs", [])  # noqa: RUF005 (plugin.py:141)
    plugins = config.get("TemplateGUI").plugins
    assert len(plugins) and plugins.count("C4Plugin") == 1  # phy/utils/plugin.py:143
    assert dirs.count(str(config_dir / "plugins")) == 1
    if before.startswith("custom"):
        assert dirs[0] == "/elsewhere" and plugins == ["Other", "C4Plugin"]

    uninstall(config_dir)
    if before == "nothing":
        assert not config_dir.exists()
    elif before == "older phy-c4 block":  # the broken block is not restored
        assert (config_dir / "phy_config.py").read_text() == "c = get_config()\n"
    else:
        assert _tree(config_dir) == original


def test_propose_layers_refuses_a_bad_target_before_writing_anything(tmp_path, capsys):
    """Item 3: the target check runs first: rc 1, and the folder gets no results or backup."""
    from phy_c4.cli import main
    from phy_c4.testing import make_dataset

    folder = tmp_path / "rec"
    make_dataset(folder, n_units_per_type=1, duration_s=60.0, seed=2, n_channels=4, raw=False)
    before = _tree(folder)
    target = tmp_path / "layers.tsv"
    target.write_text("cluster_id\tlayer\n")
    assert main(["classify", str(folder), "--group", "all", "--quiet",
                 "--propose-layers", str(target)]) == 1
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert _tree(folder) == before  # no columns, no audit folder, no backup, no cache
    assert target.read_text() == "cluster_id\tlayer\n"


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


def test_export_nwb_says_what_dandi_refuses_and_replaces_columns_only_when_asked(
        example_copy, tmp_path, capsys):
    """Item 5: one warning line naming the subject fields nwbinspector calls CRITICAL (and the
    options that set them); a second export is refused, then replaces the columns with
    --overwrite, and the file still reads and inspects cleanly."""
    pytest.importorskip("pynwb")
    import pynwb
    from nwbinspector import inspect_nwbfile

    from phy_c4.cli import main
    from phy_c4.io.tsv import read_cluster_column

    def critical(path: Path) -> list[str]:
        return [m.message for m in inspect_nwbfile(nwbfile_path=str(path))
                if m.importance.name == "CRITICAL"]

    assert main(["classify", str(example_copy), "--quiet", "--all-spikes", "--group",
                 "all"]) == 0
    bare = tmp_path / "bare.nwb"
    assert main(["export-nwb", str(example_copy), "--nwb", str(bare)]) == 0
    warning = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert len(warning) == 1 and "subject id, species, sex, age" in warning[0]
    assert "--sex" in warning[0] and "--age" in warning[0]
    assert any("ubject" in m for m in critical(bare))  # the warning tells the truth

    path = tmp_path / "units.nwb"
    subject = ["--subject-id", "m1", "--species", "Mus musculus", "--sex", "U", "--age", "P90D"]
    assert main(["export-nwb", str(example_copy), "--nwb", str(path), *subject]) == 0
    assert "warning" not in capsys.readouterr().err
    assert not critical(path)
    assert main(["export-nwb", str(example_copy), "--nwb", str(path)]) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert main(["export-nwb", str(example_copy), "--nwb", str(path), "--overwrite"]) == 0
    with pynwb.NWBHDF5IO(str(path)) as io:
        units = io.read().units.to_dataframe()
    assert list(units.columns).count("c4_type") == 1
    assert {int(i): t for i, t in units["c4_type"].items()} == read_cluster_column(
        example_copy / "cluster_c4_type.tsv")
    assert not critical(path)


def test_no_region_is_said_and_recorded_in_the_manifest(example_copy, capsys):
    """Item 6: without a region the CLI says (one line) that every unit is assumed cerebellar,
    and the run manifest records it; with one, neither."""
    from phy_c4.cli import main
    from phy_c4.region import NO_REGION

    manifest = example_copy / "cell_type_classification" / "phy_c4_run.json"
    assert main(["classify", str(example_copy), "--all-spikes", "--group", "all"]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if NO_REGION in line]
    assert len(lines) == 1 and "--cerebellar-depth" in lines[0]
    assert NO_REGION in json.loads(manifest.read_text())["parameters"]["notes"]
    assert main(["classify", str(example_copy), "--all-spikes", "--group", "all",
                 "--overwrite", "--cerebellar-depth=-100000:100000"]) == 0
    assert "no cerebellar region" not in capsys.readouterr().err
    assert NO_REGION not in json.loads(manifest.read_text())["parameters"]["notes"]


def test_json_counts_figure_files_and_reports_errors_on_stderr_as_json(example_copy, tmp_path,
                                                                      capsys):
    """Item 9: "figures" is the number of figure files; failures reach stderr as JSON too."""
    from phy_c4.cli import main

    assert main(["classify", str(example_copy), "--all-spikes", "--group", "all", "--report",
                 "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)["recordings"][0]
    drawn = list((example_copy / "cell_type_classification" / "figures").iterdir())
    assert summary["figures"] == len(drawn) > 1
    assert main(["classify", str(tmp_path / "nowhere"), "--json"]) == 1
    captured = capsys.readouterr()
    error = json.loads(captured.err.strip().splitlines()[-1])
    assert error["ok"] is False and "nowhere" in error["path"] and error["error"]
    assert json.loads(captured.out)["recordings"][0]["ok"] is False
    assert main(["show", str(tmp_path / "nowhere"), "--json"]) == 1
    assert json.loads(capsys.readouterr().err)["ok"] is False


def test_weights_list_aligns_long_names(monkeypatch, capsys):
    """Item 9: the paths start in one column whatever the names' lengths."""
    import phy_c4.weights as weights
    from phy_c4.cli import main

    rows = [("c4-tables", "/a"), ("a-very-long-bundle-name-from-adapt-on-my-lab-data", "/b")]
    monkeypatch.setattr(weights, "list_bundles", lambda: rows)
    assert main(["weights", "list"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines()
             if not line.startswith("default:")]  # the bundle rows
    assert len(lines) == 2 and len({line.index("/") for line in lines}) == 1


def test_clusters_run_keeps_the_empty_rows_of_untouched_clusters(example_copy):
    """Item 9: a --clusters run changes only its rows; "no pair" (empty) rows of the others
    stay in the type/pair/votes files."""
    from phy_c4.cli import main

    assert main(["classify", str(example_copy), "--all-spikes", "--group", "all",
                 "--quiet"]) == 0
    names = ("cluster_c4_type.tsv", "cluster_c4_pair.tsv", "cluster_c4_votes.tsv")

    def rows(name: str) -> dict[str, str]:
        lines = (example_copy / name).read_text().splitlines()[1:]
        return {line.split("\t")[0]: line for line in lines}

    before = {name: rows(name) for name in names}
    assert any(line.endswith("\t") for line in before["cluster_c4_pair.tsv"].values())
    assert main(["classify", str(example_copy), "--all-spikes", "--clusters", "0",
                 "--overwrite", "--quiet"]) == 0
    for name in names:
        after = rows(name)
        assert {c: v for c, v in after.items() if c != "0"} == \
            {c: v for c, v in before[name].items() if c != "0"}, name


def test_empty_figure_panels_say_why():
    """Item 8: a unit that could not be classified, and an ACG with no spike pairs (complex
    spikes), get panels that say why instead of bare axes."""
    import numpy as np
    from matplotlib.figure import Figure

    from phy_c4.report import draw_unit

    figure = Figure()
    draw_unit(figure, 7, None, probabilities={}, threshold=2.0, reason="too few spikes (12 < 100)")
    texts = [" ".join(t.get_text() for t in ax.texts) for ax in figure.axes[:3]]
    assert all("too few spikes" in text.replace("\n", " ") for text in texts), texts
    figure = Figure()
    draw_unit(figure, 8, {"acg_1d": np.zeros(201), "waveform": np.ones(90)},
              probabilities={"PkC_cs": 1.0},
              threshold=2.0)
    assert "no two spikes" in figure.axes[0].texts[0].get_text().replace("\n", " ")


def test_user_bundle_folder_follows_the_platform(tmp_path, monkeypatch):
    """Item "platformdirs": the user folder is the platform's cache folder (XDG on Linux),
    unless PHY_C4_HOME names one."""
    from phy_c4.weights import user_dir

    monkeypatch.delenv("PHY_C4_HOME", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    if sys.platform.startswith("linux"):
        assert user_dir() == tmp_path / "xdg" / "phy_c4"
    monkeypatch.setenv("PHY_C4_HOME", str(tmp_path / "mine"))
    assert user_dir() == tmp_path / "mine"
