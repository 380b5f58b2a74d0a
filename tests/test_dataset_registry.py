"""googlenet.data.registry: every dataset through one registry; a new format is one file (the .npz example of
docs/CONTRIBUTING.md, run here on real MNIST digits); the shared policies; old spellings refused by name."""

from __future__ import annotations

import ast
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from googlenet.data import dataset_names, dataset_stats, load_dataset, open_cache, small_image_datasets
from googlenet.data.datasets import MissingSplit
from googlenet.data.registry import DatasetSpec, is_small_image_dataset, register_dataset
from googlenet.errors import DataError, UserError

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src" / "googlenet"


@pytest.fixture(scope="module")
def mnist_npz(shared_data, tmp_path_factory) -> Path:
    """Keras's mnist.npz layout, from 160 train and 40 test images of the real MNIST."""
    train = load_dataset("mnist", "train", data_dir=shared_data, val_fraction=0)
    test = load_dataset("mnist", "test", data_dir=shared_data)
    path = tmp_path_factory.mktemp("npz") / "digits.npz"
    np.savez(path, x_train=train.pixels[:160, 0].numpy(), y_train=train.targets[:160].numpy(),
             x_test=test.pixels[:40, 0].numpy(), y_test=test.targets[:40].numpy())
    return path


def test_contributing_shows_the_npz_format_as_shipped():
    doc = (REPO / "docs" / "CONTRIBUTING.md").read_text()
    section = doc.split("## Adding a dataset format", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert block == (SRC / "data" / "formats" / "npz.py").read_text()


def test_a_new_format_is_read_by_path_and_trains_like_the_built_ins(shared_data, mnist_npz, tmp_path):
    from googlenet.training import make_config, train

    idx = load_dataset("mnist", "train", data_dir=shared_data, val_fraction=0)
    stats = dataset_stats(mnist_npz)
    assert stats.channels == 1 and stats.image_size == 28 and stats.classes == tuple(str(d) for d in range(10))
    assert abs(stats.mean[0] - 0.1307) < 0.02  # the histogram's mean is near MNIST's (160 images of it)
    train_part, val_part = load_dataset(mnist_npz, "train"), load_dataset(mnist_npz, "val", val_fraction=0.25)
    assert len(train_part) == 144 and len(val_part) == 40  # the one hold-out rule: 10% and 25% of 160
    image, label = load_dataset(mnist_npz, "test")[0]
    assert label == 7 and image.shape == (1, 28, 28)  # MNIST's first test digit
    assert torch.equal(load_dataset(mnist_npz, "train", val_fraction=0)[5][0], idx[5][0])
    rgb = load_dataset(mnist_npz, "test", channels=3)[0][0]
    assert rgb.shape == (3, 28, 28) and torch.equal(rgb[0], rgb[2])
    summary = train(make_config("fast", dataset=str(mnist_npz), out=str(tmp_path / "run"), epochs=1, batch_size=32,
                                threads=1, model_kwargs={"width": 0.0625}), quiet=True)
    assert summary["global_step"] == 5 and summary["test_images"] == 40  # 160 // 32 steps, the npz's test split

    no_test = tmp_path / "train_only.npz"
    np.savez(no_test, x_train=idx.pixels[:20, 0].numpy(), y_train=idx.targets[:20].numpy())
    with pytest.raises(MissingSplit, match="no x_test / y_test.*split 'val'"):
        load_dataset(no_test, "test")
    bad = tmp_path / "bad.npz"
    np.savez(bad, x_train=np.zeros((4, 8, 8), np.float32), y_train=np.zeros(4, np.int64))
    with pytest.raises(DataError, match="needs x_train .uint8"):
        load_dataset(bad, "train")


def test_the_registry_holds_the_built_ins_and_refuses_clashes():
    names = dataset_names()
    assert {"fashion-mnist", "mnist", "cifar10", "imagenette", "folder", "npz"} <= set(names)
    assert sorted(small_image_datasets()) == ["cifar10", "fashion-mnist", "mnist"]
    assert is_small_image_dataset("cifar-10") and not is_small_image_dataset("imagenette")
    assert not is_small_image_dataset("some/folder/that/is/not/there")
    with pytest.raises(RuntimeError, match="registered twice"):
        register_dataset(DatasetSpec("mnist2", load=None, stats=None, kind="small images", aliases=("mnist",)))
    with pytest.raises(ValueError, match="kind"):
        register_dataset(DatasetSpec("pictures", load=None, stats=None, kind="pictures"))
    with pytest.raises(UserError, match="unknown dataset 'cifar100'; use one of .*npz"):
        load_dataset("cifar100")


def test_no_module_dispatches_on_a_dataset_class():
    kinds = {"ImageDataset", "TensorImageDataset", "EncodedImageDataset", "ArchiveImageDataset"}
    offenders = []
    for path in SRC.rglob("*.py"):
        text = path.read_text()
        if "isinstance" not in text or "Dataset" not in text:
            continue
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "isinstance":
                named = {n.id if isinstance(n, ast.Name) else getattr(n, "attr", "") for n in ast.walk(node.args[1])}
                if named & kinds:
                    offenders.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert offenders == []


def test_fetched_data_and_the_cache_live_in_googlenet_cache(shared_data, tmp_path, monkeypatch):
    monkeypatch.delenv("GOOGLENET_DATA", raising=False)
    monkeypatch.setenv("GOOGLENET_CACHE", str(tmp_path / "cache"))
    shutil.copytree(shared_data / "mnist", tmp_path / "cache" / "mnist")  # where --download puts it
    assert len(load_dataset("mnist", "test")) == 10_000
    with pytest.raises(UserError, match="holds no image files to cache"):
        open_cache(load_dataset("mnist", "test"), 28)


def test_old_spellings_are_refused_with_the_new_name():
    import googlenet.training
    from googlenet.training.config import make_config

    with pytest.raises(UserError, match="channels_last 'auto' is an old spelling; use 'on'"):
        make_config(channels_last="auto")
    with pytest.raises(AttributeError, match="now googlenet.training.validate"):
        googlenet.training.evaluate  # noqa: B018
