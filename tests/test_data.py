"""googlenet.data: real datasets from shared/data and Debian's Fashion-MNIST, image modes, bad files."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from googlenet.data import (
    dataset_stats,
    decode_image,
    eval_transform,
    load_dataset,
    train_transform,
)
from googlenet.errors import DataError, UserError

FASHION = Path("/usr/share/datasets/fashion-mnist")


def test_mnist_from_idx_has_the_official_split_and_class_counts(shared_data):
    test = load_dataset("mnist", "test", data_dir=shared_data / "mnist")
    assert len(test) == 10_000 and test.classes == [str(d) for d in range(10)]
    counts = torch.bincount(test.targets, minlength=10).tolist()
    assert counts == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]  # shared/data/README.md
    image, label = test[0]
    assert image.dtype == torch.uint8 and image.shape == (1, 28, 28) and label == 7  # MNIST's first test digit
    rgb = load_dataset("mnist", "test", data_dir=shared_data, channels=3)[0][0]
    assert rgb.shape == (3, 28, 28) and torch.equal(rgb[0], rgb[2])


def test_fashion_mnist_found_in_debian_location_and_val_is_a_fixed_disjoint_holdout(monkeypatch):
    monkeypatch.delenv("GOOGLENET_DATA", raising=False)
    train = load_dataset("fashion-mnist", "train")
    val = load_dataset("fashion-mnist", "val")
    assert len(train) == 54_000 and len(val) == 6_000
    assert not set(train.indices.tolist()) & set(val.indices.tolist())
    assert torch.equal(val.indices, load_dataset("fashion-mnist", "val").indices)  # same seed, same split
    assert not torch.equal(val.indices, load_dataset("fashion-mnist", "val", split_seed=1).indices)
    assert len(load_dataset("fashion-mnist", "train", val_fraction=0)) == 60_000
    assert train.classes[9] == "Ankle boot" == dataset_stats("fashion-mnist").classes[9]


def test_cifar10_read_straight_from_the_tarball(shared_data):
    test = load_dataset("cifar10", "test", data_dir=shared_data)
    assert len(test) == 10_000
    assert torch.bincount(test.targets).tolist() == [1000] * 10
    image, label = test[0]
    assert image.shape == (3, 32, 32) and image.dtype == torch.uint8 and test.classes[label] == "airplane"
    grey = load_dataset("cifar10", "test", data_dir=shared_data, channels=1)[0][0]
    assert grey.shape == (1, 32, 32)


def _save(img: Image.Image, path: Path, **kw) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, **kw)


def test_every_image_mode_is_converted(tmp_path):
    rgba = Image.new("RGBA", (8, 8), (255, 0, 0, 255))
    rgba.putpixel((0, 0), (0, 0, 0, 0))  # fully transparent -> white background
    palette = Image.new("P", (8, 8), 1)
    palette.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)
    grey16 = Image.fromarray(np.full((8, 8), 65535, dtype=np.uint16))
    images = {
        "grey.png": Image.new("L", (8, 8), 128), "la.png": Image.new("LA", (8, 8), (50, 255)),
        "rgba.png": rgba, "palette.png": palette, "cmyk.jpg": Image.new("CMYK", (8, 8), (0, 255, 255, 0)),
        "bits.png": Image.new("1", (8, 8), 1), "grey16.png": grey16, "rgb.jpg": Image.new("RGB", (8, 8), "blue"),
    }
    for name, img in images.items():
        _save(img, tmp_path / "train" / "a" / name)
    _save(Image.new("RGB", (10, 6)), tmp_path / "train" / "b" / "x.png")
    ds = load_dataset(tmp_path, "train", val_fraction=0)
    assert ds.classes == ["a", "b"] and len(ds) == 9
    for i in range(len(ds)):
        assert ds[i][0].dtype == torch.uint8 and ds[i][0].shape[0] == 3
    by_name = {Path(n).name: decode_image(Path(n), 3) for n in ds.names}
    assert by_name["rgba.png"].getpixel((0, 0)) == (255, 255, 255)
    assert by_name["rgba.png"].getpixel((1, 1)) == (255, 0, 0)
    assert by_name["palette.png"].getpixel((0, 0)) == (0, 255, 0)
    assert by_name["grey16.png"].getpixel((0, 0)) == (255, 255, 255)  # 16-bit white stays white
    assert by_name["cmyk.jpg"].getpixel((0, 0))[0] > 200  # CMYK (0, 255, 255, 0) is red
    assert decode_image(tmp_path / "train" / "a" / "grey16.png", 1).mode == "L"


def test_corrupt_image_is_named_or_skipped_and_counted(tmp_path):
    _save(Image.new("RGB", (8, 8), "red"), tmp_path / "train" / "cat" / "good.png")
    _save(Image.new("RGB", (8, 8), "red"), tmp_path / "train" / "dog" / "good.png")
    bad = tmp_path / "train" / "dog" / "broken.jpg"
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), "red").save(buf, format="JPEG")
    bad.write_bytes(buf.getvalue()[:40])  # truncated JPEG
    ds = load_dataset(tmp_path, "train", val_fraction=0)
    with pytest.raises(DataError, match=r"broken\.jpg.*--skip-bad-images"):
        [ds[i] for i in range(len(ds))]
    ok = load_dataset(tmp_path, "train", val_fraction=0, skip_bad_images=True)
    assert len(ok) == 2 and len(ok.skipped) == 1 and ok.skipped[0][0].endswith("broken.jpg")


def test_bad_dataset_requests_name_the_fix(tmp_path, monkeypatch):
    monkeypatch.delenv("GOOGLENET_DATA", raising=False)
    with pytest.raises(UserError, match="unknown dataset 'imagenett'.*folder"):
        load_dataset("imagenett", "train")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no class folders.*one sub-folder per class"):
        load_dataset(tmp_path / "empty", "train")
    (tmp_path / "noimg" / "train" / "a").mkdir(parents=True)
    with pytest.raises(DataError, match="no images in"):
        load_dataset(tmp_path / "noimg", "train")
    with pytest.raises(DataError, match="mnist not found.*--data-dir"):
        load_dataset("mnist", "train", data_dir=tmp_path / "nowhere")
    with pytest.raises(UserError, match="unknown split"):
        load_dataset("mnist", "dev")
    with pytest.raises(DataError, match="no test/ folder"):
        _save(Image.new("L", (4, 4)), tmp_path / "f" / "train" / "a" / "x.png")
        load_dataset(tmp_path / "f", "test")
    truncated = tmp_path / "trunc"
    truncated.mkdir()
    src = FASHION / "t10k-labels-idx1-ubyte.gz"
    import gzip
    (truncated / "train-images-idx3-ubyte").write_bytes(gzip.open(FASHION / "t10k-images-idx3-ubyte.gz").read()[:5000])
    (truncated / "train-labels-idx1-ubyte").write_bytes(gzip.open(src).read())
    with pytest.raises(DataError, match="truncated or damaged"):
        load_dataset("fashion-mnist", "train", data_dir=truncated)


def test_transforms_crop_flip_and_normalize_with_dataset_statistics(shared_data):
    stats = dataset_stats("mnist")
    ds = load_dataset("mnist", "test", data_dir=shared_data)
    ev = eval_transform(input_size=28, mean=stats.mean, std=stats.std, native_size=28)
    x = ev(ds[0][0])
    expected = (ds[0][0].float() / 255 - stats.mean[0]) / stats.std[0]
    assert torch.allclose(x, expected, atol=1e-6)
    torch.manual_seed(0)
    small = train_transform("small", input_size=28, mean=stats.mean, std=stats.std, pad=4)
    outs = torch.stack([small(ds[0][0]) for _ in range(8)])
    assert outs.shape == (8, 1, 28, 28) and not all(torch.equal(outs[0], o) for o in outs[1:])
    paper = train_transform("paper", input_size=24, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), channels=3)
    rgb = load_dataset("mnist", "test", data_dir=shared_data, channels=3)[0][0]
    assert paper(rgb).shape == (3, 24, 24) and paper(rgb).dtype == torch.float32
    with pytest.raises(UserError, match="unknown augmentation"):
        train_transform("autoaugment", input_size=28, mean=[0], std=[1])
