"""The typed preprocessing record (PretrainedCfg) and data.create_transform: the transform gives exactly the
tensor ``googlenet predict`` feeds the network, for photos of several sizes and modes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

import googlenet
from googlenet.data import PretrainedCfg, create_transform
from googlenet.errors import DataError, UserError
from googlenet.evaluation import Ensemble
from googlenet.evaluation.ensemble import Member
from googlenet.evaluation.predict import load_image, predict_files
from googlenet.weights.checkpoint import load_model, read_model_metadata, save_model

torch.set_num_threads(1)
KWARGS = {"num_classes": 3, "small_input": True, "width": 0.25}
RGB_CFG = PretrainedCfg(input_size=32, resize=40, channels=3, mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3),
                        dataset="photos", source="test")
CAFFE_CFG = PretrainedCfg(input_size=32, resize=36, channels=3, mean=(104.0, 117.0, 123.0), std=(1.0, 1.0, 1.0),
                          channel_order="BGR", scale=255.0, interpolation="bicubic")
GREY_CFG = PretrainedCfg(input_size=28, resize=32, channels=1, mean=(0.3,), std=(0.35,))


def _photos(folder) -> list:
    """Photos as people have them: large and small, landscape and portrait, RGB, grey, RGBA, CMYK, palette."""
    rng = np.random.RandomState(0)

    def pixels(h, w):  # smooth content, so that resizing and JPEG behave as on photos
        y, x = np.mgrid[0:h, 0:w]
        base = np.stack([np.sin(x / 7.0), np.cos(y / 5.0), np.sin((x + y) / 11.0)], -1)
        return ((base + 1) * 110 + rng.randint(0, 30, (h, w, 3))).clip(0, 255).astype(np.uint8)

    files = []
    rgb = Image.fromarray(pixels(300, 400))
    rgb.save(folder / "large.jpg", quality=90)  # shorter side over twice the test scale: JPEG draft decoding
    files.append(folder / "large.jpg")
    Image.fromarray(pixels(90, 50)).save(folder / "portrait.png")
    files.append(folder / "portrait.png")
    Image.fromarray(pixels(20, 30)).convert("L").save(folder / "small-grey.png")  # smaller than the crop
    files.append(folder / "small-grey.png")
    rgba = Image.fromarray(pixels(64, 48)).convert("RGBA")
    rgba.putalpha(Image.fromarray((np.arange(64 * 48).reshape(64, 48) % 256).astype(np.uint8)))
    rgba.save(folder / "alpha.png")
    files.append(folder / "alpha.png")
    Image.fromarray(pixels(70, 70)).convert("CMYK").save(folder / "cmyk.jpg")
    files.append(folder / "cmyk.jpg")
    palette = Image.fromarray(pixels(45, 60)).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    palette.info["transparency"] = 3
    palette.save(folder / "palette.png", transparency=3)
    files.append(folder / "palette.png")
    return files


def _model_file(tmp_path, cfg: PretrainedCfg, name: str = "resnet18"):
    torch.manual_seed(0)
    kwargs = {**KWARGS, "in_channels": cfg.channels}
    model = googlenet.create_model(name, **kwargs).eval()
    return save_model(tmp_path / f"{name}-{cfg.channels}-{cfg.channel_order}.safetensors", model, model_name=name,
                      model_kwargs=kwargs, class_names=["a", "b", "c"], preprocessing=cfg)


def _predict_inputs(monkeypatch, path, files) -> dict[str, torch.Tensor]:
    """What predict_files feeds the network for each file (one crop, the default)."""
    seen = []
    original = Member.logits

    def logits(self, x):
        seen.append(x.clone())
        return original(self, x)

    monkeypatch.setattr(Member, "logits", logits)
    results = predict_files(Ensemble.load([path]), files, top_k=1)
    assert all(r.error is None for r in results) and len(seen) == len(files)
    return {r.path: x[0] for r, x in zip(results, seen, strict=True)}


@pytest.mark.parametrize("cfg", [RGB_CFG, CAFFE_CFG, GREY_CFG], ids=["rgb", "caffe-bgr-bicubic", "grey"])
def test_create_transform_gives_exactly_what_predict_feeds_the_network(tmp_path, monkeypatch, cfg):
    files = _photos(tmp_path)
    path = _model_file(tmp_path, cfg)
    fed = _predict_inputs(monkeypatch, path, files)
    loaded = load_model(path)
    transforms = [create_transform(path), create_transform(loaded.model), create_transform(loaded),
                  create_transform(loaded.model.pretrained_cfg)]
    for file in files:
        expected = fed[str(file)]
        assert expected.shape == (cfg.channels, cfg.input_size, cfg.input_size)
        for transform in transforms:
            assert torch.equal(transform(file), expected), (file.name, transform)
            assert torch.equal(transform(str(file)), expected)
        pixels, _ = load_image(file, cfg.channels, max_short_side=cfg.resize)
        assert torch.equal(transforms[0](pixels), expected), "a uint8 tensor as predict decodes it"
        if file.suffix == ".png":  # a PIL image in any mode (JPEGs: predict decodes big ones at reduced scale)
            with Image.open(file) as img:
                assert torch.equal(transforms[0](img), expected), file.name


def test_the_record_is_written_into_every_model_file_and_read_back(tmp_path):
    path = _model_file(tmp_path, CAFFE_CFG)
    raw = read_model_metadata(path)["preprocessing"]
    assert isinstance(raw, PretrainedCfg) and raw == CAFFE_CFG
    loaded = load_model(path)
    assert loaded.preprocessing == CAFFE_CFG and loaded.model.pretrained_cfg == CAFFE_CFG
    assert CAFFE_CFG.crop_pct == pytest.approx(32 / 36)
    assert PretrainedCfg.from_dict(CAFFE_CFG.as_dict()) == CAFFE_CFG
    # An old file's dict (no interpolation, an unknown key) reads as a record with the defaults.
    old = {"mean": [0.5], "std": [0.25], "input_size": 28, "channels": 1, "dataset": "fashion-mnist", "extra": 1}
    cfg = PretrainedCfg.from_dict(old)
    assert (cfg.interpolation, cfg.channel_order, cfg.scale, cfg.resize) == ("bilinear", "RGB", 1.0, None)
    assert cfg.test_resize() == 28  # a fixed-size dataset is tested whole
    assert PretrainedCfg(input_size=224).test_resize() == 256
    model = googlenet.create_model("lenet5_modern").eval()
    file = save_model(tmp_path / "old.safetensors", model, model_name="lenet5_modern",
                      model_kwargs={"num_classes": 10, "in_channels": 1}, preprocessing=old)
    assert json.loads(_raw_metadata(file)["preprocessing"])["input_size"] == 28
    assert load_model(file).preprocessing.std == (0.25,)


def _raw_metadata(path):
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return f.metadata()


def test_bad_records_and_sources_are_one_line(tmp_path):
    for bad, field in (({"std": [0.0]}, "std"), ({"interpolation": "lanczos9"}, "interpolation"),
                       ({"input_size": 10**6}, "input_size"), ({"channel_order": "GBR"}, "channel_order")):
        with pytest.raises(DataError, match=field):
            PretrainedCfg.from_dict(bad)
    with pytest.raises(UserError, match="no preprocessing record"):
        create_transform(googlenet.create_model("resnet18", **KWARGS))
    with pytest.raises(DataError, match="not found"):
        create_transform(tmp_path / "missing.safetensors")
    with pytest.raises(UserError, match="takes a path, a PIL image or a tensor"):
        create_transform(RGB_CFG)(np.zeros((3, 8, 8)))


def test_training_transform_crops_and_flips_at_the_input_size(tmp_path):
    files = _photos(tmp_path)
    transform = create_transform(RGB_CFG, training=True)
    torch.manual_seed(0)
    outs = [transform(f) for f in files]
    assert all(o.shape == (3, 32, 32) and o.dtype == torch.float32 for o in outs)
    assert not torch.equal(transform(files[0]), transform(files[0])), "random crops"
    assert "RandomResizedCrop(32)" in repr(transform) and "Resize(40" in repr(create_transform(RGB_CFG))
