"""Open Phy (offscreen) on the example dataset with C4Plugin, classify, and save a screenshot.

Developer tool for docs/images. Usage:
python scripts/screenshot_gui.py build/example docs/images/phy_gui_c4.png [WHY.png]
(GL views such as the waveform view are blank offscreen; tables, menus and the C4 view render.)
With WHY.png, the C4 view alone is saved too, explaining a unit with a Purkinje partner.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main() -> None:
    from phy.apps.template import TemplateController
    from phylib.io.model import load_model
    from phylib.utils import reset
    from qtpy.QtWidgets import QApplication

    from phy_c4.plugin import C4Plugin  # noqa: F401 - registers the plugin class

    folder, out = Path(sys.argv[1]), Path(sys.argv[2])
    app = QApplication.instance() or QApplication([])
    controller = TemplateController(dir_path=folder, config_dir=Path("/tmp/phy_c4_shot"),
                                    model=load_model(folder / "params.py"), plugins=["C4Plugin"],
                                    clear_cache=True, clear_state=True, enable_threading=False)
    gui = controller.create_gui(do_prompt_save=False)
    gui.resize(1700, 900)
    gui.show()
    plugin = controller.c4_plugin
    deadline = time.time() + 60
    while plugin.worker is None and time.time() < deadline:
        app.processEvents()
        if plugin._bundle is not None or time.time() > deadline - 55:
            plugin.classify_all()
    while plugin.worker.isRunning() or not plugin.n_undo_steps:
        app.processEvents()
        time.sleep(0.01)
    from qtpy.QtWidgets import QDockWidget

    keep = ("ClusterView", "SimilarityView", "C4View")
    for dock in gui.findChildren(QDockWidget):  # GL views are blank offscreen: make room
        if not dock.windowTitle().startswith(keep) and not dock.objectName().startswith(keep):
            dock.close()
    meta = controller.supervisor.cluster_meta
    ids = [int(c) for c in controller.supervisor.clustering.cluster_ids]
    paired = [c for c in ids if meta.get("c4_pair", c) and meta.get("c4_type", c) == "PkC_cs"]
    chosen = paired[0] if paired else ids[0]
    controller.supervisor.select([chosen])
    deadline = time.time() + 30
    view = plugin.view
    while time.time() < deadline and (view.last_explanation is None or
                                      view.last_explanation.cluster_id != chosen):
        app.processEvents()
        time.sleep(0.01)
    for _ in range(100):
        app.processEvents()
        time.sleep(0.01)
    gui.grab().save(str(out))
    print(f"saved {out}: {gui.status_message}")
    if len(sys.argv) > 3:
        view.setParent(None)  # undock: render the view alone, at a readable size
        view.resize(1150, 680)
        view.show()
        view.show_cluster(chosen, *plugin.results[chosen], threshold=plugin.threshold,
                          explain=view._last[4] if view._last else None)
        n = view.n_rendered
        while view.n_rendered == n and time.time() < deadline + 30:
            app.processEvents()
            time.sleep(0.01)
        view.grab().save(sys.argv[3])
        print(f"saved {sys.argv[3]}: cluster {chosen}")
    gui.close()
    controller.close()
    reset()


if __name__ == "__main__":
    main()
