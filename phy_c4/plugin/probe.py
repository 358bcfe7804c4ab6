"""How long phy_c4 blocks Phy's event loop, from Phy's start to the C4 columns appearing.

Run in a fresh interpreter (so torch, numba and the kernels load as they do for a user):
``python -m phy_c4.plugin.probe PHY_FOLDER [--bundle B] [--all-spikes]``. It opens Phy
offscreen with C4Plugin, clicks Classify all as soon as the window shows (while the plugin is
still warming up: the worst case), ticks a 5-ms timer, and prints one JSON line: the longest gap
between ticks and the time to the columns. Used by a test (the budget) and a benchmark.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder")
    parser.add_argument("--bundle", default="default")
    parser.add_argument("--all-spikes", action="store_true")
    parser.add_argument("--config", default=None, help="Phy config folder (default: a temp one)")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--in-process", action="store_true",
                        help="the pipeline in a thread of Phy's process (phy_c4 0.2's way)")
    parser.add_argument("--without-plugin", type=float, metavar="SECONDS", default=None,
                        help="baseline: Phy alone, its event loop watched for SECONDS")
    args = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import tempfile

    from phy.apps.template import TemplateController
    from phy.gui.qt import create_app
    from phylib.io.model import load_model
    from qtpy.QtCore import QTimer

    from phy_c4.plugin import C4Plugin

    folder = Path(args.folder)
    config = Path(args.config or tempfile.mkdtemp(prefix="phy_c4_probe_"))
    C4Plugin.bundle = args.bundle
    C4Plugin.worker_process = not args.in_process
    if args.all_spikes:
        from phy_c4.pipeline import PipelineOptions  # (imports torch: only when asked)

        C4Plugin.options = PipelineOptions(quality=None)
    began = time.perf_counter()
    app = create_app()
    loaded_before = "torch" in sys.modules
    plugins = [] if args.without_plugin else ["C4Plugin"]
    controller = TemplateController(dir_path=folder, config_dir=config,
                                    model=load_model(folder / "params.py"), plugins=plugins,
                                    clear_cache=True, clear_state=True, enable_threading=False)
    gui = controller.create_gui(do_prompt_save=False)
    gui.show()
    plugin = getattr(controller, "c4_plugin", None)
    gaps: list[float] = []
    last = [time.perf_counter()]

    at: list[float] = []

    def tick() -> None:
        now = time.perf_counter()
        gaps.append(now - last[0])
        at.append(now - start)
        last[0] = now

    timer = QTimer()
    timer.timeout.connect(tick)
    start = time.perf_counter()
    timer.start(5)
    if plugin is None:
        while time.perf_counter() < start + args.without_plugin:
            app.processEvents()
            time.sleep(0.001)
    else:
        plugin.classify_all()
    deadline = start + args.timeout
    while plugin is not None and (not plugin.n_undo_steps or plugin.worker.isRunning()) and \
            time.perf_counter() < deadline and "failed" not in gui.status_message:
        app.processEvents()
        time.sleep(0.001)
    for _ in range(50):  # the table refresh comes in the next event-loop turns
        app.processEvents()
        time.sleep(0.002)
    timer.stop()
    meta = controller.supervisor.cluster_meta
    shown = 0 if plugin is None else sum(meta.get("c4_status", c) is not None for c in
                                         controller.supervisor.clustering.cluster_ids)
    print(json.dumps({"longest_block_ms": round(max(gaps) * 1000, 1),
                      "blocks_over_50ms": sum(g > 0.05 for g in gaps),
                      "seconds_to_columns": round(time.perf_counter() - start, 2),
                      "clusters_with_columns": shown, "torch_loaded_before": loaded_before,
                      "torch_in_phy_process": "torch" in sys.modules,
                      "numba_in_phy_process": "numba" in sys.modules,
                      "worst": sorted(((round(g * 1000), round(t, 2)) for g, t in
                                       zip(gaps, at, strict=True)), reverse=True)[:5],
                      "startup_s": round(start - began, 2),
                      "status": gui.status_message}))
    gui.close()
    controller.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
