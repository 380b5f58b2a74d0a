"""The model declares its auxiliary heads (ImageClassifier.aux_classifier_paths): the training loss and log of
any number of them, the summary's auxiliary rows, weight import and fusion all ask the model."""

from __future__ import annotations

import json
from typing import NamedTuple

import torch
from torch import Tensor, nn

from googlenet import create_model
from googlenet.deploy.fusion import optimize_for_inference
from googlenet.inspect.tables import summary
from googlenet.models import registry
from googlenet.models.interface import ImageClassifier
from googlenet.weights._state import aux_prefixes


class ThreeHeads(NamedTuple):
    main: Tensor
    left: Tensor
    middle: Tensor
    right: Tensor


class Tripod(ImageClassifier):
    """A small CNN with three auxiliary heads named nothing like GoogLeNet's."""

    classifier_path = "fc"
    aux_classifier_paths = ("left.1", "middle.1", "right.1")

    def __init__(self, num_classes: int = 10, in_channels: int = 1, **_: object) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.features = nn.Sequential(nn.Conv2d(in_channels, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                                      nn.Flatten())
        self.left, self.middle, self.right = (nn.Sequential(nn.Flatten(), nn.Linear(8, num_classes))
                                              for _ in range(3))
        self.fc = nn.Linear(8, num_classes)

    def forward_features(self, x: Tensor) -> Tensor:
        return self.features(x)

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        return x if pre_logits else self.fc(x)

    def forward(self, x: Tensor):
        f = self.forward_features(x)
        if self.training:
            return ThreeHeads(self.fc(f), self.left(f), self.middle(f), self.right(f))
        return self.fc(f)


def _tripod_registered(monkeypatch) -> None:
    registry._discover()
    monkeypatch.setitem(registry._REGISTRY, "tripod", registry.ModelInfo(
        name="tripod", builder=Tripod, family="test", paper="-", year=2026, input_size=28))


def test_the_log_has_one_loss_per_declared_head(monkeypatch, digits, tmp_path):
    from googlenet.training import make_config, train

    _tripod_registered(monkeypatch)
    train(make_config("fast", model="tripod", dataset=str(digits), out=str(tmp_path / "run"), epochs=1,
                      batch_size=20, threads=1, model_kwargs={}, eval_test=False, report=False), quiet=True)
    row = json.loads((tmp_path / "run" / "log.jsonl").read_text().splitlines()[-1])
    losses = sorted(k for k in row if k.startswith("train_aux"))
    assert losses == ["train_aux1_loss", "train_aux2_loss", "train_aux3_loss"]
    assert all(row[k] > 0 for k in losses)


def test_tables_weights_and_fusion_ask_the_model_for_its_heads(monkeypatch):
    _tripod_registered(monkeypatch)
    rows = {r.name: r for r in summary(Tripod(), 28).rows}
    aux = [n for n, r in rows.items() if r.auxiliary]
    assert {n.split(".")[0] for n in aux} == {"left", "middle", "right"} and len(aux) == 6  # Flatten, Linear each
    assert not rows["fc"].auxiliary
    assert aux_prefixes("tripod") == ("left.", "middle.", "right.")
    assert aux_prefixes("googlenet") == ("aux1.", "aux2.") and aux_prefixes("inception_v3") == ("AuxLogits.",)
    assert aux_prefixes("vgg16") == ()
    v3 = create_model("inception_v3", num_classes=5, width=0.125, aux_logits=True)
    fused = optimize_for_inference(v3, fuse_inception=False)
    assert fused.AuxLogits is None and v3.AuxLogits is not None  # the declared head dropped from the copy
    x = torch.randn(1, 3, 75, 75)
    torch.testing.assert_close(fused(x), v3.eval()(x), atol=1e-4, rtol=1e-4)
