"""The worker process (``python -m phy_c4.worker``) and what crosses to it: results saved and
loaded as plain arrays, options as a dict; requests, progress, errors and cancelling.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pandas as pd

from phy_c4.features.pairing import PairingSpec
from phy_c4.features.quality import QualitySpec
from phy_c4.pipeline import PipelineOptions, classify, options_from_dict
from phy_c4.plugin.service import WorkerProcess
from phy_c4.region import RegionGate
from phy_c4.result import load_result


def test_options_cross_as_a_dict():
    options = PipelineOptions(threshold=3.0, quality=QualitySpec(fp_threshold=0.1),
                              pairing=PairingSpec(pause_ms=(2.0, 9.0)), threads=1, cache=False,
                              region=RegionGate(depth_um=(100.0, 900.0), cluster_regions={3: "CB"}))
    assert options_from_dict(dataclasses.asdict(options)) == options
    assert options_from_dict(None) == PipelineOptions()
    assert options_from_dict({"threshold": 1.5, "quality": None}) == PipelineOptions(
        threshold=1.5, quality=None)


def test_requests_progress_errors_and_cancel(folder):
    service = WorkerProcess()
    try:
        assert service.request({"op": "warm_up", "bundle": "default"})["bundle"] == "c4-tables@4"
        expected = classify(folder, options=PipelineOptions(quality=None)).table
        progress = []
        out = service.path("r.npz")
        answer = service.request(
            {"op": "classify", "id": 1, "folder": str(folder), "spike_clusters": None,
             "clusters": [int(c) for c in expected["cluster_id"]], "bundle": "default",
             "options": {"quality": None}, "layer": None, "rejected": {}, "out": out,
             "cancel": service.path("cancel_1")}, on_progress=progress.append)
        assert answer == {"op": "result", "id": 1, "path": out} and progress
        pd.testing.assert_frame_equal(load_result(out).table, expected)
        rendered = service.request({"op": "render", "id": 2, "result": 1, "cluster": 0,
                                    "size": [600, 400], "threshold": 2.0, "title": "",
                                    "out": service.path("v.png")})
        assert rendered["op"] == "rendered"
        assert Path(rendered["path"]).read_bytes()[:4] == b"\x89PNG"
        bad = service.request({"op": "classify", "id": 3, "folder": str(folder / "nowhere"),
                               "clusters": [0], "bundle": "default", "out": out,
                               "cancel": service.path("cancel_3")})
        assert bad["op"] == "error" and "nowhere" in bad["message"]
        open(service.path("cancel_4"), "w").close()
        cancelled = service.request({"op": "classify", "id": 4, "folder": str(folder),
                                     "clusters": [0, 1], "bundle": "default",
                                     "out": service.path("r4.npz"),
                                     "cancel": service.path("cancel_4")})
        assert cancelled["op"] == "cancelled"
        assert service.running  # one bad request does not end the session
    finally:
        service.close()
    assert not service.running and not os.path.exists(service.folder)
