#!/usr/bin/env bash
# Set up a fresh clone: a virtual environment in .venv (reusing a system-wide torch when there is one),
# torch/torchvision if missing (pinned here: the versions this project is tested with; pyproject.toml only
# sets lower bounds), Debian's graphviz and chromium, and this package with its dev tools. Safe to run again: it skips what
# is done. Offline machines need a local wheel store for torch (pip's own configuration).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
"$PY" - <<'PYEOF' || { echo "googlenet needs Python >= 3.11 (found $("$PY" --version 2>&1)); set PYTHON=/path/to/python3.11" >&2; exit 2; }
import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)
PYEOF
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv --system-site-packages .venv
fi
VPY=.venv/bin/python
if ! "$VPY" -c "import torch, torchvision" 2>/dev/null; then
  if [ "$(uname -m)" = "aarch64" ]; then
    "$VPY" -m pip install -q "torch==2.9.1" "torchvision==0.24.1"
  else
    "$VPY" -m pip install -q "torch==2.14.1" "torchvision==0.29.1"
  fi
fi
# Graphviz (diagrams) and Chromium (the report's screenshot check): Debian packages, installed when root.
bash scripts/system_packages.sh
stamp=.venv/.googlenet-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  "$VPY" -m pip install -q --disable-pip-version-check -e ".[dev]"
  touch "$stamp"
fi
