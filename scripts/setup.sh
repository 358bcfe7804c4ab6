#!/usr/bin/env bash
# One-shot set-up on a fresh machine: Debian libraries Qt needs offscreen, a virtualenv,
# the CPU torch wheel first (an unpinned torch would pull gigabytes of CUDA), then phy_c4.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-python3}"

if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
    if ! dpkg -s libxkbcommon-x11-0 libegl1 libgl1 libfontconfig1 libdbus-1-3 >/dev/null 2>&1; then
        echo "[setup] installing Debian libraries for offscreen Qt"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            libgl1 libegl1 libglib2.0-0 libfontconfig1 libdbus-1-3 libxkbcommon0 \
            libxkbcommon-x11-0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 \
            libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-xfixes0 libxcb-cursor0 \
            libxrender1 libxi6 libsm6 libice6 >/dev/null
    fi
fi

if [ ! -x "$VENV/bin/python" ]; then
    echo "[setup] creating virtualenv $VENV"
    "$PYTHON" -m venv "$VENV"
fi
PIP="$VENV/bin/python -m pip"
$PIP install -q --upgrade pip
if ! "$VENV/bin/python" -c "import torch" >/dev/null 2>&1; then
    echo "[setup] installing torch==2.13.0 (CPU)"
    $PIP install -q "torch==2.13.0"
fi
echo "[setup] installing phy_c4 with test extras"
$PIP install -q -e ".[test]"
echo "[setup] done"
