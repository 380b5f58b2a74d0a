#!/usr/bin/env bash
# The main job: set up, then train the small-input GoogLeNet on Fashion-MNIST and evaluate it on the
# 10,000 test images. Extra arguments go to `googlenet train`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/fashion_mnist.sh
# `googlenet train` with no dataset options: the fast recipe (docs/training.md) on Fashion-MNIST, then
# top-1/top-5 on the 10,000 test images; everything lands in runs/fashion-mnist-googlenet-<time>/.
exec .venv/bin/python -m googlenet train "$@"
