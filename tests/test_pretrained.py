"""googlenet.create_model(name, pretrained=True | "tag" | FILE), the registry of released weights and its
downloads through torch.hub's cache. No test touches the network: downloads are served by a stand-in for
urllib's urlopen inside torch.hub (so torch.hub's own hash check runs), or refused as offline."""

from __future__ import annotations

import dataclasses
import email.message
import hashlib
import io
import urllib.error
from pathlib import Path

import pytest
import torch
import torch.hub

import googlenet
from googlenet.errors import DataError, UserError
from googlenet.weights import pretrained
from googlenet.weights.checkpoint import save_model

torch.set_num_threads(1)


class _Response(io.BytesIO):
    """What torch.hub reads from urlopen: a body and headers."""

    def info(self):
        return email.message.Message()


@pytest.fixture
def hub(tmp_path, monkeypatch) -> Path:
    """torch.hub's checkpoint folder in a fresh $TORCH_HOME; every download refused unless a test serves one."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))

    def offline(*_args, **_kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "urlopen", offline)
    return tmp_path / "torch" / "hub" / "checkpoints"


def _serve(monkeypatch, body: bytes, seen: list) -> None:
    def urlopen(request, *args, **kwargs):
        seen.append(request.full_url)
        return _Response(body)

    monkeypatch.setattr(torch.hub, "urlopen", urlopen)


def _torchvision_file(tmp_path: Path, seed: int = 0) -> tuple[Path, dict]:
    """A squeezenet1_1 state_dict saved as torchvision saves its weights (1000 classes)."""
    torch.manual_seed(seed)
    state = googlenet.models.create_model("squeezenet1_1").state_dict()
    path = tmp_path / f"squeeze-{seed}.pth"
    torch.save(state, path)
    return path, state


def _with_entry(monkeypatch, entry) -> None:
    """Replace the registry entry of ``entry.model`` (same tag) by ``entry``."""
    table = tuple(entry if (e.model, e.tag) == (entry.model, entry.tag) else e for e in pretrained.ENTRIES)
    monkeypatch.setattr(pretrained, "ENTRIES", table)


def _same_weights(model, state) -> bool:
    own = model.state_dict()
    return all(torch.equal(own[k], v) for k, v in state.items())


def test_list_pretrained_and_each_entry_is_complete():
    names = googlenet.list_pretrained()
    assert "googlenet.bvlc" in names and "googlenet_torchvision.torchvision" in names
    assert googlenet.list_pretrained("resnet*") == [f"resnet{d}.torchvision" for d in (18, 34, 50, 101, 152)]
    assert googlenet.list_pretrained("*.bvlc") == ["googlenet.bvlc"]
    for entry in pretrained.ENTRIES:
        assert entry.model in googlenet.list_models()
        assert entry.url.startswith(("https://", "http://")) and entry.digest and entry.licence and entry.source
        assert entry.top1 and entry.top5 and len(entry.class_names) == 1000
        cfg = entry.cfg
        assert cfg.input_size and cfg.resize and cfg.channels == 3 and len(cfg.mean) == len(cfg.std) == 3
    assert sum(e.default for e in pretrained.ENTRIES if e.model == "googlenet") == 1


def test_the_torchvision_entries_are_torchvision_s_default_weights():
    from torchvision.models import get_model_weights

    from googlenet.weights.torchvision import TORCHVISION_MODELS

    entries = {e.model: e for e in pretrained.ENTRIES if e.tag == "torchvision"}
    assert set(entries) == set(TORCHVISION_MODELS)
    for ours, theirs in TORCHVISION_MODELS.items():
        weights = get_model_weights(theirs).DEFAULT
        entry, preset = entries[ours], weights.transforms()
        metrics = weights.meta["_metrics"]["ImageNet-1K"]
        assert entry.url == weights.url and entry.url.rsplit("-", 1)[1].startswith(entry.digest)
        assert (entry.top1, entry.top5) == (metrics["acc@1"], metrics["acc@5"])
        assert (entry.cfg.input_size, entry.cfg.resize) == (preset.crop_size[0], preset.resize_size[0])
        assert list(entry.cfg.mean) == preset.mean and list(entry.cfg.std) == preset.std
        assert entry.cfg.interpolation == preset.interpolation.value
        assert entry.class_names == weights.meta["categories"]


@pytest.mark.parametrize("entry", pretrained.ENTRIES, ids=lambda e: e.name)
def test_every_entry_downloads_through_torch_hub_and_checks_its_hash(hub, monkeypatch, entry):
    """Each entry asks torch.hub for its URL into torch.hub's cache; a file of other bytes than the published
    hash is refused in one line and leaves nothing in the cache."""
    seen: list = []
    _serve(monkeypatch, b"not the published file", seen)
    with pytest.raises(DataError) as info:
        googlenet.create_model(entry.model, pretrained=entry.tag)
    message = str(info.value)
    assert "\n" not in message and entry.url in message and "try again" in message
    assert seen == [entry.url]
    assert not hub.exists() or not any(hub.iterdir()), "a damaged download must not stay in the cache"


def test_pretrained_true_downloads_once_into_torch_hub_s_cache(hub, tmp_path, monkeypatch):
    path, state = _torchvision_file(tmp_path)
    body = path.read_bytes()
    prefix = hashlib.sha256(body).hexdigest()[:8]
    real = pretrained.pretrained_entry("squeezenet1_1")
    entry = dataclasses.replace(real, url=f"https://example.invalid/models/squeezenet1_1-{prefix}.pth", digest=prefix)
    _with_entry(monkeypatch, entry)
    seen: list = []
    _serve(monkeypatch, body, seen)
    model = googlenet.create_model("squeezenet1_1", pretrained=True)
    assert seen == [entry.url] and (hub / entry.filename).read_bytes() == body  # torch.hub checked the hash
    assert _same_weights(model, state) and not model.training
    assert model.pretrained_cfg == real.cfg and model.class_names[0] == "tench"
    # Offline now: the cached file is used (as torchvision's own downloads are), nothing is fetched again.
    monkeypatch.setattr(torch.hub, "urlopen", lambda *a, **k: pytest.fail("downloaded a cached file again"))
    again = googlenet.create_model("squeezenet1_1", pretrained="torchvision")
    assert _same_weights(again, state)
    tuned = googlenet.create_model("squeezenet1_1", pretrained="squeezenet1_1.torchvision", num_classes=7)
    assert tuned.num_classes == 7 and tuned.class_names is None
    assert torch.equal(tuned.features[0].weight, state["features.0.weight"])


def test_a_file_torchvision_already_downloaded_is_reused(hub, tmp_path):
    """torchvision's own download of googlenet-1378be20.pth (same folder, same name) needs no second one."""
    torch.manual_seed(1)
    state = googlenet.models.create_model("googlenet_torchvision", aux_logits=False).state_dict()
    hub.mkdir(parents=True)
    torch.save(state, hub / "googlenet-1378be20.pth")
    model = googlenet.create_model("googlenet_torchvision", pretrained=True)
    assert _same_weights(model, state) and model.transform_input  # torchvision's loading rule
    assert model.pretrained_cfg.source == "torchvision" and model.pretrained_cfg.resize == 256


def test_offline_is_one_line_naming_the_file_the_folder_and_the_import(hub):
    with pytest.raises(UserError) as info:
        googlenet.create_model("resnet18", pretrained=True)
    message = str(info.value)
    assert "\n" not in message and "resnet18-f37072fd.pth" in message
    assert str(hub / "resnet18-f37072fd.pth") in message
    assert "googlenet weights import torchvision resnet18-f37072fd.pth" in message
    assert "https://download.pytorch.org/models/resnet18-f37072fd.pth" in message


def test_bvlc_googlenet_by_tag_and_by_default_is_checked_by_sha1(hub, tmp_path, monkeypatch):
    from googlenet.weights.caffe import write_caffemodel

    torch.manual_seed(2)
    source = googlenet.models.create_model("googlenet", aux_logits=False)
    caffemodel = write_caffemodel(source, tmp_path / "bvlc_googlenet.caffemodel")
    body = caffemodel.read_bytes()
    entry = dataclasses.replace(pretrained.BVLC_GOOGLENET, digest=hashlib.sha1(body).hexdigest())
    _with_entry(monkeypatch, entry)
    seen: list = []
    _serve(monkeypatch, body, seen)
    model = googlenet.create_model("googlenet", pretrained="bvlc")
    assert seen == [entry.url] and _same_weights(model, source.state_dict())
    assert model.pretrained_cfg.channel_order == "BGR" and model.pretrained_cfg.scale == 255.0
    assert _same_weights(googlenet.create_model("googlenet", pretrained=True), source.state_dict())


def test_pretrained_takes_local_files_of_each_format(tmp_path):
    path, state = _torchvision_file(tmp_path, seed=3)
    model = googlenet.create_model("squeezenet1_1", pretrained=path)  # a torchvision .pth
    assert _same_weights(model, state) and model.pretrained_cfg.source == "torchvision"
    ours = save_model(tmp_path / "m.safetensors", model, model_name="squeezenet1_1",
                      model_kwargs={"num_classes": 1000}, class_names=model.class_names)
    again = googlenet.create_model("squeezenet1_1", pretrained=str(ours))  # our model file, its record kept
    assert _same_weights(again, state) and again.pretrained_cfg == model.pretrained_cfg
    with pytest.raises(DataError, match="holds a squeezenet1_1"):
        googlenet.create_model("resnet18", pretrained=ours)
    with pytest.raises(UserError, match="neither a file nor a weights tag"):
        googlenet.create_model("squeezenet1_1", pretrained=tmp_path / "missing.pth")
    with pytest.raises(UserError, match="no released weights for 'lenet5'"):
        googlenet.create_model("lenet5", pretrained=True)
    with pytest.raises(UserError, match="googlenet.create_model"):
        googlenet.models.create_model("resnet18", pretrained=True)


def test_cli_models_lists_the_released_weights_and_says_when_nothing_matches(capsys):
    import json

    from googlenet.cli import main

    assert main(["models", "--pretrained", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [e["name"] for e in listed] == googlenet.list_pretrained()
    assert all(e["url"] and (e.get("sha256") or e.get("sha1")) and e["licence"] and e["preprocessing"] for e in listed)
    assert main(["models", "resnet?8", "--json"]) == 0
    assert [m["name"] for m in json.loads(capsys.readouterr().out)] == ["resnet18"]
    assert main(["models", "nothing_like_this*"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no model matches" in err and "nothing_like_this*" in err
