"""Eval's batched JPEG decode (evaluation/decode.py): the same pixels and labels as the per-file path, image
by image, and the per-file path's one-line errors for what the batched call cannot or must not take."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from googlenet.data import load_dataset
from googlenet.errors import DataError
from googlenet.evaluation.decode import batched_jpegs, decode_batch, jpeg_frame


def _per_file(data, positions):
    images, labels = zip(*(data[i] for i in positions), strict=True)
    return [torch.as_tensor(x) for x in images], list(labels)


def test_imagenette_val_batch_equals_the_per_file_path(shared_data):
    val = load_dataset("imagenette", "val", data_dir=shared_data)
    positions = list(range(0, len(val), len(val) // 40))[:40]  # every class
    assert len(batched_jpegs(val, positions)) == len(positions)  # all of them went the batched way
    images, labels = decode_batch(val, positions)
    expected, expected_labels = _per_file(val, positions)
    assert labels == expected_labels and len(set(labels)) == 10
    for got, want in zip(images, expected, strict=True):
        assert got.dtype == torch.uint8 and torch.equal(got, want.as_subclass(torch.Tensor))


def _jpeg(mode: str, size=(37, 23), **save) -> bytes:
    rng = np.random.default_rng(len(mode) + size[0])
    shape = (size[1], size[0]) + (() if mode == "L" else (len(mode),))
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(buf, "JPEG", quality=85, **save)
    return buf.getvalue()


def _rotated_jpeg() -> bytes:
    img = Image.open(io.BytesIO(_jpeg("RGB", (40, 20))))
    exif = img.getexif()
    exif[0x0112] = 6  # EXIF orientation: rotate 90 degrees clockwise to display
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=85, exif=exif.tobytes())
    return buf.getvalue()


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (9, 7), (10, 200, 30)).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture
def mixed_folder(tmp_path):
    files = {"a-rgb.jpg": _jpeg("RGB"), "b-progressive.jpg": _jpeg("RGB", progressive=True),
             "c-grey.jpg": _jpeg("L"), "d-cmyk.jpg": _jpeg("CMYK"), "e-rotated.jpg": _rotated_jpeg(),
             "f-png.jpg": _png(), "g-subsampled.jpg": _jpeg("RGB", (51, 33), subsampling=0)}
    for k, (name, data) in enumerate(files.items()):
        for split in ("train", "val"):
            folder = tmp_path / split / ("cats" if k % 2 else "dogs")
            folder.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(data)
    return tmp_path


@pytest.mark.parametrize("channels", [3, 1])
def test_every_kind_of_file_gives_the_per_file_pixels(mixed_folder, channels):
    data = load_dataset(str(mixed_folder), "val", channels=channels)
    positions = list(range(len(data)))
    images, labels = decode_batch(data, positions)
    expected, expected_labels = _per_file(data, positions)
    assert labels == expected_labels
    for got, want in zip(images, expected, strict=True):
        assert torch.equal(got, want.as_subclass(torch.Tensor))
    names = [data.names[int(data.indices[i])] for i in positions]
    batched = {names[k] for k in batched_jpegs(data, positions)}
    # CMYK and PNG never take the batched way; neither does an RGB photo read as grey (the luma rounding differs)
    assert not any("cmyk" in n or "png" in n for n in batched)
    want_batched = {"a-rgb", "b-progressive", "c-grey", "e-rotated", "g-subsampled"} if channels == 3 else {"c-grey"}
    assert {n.rsplit("/", 1)[-1].split(".")[0] for n in batched} == want_batched
    rotated = images[[k for k, n in enumerate(names) if "rotated" in n][0]]
    assert tuple(rotated.shape[1:]) == (40, 20)  # EXIF orientation applied: 40x20 stored, shown 20 wide


def test_a_damaged_jpeg_gets_the_per_file_error_and_spares_its_batch(mixed_folder):
    good = mixed_folder / "val" / "dogs" / "a-rgb.jpg"
    damaged = mixed_folder / "val" / "cats" / "z-damaged.jpg"
    damaged.write_bytes(good.read_bytes()[:300])
    data = load_dataset(str(mixed_folder), "val")
    positions = list(range(len(data)))
    bad = [k for k in positions if data.names[int(data.indices[k])].endswith("z-damaged.jpg")][0]
    fast = batched_jpegs(data, positions)
    assert bad not in fast and len(fast) == 5  # the other plain JPEGs still decoded, one by one
    with pytest.raises(DataError) as batched_error:
        decode_batch(data, positions)
    with pytest.raises(DataError) as per_file_error:
        data[bad]
    assert str(batched_error.value) == str(per_file_error.value) and "z-damaged.jpg" in str(batched_error.value)
    skipping = load_dataset(str(mixed_folder), "val", skip_bad_images=True)
    assert len(decode_batch(skipping, list(range(len(skipping))))[0]) == len(positions) - 1


def test_frame_header_reader():
    assert jpeg_frame(_jpeg("RGB", (37, 23))) == (8, 37, 23, 3)
    assert jpeg_frame(_jpeg("L", (5, 6), progressive=True)) == (8, 5, 6, 1)
    assert jpeg_frame(_png()) is None and jpeg_frame(b"\xff\xd8\xff") is None and jpeg_frame(b"") is None
    assert jpeg_frame(b"\xff\xd8\xff\xda\x00\x08" + b"\x00" * 20) is None  # a scan before any frame


@pytest.mark.parametrize("crops", [1, 10])
def test_dataset_pass_equals_the_ensemble_on_the_per_file_images(mixed_folder, crops):
    """The eval pass (batched decode; with one crop, the crop cut in the decode thread) gives the probabilities
    the ensemble gives on the per-file images of mixed sizes, image by image."""
    from torch import nn

    from googlenet.evaluation import Ensemble, Member
    from googlenet.evaluation.runner import dataset_probabilities

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
                          nn.Linear(16, 2)).eval()
    ensemble = Ensemble([Member(model, "m", 2, None, 20, 3, (0.4,) * 3, (0.25,) * 3)])
    data = load_dataset(str(mixed_folder), "val")
    probs, labels = dataset_probabilities(ensemble, data, crops, batch_size=3)
    images, expected_labels = _per_file(data, range(len(data)))
    expected = ensemble.member_probabilities([x.as_subclass(torch.Tensor) for x in images], crops)
    assert labels.tolist() == expected_labels
    assert len({tuple(x.shape) for x in images}) > 2  # the sizes differ, so each is resized on its own
    torch.testing.assert_close(probs, expected, atol=1e-6, rtol=1e-5)
