"""`googlenet predict` on image files of every mode and size, and `googlenet export` (ONNX checked with
ONNX Runtime against PyTorch)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

import googlenet
from googlenet.evaluation import Ensemble
from googlenet.evaluation.predict import load_image
from googlenet.weights.checkpoint import load_model, save_model

CLASSES = ["zero", "one", "two", "three", "four"]


@pytest.fixture(scope="module")
def rgb_checkpoint(tmp_path_factory):
    """The paper's GoogLeNet (with its aux heads) at a tiny width, with O(1) logits."""
    torch.manual_seed(0)
    kwargs = dict(num_classes=5, in_channels=3, small_input=True, width=0.0625)
    model = googlenet.create_model("googlenet", **kwargs)
    with torch.no_grad():
        model.fc.weight.normal_(0, 1.0)  # xavier on a tiny layer gives near-equal logits; spread them
    path = tmp_path_factory.mktemp("ckpt") / "model.safetensors"
    return save_model(path, model, model_name="googlenet", model_kwargs=kwargs, class_names=CLASSES,
                      preprocessing={"mean": [0.5, 0.4, 0.3], "std": [0.2, 0.25, 0.3], "input_size": 32,
                                     "channels": 3, "dataset": "toy"})


def write_images(folder):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (40, 60, 3), dtype=np.uint8)).save(folder / "rgb.jpg")
    Image.fromarray(rng.integers(0, 255, (33, 33), dtype=np.uint8)).save(folder / "grey.png")
    Image.fromarray(rng.integers(0, 255, (20, 50, 4), dtype=np.uint8), "RGBA").save(folder / "rgba.png")
    Image.fromarray(rng.integers(0, 255, (30, 30, 3), dtype=np.uint8)).convert("P").save(folder / "palette.gif")
    Image.new("CMYK", (48, 36), (10, 200, 30, 5)).save(folder / "cmyk.jpg")
    Image.fromarray((rng.random((50, 40)) * 65535).astype(np.uint16)).save(folder / "deep16.png")
    Image.new("RGB", (1, 1), (255, 0, 0)).save(folder / "tiny.png")
    Image.new("RGB", (3000, 2000), (90, 120, 200)).save(folder / "huge.jpg", quality=50)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")


def test_predict_every_mode_and_size_and_reports_the_broken_file(rgb_checkpoint, run_cli, tmp_path):
    write_images(tmp_path)
    code, out, err = run_cli("predict", tmp_path, "-c", rgb_checkpoint, "--top-k", "3", "--json")
    assert code == 2  # one file could not be read ...
    results = {r["path"].rsplit("/", 1)[-1]: r for r in json.loads(out)}
    assert "broken.png" in results["broken.png"]["error"] and "broken.png" in err
    good = [name for name in results if name != "broken.png"]
    assert len(good) == 8  # ... and every other one ran
    ensemble = Ensemble.load([rgb_checkpoint])
    for name in good:
        top = results[name]["predictions"]
        assert [p["class"] for p in top] == [CLASSES[p["index"]] for p in top]
        probs = [p["probability"] for p in top]
        assert probs == sorted(probs, reverse=True) and len(probs) == 3
    for name in ("rgb.jpg", "deep16.png", "huge.jpg"):  # the probabilities are the model's on that image
        image, _ = load_image(tmp_path / name, 3, max_short_side=37)
        expected = ensemble.predict_proba([image], 1)[0]
        assert results[name]["predictions"][0]["probability"] == pytest.approx(expected.max().item(), abs=1e-6)
    assert results["huge.jpg"]["size"] == [3000, 2000]
    # A table for people, with the same top class.
    code, out, _ = run_cli("predict", tmp_path / "rgb.jpg", "-c", rgb_checkpoint, "-k", "1", "--crops", "10")
    assert code == 0 and "rgb.jpg" in out and "probability" in out


def test_load_image_modes(tmp_path):
    Image.fromarray(np.full((4, 6), 65535, dtype=np.uint16)).save(tmp_path / "white16.png")
    image, size = load_image(tmp_path / "white16.png", 1)
    assert size == (6, 4) and image.shape == (1, 4, 6) and image.dtype == torch.uint8 and int(image.min()) == 255
    Image.new("RGBA", (5, 5), (0, 0, 0, 0)).save(tmp_path / "clear.png")
    assert int(load_image(tmp_path / "clear.png", 3)[0].min()) == 255  # transparency over white
    Image.new("RGB", (3000, 1000)).save(tmp_path / "wide.jpg")
    big, size = load_image(tmp_path / "wide.jpg", 3, max_short_side=64)
    assert size == (3000, 1000) and big.shape == (3, 64, 192)  # shrunk to the largest test scale


def test_predict_empty_folder_and_wrong_checkpoint(rgb_checkpoint, run_cli, tmp_path):
    (tmp_path / "empty").mkdir()
    code, _, err = run_cli("predict", tmp_path / "empty", "-c", rgb_checkpoint)
    assert code == 2 and "no images in folder" in err and "pass a folder holding" in err
    torch.save({"fc.weight": torch.zeros(2, 2)}, tmp_path / "tv.pth")
    code, _, err = run_cli("predict", tmp_path / "empty", "-c", tmp_path / "tv.pth")
    assert code == 2 and "not a readable safetensors model file" in err


def test_onnx_export_matches_pytorch_with_dynamic_batch(rgb_checkpoint, run_cli, tmp_path):
    import onnx
    import onnxruntime as ort

    from googlenet.deploy.export import read_export_metadata

    path = tmp_path / "model.onnx"
    code, out, err = run_cli("export", rgb_checkpoint, "--format", "onnx", "-o", path)
    assert code == 0, err
    proto = onnx.load(str(path))
    assert not [t.name for t in proto.graph.initializer if "aux" in t.name]  # aux heads dropped
    meta = read_export_metadata(path)
    assert meta["class_names"] == CLASSES and meta["preprocessing"]["mean"] == [0.5, 0.4, 0.3]
    reference = load_model(rgb_checkpoint, aux_logits=False).model.eval()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch in (1, 5):  # neither is the batch size it was exported with
        x = torch.randn(batch, 3, 32, 32)
        (got,) = session.run(["logits"], {"images": x.numpy()})
        with torch.no_grad():
            expected = reference(x)
        assert expected.abs().max() > 0.1  # real logits, not a degenerate near-zero output
        np.testing.assert_allclose(got, expected.numpy(), atol=1e-4, rtol=0)


@pytest.mark.parametrize("fmt", ["torchscript", "exported-program"])
def test_torch_exports_match_and_carry_metadata(rgb_checkpoint, tmp_path, fmt):
    from googlenet.deploy.export import export_model, read_export_metadata, run_exported

    result = export_model(rgb_checkpoint, tmp_path / f"m.{fmt}", format=fmt, check=False)
    meta = read_export_metadata(result.path, fmt)
    assert meta["class_names"] == CLASSES and meta["model_kwargs"]["aux_logits"] is False
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        expected = load_model(rgb_checkpoint).model.eval()(x)
    torch.testing.assert_close(run_exported(result.path, x, format=fmt), expected, atol=1e-5, rtol=1e-5)


def test_export_bad_format_exits_2(rgb_checkpoint, run_cli, tmp_path):
    code, _, err = run_cli("export", tmp_path / "missing.safetensors")
    assert code == 2 and "not found" in err
