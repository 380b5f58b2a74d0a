#!/usr/bin/env bash
# Set up (Fashion-MNIST included: the data tests read it), then run the test suite and the linter.
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/fashion_mnist.sh
.venv/bin/python -m ruff check .
exec .venv/bin/python -m pytest -q "$@"
