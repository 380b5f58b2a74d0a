"""Benchmarks: our inference backends and training loop beside torchvision's and ONNX Runtime's, in one run.

* :mod:`.inference` -- :func:`bench_inference`: the registry's backends (:mod:`.backends` adds the torchvision
  anchors), interleaved with the anchors.
* :mod:`.training` -- :func:`bench_training`: training steps per second beside torchvision's.
* :mod:`.memory` -- peak memory of a backend, in a fresh process.
* :mod:`.inputs` -- real photos to feed them, and our model beside torchvision's.
* :mod:`.timing`, :mod:`.machine` -- interleaved rounds, medians; what machine a figure came from.
"""

from .backends import ANCHORS, BACKENDS, DEFAULT_BACKENDS
from .inference import bench_inference
from .inputs import build_pair, real_images, settle_batch_norm
from .machine import machine
from .training import DEFAULT_TRAIN_BACKENDS, TRAIN_ANCHOR, TRAIN_BACKENDS, bench_training, train_step_fn

__all__ = [
    "ANCHORS", "BACKENDS", "DEFAULT_BACKENDS", "DEFAULT_TRAIN_BACKENDS",
    "TRAIN_ANCHOR", "TRAIN_BACKENDS", "bench_inference",
    "bench_training", "build_pair", "machine", "real_images", "settle_batch_norm", "train_step_fn",
]
