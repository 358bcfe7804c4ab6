"""The Phy plugin's worker process: ``python -m phy_c4.worker``.

torch, numba and the kernels hold the interpreter lock for 0.1-0.5 s at a time while they load
and compile; in Phy's process that froze the window (docs/performance.md). Here they run in a
process of their own, started with an explicit entry point (never a re-imported ``__main__``:
it works in any host, a script read on standard input included), kept for the whole session.

Protocol: one JSON object per line on standard input, answers one per line on standard output
(everything else the libraries print goes to standard error).

- ``{"op": "warm_up", "bundle": B}`` -> ``{"op": "ready", "bundle": "name@version"}``
- ``{"op": "classify", "id": N, "folder": F, "spike_clusters": NPY or null, "clusters": [...],
  "bundle": B, "options": asdict(PipelineOptions) or null, "layer": {...} or null,
  "rejected": {...}, "out": NPZ, "cancel": PATH}`` -> ``{"op": "progress", ...}`` lines, then
  ``{"op": "result", "id": N, "path": NPZ}``, ``{"op": "cancelled"}`` or ``{"op": "error",
  "message": ...}``. Cancelling is creating the file ``cancel``.
- ``{"op": "explain", "id": N, "result": RESULT_ID, "cluster": C, "out": NPZ}`` ->
  ``{"op": "explained", "path": NPZ}`` (or ``{"op": "none"}`` when not classified).
- ``{"op": "render", "id": N, "result": RESULT_ID, "cluster": C, "size": [W, H],
  "threshold": T, "title": TEXT, "out": PNG, "status": TEXT}`` (status optional: the
  table's, which replaces the run's) -> ``{"op": "rendered", "path": PNG,
  "explanation": NPZ}``: the C4 view's figure, drawn here.
- ``{"op": "quit"}``, or standard input closing, ends the process.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections import OrderedDict
from typing import IO, Any

KEEP_RESULTS = 8


class Worker:
    """The state a session keeps: open recordings, loaded bundles, recent results."""

    def __init__(self, answer: IO[str]) -> None:
        self.answer = answer
        self.recordings: dict[str, Any] = {}
        self.bundles: dict[str, Any] = {}
        self.results: OrderedDict[int, tuple[Any, Any, Any]] = OrderedDict()

    def send(self, message: dict[str, Any]) -> None:
        self.answer.write(json.dumps(message) + "\n")
        self.answer.flush()

    def bundle(self, name: str) -> Any:
        from phy_c4.weights import get_bundle

        if name not in self.bundles:
            self.bundles[name] = get_bundle(name)
        return self.bundles[name]

    def handle(self, request: dict[str, Any]) -> None:
        op = request.get("op")
        if op == "warm_up":
            from phy_c4.pipeline import warm_up

            bundle = warm_up(self.bundle(request["bundle"]))
            self.send({"op": "ready", "bundle": bundle.label})
        elif op == "classify":
            self.classify(request)
        elif op == "explain":
            self.explain(request)
        elif op == "render":
            self.render(request)
        else:
            raise ValueError(f"unknown request {op!r}")

    def classify(self, request: dict[str, Any]) -> None:
        from phy_c4.arrays import map_npy
        from phy_c4.io.dataset import open_recording
        from phy_c4.pipeline import CancelledError, classify, options_from_dict
        from phy_c4.result import save_result

        request_id, cancel_path = request["id"], request["cancel"]
        folder = request["folder"]
        if folder not in self.recordings:
            self.recordings[folder] = open_recording(folder)
        recording = self.recordings[folder]
        if request.get("spike_clusters"):  # a read-only map (the file may be removed after)
            recording = recording.with_assignment(map_npy(request["spike_clusters"]))
        layer = {int(k): v for k, v in (request.get("layer") or {}).items()} or None
        rejected = {int(k): v for k, v in (request.get("rejected") or {}).items()}
        try:
            result = classify(
                recording, request["clusters"], bundle=self.bundle(request["bundle"]),
                layer=layer, options=options_from_dict(request.get("options")),
                rejected=rejected, cancel=lambda: os.path.exists(cancel_path),
                progress=lambda d, t, m: self.send({"op": "progress", "id": request_id,
                                                    "done": d, "total": t, "message": m}))
        except CancelledError:
            self.send({"op": "cancelled", "id": request_id})
            return
        save_result(result, request["out"])
        self.results[request_id] = (result, recording, self.bundle(request["bundle"]))
        while len(self.results) > KEEP_RESULTS:
            self.results.popitem(last=False)
        self.send({"op": "result", "id": request_id, "path": request["out"]})

    def _explanation(self, result_id: int, cluster_id: int) -> Any:
        from phy_c4.explain import explain_cluster

        kept = self.results.get(result_id)
        return None if kept is None else explain_cluster(*kept, cluster_id=cluster_id)

    def render(self, request: dict[str, Any]) -> None:
        """The C4 view's figure of a cluster as a PNG (matplotlib stays out of Phy's process),
        and its explanation beside it."""
        import matplotlib

        matplotlib.use("Agg", force=False)
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        from phy_c4.report import draw_unit, draw_why, unit_probabilities
        from phy_c4.result import save_explanation

        cluster_id = int(request["cluster"])
        explanation = self._explanation(request["result"], cluster_id)
        width, height = (max(int(v), 300) for v in request["size"])
        figure = Figure(figsize=(width / 80, height / 80), dpi=80)
        FigureCanvasAgg(figure)
        answer = {"op": "rendered", "id": request["id"], "path": request["out"]}
        status = request.get("status") or ""  # the table's: a rejection since replaces it
        if explanation is not None:
            if status:
                explanation.status = status
            draw_why(figure, explanation, float(request["threshold"]), title_extra=request["title"])
            save_explanation(explanation, request["out"] + ".why.npz")
            answer["explanation"] = request["out"] + ".why.npz"
        else:
            kept = self.results.get(request["result"])
            if kept is None:
                self.send({"op": "none", "id": request["id"]})
                return
            result = kept[0]
            row = result.table.set_index("cluster_id").loc[cluster_id].to_dict()
            unit = result.features.get(cluster_id)
            draw_unit(figure, cluster_id, getattr(unit, "inputs", None),
                      probabilities=unit_probabilities(row),
                      threshold=float(request["threshold"]), title_extra=request["title"],
                      tight=False,
                      reason=status or str(row.get("c4_status") or ""))
        figure.savefig(request["out"], format="png")
        self.send(answer)

    def explain(self, request: dict[str, Any]) -> None:
        from phy_c4.result import save_explanation

        explanation = self._explanation(request["result"], int(request["cluster"]))
        if explanation is None:
            self.send({"op": "none", "id": request["id"]})
            return
        save_explanation(explanation, request["out"])
        self.send({"op": "explained", "id": request["id"], "path": request["out"]})


def main() -> int:
    answer = sys.stdout
    sys.stdout = sys.stderr  # stray prints must not corrupt the protocol
    worker = Worker(answer)
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        if request.get("op") == "quit":
            break
        try:
            worker.handle(request)
        except Exception as error:  # answered, never a dead worker
            traceback.print_exc(file=sys.stderr)
            worker.send({"op": "error", "id": request.get("id"),
                         "message": f"{type(error).__name__}: {error}"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
