"""Phy's event loop with phy_c4: how long phy_c4 blocks it, and what a table refresh costs.

1. In a fresh interpreter (``python -m phy_c4.plugin.probe``): Phy opens on the generated
   400-unit, 1-hour recording (``.bench/rec400``, made by ``bench_classify.py``) and on the
   20-unit example; Classify all is clicked as the window shows (the plugin still warming up,
   torch still loading: the worst case); the longest gap of a 5-ms timer until the columns
   appear, and the time to them.
   Each run three ways: Phy alone, the pipeline in a thread of Phy's process (phy_c4 0.2), and
   in the worker process (now).
2. In this process: 400 results land in the cluster view; ``refresh_rows`` timed with the
   table unsorted (only the rows on screen are signalled) and sorted by ``c4_ratio`` (every row
   is signalled and re-sorted), with column widths fitted to all rows (Qt's default, which phy
   uses) and to the rows on screen (what the plugin sets).

3. Ctrl+S with C4 (``--only save``): a generated 350-unit recording (``--save-units``) is
   classified in Phy (threading on); then each Ctrl+S is timed as Phy's own save
   (``supervisor.save()``: spike_clusters and every column) and C4's publication that follows
   (audit folder, columns, run manifest) until written, with the longest event-loop block
   meanwhile; a repeated Ctrl+S and one after a rejection; ``--profile`` prints where C4's
   part goes.

Run by hand: ``python benchmarks/bench_gui.py [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]


def probe(folder: Path, extra: list[str]) -> dict:
    run = subprocess.run([sys.executable, "-m", "phy_c4.plugin.probe", str(folder), *extra],
                         capture_output=True, text=True, timeout=900, cwd=ROOT)
    if run.returncode:
        raise RuntimeError(run.stderr[-2000:])
    return json.loads(run.stdout.strip().splitlines()[-1])


def table_refresh(folder: Path, repeats: int) -> dict:
    from phy.apps.template import TemplateController
    from phy.gui.qt import create_app
    from phylib.io.model import load_model

    from phy_c4.plugin import C4Plugin
    from phy_c4.plugin.labels import apply_values, refresh_rows

    app = create_app()
    C4Plugin.bundle = "default"
    controller = TemplateController(dir_path=folder, config_dir=Path(tempfile.mkdtemp()),
                                    model=load_model(folder / "params.py"), plugins=["C4Plugin"],
                                    clear_cache=True, clear_state=True, enable_threading=False)
    gui = controller.create_gui(do_prompt_save=False)
    gui.resize(1400, 900)
    gui.show()
    for _ in range(50):
        app.processEvents()
    supervisor = controller.supervisor
    clusters = [int(c) for c in supervisor.clustering.cluster_ids]
    out: dict = {"clusters": len(clusters)}
    header = supervisor.cluster_view.table_view.horizontalHeader()
    # Qt's default (phy's): fit widths to up to 1,000 rows; the plugin's: to the rows on screen
    for widths, precision in (("widths from all rows (Qt default)", 1000),
                              ("widths from rows on screen (phy_c4)", 0)):
        header.setResizeContentsPrecision(precision)
        out[widths] = {}
        for sort in ("unsorted", "sorted by c4_ratio"):
            if sort == "unsorted":
                supervisor.cluster_view.sort_by("id", "asc")
            else:
                supervisor.cluster_view.sort_by("c4_ratio", "desc")
            times = []
            for repeat in range(repeats):
                values = {"c4_type": {c: "MLI" for c in clusters},
                          "c4_ratio": {c: float((c * 7 + repeat) % 97) for c in clusters}}
                apply_values(supervisor, values, refresh=False)
                start = time.perf_counter()
                refresh_rows(supervisor, clusters, list(values))
                app.processEvents()  # the repaint
                times.append(time.perf_counter() - start)
            out[widths][sort] = round(min(times) * 1000, 1)
    gui.close()
    controller.close()
    return out


def save_cost(units: int, repeats: int, profile: bool = False) -> dict:
    """Ctrl+S on ``units`` classified units: Phy's save (it blocks the window), then C4's
    publication until written and the longest event-loop block meanwhile, in ms; unchanged
    (a repeated Ctrl+S) and after a rejection (the published columns change)."""
    import cProfile
    import pstats

    from phy.apps.template import TemplateController
    from phy.gui.qt import create_app
    from phylib.io.model import load_model

    from phy_c4.pipeline import PipelineOptions
    from phy_c4.plugin import C4Plugin
    from phy_c4.testing import make_dataset

    folder = Path(tempfile.mkdtemp()) / f"rec{units}"
    make_dataset(folder, n_units_per_type=max(units // 5, 1), duration_s=120.0, seed=4,
                 n_channels=8, raw=False)
    app = create_app()
    C4Plugin.bundle, C4Plugin.options = "default", PipelineOptions(quality=None)
    controller = TemplateController(dir_path=folder, config_dir=Path(tempfile.mkdtemp()),
                                    model=load_model(folder / "params.py"), plugins=["C4Plugin"],
                                    clear_cache=True, clear_state=True)  # threading on
    gui = controller.create_gui(do_prompt_save=False)
    gui.show()
    plugin, supervisor = controller.c4_plugin, controller.supervisor

    def wait(condition, timeout=900.0):
        end = time.perf_counter() + timeout
        while not condition():
            if time.perf_counter() > end:
                raise TimeoutError
            app.processEvents()
            time.sleep(0.002)

    started = time.perf_counter()
    plugin.classify_all()
    wait(lambda: plugin.n_undo_steps and not plugin.worker.isRunning())
    out: dict = {"clusters": len(supervisor.clustering.cluster_ids),
                 "classify_s": round(time.perf_counter() - started, 1)}
    supervisor.save()  # the first save writes every file for the first time
    wait(lambda: bool(plugin.saved))
    profiler = cProfile.Profile() if profile else None
    ticks = [time.perf_counter(), 0.0]  # last tick, longest gap

    def tick():
        now = time.perf_counter()
        ticks[1] = max(ticks[1], now - ticks[0])
        ticks[0] = now

    from qtpy.QtCore import QTimer

    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(5)
    target = next(c for c in supervisor.clustering.cluster_ids
                  if supervisor.cluster_meta.get("c4_type", c) not in ("", "unclassified"))
    for case in ("unchanged", "after a rejection"):
        phy_ms, c4_ms, blocked_ms = [], [], []
        for _ in range(repeats):
            if case != "unchanged":  # a decision that changes the published columns
                supervisor.select([target])
                wait(lambda: supervisor.selected == [target])
                if supervisor.cluster_meta.get("cell_type_rejected", target):
                    supervisor.undo()
                else:
                    plugin.reject_prediction()
            for _ in range(20):
                app.processEvents()
            plugin.saved = []
            start = time.perf_counter()
            supervisor.save()
            phy_ms.append((time.perf_counter() - start) * 1000)
            ticks[:] = [time.perf_counter(), 0.0]
            start = time.perf_counter()
            if profiler is not None:
                profiler.enable()
            wait(lambda: bool(plugin.saved))
            if profiler is not None:
                profiler.disable()
            c4_ms.append((time.perf_counter() - start) * 1000)
            blocked_ms.append(ticks[1] * 1000)
        out[case] = {"phy_save_ms": [round(v) for v in phy_ms],
                     "c4_publication_ms": [round(v) for v in c4_ms],
                     "c4_longest_event_loop_block_ms": [round(v) for v in blocked_ms]}
    timer.stop()
    if profiler is not None:
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(25)
    gui.close()
    controller.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rec400", default=str(ROOT / ".bench" / "rec400"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", choices=["probe", "table", "save"], default=None)
    parser.add_argument("--save-units", type=int, default=350)
    parser.add_argument("--profile", action="store_true", help="profile C4's part of Ctrl+S")
    args = parser.parse_args()
    if args.only == "save":
        print(json.dumps({"ctrl_s": save_cost(args.save_units, args.repeats, args.profile)},
                         indent=2))
        return
    rec400 = Path(args.rec400)
    if not (rec400 / "params.py").is_file():
        raise SystemExit(f"{rec400} missing: run benchmarks/bench_classify.py first")
    from phy_c4.testing import make_dataset

    example = Path(tempfile.mkdtemp()) / "example"
    make_dataset(example, n_units_per_type=4, duration_s=480.0, seed=0, n_channels=6)
    report = {}
    if args.only in (None, "probe"):
        for name, folder in (("example_20_units", example), ("rec400_quality_filter", rec400)):
            report[f"probe_{name}"] = {"phy alone": probe(folder, ["--without-plugin", "3"]),
                                       "in-process thread": probe(folder, ["--in-process"]),
                                       "worker process": probe(folder, [])}
    if args.only in (None, "table"):
        report["table_refresh_ms_rec400"] = table_refresh(rec400, args.repeats)
    if args.only is None:
        report["ctrl_s"] = save_cost(args.save_units, args.repeats)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
