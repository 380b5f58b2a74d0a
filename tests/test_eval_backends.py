"""Eval backends (torch fused, ONNX Runtime fp32, int8), .onnx files as models, and the eval/predict defects of
issue 13: memory kept within --crop-batch, progress, the crop-size warning, bad inputs that no longer abort."""

from __future__ import annotations

import json
import os

import pytest
import torch
from PIL import Image

import googlenet
from googlenet.bench.inputs import settle_batch_norm
from googlenet.deploy.backends import build_backend
from googlenet.evaluation import Ensemble, evaluate
from googlenet.evaluation.ensemble import crops_per_pass
from googlenet.weights.checkpoint import load_model, save_model

CLASSES = ["ant", "bee", "cat"]
KWARGS = dict(num_classes=3, small_input=True, width=0.25, batch_norm=True, lrn=False, aux_logits=False)
PRE = {"input_size": 32, "resize": 36, "mean": [0.5, 0.45, 0.4], "std": [0.25, 0.24, 0.26], "channels": 3,
       "dataset": "toy"}


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    return small_model(tmp_path_factory.mktemp("model"))


def small_model(folder):
    """GoogLeNet with batch norm, width 1/4, at 32 px; settled BN and spread logits, so backends have work."""
    torch.manual_seed(0)
    model = googlenet.create_model("googlenet", **KWARGS)
    settle_batch_norm(model, torch.rand(32, 3, 32, 32) * 2 - 1)
    with torch.no_grad():
        model.fc.weight.normal_(0, 0.02)
    return save_model(folder / "model.safetensors", model, model_name="googlenet", model_kwargs=KWARGS,
                      class_names=CLASSES, preprocessing=PRE)


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory, class_folders):
    """A class-folder dataset (train and test splits): 3 classes x 4 images of 40 x 48 each."""
    return class_folders(tmp_path_factory.mktemp("data"), CLASSES)


def eval_cli(run_cli, model, data, *args):
    return run_cli("eval", model, "--dataset", data, "--split", "test", *args)


@pytest.mark.parametrize("kind", ["torch", "ort"])
def test_fp32_backends_agree_with_the_model_within_1e4(model_file, kind):
    loaded = load_model(model_file)
    x = (torch.rand(5, 3, 32, 32) - 0.5) / 0.25  # batch 5: the ONNX graph's batch is dynamic (exported at 2)
    with torch.no_grad():
        expected = loaded.model(x)
    backend = build_backend(kind, loaded.model, crop_size=32, channels=3)
    got = backend(x)
    assert got.shape == expected.shape and got.dtype == torch.float32
    assert 1 < float(expected.abs().max()) < 50  # logits of a realistic scale
    assert float((got - expected).abs().max()) < 1e-4
    # Through the ensemble (crops, normalization, softmax averaging): the same probabilities.
    images = torch.rand(3, 3, 40, 48)
    eager = Ensemble.load([model_file])
    other = Ensemble.load([model_file])
    assert other.use_backend(kind) == [kind]
    torch.testing.assert_close(other.predict_proba(images, 10), eager.predict_proba(images, 10), atol=1e-4, rtol=0)


def test_auto_is_decided_when_built_and_bad_backends_are_one_line(model_file, run_cli, dataset_dir):
    assert Ensemble.load([model_file]).use_backend("auto") == ["auto"]  # measured when built (test_backend_registry)
    assert Ensemble.load([model_file]).use_backend("auto", device="meta") == ["torch"]  # the others run on the CPU
    code, out, err = eval_cli(run_cli, model_file, dataset_dir, "--backend", "tensorrt")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "unknown --backend 'tensorrt'" in err and "ort, ort-fused, int8, openvino" in err


@pytest.mark.slow
def test_int8_states_its_accuracy_change_against_fp32(model_file, dataset_dir, run_cli):
    result = evaluate([model_file], str(dataset_dir), split="test", backend="int8")
    assert result.backends == ["int8"] and result.reference["backend"] == "ort"
    fp32 = evaluate([model_file], str(dataset_dir), split="test")  # the model itself: the same top-1 as ort
    assert result.reference["top1"] == pytest.approx(fp32.metrics.top1)
    assert result.top1_change == pytest.approx(result.metrics.top1 - fp32.metrics.top1)
    assert result.as_dict()["top1_change_vs_fp32"] == pytest.approx(result.top1_change, abs=1e-4)
    code, out, _ = eval_cli(run_cli, model_file, dataset_dir, "--backend", "int8")
    assert code == 0 and "int8 changes top-1 by" in out and "fp32 on ort" in out


@pytest.mark.slow
def test_an_onnx_export_evaluates_and_predicts_like_its_model_file(model_file, dataset_dir, run_cli, tmp_path):
    from googlenet.deploy.export import export_model

    onnx_path = export_model(model_file, tmp_path / "model.onnx").path
    source = evaluate([model_file], str(dataset_dir), split="test", crops=10)
    exported = evaluate([str(onnx_path)], str(dataset_dir), split="test", crops=10)
    assert exported.backends == ["ort"]
    assert exported.metrics.top1 == source.metrics.top1
    torch.testing.assert_close(exported.probabilities, source.probabilities, atol=1e-4, rtol=0)
    image = next((dataset_dir / "test" / "bee").iterdir())
    code, out, _ = run_cli("predict", image, "-c", onnx_path, "--json", "-k", "3")
    code_src, out_src, _ = run_cli("predict", image, "-c", model_file, "--json", "-k", "3")
    assert code == code_src == 0
    got, want = json.loads(out)[0]["predictions"], json.loads(out_src)[0]["predictions"]
    assert [p["class"] for p in got] == [p["class"] for p in want]
    code, _, err = eval_cli(run_cli, onnx_path, dataset_dir, "--backend", "torch")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "--backend ort" in err


def test_a_large_crop_stays_within_the_crop_batch_bound_with_a_warning(tmp_path, dataset_dir, run_cli):
    """Issue 13: 144 crops at --crop-size 1000 of a 64-px model ran 63 crops per pass (13.5 GB). A pass now
    holds at most the pixels of --crop-batch 224-px crops."""
    kwargs = dict(num_classes=3, width=0.125, aux_logits=False)
    model = googlenet.create_model("googlenet", **kwargs)
    path = save_model(tmp_path / "m64.safetensors", model, model_name="googlenet", model_kwargs=kwargs,
                      class_names=CLASSES, preprocessing={**PRE, "input_size": 64, "resize": 73})
    ensemble = Ensemble.load([path], crop_size=320)
    seen = []
    ensemble.members[0].model.register_forward_pre_hook(lambda module, args: seen.append(args[0].shape[0]))
    calls = []
    images = torch.rand(2, 3, 40, 48)
    probs = ensemble.member_probabilities(images, 10, crop_batch=8, progress=calls.append)
    assert crops_per_pass(8, 320) == 3  # 8 * 224^2 // 320^2
    assert seen and max(seen) <= 3 and sum(seen) == 20
    assert sum(calls) == 2 * 10 and len(calls) > 1  # progress after every pass, not once per batch
    assert torch.allclose(probs.sum(-1), torch.ones(1, 2))
    code, _, err = eval_cli(run_cli, path, dataset_dir, "--crop-size", "320", "--crop-batch", "8", "--limit", "1",
                            "--backend", "torch")
    warnings = [line for line in err.splitlines() if "warning" in line]
    assert code == 0 and len(warnings) == 1
    assert "m64.safetensors" in warnings[0] and "320 px is 5x the 64 px it was trained at" in warnings[0]
    code, _, err = eval_cli(run_cli, path, dataset_dir, "--crop-size", "100", "--limit", "1")
    assert code == 0 and "warning" not in err  # within 2x: no warning


def test_eval_progress_bar_counts_crops_only_on_a_terminal(model_file, dataset_dir, run_cli, monkeypatch):
    import sys

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    code, _, err = eval_cli(run_cli, model_file, dataset_dir, "--crops", "10", "--limit", "2")
    assert code == 0 and "12 images x 10 crops" not in err and "2 images x 10 crops" in err and "crop" in err
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    code, _, err = eval_cli(run_cli, model_file, dataset_dir, "--crops", "10", "--limit", "2")
    assert code == 0 and "images x" not in err


def test_predict_reports_each_bad_input_and_runs_the_rest(model_file, dataset_dir, run_cli, tmp_path):
    good = next((dataset_dir / "test" / "ant").iterdir())
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "one.png").write_bytes(b"not a png")
    empty = tmp_path / "empty"
    empty.mkdir()
    os.mkfifo(tmp_path / "pipe.jpg")
    code, out, err = run_cli("predict", bad / "x.jpg", bad / "one.png", empty, tmp_path / "pipe.jpg", good,
                             "-c", model_file, "-k", "1", "--json")
    assert code == 2
    results = json.loads(out)
    assert [r["path"] for r in results] == [str(bad / "x.jpg"), str(bad / "one.png"), str(empty),
                                            str(tmp_path / "pipe.jpg"), str(good)]
    assert all("error" in r for r in results[:4]) and results[4]["predictions"][0]["class"] in CLASSES
    errors = [line for line in err.splitlines() if line.startswith("googlenet: error:")]
    assert len(errors) == 4 and "x.jpg" in errors[0] and "one.png" in errors[1] and "no images in folder" in errors[2]
    assert "not a regular file" in errors[3] and "4 of 5 inputs could not be read" in err


def test_predict_reports_symlink_loops_in_a_folder(model_file, dataset_dir, run_cli, tmp_path):
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    Image.open(next((dataset_dir / "test" / "cat").iterdir())).save(folder / "sub" / "cat.png")
    os.symlink("..", folder / "sub" / "up")  # a folder loop
    os.symlink("self.jpg", folder / "self.jpg")  # a link to itself
    code, out, err = run_cli("predict", folder, "-c", model_file, "-k", "1")
    notes = [line for line in err.splitlines() if "symbolic link loop" in line]
    assert code == 0 and "cat.png" in out
    assert len(notes) == 2 and any("up" in n and "-> .." in n for n in notes) and any("self.jpg" in n for n in notes)


def test_a_very_large_image_is_one_line_naming_it(model_file, run_cli, tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 2000)  # 60 x 40 = 2400 pixels: a warning, not an error
    Image.new("RGB", (60, 40), (200, 10, 10)).save(tmp_path / "wide.png")
    code, out, err = run_cli("predict", tmp_path / "wide.png", "-c", model_file, "-k", "1")
    notes = [line for line in err.splitlines() if line.strip() and "--backend auto picked" not in line]
    assert code == 0 and "wide.png" in out
    assert len(notes) == 1 and notes[0].startswith("googlenet: note: ")
    assert "wide.png is very large (60 x 40" in notes[0]


def test_explain_skips_and_reports_an_unreadable_image(model_file, dataset_dir, run_cli, tmp_path):
    good = next((dataset_dir / "test" / "bee").iterdir())
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    code, out, err = run_cli("explain", tmp_path / "broken.jpg", good, tmp_path / "gone.png", "-c", model_file,
                             "-k", "1", "--out", tmp_path / "maps")
    errors = [line for line in err.splitlines() if line.startswith("googlenet: error:")]
    assert code == 2 and len(errors) == 2 and "broken.jpg" in errors[0] and "gone.png" in errors[1]
    assert str(good) in out and list((tmp_path / "maps").glob("*.png"))
    assert "2 of 3 inputs could not be read" in err


def test_uint8_photos_are_resized_as_uint8_and_agree_with_float(model_file, monkeypatch):
    """uint8 images are resized and cut before the float conversion (the 1-crop path's cost: torchvision's
    uint8 resize is ~5x faster), and the probabilities stay those of the float path within rounding."""
    from googlenet.evaluation import crops as crops_module

    seen = []
    resize = crops_module.TF.resize

    def recording_resize(image, *args, **kwargs):
        seen.append(image.dtype)
        return resize(image, *args, **kwargs)

    torch.manual_seed(0)
    # Smooth images, as photos are (pixel noise would make the two resizes' roundings dominate).
    coarse = torch.rand(4, 3, 6, 8) * 255
    images = torch.nn.functional.interpolate(coarse, size=(48, 60), mode="bilinear").round().to(torch.uint8)
    ensemble = Ensemble.load([model_file])
    monkeypatch.setattr(crops_module.TF, "resize", recording_resize)
    for crops in (1, 10, 144):
        seen.clear()
        from_uint8 = ensemble.predict_proba(images, crops)
        assert seen and set(seen) == {torch.uint8}, crops
        seen.clear()
        from_float = ensemble.predict_proba(images.float() / 255, crops)
        assert set(seen) == {torch.float32}
        torch.testing.assert_close(from_uint8, from_float, atol=1e-2, rtol=0)  # measured: at most 0.006
