"""GoogLeNet as the paper (Table 1, section 5) and as torchvision ships it."""

from __future__ import annotations

import pytest
import torch
import torchvision

import googlenet
from googlenet.models.googlenet import TABLE_1
from googlenet.models.outputs import GoogLeNetOutputs
from googlenet.weights.torchvision import load_torchvision_weights


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_paper_parameter_counts_match_bvlc_caffe():
    assert n_params(googlenet.create_model("googlenet", aux_logits=False)) == 6_998_552
    assert n_params(googlenet.create_model("googlenet")) == 13_378_280


def test_torchvision_compatible_parameter_count():
    assert n_params(googlenet.create_model("googlenet_torchvision", aux_logits=False)) == 6_624_904


def test_paper_model_has_real_5x5_branches_lrn_and_no_batch_norm():
    model = googlenet.create_model("googlenet")
    assert model.inception3a.branch3[1].conv.kernel_size == (5, 5)
    assert model.inception3a.branch3[1].conv.padding == (2, 2)
    assert isinstance(model.lrn1, torch.nn.LocalResponseNorm) and isinstance(model.lrn2, torch.nn.LocalResponseNorm)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    assert model.dropout.p == 0.4 and model.aux1.dropout.p == 0.7
    # Branch widths come from Table 1's rows, in order.
    for row in (r for r in TABLE_1 if not isinstance(r, str)):
        module = getattr(model, f"inception{row.name}")
        assert module.branch1.conv.out_channels == row.n1x1
        assert module.branch2[0].conv.out_channels == row.n3x3_reduce
        assert module.branch3[1].conv.out_channels == row.n5x5
        assert module.branch4[1].conv.out_channels == row.pool_proj


@pytest.mark.parametrize("aux", [False, True])
def test_torchvision_state_dict_loads_with_equal_outputs(aux):
    torch.manual_seed(0)
    reference = torchvision.models.googlenet(weights=None, aux_logits=aux, init_weights=True).eval()
    ours = googlenet.create_model("googlenet_torchvision", aux_logits=aux).eval()
    ours.load_state_dict(reference.state_dict())  # strict: same keys and shapes
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), reference(x), atol=1e-5, rtol=0)
    if aux:  # training mode: all three heads agree (same dropout draws under the same seed)
        ours.train(), reference.train()
        torch.manual_seed(1)
        expected = reference(x)
        torch.manual_seed(1)
        got = ours(x)
        torch.testing.assert_close(got.main, expected.logits, atol=1e-5, rtol=0)
        torch.testing.assert_close(got.aux1, expected.aux_logits1, atol=1e-5, rtol=0)
        torch.testing.assert_close(got.aux2, expected.aux_logits2, atol=1e-5, rtol=0)


def test_load_torchvision_weights_file(tmp_path):
    reference = torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=True).eval()
    path = tmp_path / "googlenet.pth"
    torch.save(reference.state_dict(), path)
    ours = load_torchvision_weights(googlenet.create_model("googlenet_torchvision").eval(), path)
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), reference(x), atol=1e-5, rtol=0)
    with pytest.raises(googlenet.DataError, match="not found"):
        load_torchvision_weights(ours, tmp_path / "missing.pth")
    (tmp_path / "bad.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(googlenet.DataError, match="neither a PyTorch"):
        load_torchvision_weights(ours, tmp_path / "bad.pth")
    with pytest.raises(googlenet.DataError, match="does not fit"):
        load_torchvision_weights(googlenet.create_model("googlenet"), path)  # paper model: other keys


@pytest.mark.parametrize(
    ("kwargs", "shape"),
    [
        ({}, (2, 3, 224, 224)),
        ({"small_input": True, "in_channels": 1, "num_classes": 10}, (2, 1, 28, 28)),
        ({"small_input": True, "num_classes": 10}, (2, 3, 32, 32)),
        ({"width": 0.5}, (2, 3, 224, 224)),
        ({"width": 0.25, "small_input": True, "in_channels": 1, "num_classes": 10}, (2, 1, 28, 28)),
        ({}, (2, 3, 96, 96)),
    ],
)
@pytest.mark.parametrize("name", ["googlenet", "googlenet_torchvision"])
def test_shapes_and_aux_behaviour(name, kwargs, shape):
    model = googlenet.create_model(name, **kwargs)
    x = torch.randn(shape)
    n = kwargs.get("num_classes", 1000)
    model.train()
    out = model(x)
    assert isinstance(out, GoogLeNetOutputs)
    assert out.main.shape == out.aux1.shape == out.aux2.shape == (2, n)
    model.eval()
    with torch.no_grad():
        assert model(x).shape == (2, n)


def test_width_scales_every_channel():
    model = googlenet.create_model("googlenet", width=0.5, aux_logits=False)
    assert model.conv1.conv.out_channels == 32
    assert model.inception5b.branch1.conv.out_channels == 192
    assert model.fc.in_features == 512


def test_without_aux_heads_training_returns_plain_logits():
    model = googlenet.create_model("googlenet", aux_logits=False).train()
    assert model.aux1 is None
    assert model(torch.randn(2, 3, 224, 224)).shape == (2, 1000)


def test_torch_export_works():
    model = googlenet.create_model("googlenet", small_input=True, num_classes=10, aux_logits=False).eval()
    x = torch.randn(2, 3, 32, 32)
    exported = torch.export.export(model, (x,))
    torch.testing.assert_close(exported.module()(x), model(x))


@pytest.mark.parametrize(
    ("build", "call", "match"),
    [
        (dict(), (1, 1, 224, 224), "3-channel.*in_channels=1"),
        (dict(), (1, 3, 28, 28), "smaller than.*small_input=True"),
        (dict(), (3, 224, 224), r"\(N, C, H, W\)"),
    ],
)
def test_bad_input_names_the_fix(build, call, match):
    model = googlenet.create_model("googlenet", **build).eval()
    with pytest.raises(ValueError, match=match):
        model(torch.randn(call))


@pytest.mark.parametrize(
    ("name", "kwargs", "match"),
    [
        ("googlenet", {"width": 0}, "width multiplier must be positive"),
        ("googlenet", {"width": -1.0}, "width multiplier must be positive"),
        ("googlenet", {"num_classes": 0}, "num_classes"),
        ("googlenett", {}, "did you mean googlenet"),
        ("googlenet", {"no_such_option": 1}, "cannot build"),
    ],
)
def test_bad_builder_arguments(name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        googlenet.create_model(name, **kwargs)


def test_cli_models_json_lists_googlenet(run_cli):
    code, out, err = run_cli("models", "--json")
    assert code == 0 and '"googlenet"' in out


def test_cli_bad_model_is_one_line_exit_2(run_cli):
    code, out, err = run_cli("summary", "googlenett")
    assert code == 2 and "unknown model 'googlenett'" in err and "did you mean" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
