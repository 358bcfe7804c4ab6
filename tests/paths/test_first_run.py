"""The path a new user walks first, run as that user runs it: commands in subprocesses, a
private HOME, nothing from the test's own process (issue 21).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


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
