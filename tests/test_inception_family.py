"""The Inception family after GoogLeNet: BN-Inception, Inception-v3, Inception-v4, Inception-ResNet-v1/-v2.

Verified against the papers (parameter counts, grid sizes and channel counts of their figures) and
against reference implementations (torchvision's inception_v3, timm's inception_v4 and
inception_resnet_v2: same outputs from the same random weights), and trained a few steps on real
Fashion-MNIST and CIFAR-10 images through the small-input stems.
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision
from PIL import Image

import googlenet
from googlenet.models.inception_v4 import load_timm_state_dict, timm_key
from googlenet.models.outputs import InceptionOutputs, split_outputs
from googlenet.models.spec import Conv, Mixed, MixedBlock, Pool, Split, inception_resnet_block, small_input_steps

FAMILY = ["bn_inception", "inception_v3", "inception_v4", "inception_resnet_v1", "inception_resnet_v2"]
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def randomize_batch_norm(model: torch.nn.Module) -> None:
    """Non-trivial running statistics, so eval-mode comparisons exercise every BN layer and its epsilon."""
    gen = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) * 1.5 + 0.5)


# ------------------------------------------------------------------ real data, read directly


def fashion_mnist_batch(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n`` Fashion-MNIST training images (1x28x28, normalized) and labels, from the IDX files."""
    with gzip.open(FASHION_MNIST / "train-images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read(16 + n * 28 * 28)[16:], dtype=np.uint8).reshape(n, 1, 28, 28)
    with gzip.open(FASHION_MNIST / "train-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read(8 + n)[8:], dtype=np.uint8)
    x = torch.from_numpy(images.astype(np.float32) / 255.0)
    return (x - 0.2860) / 0.3530, torch.from_numpy(labels.astype(np.int64))


@pytest.fixture(scope="module")
def cifar10_batch(shared_data) -> tuple[torch.Tensor, torch.Tensor]:
    """Two training JPEGs per CIFAR-10 class (3x32x32, normalized), read straight from the tar.gz."""
    raw = gzip.decompress((shared_data / "cifar10-jpeg.tar.gz").read_bytes())
    per_class: dict[str, list[bytes]] = {}
    pos = 0
    while pos + 512 <= len(raw) and not (len(per_class) == 10 and all(len(v) == 2 for v in per_class.values())):
        header = raw[pos:pos + 512]
        if not header.strip(b"\0"):
            break
        name = header[:100].rstrip(b"\0").decode()
        size = int(header[124:136].rstrip(b"\0 ") or b"0", 8)
        pos += 512
        parts = name.split("/")
        if header[156:157] in (b"0", b"\0") and len(parts) == 3 and parts[0] == "train":
            images = per_class.setdefault(parts[1], [])
            if len(images) < 2:
                images.append(raw[pos:pos + size])
        pos += (size + 511) // 512 * 512
    classes = sorted(per_class)
    assert len(classes) == 10, classes
    xs, ys = [], []
    for label, cls in enumerate(classes):
        for data in per_class[cls]:
            xs.append(np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.float32) / 255.0)
            ys.append(label)
    x = torch.from_numpy(np.stack(xs)).permute(0, 3, 1, 2)
    mean, std = torch.tensor([0.491, 0.482, 0.447]), torch.tensor([0.247, 0.243, 0.262])
    return (x - mean[:, None, None]) / std[:, None, None], torch.tensor(ys)


# ------------------------------------------------------------------ the papers' and references' numbers


@pytest.mark.parametrize(
    ("name", "kwargs", "expected"),
    [
        ("inception_v3", {}, 27_161_264),  # torchvision's count, aux head included
        ("inception_v3", {"aux_logits": False}, 23_834_568),
        ("inception_v4", {}, 42_679_816),  # timm inception_v4
        ("inception_resnet_v2", {}, 55_843_464),  # timm inception_resnet_v2
        ("inception_resnet_v1", {}, 22_756_328),  # from the paper's figures (no reference implementation)
        ("bn_inception", {}, 11_278_528),  # Figure 5 with the separable first convolution
        ("bn_inception", {"separable_conv1": False}, 11_285_224),
    ],
)
def test_parameter_counts(name, kwargs, expected):
    assert n_params(googlenet.create_model(name, **kwargs)) == expected


@pytest.mark.parametrize(("name", "params"), [("bn_inception", 11_278_528), ("inception_v3", 23_834_568),
                                              ("inception_v4", 42_679_816), ("inception_resnet_v1", 22_756_328),
                                              ("inception_resnet_v2", 55_843_464)])
def test_registry_params_are_the_default_models_without_aux(name, params):
    assert googlenet.model_info(name).params == params


def test_registry_rows_and_cli_listing(run_cli):
    assert set(FAMILY) <= set(googlenet.list_models(family="inception"))
    for name in FAMILY:
        info = googlenet.model_info(name)
        assert info.paper and info.year >= 2015 and info.input_size in (224, 299)
        assert info.params and info.macs and info.top1 and info.top5 and "paper" in info.accuracy_source
    code, out, _ = run_cli("models", "--family", "inception")
    assert code == 0
    for name in FAMILY:
        assert name in out


@pytest.mark.parametrize("aux", [False, True])
def test_inception_v3_matches_torchvision(aux):
    torch.manual_seed(0)
    reference = torchvision.models.inception_v3(weights=None, aux_logits=aux, init_weights=False)
    randomize_batch_norm(reference)
    ours = googlenet.create_model("inception_v3", aux_logits=aux, init_weights=False)
    ours.load_state_dict(reference.state_dict())  # strict: same keys and shapes
    reference.eval(), ours.eval()
    x = torch.randn(1, 3, 107, 107)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), reference(x), atol=1e-5, rtol=0)
    if aux:  # training mode at the native 299x299, where torchvision's aux head runs: both heads agree
        reference.train(), ours.train()
        x = torch.randn(2, 3, 299, 299)
        with torch.no_grad():
            torch.manual_seed(1)
            expected = reference(x)
            torch.manual_seed(1)
            got = ours(x)
        assert isinstance(got, InceptionOutputs)
        torch.testing.assert_close(got.main, expected.logits, atol=1e-5, rtol=0)
        torch.testing.assert_close(got.aux, expected.aux_logits, atol=1e-5, rtol=0)


def test_inception_v3_loads_a_torchvision_weights_file(tmp_path):
    from googlenet.weights.torchvision import load_torchvision_weights

    reference = torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=False)
    torch.save(reference.state_dict(), tmp_path / "inception_v3.pth")
    ours = load_torchvision_weights(googlenet.create_model("inception_v3", init_weights=False),
                                    tmp_path / "inception_v3.pth")  # a file without aux weights loads too
    torch.testing.assert_close(ours.Mixed_7c.branch3x3dbl_3b.conv.weight,
                               reference.Mixed_7c.branch3x3dbl_3b.conv.weight, atol=0, rtol=0)
    with pytest.raises(googlenet.DataError, match="does not fit"):
        load_torchvision_weights(googlenet.create_model("inception_v4", width=0.125), tmp_path / "inception_v3.pth")


@pytest.mark.parametrize("name", ["inception_v4", "inception_resnet_v2"])
def test_timm_state_dict_loads_with_equal_outputs(name):
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    reference = timm.create_model(name, pretrained=False, num_classes=10)
    randomize_batch_norm(reference)
    reference.eval()
    ours = load_timm_state_dict(googlenet.create_model(name, num_classes=10), reference.state_dict(), name).eval()
    x = torch.randn(1, 3, 107, 107)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), reference(x), atol=1e-5, rtol=0)
    with pytest.raises(googlenet.DataError, match="has shape.*default width"):
        load_timm_state_dict(googlenet.create_model(name, width=0.5), reference.state_dict(), name)
    with pytest.raises(googlenet.DataError, match="does not fit.*missing"):
        load_timm_state_dict(ours, {k: v for k, v in reference.state_dict().items() if "last_linear" not in k
                                    and "classif" not in k}, name)


def test_timm_key_mapping_examples():
    assert timm_key("features.6.branch3.1.conv.weight", "inception_v4") == "inception_a.0.branch3_1.conv.weight"
    assert timm_key("features.21.branch2_3b.bn.bias", "inception_v4") == "inception_c.2.branch2_3b.bn.bias"
    assert timm_key("repeat_1.19.conv2d.weight", "inception_resnet_v2") == "inception_resnet_b.19.residual.up.weight"
    assert (timm_key("block8.branch1.2.conv.weight", "inception_resnet_v2")
            == "inception_resnet_c.9.residual.branches.branch1_2.conv.weight")


# ------------------------------------------------------------------ architecture as the papers draw it


def _grid_after(model: torch.nn.Module, names: list[str], size: int) -> dict[str, tuple[int, int, int]]:
    shapes: dict[str, tuple[int, int, int]] = {}
    modules = dict(model.named_modules())
    hooks = [modules[n].register_forward_hook(lambda m, i, o, n=n: shapes.__setitem__(n, tuple(o.shape[1:])))
             for n in names]
    with torch.no_grad():
        model.eval()(torch.randn(1, 3, size, size))
    for hook in hooks:
        hook.remove()
    return shapes


@pytest.mark.parametrize(
    ("name", "size", "expected"),
    [
        # Rethinking..., Table 1: 35x35x288, 17x17x768, 8x8x2048.
        ("inception_v3", 299, {"Mixed_5d": (288, 35, 35), "Mixed_6e": (768, 17, 17), "Mixed_7c": (2048, 8, 8)}),
        # Inception-v4 paper, Figures 3 and 9: 35x35x384, 17x17x1024, 8x8x1536.
        ("inception_v4", 299, {"stem": (384, 35, 35), "inception_a": (384, 35, 35), "inception_b": (1024, 17, 17),
                               "inception_c": (1536, 8, 8)}),
        # Figures 14, 7, 12, 15: 35x35x256, 17x17x896, 8x8x1792.
        ("inception_resnet_v1", 299, {"stem": (256, 35, 35), "inception_resnet_a": (256, 35, 35),
                                      "inception_resnet_b": (896, 17, 17), "inception_resnet_c": (1792, 8, 8)}),
        # The released Inception-ResNet-v2: 35x35x320, 17x17x1088, 8x8x2080, then 1536.
        ("inception_resnet_v2", 299, {"stem": (320, 35, 35), "inception_resnet_b": (1088, 17, 17),
                                      "inception_resnet_c": (2080, 8, 8), "head_conv": (1536, 8, 8)}),
        # BN paper, Figure 5: 28x28 after the stem, 3c and 4e halve the grid; 608 and 1056 channels are
        # what the rows sum to (the figure's output column prints 576 and 1024).
        ("bn_inception", 224, {"conv2": (192, 56, 56), "inception3c": (576, 14, 14), "inception4d": (608, 14, 14),
                               "inception4e": (1056, 7, 7), "inception5b": (1024, 7, 7)}),
    ],
)
def test_native_grids_and_channels_match_the_papers(name, size, expected):
    # Grids at full size with a 1/8-width network (cheap); channels from the full-width modules.
    narrow = _grid_after(googlenet.create_model(name, width=0.125, **_no_aux(name)), list(expected), size)
    full = dict(googlenet.create_model(name, **_no_aux(name)).named_modules())
    for layer, (channels, h, w) in expected.items():
        assert narrow[layer][1:] == (h, w), layer
        assert _out_channels(full[layer]) == channels, layer


def _no_aux(name: str) -> dict:
    return {"aux_logits": False} if name == "inception_v3" else {}


def _out_channels(module: torch.nn.Module) -> int | None:
    """Channels a layer outputs, from its modules (no forward pass)."""
    if isinstance(module, MixedBlock | torch.nn.Conv2d):
        return module.out_channels
    if hasattr(module, "residual"):  # an Inception-ResNet block keeps its input's channels
        return module.residual.up.out_channels
    for child in reversed(list(module.children())):
        channels = _out_channels(child)
        if channels is not None:
            return channels
    return None


def test_bn_inception_follows_figure_5():
    model = googlenet.create_model("bn_inception")
    three_a = model.inception3a
    # 5x5 replaced by two 3x3 (no 5x5 anywhere), batch norm after every convolution.
    assert three_a.double3x3a.conv.kernel_size == three_a.double3x3b.conv.kernel_size == (3, 3)
    assert not any(m.kernel_size == (5, 5) for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules()) == len(convs) - 1  # depthwise
    # Separable first convolution with depth multiplier 8; "avg" and "max" pools as the Pool column.
    assert model.conv1.depthwise.out_channels == 24 and model.conv1.depthwise.groups == 3
    assert isinstance(three_a.pool3, torch.nn.AvgPool2d) and isinstance(model.inception5b.pool3, torch.nn.MaxPool2d)
    assert not hasattr(model.inception3c, "branch1x1") and not hasattr(model.inception3c, "pool_proj")


def test_inception_resnet_residual_scaling():
    torch.manual_seed(0)
    branches = ((Conv("branch0", 8, 1),), (Conv("branch1_0", 4, 1), Conv("branch1_1", 8, 3)))
    x = torch.randn(2, 16, 9, 9)
    block = inception_resnet_block(16, branches, scale=0.2, activation=False).eval()
    residual = block.residual(x)
    torch.testing.assert_close(block(x), x + 0.2 * residual)
    assert block.residual.up.bias is not None  # "1x1 Conv (Linear)": no BN, no ReLU on the projection
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in block.residual.up.modules())
    torch.nn.init.zeros_(block.residual.up.weight), torch.nn.init.zeros_(block.residual.up.bias)
    with_relu = inception_resnet_block(16, branches, scale=0.2)
    with_relu.load_state_dict(block.state_dict())
    torch.testing.assert_close(with_relu.eval()(x), torch.relu(x))  # zero residual: relu(identity)


def test_mixed_block_runs_branches_and_splits():
    block = MixedBlock(8, (
        (Conv("a", 4, 1),),
        (Conv("b0", 6, 1), Split((Conv("b1a", 3, (1, 3)), Conv("b1b", 5, (3, 1))))),
        (Pool("max", stride=2, valid=True),),
    ))
    with pytest.raises(RuntimeError):  # stride-2 pool beside stride-1 convs cannot be concatenated
        block(torch.randn(1, 8, 9, 9))
    reduction = MixedBlock(8, ((Conv("c", 4, 3, stride=2, valid=True),), (Pool("max", stride=2, valid=True),)))
    assert reduction(torch.randn(1, 8, 9, 9)).shape == (1, 12, 4, 4) and reduction.out_channels == 12
    half = MixedBlock(8, (
        (Conv("a", 4, 1),),
        (Conv("b0", 6, 1), Split((Conv("b1a", 3, (1, 3)), Conv("b1b", 5, (3, 1))))),
    ), width=0.5)
    assert half.out_channels == 2 + 2 + 2 == half(torch.randn(1, 8, 7, 7)).shape[1]  # 4, 3 and 5 halved
    assert half.b1a.conv.kernel_size == (1, 3) and half.b1a.conv.padding == (0, 1)


def test_small_input_stem_only_changes_strides_and_padding():
    stem = (Conv("c1", 8, 3, stride=2, valid=True), Pool("max", stride=2, valid=True, name="p1"),
            Mixed("m", ((Conv("x", 4, 3, stride=2, valid=True),), (Pool("max", stride=2, valid=True),))))
    small = small_input_steps(stem, "p1")
    assert small[0] == Conv("c1", 8, 3, stride=1, valid=False)
    assert small[1].stride == 2 and not small[1].valid
    assert small[2].branches[0][0] == Conv("x", 4, 3, stride=1, valid=False)
    with pytest.raises(ValueError, match="no stem row"):
        small_input_steps(stem, "nope")
    for name in ["inception_v3", "inception_v4", "inception_resnet_v1", "inception_resnet_v2"]:
        native = googlenet.create_model(name, width=0.25).state_dict()
        small_sd = googlenet.create_model(name, width=0.25, small_input=True).state_dict()
        assert {k: v.shape for k, v in native.items()} == {k: v.shape for k, v in small_sd.items()}, name


# ------------------------------------------------------------------ every size, every mode


@pytest.mark.parametrize("name", FAMILY)
@pytest.mark.parametrize(("channels", "size"), [(1, 28), (3, 32)])
def test_small_input_shapes_train_and_eval(name, channels, size):
    model = googlenet.create_model(name, small_input=True, in_channels=channels, num_classes=10, width=0.125)
    x = torch.randn(2, channels, size, size)
    out = model.train()(x)
    main, aux = split_outputs(out)
    assert main.shape == (2, 10)
    if name == "inception_v3":
        assert isinstance(out, InceptionOutputs) and out[0] is out.main and aux[0].shape == (2, 10)
    else:
        assert isinstance(out, torch.Tensor)
    with torch.no_grad():
        assert model.eval()(x).shape == (2, 10)


@pytest.mark.parametrize("name", FAMILY)
def test_smallest_input_runs_and_one_less_names_the_fix(name):
    for small in (False, True):
        model = googlenet.create_model(name, small_input=small, width=0.125, num_classes=5).eval()
        n = model.min_input_size
        with torch.no_grad():
            assert model(torch.randn(1, 3, n, n)).shape == (1, 5)
        with pytest.raises(googlenet.UserError, match=f"at least {n} pixels"):
            model(torch.randn(1, 3, n - 1, n - 1))
        if small:  # below the minimum the model itself would fail, the check is not over-cautious
            model.min_input_size = 1
            with pytest.raises(RuntimeError), torch.no_grad():
                model(torch.randn(1, 3, n - 1, n - 1))


@pytest.mark.parametrize(
    ("name", "build", "call", "match"),
    [
        ("inception_v3", {}, (1, 1, 299, 299), "3-channel.*in_channels=1"),
        ("inception_v4", {}, (1, 3, 32, 32), "smaller than.*small_input=True"),
        ("inception_resnet_v2", {}, (3, 299, 299), r"\(N, C, H, W\)"),
        ("bn_inception", {"in_channels": 1}, (1, 3, 224, 224), "1-channel.*in_channels=3"),
    ],
)
def test_bad_input_names_the_fix(name, build, call, match):
    model = googlenet.create_model(name, width=0.125, **build).eval()
    with pytest.raises(googlenet.UserError, match=match):
        model(torch.randn(call))


@pytest.mark.parametrize(
    ("name", "kwargs", "match"),
    [
        ("inception_v4", {"aux_logits": True}, "no auxiliary classifier.*aux_logits=False"),
        ("inception_resnet_v1", {"width": 0}, "width multiplier must be positive"),
        ("inception_v3", {"num_classes": 0}, "num_classes"),
        ("bn_inception", {"dropout": 1.0}, "dropout"),
        ("inception_v5", {}, "did you mean"),
    ],
)
def test_bad_builder_arguments(name, kwargs, match):
    with pytest.raises(googlenet.UserError, match=match):
        googlenet.create_model(name, **kwargs)


def test_no_aux_option_accepted_by_every_model():
    # The CLI's --no-aux passes aux_logits=False to whichever model it builds.
    for name in FAMILY:
        googlenet.create_model(name, aux_logits=False, width=0.125)


def test_mixed_block_exports():
    # The declarative blocks dispatch through their plans; torch.export must see through that.
    from googlenet.models.inception_v3 import INCEPTION_E

    block = MixedBlock(16, INCEPTION_E, width=0.05).eval()
    x = torch.randn(2, 16, 8, 8)
    exported = torch.export.export(block, (x,))
    torch.testing.assert_close(exported.module()(x), block(x))


# ------------------------------------------------------------------ training on real small images


@pytest.mark.slow
@pytest.mark.parametrize("name", FAMILY)
@pytest.mark.parametrize("dataset", ["fashion_mnist", "cifar10"])
def test_trains_on_real_small_images(name, dataset, request):
    x, y = fashion_mnist_batch(20) if dataset == "fashion_mnist" else request.getfixturevalue("cifar10_batch")
    torch.manual_seed(0)
    # 1/8 width keeps it fast; no dropout, so six steps on one batch show the trend without noise.
    model = googlenet.create_model(name, small_input=True, in_channels=x.shape[1], num_classes=10, width=0.125,
                                   dropout=0.0)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(6):  # the same batch repeated: the loss must fall
        main, aux = split_outputs(model(x))
        loss = F.cross_entropy(main, y) + sum(0.3 * F.cross_entropy(a, y) for a in aux)  # v3: aux weight 0.3
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert all(np.isfinite(losses))
    assert losses[-1] < 0.85 * losses[0], losses  # untrainable wiring stays at ln(10) = 2.3
