#!/usr/bin/env bash
# Make sure Fashion-MNIST is on this machine (Debian's dataset-fashion-mnist package), or say how.
set -euo pipefail
dir=/usr/share/datasets/fashion-mnist
if [ -n "${GOOGLENET_DATA:-}" ] || [ -f "$dir/train-images-idx3-ubyte.gz" ]; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 || {
    apt-get update -q >/dev/null && apt-get install -y -q dataset-fashion-mnist >/dev/null; }
else
  echo "Fashion-MNIST is missing: run 'sudo apt-get install dataset-fashion-mnist', or put the four" \
       "IDX .gz files in a folder and set GOOGLENET_DATA=/that/folder" >&2
  exit 2
fi
