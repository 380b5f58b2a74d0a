"""VGG: Simonyan and Zisserman, "Very deep convolutional networks for large-scale image recognition",
ICLR 2015 (arXiv 1409.1556). Table 1's columns A (VGG-11), B (13), D (16) and E (19): stacks of 3x3/1
convolutions (padding 1) separated by 2x2/2 max pools, then FC-4096, FC-4096, FC-1000 with dropout 0.5
on the first two (section 3.1). ``*_bn`` adds batch norm after every convolution (not in the paper;
torchvision's variants).

Module layout is torchvision's (``features``, ``avgpool``, ``classifier``), so its state_dicts load with
equal outputs: VGG-11 132,863,336, VGG-13 133,047,848, VGG-16 138,357,544, VGG-19 143,667,240 parameters.

``small_input=True``: the five max pools round up (``ceil_mode``) so a 28x28 image still reaches a 1x1
grid, and the classifier reads that grid directly (global average pool, fc6 with 512 inputs) instead of
replicating it 49 times into 7x7; the convolutions are unchanged.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from .blocks import check_classifier_args, check_input, check_width, scale_channels
from .cnn_spec import build_features
from .interface import ImageClassifier
from .registry import register_model

# Table 1, ConvNet configurations, one column per string ("conv3-64" as printed; "maxpool" 2x2/2).
TABLE_1 = {
    "A": "conv3-64 maxpool conv3-128 maxpool conv3-256 conv3-256 maxpool "
         "conv3-512 conv3-512 maxpool conv3-512 conv3-512 maxpool",
    "B": "conv3-64 conv3-64 maxpool conv3-128 conv3-128 maxpool conv3-256 conv3-256 maxpool "
         "conv3-512 conv3-512 maxpool conv3-512 conv3-512 maxpool",
    "D": "conv3-64 conv3-64 maxpool conv3-128 conv3-128 maxpool conv3-256 conv3-256 conv3-256 maxpool "
         "conv3-512 conv3-512 conv3-512 maxpool conv3-512 conv3-512 conv3-512 maxpool",
    "E": "conv3-64 conv3-64 maxpool conv3-128 conv3-128 maxpool conv3-256 conv3-256 conv3-256 conv3-256 maxpool "
         "conv3-512 conv3-512 conv3-512 conv3-512 maxpool conv3-512 conv3-512 conv3-512 conv3-512 maxpool",
}


class VGG(ImageClassifier):
    """VGG configuration ``config`` of Table 1 (torchvision's module layout)."""

    classifier_path = "classifier.6"  # FC-1000

    def __init__(
        self, config: str, *, num_classes: int = 1000, in_channels: int = 3, batch_norm: bool = False,
        width: float = 1.0, small_input: bool = False, dropout: float = 0.5, init_weights: bool = True,
    ) -> None:
        super().__init__()
        check_width(width)
        check_classifier_args(num_classes, dropout)
        self.in_channels, self.small_input = in_channels, small_input
        self.name = f"VGG-{sum(t.startswith('conv') for t in TABLE_1[config].split()) + 3}"
        self.min_input_size = 1 if small_input else 32
        self.features, channels = build_features(TABLE_1[config], in_channels, width=width,
                                                 batch_norm=batch_norm, ceil_mode=small_input, conv_bias=True)
        grid = 1 if small_input else 7
        self.avgpool = nn.AdaptiveAvgPool2d((grid, grid))  # identity at 224x224
        hidden = scale_channels(4096, width)
        self.classifier = nn.Sequential(
            nn.Linear(channels * grid * grid, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )
        if init_weights:  # torchvision's scheme (the paper pre-trained A and initialised deeper nets from it)
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                    if m.bias is not None:
                        nn.init.zeros_(m.bias)
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.ones_(m.weight)
                    nn.init.zeros_(m.bias)
                elif isinstance(m, nn.Linear):
                    nn.init.normal_(m.weight, 0, 0.01)
                    nn.init.zeros_(m.bias)

    def forward_features(self, x: Tensor) -> Tensor:
        check_input(x, in_channels=self.in_channels, min_size=self.min_input_size, model=self.name,
                    small_input_hint=not self.small_input)
        return self.features(x)

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        x = torch.flatten(self.avgpool(x), 1)
        return self.classifier[:-1](x) if pre_logits else self.classifier(x)  # FC-4096, FC-4096[, FC-1000]


_PAPER = "Simonyan, Zisserman, Very deep convolutional networks for large-scale image recognition, ICLR 2015"
# Table 3 of the paper, single-scale evaluation, train scale S=256, test scale Q=256 (ILSVRC-2012 val).
_PUBLISHED = {"A": (29.6, 10.4), "B": (28.7, 9.9), "D": (27.0, 8.8), "E": (27.3, 9.0)}
# torchvision's batch-norm variants (IMAGENET1K_V1 weights; not in the paper).
_TORCHVISION_BN = {"A": (70.370, 89.810), "B": (71.586, 90.374), "D": (73.360, 91.516), "E": (74.218, 91.842)}
_FACTS = {  # depth, params, params with BN, torchvision's GMACs at 224
    "A": (11, 132_863_336, 132_868_840, 7.61),
    "B": (13, 133_047_848, 133_053_736, 11.31),
    "D": (16, 138_357_544, 138_365_992, 15.47),
    "E": (19, 143_667_240, 143_678_248, 19.63),
}


def _register(config: str) -> None:
    depth, params, params_bn, macs = _FACTS[config]
    top1_err, top5_err = _PUBLISHED[config]

    def build(**kwargs: Any) -> VGG:
        return VGG(config, **kwargs)

    def build_bn(**kwargs: Any) -> VGG:
        return VGG(config, batch_norm=True, **kwargs)

    build.__doc__ = f"VGG-{depth} (Table 1, column {config}), torchvision-compatible."
    build_bn.__doc__ = f"VGG-{depth} with batch norm after every convolution, torchvision-compatible."
    register_model(
        f"vgg{depth}", family="vgg", paper=_PAPER, year=2014, input_size=224, params=params, macs=macs,
        top1=round(100 - top1_err, 1), top5=round(100 - top5_err, 1),
        accuracy_source=f"paper Table 3: config {config}, S=Q=256, {top1_err}% top-1 / {top5_err}% top-5 error "
                        "(ILSVRC-2012 val, single scale)",
        description=f"VGG-{depth}: Table 1 column {config}; torchvision-compatible",
    )(build)
    top1, top5 = _TORCHVISION_BN[config]
    register_model(
        f"vgg{depth}_bn", family="vgg", paper=_PAPER + " (with batch norm)", year=2015, input_size=224,
        params=params_bn, macs=macs, top1=top1, top5=top5,
        accuracy_source=f"torchvision VGG{depth}_BN_Weights.IMAGENET1K_V1 (ImageNet val, 1 crop)",
        description=f"VGG-{depth} with batch norm (torchvision's variant); torchvision-compatible",
    )(build_bn)


for _config in TABLE_1:
    _register(_config)
