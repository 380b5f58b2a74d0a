"""Weights import (issue 15): torchvision, timm and BVLC Caffe files of the real formats, made here.

Each import is checked against an independent implementation: torchvision's and timm's own models on
the state_dict they saved, and OpenCV's dnn module (its own Caffe reader and layers) on a
deploy.prototxt and a random-weight caffemodel for BVLC GoogLeNet.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torchvision

from googlenet.cli import main
from googlenet.data.imagenet import imagenet_class_names, imagenet_wnids
from googlenet.errors import DataError, UserError
from googlenet.models.registry import create_model
from googlenet.weights import import_to_file, import_weights, load_model
from googlenet.weights.caffe import (
    googlenet_deploy_prototxt,
    layer_map,
    messages,
    read_caffemodel,
    write_caffemodel,
)
from googlenet.weights.torchvision import TORCHVISION_MODELS

torch.set_num_threads(1)
CAFFE_MEAN = np.array([104.0, 117.0, 123.0], dtype=np.float32)

# torchvision model -> (constructor arguments of a model whose weights were released, input side).
# googlenet/inception_v3 as torchvision builds them to load released weights (transform_input, aux heads).
TV_FAMILIES = {
    "googlenet": (dict(aux_logits=True, transform_input=True, init_weights=True), 96),
    "inception_v3": (dict(aux_logits=True, transform_input=True, init_weights=True), 80),
    "resnet18": ({}, 64),
    "squeezenet1_0": ({}, 64),
    "alexnet": ({}, 64),
    "vgg11": ({}, 32),
}


def _one_line_error(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and text
    assert "weights_only=False" not in text
    return text


@pytest.fixture(scope="module")
def resnet18_file(tmp_path_factory):
    torch.manual_seed(0)
    model = torchvision.models.resnet18().eval()
    path = tmp_path_factory.mktemp("tv") / "resnet18-f37072fd.pth"
    torch.save(model.state_dict(), path)
    return path, model


# ------------------------------------------------------------------------------------------ torchvision
@pytest.mark.parametrize("tv_name", [pytest.param(n, marks=pytest.mark.slow) if n == "vgg11" else n
                                     for n in TV_FAMILIES])  # vgg11: a 530 MB file, ~7 s
def test_torchvision_file_imports_and_computes_what_torchvision_does(tmp_path, tv_name):
    kwargs, side = TV_FAMILIES[tv_name]
    torch.manual_seed(0)
    theirs = torchvision.models.get_model(tv_name, weights=None, **kwargs).eval()
    path = tmp_path / f"{tv_name}.pth"
    torch.save(theirs.state_dict(), path)

    name, ours, classes, pre = import_weights("torchvision", path)

    assert TORCHVISION_MODELS[name] == tv_name
    assert classes == imagenet_class_names() and classes[0] == "tench"
    assert pre.channel_order == "RGB" and pre.scale == 1.0 and pre.mean == (0.485, 0.456, 0.406)
    assert pre.input_size == (299 if tv_name == "inception_v3" else 224) and pre.interpolation == "bilinear"
    x = torch.randn(2, 3, side, side)
    with torch.no_grad():
        expected, got = theirs(x), ours(x)
    assert expected.std() > 0
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


def test_torchvision_aux_heads_only_when_the_file_has_them_and_any_class_count(tmp_path):
    theirs = torchvision.models.googlenet(weights=None, aux_logits=True, init_weights=True).eval()
    state = {k: v for k, v in theirs.state_dict().items() if not k.startswith(("aux1.", "aux2."))}
    torch.save(state, tmp_path / "noaux.pth")
    imported = import_weights("auto", tmp_path / "noaux.pth")
    assert imported.model_kwargs["aux_logits"] is False and imported.model.aux1 is None

    with_aux = import_weights("torchvision", _saved(tmp_path / "aux.pth", theirs.state_dict()))
    assert with_aux.model_kwargs["aux_logits"] is True

    ten = torchvision.models.resnet18(num_classes=10)
    imported = import_weights("torchvision", _saved(tmp_path / "r10.pth", ten.state_dict()), model="resnet18")
    assert imported.model_kwargs["num_classes"] == 10 and imported.class_names is None


def _saved(path, state):
    torch.save(state, path)
    return path


def test_registry_torchvision_models_have_torchvision_keys_and_shapes():
    """The list of torchvision-compatible models is right: same keys and shapes as torchvision's."""
    for ours, theirs in TORCHVISION_MODELS.items():
        extra = {"aux_logits": True, "init_weights": False} if theirs in ("googlenet", "inception_v3") else {}
        with torch.device("meta"):
            a = create_model(ours).state_dict()
            b = torchvision.models.get_model(theirs, weights=None, **extra).state_dict()
        assert {k: v.shape for k, v in a.items()} == {k: v.shape for k, v in b.items()}, ours


# ------------------------------------------------------------------------------------------ timm
@pytest.mark.parametrize("name,suffix", [("inception_v4", "pth"), ("inception_resnet_v2", "safetensors")])
def test_timm_checkpoint_imports_and_computes_what_timm_does(tmp_path, name, suffix):
    timm = pytest.importorskip("timm")
    from safetensors.torch import save_file

    torch.manual_seed(0)
    theirs = timm.create_model(name, pretrained=False).eval()
    path = tmp_path / f"{name}.{suffix}"
    if suffix == "pth":
        torch.save({"state_dict": theirs.state_dict(), "epoch": 3}, path)  # a training checkpoint, as timm writes
    else:
        save_file({k: v.contiguous() for k, v in theirs.state_dict().items()}, str(path))

    got_name, ours, classes, pre = import_weights("auto", path)

    assert got_name == name and classes[0] == "tench"
    assert pre.mean == (0.5, 0.5, 0.5) and pre.std == (0.5, 0.5, 0.5) and pre.input_size == 299
    assert pre.interpolation == "bicubic"  # timm's pretrained_cfg of these weights
    x = torch.randn(1, 3, 75, 75)
    with torch.no_grad():
        expected, got = theirs(x), ours(x)
    assert expected.std() > 0
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


# ------------------------------------------------------------------------------------------ Caffe
def _caffe_input(seed: int = 0) -> np.ndarray:
    """A BGR 0-255 image minus BVLC's mean, as Caffe's data layer feeds the net."""
    bgr = np.random.RandomState(seed).randint(0, 256, (1, 3, 224, 224)).astype(np.float32)
    return bgr - CAFFE_MEAN[None, :, None, None]


def test_caffe_deploy_net_agrees_with_opencv(tmp_path):
    cv2 = pytest.importorskip("cv2")
    torch.manual_seed(0)
    source = create_model("googlenet", aux_logits=False).eval()
    write_caffemodel(source, tmp_path / "bvlc_googlenet.caffemodel")
    (tmp_path / "deploy.prototxt").write_text(googlenet_deploy_prototxt())

    name, ours, classes, pre = import_weights("auto", tmp_path / "bvlc_googlenet.caffemodel")

    assert name == "googlenet" and ours.aux1 is None and classes[0] == "tench"  # deploy nets have no aux heads
    assert pre.channel_order == "BGR" and pre.scale == 255 and pre.mean == (104, 117, 123)
    assert pre.std == (1, 1, 1)
    net = cv2.dnn.readNetFromCaffe(str(tmp_path / "deploy.prototxt"), str(tmp_path / "bvlc_googlenet.caffemodel"))
    x = _caffe_input()
    net.setInput(x)
    expected = net.forward("loss3/classifier")
    with torch.no_grad():
        got = ours(torch.from_numpy(x)).numpy()
    assert expected.std() > 0.1
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)


def test_caffe_train_val_snapshot_with_aux_heads_in_the_old_layers_format(tmp_path):
    """2014 snapshots: V1 ``layers`` list, 4-D blob dims, aux heads; OpenCV reads them too."""
    cv2 = pytest.importorskip("cv2")
    torch.manual_seed(1)
    source = create_model("googlenet").eval()
    path = write_caffemodel(source.state_dict(), tmp_path / "snapshot.caffemodel", legacy_layers=True)
    net = messages()["NetParameter"]()
    net.ParseFromString(path.read_bytes())
    assert len(net.layers) == len(layer_map(True)) and not net.layer

    ours = import_weights("caffe", path).model
    assert ours.aux1 is not None
    (tmp_path / "aux.prototxt").write_text(googlenet_deploy_prototxt(aux=True))
    cv_net = cv2.dnn.readNetFromCaffe(str(tmp_path / "aux.prototxt"), str(path))
    x = _caffe_input(1)
    cv_net.setInput(x)
    expected = cv_net.forward(["loss3/classifier", "loss1/classifier", "loss2/classifier"])
    ours.train()  # aux outputs come in training mode; dropout off so it is deterministic
    for module in ours.modules():
        if isinstance(module, torch.nn.Dropout):
            module.eval()
    with torch.no_grad():
        got = ours(torch.from_numpy(x))
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g.numpy(), e, atol=1e-4, rtol=0)


def test_caffe_model_file_makes_predict_feed_bgr_255_mean_subtracted(tmp_path):
    from googlenet.evaluation.ensemble import Member

    write_caffemodel(create_model("googlenet", aux_logits=False), tmp_path / "g.caffemodel")
    import_to_file("caffe", tmp_path / "g.caffemodel", tmp_path / "g.safetensors")
    loaded = load_model(tmp_path / "g.safetensors")
    assert loaded.preprocessing.channel_order == "BGR" and loaded.class_names[0] == "tench"
    member = Member.from_loaded(loaded)
    rgb = torch.rand(2, 3, 224, 224)
    expected = rgb.flip(1) * 255 - torch.tensor([104.0, 117.0, 123.0])[None, :, None, None]
    torch.testing.assert_close(member.prepare(rgb), expected)


def test_caffemodel_with_other_layer_names_lists_the_missing_ones(tmp_path):
    path = write_caffemodel(create_model("googlenet", aux_logits=False), tmp_path / "other.caffemodel")
    net = messages()["NetParameter"]()
    net.ParseFromString(path.read_bytes())
    for layer in net.layer[:3]:
        layer.name = layer.name.replace("/", "_")  # conv1/7x7_s2 -> conv1_7x7_s2, as some ports name them
    path.write_bytes(net.SerializeToString())
    with pytest.raises(DataError) as info:
        import_weights("caffe", path)
    message = _one_line_error(info.value)
    assert "missing" in message and "conv1/7x7_s2, conv2/3x3_reduce, conv2/3x3" in message
    assert "conv1_7x7_s2" in message  # and what the file has instead
    assert len(read_caffemodel(path)) == len(layer_map(False))


# ------------------------------------------------------------------------------------------ bad input
def test_file_of_another_architecture_names_the_model_it_fits(resnet18_file, tmp_path):
    path, _ = resnet18_file
    with pytest.raises(DataError) as info:
        import_weights("torchvision", path, model="vgg11")
    assert "resnet18" in _one_line_error(info.value)
    with pytest.raises(DataError) as info:
        import_weights("timm", path)
    assert "torchvision's resnet18" in _one_line_error(info.value)
    # A state_dict of the paper-exact googlenet is not a torchvision file, and is named as what it is.
    with torch.device("meta"):
        keys = create_model("googlenet", num_classes=10).state_dict()
    torch.save({k: torch.zeros(v.shape) for k, v in keys.items()}, tmp_path / "ours.pth")
    with pytest.raises(DataError) as info:
        import_weights("auto", tmp_path / "ours.pth")
    assert "googlenet's own googlenet, 10 classes" in _one_line_error(info.value)


@pytest.mark.parametrize("fmt", ["pth", "legacy.pth", "safetensors", "caffemodel"])
def test_truncated_files_are_refused(tmp_path, fmt):
    from safetensors.torch import save_file

    model = create_model("googlenet", aux_logits=False)
    path = tmp_path / f"w.{fmt}"
    if fmt.endswith("pth"):  # torch's zip format, and the pickle stream older files use
        torch.save(torchvision.models.resnet18().state_dict(), path, _use_new_zipfile_serialization=fmt == "pth")
    elif fmt == "safetensors":
        save_file(torchvision.models.resnet18().state_dict(), str(path))
    else:
        write_caffemodel(model, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError) as info:
        import_weights("auto", path)
    assert "truncated" in _one_line_error(info.value)


class _RunsCode:
    """Unpickling this calls exec: what a malicious .pth would do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('ran')",))


def test_pickle_carrying_code_is_refused_without_running_it(tmp_path, capsys):
    marker = tmp_path / "ran.txt"
    path = tmp_path / "evil.pth"
    state = torchvision.models.resnet18().state_dict()
    torch.save({**state, "payload": _RunsCode(marker)}, path)
    with pytest.raises(DataError) as info:
        import_weights("torchvision", path)
    message = _one_line_error(info.value)
    assert "refused" in message and "weights_only" not in message
    assert not marker.exists()
    assert main(["weights", "import", "auto", str(path), "--out", str(tmp_path / "x.safetensors")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "refused" in err and not marker.exists()
    assert not (tmp_path / "x.safetensors").exists()


def test_not_a_weights_file_and_own_model_file(tmp_path, resnet18_file):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DataError, match="not a weights file"):
        import_weights("auto", tmp_path / "notes.txt")
    path, _ = resnet18_file
    import_to_file("auto", path, tmp_path / "r.safetensors")
    with pytest.raises(UserError, match="already a googlenet model file"):
        import_weights("auto", tmp_path / "r.safetensors")


# ------------------------------------------------------------------------------------------ CLI, class names
def test_cli_import_then_predict_prints_imagenet_class_names(tmp_path, resnet18_file, capsys):
    from PIL import Image

    path, _ = resnet18_file
    out = tmp_path / "resnet18.safetensors"
    assert main(["weights", "import", "torchvision", str(path), "--out", str(out)]) == 0
    assert "resnet18" in capsys.readouterr().out
    Image.fromarray(np.random.RandomState(0).randint(0, 255, (240, 320, 3), dtype=np.uint8)).save(tmp_path / "a.jpg")
    assert main(["predict", str(tmp_path / "a.jpg"), "-c", str(out), "--top-k", "3", "--json"]) == 0
    predictions = json.loads(capsys.readouterr().out)[0]["predictions"]
    names = imagenet_class_names()
    assert len(predictions) == 3
    assert all(p["class"] == names[p["index"]] for p in predictions)


def test_cli_download_fails_with_one_line_offline_or_for_an_unknown_name(tmp_path, monkeypatch, capsys):
    import dataclasses

    from googlenet.weights import pretrained

    assert main(["weights", "download", "no_such_model", "--out", str(tmp_path / "x.safetensors")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no_such_model" in err and "resnet18" in err
    # Offline: a URL nothing answers (port 9 on this machine refuses the connection at once).
    table = pretrained.downloads()
    offline = dataclasses.replace(table["resnet18"], url="http://127.0.0.1:9/resnet18-f37072fd.pth")
    monkeypatch.setattr(pretrained, "downloads", lambda: {"resnet18": offline})
    assert table["resnet18"].url.startswith("https://download.pytorch.org/models/resnet18-")
    assert table["googlenet"].digest == "405fc5acd08a3bb12de8ee5e23a96bec22f08204"
    assert main(["weights", "download", "resnet18", "--out", str(tmp_path / "x.safetensors"),
                 "--cache-dir", str(tmp_path / "cache")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot download" in err
    assert not list((tmp_path / "cache").glob("*"))


def test_imagenet_class_names_ship_with_the_package():
    names, wnids = imagenet_class_names(), imagenet_wnids()
    assert len(names) == len(set(names)) == 1000 and len(set(wnids)) == 1000
    assert (wnids[0], names[0]) == ("n01440764", "tench") and wnids == sorted(wnids)
    assert names == list(torchvision.models.get_model_weights("resnet18").DEFAULT.meta["categories"])
