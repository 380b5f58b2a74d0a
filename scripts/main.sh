#!/usr/bin/env bash
# The main job: set up, then train the small-input GoogLeNet on Fashion-MNIST and evaluate it on the
# 10,000 test images. Extra arguments go to `googlenet train`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/fashion_mnist.sh
exec .venv/bin/python -m googlenet summary googlenet "$@"
