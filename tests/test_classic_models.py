"""The CNNs GoogLeNet is measured against: architectures as their papers' tables, parameter counts,
torchvision compatibility (equal outputs after loading its state_dict), small-input stems, bad input."""

from __future__ import annotations

import pytest
import torch
import torchvision

import googlenet
from googlenet.models.lenet import C3_CONNECTIONS, DIGIT_BITMAPS, PartialConv2d, Subsampling


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def on_meta(name: str, **kwargs) -> torch.nn.Module:
    with torch.device("meta"):
        return googlenet.create_model(name, **kwargs)


# --- parameter counts (built on the meta device: no memory, no initialisation) -----------------------

@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("lenet5", 60_000), ("lenet5_modern", 61_706),
        ("alexnet", 60_965_224), ("alexnet_torchvision", 61_100_840), ("zfnet", 62_357_608),
        ("vgg11", 132_863_336), ("vgg13", 133_047_848), ("vgg16", 138_357_544), ("vgg19", 143_667_240),
        ("vgg11_bn", 132_868_840), ("vgg13_bn", 133_053_736), ("vgg16_bn", 138_365_992), ("vgg19_bn", 143_678_248),
        ("nin_cifar", 966_986), ("nin", 7_595_176),
        ("resnet18", 11_689_512), ("resnet34", 21_797_672), ("resnet50", 25_557_032),
        ("resnet101", 44_549_160), ("resnet152", 60_192_808),
        ("squeezenet1_0", 1_248_424), ("squeezenet1_1", 1_235_496),
        ("squeezenet1_0_simple_bypass", 1_248_424), ("squeezenet1_0_complex_bypass", 1_589_672),
    ],
)
def test_parameter_counts(name, params):
    assert n_params(on_meta(name)) == params


# The torchvision builders whose state_dicts must fit ours key for key, shape for shape.
TORCHVISION_TWINS = {
    "alexnet_torchvision": "alexnet",
    **{f"vgg{d}{bn}": f"vgg{d}{bn}" for d in (11, 13, 16, 19) for bn in ("", "_bn")},
    **{f"resnet{d}": f"resnet{d}" for d in (18, 34, 50, 101, 152)},
    "squeezenet1_0": "squeezenet1_0", "squeezenet1_1": "squeezenet1_1",
}


@pytest.mark.parametrize("ours", TORCHVISION_TWINS)
def test_state_dict_layout_is_torchvision(ours):
    with torch.device("meta"):
        reference = getattr(torchvision.models, TORCHVISION_TWINS[ours])()
    assert {k: v.shape for k, v in on_meta(ours).state_dict().items()} == \
        {k: v.shape for k, v in reference.state_dict().items()}


def randomized_twins(ours: str, **kwargs) -> tuple[torch.nn.Module, torch.nn.Module]:
    """torchvision's model with random weights *and* batch-norm statistics, and ours loaded from it.
    Built on meta and filled in place: VGG's normal initialisation alone takes seconds on 2 cores."""
    with torch.device("meta"):
        reference = getattr(torchvision.models, TORCHVISION_TWINS[ours])(**kwargs)
    reference = reference.to_empty(device="cpu").eval()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, tensor in reference.state_dict().items():
            if name.endswith("num_batches_tracked"):
                tensor.zero_()
            elif name.endswith("running_var"):
                tensor.uniform_(0.5, 2.0, generator=generator)
            elif tensor.dim() > 1:  # weights: fan-in scaled so activations keep their size
                tensor.normal_(0, (2.0 / tensor[0].numel()) ** 0.5, generator=generator)
            else:
                tensor.uniform_(-0.1, 0.1, generator=generator)
    model = on_meta(ours, **kwargs).to_empty(device="cpu").eval()
    model.load_state_dict(reference.state_dict())  # strict
    return model, reference


@pytest.mark.parametrize(
    ("ours", "size"),
    [
        ("alexnet_torchvision", 224), ("vgg11", 224), ("vgg11_bn", 224),
        # deeper VGGs: same features/classifier code; 64x64 keeps the test fast and still exercises the
        # adaptive 7x7 pool before the 25,088-input classifier
        ("vgg13", 64), ("vgg13_bn", 64), ("vgg16", 64), ("vgg16_bn", 64), ("vgg19", 64), ("vgg19_bn", 64),
        ("resnet18", 224), ("resnet34", 224), ("resnet50", 224), ("resnet101", 160), ("resnet152", 128),
        ("squeezenet1_0", 224), ("squeezenet1_1", 224),
    ],
)
def test_equal_outputs_after_loading_torchvision_state_dict(ours, size):
    model, reference = randomized_twins(ours)
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = reference(x)
        assert expected.std() > 0.01  # a meaningful comparison, not two vectors of zeros
        torch.testing.assert_close(model(x), expected, rtol=1e-4, atol=1e-4)


def test_equal_outputs_with_other_num_classes():
    model, reference = randomized_twins("resnet18", num_classes=10)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x), rtol=1e-4, atol=1e-4)


# --- LeNet-5 as the 1998 paper -----------------------------------------------------------------------

def test_lenet5_c3_is_table_one():
    # Table I: maps 0-5 take 3 contiguous S2 maps, 6-11 four contiguous, 12-14 four non-contiguous, 15 all six
    assert C3_CONNECTIONS[:6] == [tuple(sorted({(i + k) % 6 for k in range(3)})) for i in range(6)]
    assert C3_CONNECTIONS[6:12] == [tuple(sorted({(i + k) % 6 for k in range(4)})) for i in range(6)]
    assert C3_CONNECTIONS[12:] == [(0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5), (0, 1, 2, 3, 4, 5)]


def test_lenet5_per_layer_parameters_are_section_two():
    model = googlenet.create_model("lenet5")
    counts = {name: n_params(getattr(model, name)) for name in ("c1", "s2", "c3", "s4", "c5", "f6", "output")}
    assert counts == {"c1": 156, "s2": 12, "c3": 1516, "s4": 32, "c5": 48_120, "f6": 10_164, "output": 0}
    assert model.output.centres.shape == (10, 84) and set(model.output.centres.unique().tolist()) == {-1.0, 1.0}
    assert all(len(b) == 12 and all(len(row) == 7 for row in b) for b in DIGIT_BITMAPS)  # 7x12 bitmaps


def test_partial_convolution_sees_only_its_table_inputs():
    torch.manual_seed(0)
    conv = PartialConv2d(C3_CONNECTIONS, 5)
    x = torch.randn(1, 6, 14, 14)
    base = conv(x)
    x2 = x.clone()
    x2[:, 3] += 1.0  # change S2 map 3 only
    changed = (conv(x2) - base).abs().flatten(2).amax(-1)[0] > 0
    assert changed.tolist() == [3 in inputs for inputs in C3_CONNECTIONS]
    # and equals a dense convolution whose weights outside the table are zero
    dense = torch.zeros(16, 6, 5, 5)
    for fan_in, weight in zip(conv.fan_ins, conv.weights, strict=True):
        maps = [j for j, c in enumerate(C3_CONNECTIONS) if len(c) == fan_in]
        for w, j in zip(weight, maps, strict=True):
            dense[j, list(C3_CONNECTIONS[j])] = w
    torch.testing.assert_close(base, torch.nn.functional.conv2d(x, dense, conv.bias), rtol=1e-5, atol=1e-5)


def test_subsampling_is_sum_times_coefficient_plus_bias():
    layer = Subsampling(2)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([0.5, -2.0]))
        layer.bias.copy_(torch.tensor([1.0, 0.0]))
    x = torch.arange(32.0).view(1, 2, 4, 4)
    out = layer(x)
    assert out[0, 0, 0, 0].item() == pytest.approx(0.5 * (0 + 1 + 4 + 5) + 1.0)
    assert out[0, 1, 1, 1].item() == pytest.approx(-2.0 * (26 + 27 + 30 + 31))


def test_lenet5_output_is_negative_rbf_penalty():
    model = googlenet.create_model("lenet5").eval()
    x = torch.randn(3, 1, 32, 32)
    with torch.no_grad():
        features = model.act6(model.f6(torch.flatten(model.act5(model.c5(model.act4(model.s4(model.act3(
            model.c3(model.act2(model.s2(model.act1(model.c1(x)))))))))), 1)))
        penalties = ((features[:, None, :] - model.output.centres) ** 2).sum(-1)
        torch.testing.assert_close(model(x), -penalties)
    assert abs(model.act1(torch.tensor(1.0)).item() - 1.0) < 1e-3  # Appendix A: f(1) = 1


def test_lenet5_small_input_centres_28x28_and_rejects_other_sizes():
    model = googlenet.create_model("lenet5", small_input=True).eval()
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    assert model(torch.randn(2, 1, 32, 32)).shape == (2, 10)
    with pytest.raises(googlenet.UserError, match="32x32.*small_input=True"):
        googlenet.create_model("lenet5")(torch.randn(1, 1, 28, 28))


# --- papers' layer details ---------------------------------------------------------------------------

def test_alexnet_2012_details():
    model = googlenet.create_model("alexnet").eval()
    convs = [m for m in model.features if isinstance(m, torch.nn.Conv2d)]
    assert [c.groups for c in convs] == [1, 2, 1, 2, 2]  # section 3.2: conv3 sees both GPUs' kernels
    assert [c.out_channels for c in convs] == [96, 256, 384, 384, 256]
    assert convs[0].kernel_size == (11, 11) and convs[0].stride == (4, 4)
    lrn = [m for m in model.features if isinstance(m, torch.nn.LocalResponseNorm)]
    assert len(lrn) == 2 and lrn[0].k == 2.0 and lrn[0].size == 5
    pools = [m for m in model.features if isinstance(m, torch.nn.MaxPool2d)]
    assert all(p.kernel_size == 3 and p.stride == 2 for p in pools)  # overlapping pooling, section 3.4
    assert [m.p for m in model.classifier if isinstance(m, torch.nn.Dropout)] == [0.5, 0.5]
    with torch.no_grad():
        assert model.features(torch.randn(1, 3, 227, 227)).shape == (1, 256, 6, 6)  # 227, not 224


def test_alexnet_lrn_is_the_papers_formula():
    lrn = [m for m in googlenet.create_model("alexnet").features if isinstance(m, torch.nn.LocalResponseNorm)][0]
    a = torch.rand(1, 7, 1, 1)
    expected = a[0, 3] / (2.0 + 1e-4 * (a[0, 1:6] ** 2).sum()) ** 0.75  # section 3.3, n = 5 around map 3
    torch.testing.assert_close(lrn(a)[0, 3], expected)


def test_zfnet_first_layers_and_grid_sizes():
    model = googlenet.create_model("zfnet").eval()
    conv1 = model.features[0]
    assert conv1.kernel_size == (7, 7) and conv1.stride == (2, 2)
    sizes, x = [], torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        for layer in model.features:
            x = layer(x)
            if isinstance(layer, (torch.nn.Conv2d, torch.nn.MaxPool2d)):
                sizes.append(x.shape[-1])
    assert sizes == [110, 55, 26, 13, 13, 13, 13, 6]  # Figure 3


def test_vgg_columns_of_table_one():
    for name, convs in (("vgg11", 8), ("vgg13", 10), ("vgg16", 13), ("vgg19", 16)):
        model = on_meta(name)
        layers = [m for m in model.features if isinstance(m, torch.nn.Conv2d)]
        assert len(layers) == convs and all(c.kernel_size == (3, 3) and c.padding == (1, 1) for c in layers)


def test_resnet_blocks_follow_table_one():
    for depth, blocks, block in ((18, [2, 2, 2, 2], "BasicBlock"), (152, [3, 8, 36, 3], "Bottleneck")):
        model = on_meta(f"resnet{depth}")
        stages = [model.layer1, model.layer2, model.layer3, model.layer4]
        assert [len(s) for s in stages] == blocks
        assert type(model.layer1[0]).__name__ == block


def test_squeezenet_bypass_variants():
    simple = on_meta("squeezenet1_0_simple_bypass")
    complex_ = on_meta("squeezenet1_0_complex_bypass")
    fires = [m for m in simple.features if type(m).__name__ == "Fire"]
    assert [f.simple_bypass for f in fires] == [False, True, False, True, False, True, False, True]  # fire2..9
    fires = [m for m in complex_.features if type(m).__name__ == "Fire"]
    assert [hasattr(f, "bypass") for f in fires] == [True, False, True, False, True, False, True, False]
    # a simple bypass adds its input: with expand weights zeroed the block is ReLU(bias) + x
    fire = googlenet.create_model("squeezenet1_0_simple_bypass").features[4]
    with torch.no_grad():
        for conv in (fire.expand1x1, fire.expand3x3):
            conv.weight.zero_()
            conv.bias.zero_()
        x = torch.randn(1, 128, 8, 8)
        torch.testing.assert_close(fire(x), x)


def test_nin_mlpconv_and_global_average_pooling():
    model = googlenet.create_model("nin_cifar")
    convs = [m for m in model.features if isinstance(m, torch.nn.Conv2d)]
    assert [c.kernel_size[0] for c in convs] == [5, 1, 1, 5, 1, 1, 3, 1, 1]
    assert convs[-1].out_channels == 10 and not any(isinstance(m, torch.nn.Linear) for m in model.modules())
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


# --- ENet ----------------------------------------------------------------------------------------------

def test_enet_shapes_parameters_and_table():
    model = googlenet.create_model("enet")
    assert 0.35e6 < n_params(model) < 0.38e6  # paper Table 3: 0.37M
    assert n_params(model) == 363_911
    assert googlenet.model_info("enet").task == "segmentation"
    dilations = [m.dilation[0] for m in model.bottleneck2_1.modules() if isinstance(m, torch.nn.Conv2d)]
    assert max(dilations) == 1
    dilated = [max(m.dilation[0] for m in getattr(model, f"bottleneck2_{i}").modules()
                   if isinstance(m, torch.nn.Conv2d)) for i in range(1, 9)]
    assert dilated == [1, 2, 1, 4, 1, 8, 1, 16]
    asymmetric = [m.kernel_size for m in model.bottleneck3_3.modules() if isinstance(m, torch.nn.Conv2d)]
    assert (5, 1) in asymmetric and (1, 5) in asymmetric
    model.eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 96)).shape == (1, 19, 64, 96)
    with pytest.raises(googlenet.UserError, match="multiples of 8.*small_input=True"):
        model(torch.randn(1, 3, 60, 60))


def test_enet_unpools_with_the_encoders_indices():
    model = googlenet.create_model("enet", num_classes=2).eval()
    seen = {}

    def keep(key, get):
        def hook(module, inputs, output):
            seen[key] = get(inputs, output)  # returns None: the output is left alone
        return hook

    model.bottleneck4_0.unpool.register_forward_hook(keep("indices", lambda inp, out: inp[1]))
    model.bottleneck2_0.pool.register_forward_hook(keep("pooled", lambda inp, out: out[1]))
    with torch.no_grad():
        model(torch.randn(1, 3, 32, 32))
    assert torch.equal(seen["indices"], seen["pooled"])


# --- small inputs and bad input ------------------------------------------------------------------------

CLASSIFIERS = [n for f in ("lenet", "alexnet", "vgg", "nin", "resnet", "squeezenet") for n in googlenet.list_models(f)]


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_small_input_builds_for_28_and_32(name):
    width = {} if name.startswith("lenet") else {"width": 0.125}
    grey = googlenet.create_model(name, small_input=True, num_classes=10, in_channels=1, **width).eval()
    rgb = googlenet.create_model(name, small_input=True, num_classes=7, in_channels=3, **width).eval()
    with torch.no_grad():
        assert grey(torch.randn(2, 1, 28, 28)).shape == (2, 10)
        assert rgb(torch.randn(2, 3, 32, 32)).shape == (2, 7)


@pytest.mark.parametrize(("name", "size", "channels"),
                         [("alexnet", 227, 1), ("vgg11", 224, 1), ("resnet18", 224, 1), ("squeezenet1_1", 224, 1),
                          ("nin", 224, 1), ("lenet5_modern", 32, 3), ("enet", 64, 1)])
def test_wrong_channels_names_the_fix(name, size, channels):
    model = on_meta(name)
    with pytest.raises(googlenet.UserError, match=f"in_channels={channels}"):
        model(torch.empty(1, channels, size, size, device="meta"))


@pytest.mark.parametrize("name", ["alexnet", "vgg16", "resnet50", "squeezenet1_0"])
def test_too_small_image_names_the_fix(name):
    with pytest.raises(googlenet.UserError, match="small_input=True"):
        on_meta(name)(torch.empty(1, 3, 8, 8, device="meta"))


@pytest.mark.parametrize(
    ("name", "kwargs", "match"),
    [
        ("vgg16", {"width": 0}, "width multiplier must be positive"),
        ("resnet18", {"num_classes": 0}, "num_classes"),
        ("alexnet", {"dropout": 1.5}, "dropout"),
        ("squeezenet1_0", {"bypass": "both"}, "bypass must be"),
        ("alexnet", {"width": 0.3}, "groups"),
        ("lenet5", {"width": 0.5}, "cannot build"),
        ("enet", {"in_channels": 16}, "fewer than 16 input channels"),
    ],
)
def test_bad_builder_arguments(name, kwargs, match):
    with pytest.raises(googlenet.UserError, match=match):
        googlenet.create_model(name, **kwargs)
