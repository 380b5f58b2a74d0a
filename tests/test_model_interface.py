"""Every registered model has the interface timm users expect (forward_features, forward_head,
get_classifier, reset_classifier), with the auxiliary heads reset too."""

import pytest
import torch
from torch import nn

import googlenet
from googlenet.models.interface import ImageClassifier
from googlenet.models.outputs import split_outputs


def _small(name: str) -> tuple[nn.Module, torch.Tensor]:
    """The model at its smallest honest size: small-input stem, narrow, on a tiny image."""
    info = googlenet.model_info(name)
    kwargs = {}
    if "width" in info.builder.__code__.co_varnames or name not in ("lenet5", "lenet5_modern", "enet"):
        kwargs["width"] = 0.25
    try:
        model = googlenet.create_model(name, small_input=True, **kwargs)
    except googlenet.UserError:
        model = googlenet.create_model(name, small_input=True)
    size = 32
    channels = getattr(model, "in_channels", 3)
    return model, torch.randn(2, channels, size, size)


@pytest.mark.parametrize("name", googlenet.list_models())
def test_registry_model_interface(name):
    torch.manual_seed(0)
    model, x = _small(name)
    assert isinstance(model, ImageClassifier)
    model.eval()
    with torch.no_grad():
        logits = model(x)
        features = model.forward_features(x)
        assert features.dim() == 4, "forward_features returns the last feature map (N, C, H, W)"
        head = model.forward_head(features)
        pre = model.forward_head(features, pre_logits=True)
    if googlenet.model_info(name).task == "segmentation":
        head = head[..., : x.shape[-2], : x.shape[-1]]
    torch.testing.assert_close(head, logits)
    assert pre.shape[0] == 2 and pre.dim() >= 2
    old_classes = model.num_classes
    assert logits.shape[1] == old_classes
    assert isinstance(model.get_classifier(), nn.Module)

    new_classes = old_classes + 3
    model.reset_classifier(new_classes)
    assert model.num_classes == new_classes
    with torch.no_grad():
        assert model(x).shape[1] == new_classes
    model.train()
    main, aux = split_outputs(model(x))
    assert main.shape[1] == new_classes
    assert all(a.shape[1] == new_classes for a in aux), "auxiliary heads are reset with the main one"


def test_reset_classifier_keeps_the_trunk_and_refuses_nonsense():
    model = googlenet.create_model("googlenet", small_input=True, width=0.25).eval()
    before = model.inception5b.branch1.conv.weight.clone()
    model.reset_classifier(7)
    assert torch.equal(before, model.inception5b.branch1.conv.weight)
    assert model.fc.out_features == 7 and model.aux1.fc2.out_features == 7 and model.aux2.fc2.out_features == 7
    assert list(model.classifier_layers()) == ["fc", "aux1.fc2", "aux2.fc2"]
    assert model.head_modules() == [model.fc, model.aux1, model.aux2]
    bare = googlenet.create_model("googlenet", small_input=True, width=0.25, aux_logits=False)
    assert list(bare.classifier_layers()) == ["fc"] and bare.head_modules() == [bare.fc]
    with pytest.raises(googlenet.UserError, match="num_classes"):
        model.reset_classifier(-1)


def test_googlenet_forward_features_is_the_5b_map():
    model = googlenet.create_model("googlenet").eval()
    with torch.no_grad():
        assert model.forward_features(torch.randn(1, 3, 224, 224)).shape == (1, 1024, 7, 7)  # Table 1: 7x7x1024


def test_kernel3_names_its_new_name():
    with pytest.raises(googlenet.UserError, match="kernel_5x5"):
        googlenet.create_model("googlenet", kernel3=3, width=0.25)
    new = googlenet.create_model("googlenet", kernel_5x5=3, width=0.25)
    assert new.inception3a.branch3[1].conv.kernel_size == (3, 3)


@pytest.mark.parametrize("name", googlenet.list_models())
def test_reset_classifier_0_leaves_the_pooled_features(name):
    """timm's reset_classifier(0): no final layers, forward gives (N, num_features), the pre-logits."""
    torch.manual_seed(0)
    model, x = _small(name)
    model.eval()
    width = model.num_features
    assert isinstance(width, int) and width > 0
    with torch.no_grad():
        pre = model.forward_head(model.forward_features(x), pre_logits=True)
    assert pre.shape[:2] == (2, width), "num_features is the width of the pre-logits"
    before = {k for k in model.state_dict()}
    model.reset_classifier(0)
    assert model.num_classes == 0 and model.num_features == width
    assert isinstance(model.get_classifier(), nn.Identity)
    assert not any(k.startswith(model.classifier_path + ".") for k in model.state_dict()) and before
    with torch.no_grad():
        out = model(x)
    if googlenet.model_info(name).task == "segmentation":
        out = out[..., : pre.shape[-2], : pre.shape[-1]]
    torch.testing.assert_close(out, pre)
    if googlenet.model_info(name).task == "classification":
        assert out.shape == (2, width)
    model.reset_classifier(4)  # and back: a layer of the same kind and width as the one removed
    assert model.num_classes == 4 and model.num_features == width
    with torch.no_grad():
        assert model(x).shape[1] == 4


def test_list_models_takes_families_and_wildcards():
    inception = googlenet.list_models("inception")
    assert inception and all(googlenet.model_info(n).family == "inception" for n in inception)
    starred = googlenet.list_models("inception*")
    assert {"inception_v3", "inception_v4", "inception_resnet_v1", "inception_resnet_v2"} <= set(starred)
    assert all(n.startswith("inception") or googlenet.model_info(n).family.startswith("inception")
               for n in starred)
    assert googlenet.list_models("resnet?8") == ["resnet18"]
    assert googlenet.list_models("*_bn") == ["vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn"]
    assert googlenet.list_models("vgg*", family="vgg") == googlenet.list_models(family="vgg")
    assert googlenet.list_models("no_such*") == []
    assert googlenet.list_models("*", task="segmentation") == ["enet"]
