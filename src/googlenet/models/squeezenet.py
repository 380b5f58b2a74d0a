"""SqueezeNet: Iandola, Han, Moskewicz, Ashraf, Dally, Keutzer, "SqueezeNet: AlexNet-level accuracy with
50x fewer parameters and <0.5MB model size", arXiv 1602.07360, 2016.

The Fire module (section 3.2, Figure 1): a 1x1 "squeeze" layer feeding a mix of 1x1 and 3x3 "expand"
filters, outputs concatenated. Table 1's rows are the data below.

* ``squeezenet1_0`` -- Table 1 / Figure 2 left: 1,248,424 parameters.
* ``squeezenet1_1`` -- the v1.1 of the authors' repository (3x3/2 64-filter conv1, pools moved earlier:
  2.4x less computation, same accuracy): 1,235,496 parameters.
* ``squeezenet1_0_simple_bypass`` / ``squeezenet1_0_complex_bypass`` -- section 6 and Figure 2 middle /
  right: identity shortcuts around fire3, 5, 7, 9 (where input and output widths agree); the complex
  variant adds 1x1-convolution shortcuts around fire2, 4, 6, 8 as well. Table 3 reports 60.4% / 58.8%.

Module names are torchvision's, so its state_dicts load into the first two with equal outputs.

``small_input=True`` makes conv1 a 3x3/1 convolution with the same filters, so 32x32 images reach fire9 at
4x4 instead of 1x1; the Fire modules and classifier are unchanged.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import UserError
from .blocks import check_classifier_args, check_input, check_width, scale_channels
from .interface import ImageClassifier
from .registry import register_model


class FireSpec(NamedTuple):
    """One Fire row of Table 1: s1x1 (squeeze), e1x1 and e3x3 (expand) filter counts."""

    name: str
    s1x1: int
    e1x1: int
    e3x3: int


class Fire(nn.Module):
    """Figure 1. ``bypass``: None, "simple" (identity shortcut) or "complex" (1x1 conv shortcut), section 6."""

    def __init__(self, in_channels: int, squeeze: int, expand1x1: int, expand3x3: int,
                 bypass: str | None = None) -> None:
        super().__init__()
        self.squeeze = nn.Conv2d(in_channels, squeeze, 1)
        self.squeeze_activation = nn.ReLU(inplace=True)
        self.expand1x1 = nn.Conv2d(squeeze, expand1x1, 1)
        self.expand1x1_activation = nn.ReLU(inplace=True)
        self.expand3x3 = nn.Conv2d(squeeze, expand3x3, 3, padding=1)
        self.expand3x3_activation = nn.ReLU(inplace=True)
        self.out_channels = expand1x1 + expand3x3
        self.simple_bypass = bypass == "simple"
        if self.simple_bypass and in_channels != self.out_channels:
            raise ValueError("a simple bypass needs equal input and output widths")
        if bypass == "complex":
            self.bypass = nn.Conv2d(in_channels, self.out_channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        s = self.squeeze_activation(self.squeeze(x))
        out = torch.cat([self.expand1x1_activation(self.expand1x1(s)),
                         self.expand3x3_activation(self.expand3x3(s))], 1)
        if self.simple_bypass:
            return out + x
        if hasattr(self, "bypass"):
            return out + self.bypass(x)
        return out


# Table 1 (v1.0) and the authors' v1.1: "conv" rows are (filters, kernel, stride), "maxpool" 3x3/2.
_FIRES = {
    2: FireSpec("fire2", 16, 64, 64), 3: FireSpec("fire3", 16, 64, 64), 4: FireSpec("fire4", 32, 128, 128),
    5: FireSpec("fire5", 32, 128, 128), 6: FireSpec("fire6", 48, 192, 192), 7: FireSpec("fire7", 48, 192, 192),
    8: FireSpec("fire8", 64, 256, 256), 9: FireSpec("fire9", 64, 256, 256),
}
TABLE_1 = {
    "1_0": [("conv1", 96, 7, 2), "maxpool1", _FIRES[2], _FIRES[3], _FIRES[4], "maxpool4",
            _FIRES[5], _FIRES[6], _FIRES[7], _FIRES[8], "maxpool8", _FIRES[9]],
    "1_1": [("conv1", 64, 3, 2), "maxpool1", _FIRES[2], _FIRES[3], "maxpool3", _FIRES[4], _FIRES[5],
            "maxpool5", _FIRES[6], _FIRES[7], _FIRES[8], _FIRES[9]],
}
# Section 6: simple bypass around fire3, 5, 7, 9; complex adds 1x1-conv bypasses around fire2, 4, 6, 8.
BYPASS = {None: {}, "simple": {3: "simple", 5: "simple", 7: "simple", 9: "simple"}}
BYPASS["complex"] = {**BYPASS["simple"], 2: "complex", 4: "complex", 6: "complex", 8: "complex"}


class SqueezeNet(ImageClassifier):
    classifier_path = "classifier.1"  # conv10

    def __init__(
        self, version: str = "1_0", *, num_classes: int = 1000, in_channels: int = 3, width: float = 1.0,
        small_input: bool = False, bypass: str | None = None, dropout: float = 0.5,
    ) -> None:
        super().__init__()
        check_width(width)
        check_classifier_args(num_classes, dropout)
        if bypass not in BYPASS:
            raise UserError(f"bypass must be None, 'simple' or 'complex', got {bypass!r}")
        self.in_channels, self.small_input = in_channels, small_input
        self.name = f"SqueezeNet {version.replace('_', '.')}"
        self.min_input_size = 1 if small_input else 32
        c = lambda n: scale_channels(n, width)  # noqa: E731
        layers: list[nn.Module] = []
        channels = in_channels
        for row in TABLE_1[version]:
            if isinstance(row, FireSpec):
                fire = Fire(channels, c(row.s1x1), c(row.e1x1), c(row.e3x3),
                            BYPASS[bypass].get(int(row.name[4:])))
                layers.append(fire)
                channels = fire.out_channels
            elif isinstance(row, str):  # max pools: 3x3/2, rounding up (Caffe)
                layers.append(nn.MaxPool2d(3, 2, ceil_mode=True))
            else:
                _, filters, kernel, stride = row
                if small_input:
                    layers.append(nn.Conv2d(channels, c(filters), 3, 1, 1))
                else:
                    layers.append(nn.Conv2d(channels, c(filters), kernel, stride))
                layers.append(nn.ReLU(inplace=True))
                channels = c(filters)
        self.features = nn.Sequential(*layers)
        # conv10 (1x1, one filter per class), ReLU, global average pool; dropout 50% after fire9 (section 5)
        final_conv = nn.Conv2d(channels, num_classes, 1)
        self.classifier = nn.Sequential(nn.Dropout(dropout), final_conv, nn.ReLU(inplace=True),
                                        nn.AdaptiveAvgPool2d((1, 1)))
        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                if m is final_conv:
                    nn.init.normal_(m.weight, mean=0.0, std=0.01)
                else:
                    nn.init.kaiming_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward_features(self, x: Tensor) -> Tensor:
        check_input(x, in_channels=self.in_channels, min_size=self.min_input_size, model=self.name,
                    small_input_hint=not self.small_input)
        return self.features(x)  # conv1 ... fire9

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        # reset_classifier(0) leaves no conv10: the pooled features, without the ReLU that follows conv10 (the
        # complex bypass's sums can be negative).
        if pre_logits or isinstance(self.classifier[1], nn.Identity):
            # what conv10 sees, pooled: conv10 is 1x1, so it commutes with the average pool
            return torch.flatten(F.adaptive_avg_pool2d(self.classifier[0](x), 1), 1)
        return torch.flatten(self.classifier(x), 1)  # dropout, conv10, ReLU, global average pool


_PAPER = "Iandola et al., SqueezeNet: AlexNet-level accuracy with 50x fewer parameters and <0.5MB model size, 2016"


@register_model(
    "squeezenet1_0", family="squeezenet", paper=_PAPER, year=2016, input_size=224, params=1_248_424, macs=0.82,
    top1=58.092, top5=80.420, accuracy_source="torchvision SqueezeNet1_0_Weights.IMAGENET1K_V1 (paper Table 2: "
    "57.5% / 80.3%)",
    description="SqueezeNet 1.0 (Table 1): Fire modules, no FC layers; torchvision-compatible",
)
def squeezenet1_0(**kwargs: Any) -> SqueezeNet:
    """SqueezeNet 1.0 as Table 1."""
    return SqueezeNet("1_0", **kwargs)


@register_model(
    "squeezenet1_1", family="squeezenet", paper=_PAPER + " (v1.1, authors' repository)", year=2016,
    input_size=224, params=1_235_496, macs=0.35, top1=58.178, top5=80.624,
    accuracy_source="torchvision SqueezeNet1_1_Weights.IMAGENET1K_V1 (ImageNet val, 1 crop)",
    description="SqueezeNet 1.1: 3x3 conv1, earlier pooling, 2.4x less computation; torchvision-compatible",
)
def squeezenet1_1(**kwargs: Any) -> SqueezeNet:
    """SqueezeNet 1.1 (the authors' v1.1: 64 3x3/2 filters in conv1, pools after fire3 and fire5)."""
    return SqueezeNet("1_1", **kwargs)


@register_model(
    "squeezenet1_0_simple_bypass", family="squeezenet", paper=_PAPER, year=2016, input_size=224,
    params=1_248_424, macs=0.82, top1=60.4, top5=82.5,
    accuracy_source="paper Table 3: SqueezeNet + simple bypass (ImageNet val)",
    description="SqueezeNet 1.0 with identity shortcuts around fire3/5/7/9 (section 6, Figure 2 middle)",
)
def squeezenet1_0_simple_bypass(**kwargs: Any) -> SqueezeNet:
    """SqueezeNet 1.0 with section 6's simple bypass."""
    return SqueezeNet("1_0", bypass="simple", **kwargs)


@register_model(
    "squeezenet1_0_complex_bypass", family="squeezenet", paper=_PAPER, year=2016, input_size=224,
    params=1_589_672, macs=None, top1=58.8, top5=82.0,
    accuracy_source="paper Table 3: SqueezeNet + complex bypass (ImageNet val)",
    description="SqueezeNet 1.0 with simple bypasses plus 1x1-conv bypasses around fire2/4/6/8 (Figure 2 right)",
)
def squeezenet1_0_complex_bypass(**kwargs: Any) -> SqueezeNet:
    """SqueezeNet 1.0 with section 6's complex bypass."""
    return SqueezeNet("1_0", bypass="complex", **kwargs)
