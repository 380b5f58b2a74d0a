"""Ensembles averaged at the softmax over crops and models, metrics, and `googlenet eval` on real data."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from torch import nn

import googlenet
from googlenet.data import dataset_stats
from googlenet.errors import UserError
from googlenet.evaluation import CropProtocol, Ensemble, Member, Metrics, evaluate
from googlenet.weights.checkpoint import save_model


def small_member(seed: int, crop: int, channels: int = 1, classes: int = 10) -> Member:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Conv2d(channels, 4, 3, stride=2), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
                          nn.Linear(16, classes)).eval()
    return Member(model, f"m{seed}", classes, None, crop, channels, (0.3,) * channels, (0.4,) * channels)


def naive_probs(member: Member, image: torch.Tensor, crops: int) -> torch.Tensor:
    """Softmax of every one of the crops, averaged: the paper's definition, computed the slow way."""
    views = CropProtocol(crops, member.crop_size)(image)
    with torch.no_grad():
        return torch.softmax(member.model(member.prepare(views)), 1).mean(0)


@pytest.mark.parametrize("crops", [1, 10, 144])
def test_ensemble_averages_softmax_over_crops_and_models(crops):
    # Two different architectures-in-spirit: different weights, crop sizes (and so scales) and channels.
    members = [small_member(0, 28), small_member(1, 24), small_member(2, 28, channels=3)]
    images = [torch.rand(1, 28, 28), torch.rand(1, 30, 44), torch.rand(1, 28, 28)]  # mixed sizes
    ensemble = Ensemble(members)
    got = ensemble.member_probabilities(images, crops, crop_batch=50)
    assert got.shape == (3, 3, 10)
    for i, image in enumerate(images):
        for m, member in enumerate(members):
            torch.testing.assert_close(got[m, i], naive_probs(member, image, crops), atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(ensemble.predict_proba(images, crops), got.mean(0))
    assert ensemble.cost(crops) == 3 * crops


def test_the_crops_buffer_is_exact_reused_and_never_writes_the_callers_images():
    from googlenet.evaluation.ensemble import _CropBuffer

    pixels = torch.randint(0, 256, (6, 3, 20, 20), dtype=torch.uint8)
    buffer = _CropBuffer()
    first = buffer.fill([pixels[:4], pixels[4:]])
    assert torch.equal(first, pixels.float() / 255.0)  # bit-identical to the division it replaces
    pointer = first.data_ptr()
    assert buffer.fill([pixels[:3]]).data_ptr() == pointer  # a smaller batch reuses the same memory
    assert buffer.fill([pixels[:6]]).data_ptr() == pointer
    # Float images: the probabilities of the slow way, and the in-place normalization of the buffer leaves
    # the caller's floats as they were.
    member = small_member(0, 20, channels=3)
    floats = pixels.float() / 255.0
    kept = floats.clone()
    got = Ensemble([member]).predict_proba(floats, crop_batch=4)
    assert torch.equal(floats, kept)
    for i in range(len(floats)):
        torch.testing.assert_close(got[i], naive_probs(member, floats[i], 1), atol=1e-6, rtol=1e-5)


def test_ensemble_rejects_models_of_other_classes():
    with pytest.raises(UserError, match="predicts 5 classes.*same classes"):
        Ensemble([small_member(0, 28), small_member(1, 28, classes=5)])


def test_metrics_top1_top5_per_class_confusion():
    probs = torch.tensor([[0.7, 0.1, 0.1, 0.1], [0.1, 0.2, 0.3, 0.4], [0.1, 0.6, 0.2, 0.1], [0.4, 0.3, 0.2, 0.1]])
    targets = torch.tensor([0, 1, 1, 3])
    m = Metrics.from_probabilities(probs, targets, ["a", "b", "c", "d"])
    assert m.top1 == 50.0 and m.top1_error == 50.0
    assert m.top5 == 100.0  # 4 classes: top-5 is top-4
    assert m.confusion == [[1, 0, 0, 0], [0, 1, 0, 1], [0, 0, 0, 0], [1, 0, 0, 0]]
    assert m.per_class[:2] == [100.0, 50.0] and m.per_class[3] == 0.0 and m.per_class[2] != m.per_class[2]
    two = Metrics.from_probabilities(probs[:, :2].contiguous(), torch.tensor([0, 1, 0, 0]))
    assert two.top1 == 75.0
    with pytest.raises(UserError, match="labels run to 3"):
        Metrics.from_probabilities(probs[:, :3].contiguous(), targets)


@pytest.fixture(scope="module")
def fashion_checkpoints(tmp_path_factory):
    """Two tiny GoogLeNets of different builders saved as model files for Fashion-MNIST."""
    folder = tmp_path_factory.mktemp("ckpt")
    stats = dataset_stats("fashion-mnist")
    paths = []
    for seed, name in enumerate(("googlenet", "googlenet_torchvision")):
        torch.manual_seed(seed)
        kwargs = dict(num_classes=10, in_channels=1, small_input=True, width=0.0625)
        model = googlenet.create_model(name, **kwargs)
        paths.append(save_model(folder / f"{name}.safetensors", model, model_name=name, model_kwargs=kwargs,
                                class_names=list(stats.classes), preprocessing=stats.preprocessing(28)))
    return paths


def test_evaluate_on_fashion_mnist_matches_the_ensemble(fashion_checkpoints):
    from googlenet.data import load_dataset

    result = evaluate(fashion_checkpoints, crops=10, limit=6)  # dataset read from the checkpoint
    assert result.dataset == "fashion-mnist" and result.cost == 20 and result.metrics.num_images == 6
    test = load_dataset("fashion-mnist", "test")
    images = torch.stack([test[i][0].as_subclass(torch.Tensor) for i in range(6)])
    expected = Ensemble.load(fashion_checkpoints).predict_proba(images, 10)
    torch.testing.assert_close(result.probabilities.mean(0), expected)
    labels = test.targets[:6]
    assert result.metrics.top1 == pytest.approx((expected.argmax(1) == labels).float().mean().item() * 100)
    assert sum(map(sum, result.metrics.confusion)) == 6


def test_eval_cli_writes_confusion_png_and_json(fashion_checkpoints, run_cli, tmp_path):
    code, out, err = run_cli("eval", *fashion_checkpoints, "--crops", "144", "--limit", "2", "--out", tmp_path,
                             "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["crops"] == 144 and report["cost"] == 288 and report["num_images"] == 2
    assert set(report["per_class_accuracy"]) == set(dataset_stats("fashion-mnist").classes)
    confusion = json.loads((tmp_path / "confusion.json").read_text())
    assert sum(map(sum, confusion["matrix"])) == 2
    assert (tmp_path / "confusion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((tmp_path / "metrics.json").read_text())["top1_error"] == report["top1_error"]


def test_eval_cli_bad_input_exits_2_with_the_fix(fashion_checkpoints, run_cli, tmp_path, shared_data):
    kwargs = dict(num_classes=5, in_channels=1, small_input=True, width=0.0625)
    five = save_model(tmp_path / "five.safetensors", googlenet.create_model("googlenet", **kwargs),
                      model_name="googlenet", model_kwargs=kwargs)
    code, _, err = run_cli("eval", five, "--dataset", "fashion-mnist", "--limit", "2")
    assert code == 2 and "predicts 5 classes but fashion-mnist has 10" in err and "Traceback" not in err
    code, _, err = run_cli("eval", fashion_checkpoints[0], "--dataset", "mnist", "--data-dir", shared_data / "mnist",
                             "--limit", "2")
    assert code == 2 and "pass --dataset of the checkpoint's training data" in err
    code, _, err = run_cli("eval", fashion_checkpoints[0], "--crops", "144", "--scales", "24,32", "--limit", "2")
    assert code == 2 and "smaller than the 28-pixel crop" in err
    code, _, err = run_cli("eval", fashion_checkpoints[0], five)
    assert code == 2 and "ensemble only models trained on the same classes" in err
    (tmp_path / "other.safetensors").write_bytes(b"junk")
    code, _, err = run_cli("eval", tmp_path / "other.safetensors")
    assert code == 2 and "not a readable safetensors model file" in err


def test_a_fashion_mnist_model_is_tested_on_the_whole_image_as_in_training(fashion_checkpoints):
    # The trainer tests a 28x28 model on the whole test image (no resize); `googlenet eval`'s 1 crop must
    # read the same pixels, or its top-1 differs from the one training printed.
    from googlenet.data import load_dataset

    test = load_dataset("fashion-mnist", "test")
    images = torch.stack([test[i][0].as_subclass(torch.Tensor) for i in range(4)])
    ensemble = Ensemble.load(fashion_checkpoints[:1])
    member = ensemble.members[0]
    assert member.preprocessing.resize == 28 and member.default_scales(1) == (28,)
    with torch.no_grad():
        expected = torch.softmax(member.logits(member.prepare(images.float() / 255)), 1)
    torch.testing.assert_close(ensemble.predict_proba(images, 1), expected)
    # 10 crops of a whole 28x28 image: the image and its mirror, each counted 5 times (2 forward passes).
    views = list(ensemble.protocols(10)[0].weighted_views(images))
    assert [w for _, w in views] == [5, 5] and views[1][0].equal(images.flip(-1))
    mirrored = ensemble.predict_proba(images.flip(-1), 1)
    torch.testing.assert_close(ensemble.predict_proba(images, 10), (expected + mirrored) / 2)
    # A file without the recorded scale (written before it was) from a built-in dataset: the same rule.
    member.preprocessing = dataclasses.replace(member.preprocessing, resize=None)
    assert member.default_scales(1) == (28,) and member.default_scales(144) is None


def test_evaluate_takes_its_options_as_one_dataclass(fashion_checkpoints):
    from googlenet.evaluation import EvalOptions

    options = EvalOptions(crops=10, limit=4)
    grouped = evaluate(fashion_checkpoints, None, options)
    spelled = evaluate(fashion_checkpoints, crops=10, limit=4)  # keywords override the dataclass's fields
    assert torch.equal(grouped.probabilities, spelled.probabilities) and grouped.cost == 20
    assert options == EvalOptions(crops=10, limit=4)  # not changed by the call
    with pytest.raises(UserError, match="no option 'crop'"):
        evaluate(fashion_checkpoints, crop=10)
