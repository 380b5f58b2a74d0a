"""Shared test fixtures: the real datasets in ../shared/data (see its README) and small helpers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("GOOGLENET_SHARED_DATA", REPO.parent / "shared" / "data"))
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")

torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "mnist").is_dir():
        pytest.fail(f"test data missing: expected ../shared/data beside the repo at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def benchmark_script():
    """Import a script of benchmarks/ by name (``benchmark_script("table3")``), to test its functions."""
    import importlib.util
    import sys

    def load(name: str):
        spec = importlib.util.spec_from_file_location(f"benchmarks_{name}", REPO / "benchmarks" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
        return module

    return load


@pytest.fixture(scope="session")
def class_folders():
    """Write a class-folder dataset: ``write(root, classes, per_class=4, size=(40, 48), level=200, noise=40)``
    makes root/train/<class>/i.png and root/test/<class>/i.png, class c's colour channel c at ``level`` plus
    Gaussian ``noise`` (a fixed seed). Returns root."""
    import numpy as np

    def write(root: Path, classes, *, per_class: int = 4, size: tuple[int, int] = (40, 48), level: float = 200,
              noise: float = 40, splits=("train", "test")) -> Path:
        rng = np.random.default_rng(0)
        for split in splits:
            for c, name in enumerate(classes):
                (root / split / name).mkdir(parents=True)
                for i in range(per_class):
                    base = np.zeros((*size, 3), np.float64)
                    base[..., c] = level
                    noisy = np.clip(base + rng.normal(0, noise, base.shape), 0, 255).astype(np.uint8)
                    Image.fromarray(noisy).save(root / split / name / f"{i}.png")
        return root

    return write


@pytest.fixture
def run_cli(capsys):
    """Run the CLI in-process; returns (exit code, stdout, stderr)."""
    from googlenet.cli import main

    def run(*argv: str) -> tuple[int, str, str]:
        code = main([str(a) for a in argv])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


@pytest.fixture(scope="session")
def digits(shared_data, tmp_path_factory) -> Path:
    """An ImageFolder tree of 120 real MNIST test digits: train/<digit>/<n>.png."""
    root = tmp_path_factory.mktemp("digits")
    from googlenet.data import load_dataset

    mnist = load_dataset("mnist", "test", data_dir=shared_data)
    for i in range(120):
        image, label = mnist[i]
        path = root / "train" / str(label) / f"{i:04d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image[0].numpy(), "L").save(path)
    return root
