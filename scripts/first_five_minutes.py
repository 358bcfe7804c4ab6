"""Regenerate docs/first_five_minutes.md and its screenshots by walking a new user's path.

In a temporary HOME: ``phy-c4 demo`` (the example dataset, classified, with figures),
``phy-c4 install-plugin``, then the real ``phy template-gui params.py`` (offscreen) on a fresh
copy of the example, where a small driver file (written next to the plugin shim, removed
after) opens the C4 menu, picks Classify all, presses Ctrl+S and grabs the window at each step.
The page is written from what the commands printed and what Phy showed, so it cannot drift from
the code. Developer tool: ``python scripts/first_five_minutes.py`` (~2-4 min; offscreen GL
views are blank, so the waveform/feature views are closed before the grabs).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "first_five_minutes.md"
IMAGES = ROOT / "docs" / "images"
BIN = Path(sys.executable).parent

DRIVER = '''\
import json, os
from phy import connect
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QDockWidget

OUT = os.environ["PHY_C4_SHOTS"]
seen = {}


def _save():
    with open(os.path.join(OUT, "seen.json"), "w") as f:
        json.dump(seen, f)


def _later(gui, condition, then, n=[0]):
    n[0] += 1
    if condition() or n[0] > 3000:
        then()
    else:
        QTimer.singleShot(100, lambda: _later(gui, condition, then))


@connect
def on_gui_ready(sender, gui):
    QTimer.singleShot(500, lambda: _opened(sender, gui))


def _opened(controller, gui):
    keep = ("ClusterView", "SimilarityView", "C4View")
    for dock in gui.findChildren(QDockWidget):
        if not dock.objectName().startswith(keep) and not dock.windowTitle().startswith(keep):
            dock.close()
    gui.resize(1500, 820)
    plugin = controller.c4_plugin
    gui.grab().save(os.path.join(OUT, "1_opened.png"))
    seen["opened"] = gui.status_message
    menu = next(a.menu() for a in gui.menuBar().actions() if a.text() == "&C4")
    menu.popup(gui.mapToGlobal(gui.rect().topLeft()))
    QTimer.singleShot(300, lambda: _menu(controller, gui, plugin, menu))


def _menu(controller, gui, plugin, menu):
    menu.grab().save(os.path.join(OUT, "2_menu.png"))
    menu.hide()
    next(a for a in menu.actions() if a.text().lower() == "classify all").trigger()
    _later(gui, lambda: plugin.n_undo_steps and not plugin.worker.isRunning(),
           lambda: _classified(controller, gui, plugin))


def _classified(controller, gui, plugin):
    seen["classified"] = gui.status_message
    ids = [int(c) for c in controller.supervisor.clustering.cluster_ids]
    meta = controller.supervisor.cluster_meta
    chosen = next((c for c in ids if meta.get("c4_type", c) == "PkC_ss"), ids[0])
    controller.supervisor.select([chosen])
    for dock in gui.findChildren(QDockWidget):  # the tables' full width: the C4 columns show
        if dock.objectName().startswith("C4View") or dock.windowTitle().startswith("C4View"):
            dock.close()
    QTimer.singleShot(2000, lambda: _shot(controller, gui, plugin))


def _shot(controller, gui, plugin):
    gui.grab().save(os.path.join(OUT, "3_classified.png"))
    gui.file_actions.save()
    _later(gui, lambda: plugin.saved, lambda: _done(gui, plugin))


def _done(gui, plugin):
    seen["saved"] = gui.status_message
    seen["files"] = sorted(os.path.basename(str(p)) for p in plugin.saved)
    _save()
    gui.close()
'''


def _run(args: list[str], env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run(args, env=env, cwd=cwd, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=900)
    if done.returncode != 0:
        sys.exit(f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}")
    return done.stdout


def _clean(text: str, tmp: Path) -> str:
    """Terminal text as a reader would see it: the temporary paths shortened, and of the
    progress bar's redraws only the first of each step (cluster numbers aside)."""
    out, steps = [], set()
    for line in text.replace(str(tmp / "home"), "~").replace("\r", "\n").splitlines():
        bar = re.match(r"^\S+:\s+(\d+%\|.*|0unit.*)$", line.strip())
        if bar:
            step = re.sub(r"\d+", "N", line.rsplit(",", 1)[-1].strip())
            if step in steps or ("?unit/s]" in line and "%" not in line):
                continue
            steps.add(step)
            line = re.sub(r"\[\d\d:\d\d<.*?,", "[...,", line)  # timings vary
        if line.strip():
            out.append(line.rstrip())
    return "\n".join(out)


def main() -> None:
    phy_c4 = str(BIN / "phy-c4")
    phy = str(BIN / "phy")
    IMAGES.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        home = tmp / "home"
        home.mkdir()
        env = {**os.environ, "HOME": str(home), "QT_QPA_PLATFORM": "offscreen",
               "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
               "PHY_C4_SHOTS": str(tmp), "COLUMNS": "100",
               "NUMBA_CACHE_DIR": str(tmp / "numba")}  # compiled afresh, as on a new machine
        demo = _clean(_run([phy_c4, "demo", "--out", str(home / "example")], env, home), tmp)
        figures = home / "example" / "cell_type_classification" / "figures"
        shutil.copyfile(figures / "summary.png", IMAGES / "first_summary.png")
        truth = (home / "example" / "cluster_true_type.tsv").read_text().splitlines()[1:]
        cs = next(line.split("\t")[0] for line in truth if line.endswith("PkC_cs"))
        shutil.copyfile(figures / f"unit_{cs}.png", IMAGES / "first_unit.png")
        installed = _clean(_run([phy_c4, "install-plugin"], env, home), tmp)
        shutil.copytree(home / "example", home / "rec",
                        ignore=shutil.ignore_patterns("cluster_c4_*", "cell_type_classification",
                                                      ".phy_c4", ".phy"))
        driver = home / ".phy" / "plugins" / "zz_first_five_minutes_driver.py"
        driver.write_text(DRIVER)
        try:
            _run([phy, "template-gui", "params.py"], env, home / "rec")
        finally:
            driver.unlink()
        seen = json.loads((tmp / "seen.json").read_text())
        for shot in ("1_opened", "2_menu", "3_classified"):
            shutil.copyfile(tmp / f"{shot}.png", IMAGES / f"first_{shot}.png")
        saved = sorted(p.name for p in (home / "rec").glob("cluster_c4_*.tsv"))
        removed = _clean(_run([phy_c4, "install-plugin", "--uninstall"], env, home), tmp)
    DOC.write_text(_page(demo, installed, seen, saved, removed, cs))
    print(f"wrote {DOC} and docs/images/first_*.png")


def _page(demo: str, installed: str, seen: dict, saved: list[str], removed: str,
          cs: str) -> str:
    block = "```"
    return textwrap.dedent(f"""\
    # The first five minutes

    From a fresh clone to a saved Classify in Phy. Every output and picture on this page was
    produced by `python scripts/first_five_minutes.py` (in a temporary HOME; rerun it after a
    change); nothing was typed by hand.

    ## 1. Set up and classify the example (`make run`)

    ```bash
    make run                      # creates .venv/, installs, runs `phy-c4 demo`
    source .venv/bin/activate     # phy-c4 and phy live in .venv/bin
    ```

    `phy-c4 demo` writes a generated Phy folder (4 units of each type, 480 s: real C4-database
    waveforms, spike trains drawn from each type's firing statistics; **synthetic units, not
    a validation of the model**), classifies it with the default bundle and draws figures.
    The first run also compiles the feature kernels (~30 s, said on the progress line).

    {block}
    $ phy-c4 demo --out ~/example
    {textwrap.indent(demo, "    ").strip()}
    {block}

    The per-recording summary (`cell_type_classification/figures/summary.png`) and one unit's
    figure (cluster {cs}, a complex-spike unit: its ACG panel says why it is empty when no two
    spikes fall within ±100 ms):

    ![summary](images/first_summary.png)
    ![a unit](images/first_unit.png)

    ## 2. Add the C4 menu to Phy

    {block}
    $ phy-c4 install-plugin
    {textwrap.indent(installed, "    ").strip()}
    {block}

    ## 3. Open the folder in Phy

    `phy template-gui params.py` in a copy of the example without results. The C4 columns
    are there (empty) from the start; the status bar says:
    *{seen.get("opened", "")}*

    ![Phy with the C4 plugin](images/first_1_opened.png)

    The C4 menu:

    ![the C4 menu](images/first_2_menu.png)

    ## 4. Classify, then save

    **C4 › Classify all** fills the columns (one Ctrl+Z undoes it). The status bar:
    *{seen.get("classified", "")}*

    ![after Classify all](images/first_3_classified.png)

    **Ctrl+S** saves Phy's files and publishes the same files the CLI writes
    (*{seen.get("saved", "")}*): {", ".join(f"`{n}`" for n in saved)}, and the audit folder
    `cell_type_classification/`.

    ## 5. Remove the plugin

    {block}
    $ phy-c4 install-plugin --uninstall
    {textwrap.indent(removed, "    ").strip()}
    {block}

    `~/.phy/phy_config.py` is back as it was, byte for byte (here phy-c4 had created it, so it
    is gone, with the folders it created).

    Next: [README.md](../README.md) for the commands, [trust.md](trust.md) for what to check
    before trusting a type (set `--cerebellar-depth`: the example has no region, so every
    unit is assumed to be in the cerebellar cortex).
    """)


if __name__ == "__main__":
    main()
