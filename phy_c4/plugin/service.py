"""The plugin's side of the worker process (``phy_c4.worker``): start it once, send one request
at a time, read its answers. Only the standard library here: Phy's process never loads torch
or numba for phy_c4.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import phy_c4


class WorkerError(RuntimeError):
    """The worker process ended or answered nonsense."""


class WorkerProcess:
    """``python -m phy_c4.worker``, started on first use and kept for the session."""

    def __init__(self) -> None:
        self._process: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.folder = Path(tempfile.mkdtemp(prefix="phy_c4_worker_"))

    def new_id(self) -> int:
        return next(self._ids)

    def path(self, name: str) -> str:
        """A scratch file of this session (removed by ``close``)."""
        return str(self.folder / name)

    def start(self) -> None:
        """Start the process now (it loads torch and numba while Phy does other things)."""
        with self._lock:
            self._start()

    def _start(self) -> subprocess.Popen:
        if self._process is None or self._process.poll() is not None:
            env = dict(os.environ)
            root = str(Path(phy_c4.__file__).resolve().parents[1])
            env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
            self._process = subprocess.Popen(
                [sys.executable, "-m", "phy_c4.worker"], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, text=True, bufsize=1, env=env)
        return self._process

    def request(self, message: dict[str, Any],
                on_progress: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
        """Send ``message`` and return the final answer (progress lines go to ``on_progress``);
        requests from several threads are served one after the other."""
        with self._lock:
            process = self._start()
            try:
                process.stdin.write(json.dumps(message) + "\n")
                process.stdin.flush()
            except (BrokenPipeError, OSError) as error:
                raise WorkerError(f"the C4 worker process is gone ({error})") from None
            while True:
                line = process.stdout.readline()  # waits without the interpreter lock
                if not line:
                    code = process.poll()
                    raise WorkerError(f"the C4 worker process ended (exit code {code}); "
                                      "see Phy's console for its error")
                answer = json.loads(line)
                if answer.get("op") == "progress":
                    if on_progress is not None:
                        on_progress(answer)
                    continue
                return answer

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def close(self, timeout: float = 5.0) -> None:
        """Ask the process to end (kill it if it does not), and remove the scratch files."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            try:
                process.stdin.write(json.dumps({"op": "quit"}) + "\n")
                process.stdin.flush()
                process.wait(timeout)
            except (OSError, subprocess.TimeoutExpired):
                process.kill()
                process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)
