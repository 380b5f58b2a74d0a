"""AlexNet and ZFNet.

* ``alexnet`` -- Krizhevsky, Sutskever, Hinton, "ImageNet classification with deep convolutional neural
  networks", NIPS 2012, section 3 and Figure 2: 227x227 input (the paper's "224" does not divide: 227 is
  the size for which the 11x11/4 convolution gives 55x55), five convolutions, the two-GPU split kept as
  ``groups=2`` on conv2, conv4 and conv5 (conv3 and the FC layers see both halves, section 3.2), local
  response normalization after conv1 and conv2 (section 3.3), overlapping 3x3/2 max pooling (section 3.4),
  dropout 0.5 in the first two FC layers (section 4.2). 60,965,224 parameters.
* ``alexnet_torchvision`` -- torchvision's ``alexnet`` (the "one weird trick" single-GPU variant: 64/192
  filters, no groups, no LRN): same state_dict keys, loads torchvision's weights. 61,100,840 parameters.
* ``zfnet`` -- Zeiler and Fergus, "Visualizing and understanding convolutional networks", ECCV 2014,
  Figure 3: AlexNet with a 7x7/2 first layer (instead of 11x11/4) and a stride-2 conv2, which section 4.1
  shows keeps more mid-frequency information and avoids aliasing; dense (single-GPU) conv3-5.

``small_input=True`` replaces the first convolution by a 3x3/1 one with the same filters, so 28x28 and
32x32 images keep enough resolution through the three max pools; everything after it is unchanged
(the adaptive 6x6 average pool before fc6 makes the classifier the same size).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from .blocks import (
    LocalResponseNorm,
    check_classifier_args,
    check_input,
    check_width,
    parse_options,
    scale_channels,
)
from .cnn_spec import build_features
from .interface import ImageClassifier
from .registry import register_model


@dataclass(frozen=True)
class AlexNetLayout:
    """Which network a builder makes: its paper's convolution rows and the details that go with them."""

    table: str  # the convolution rows (see :mod:`googlenet.models.cnn_spec`)
    name: str = "AlexNet"  # as error messages call it
    native_size: int = 227  # the input side the table is drawn for
    ceil_mode: bool = False  # the max pools round up (ZFNet: Figure 3's 55, 13 and 6 px maps at 224)
    # torchvision's classifier order (dropout before each hidden FC) instead of the paper's (after each
    # hidden FC's ReLU): the same in eval mode, other state_dict indices, so torchvision's weights load.
    dropout_first: bool = False


# Section 3.5 and Figure 2. Each conv is followed by ReLU; LRN and max pool follow conv1 and conv2.
ALEXNET_2012 = AlexNetLayout(
    "conv11-96/4p0 lrn maxpool3/2 conv5-256g2 lrn maxpool3/2 conv3-384 conv3-384g2 conv3-256g2 maxpool3/2")
# torchvision.models.alexnet (Krizhevsky 2014, "One weird trick...", single-GPU column).
ALEXNET_TORCHVISION = AlexNetLayout(
    "conv11-64/4p2 maxpool3/2 conv5-192 maxpool3/2 conv3-384 conv3-256 conv3-256 maxpool3/2", native_size=224,
    dropout_first=True)
# ZF Figure 3: 7x7/2 conv1, 3x3/2 max pool, contrast norm; 5x5/2 conv2, pool, norm; conv3-5 3x3/1; pool.
ZFNET_2013 = AlexNetLayout(
    "conv7-96/2p1 maxpool3/2 lrn conv5-256/2p0 maxpool3/2 lrn conv3-384 conv3-384 conv3-256 maxpool3/2",
    name="ZFNet", native_size=224, ceil_mode=True)


@dataclass(frozen=True)
class AlexNetOptions:
    """The builder options of :class:`AlexNet` (``create_model("alexnet", **options)`` fills them by name).

    ``paper_init``: section 5's initialisation (N(0, 0.01) weights, biases 1 in conv2/4/5 and fc6/7);
    otherwise PyTorch's default. ``hidden``: the width of fc6 and fc7 before ``width`` scales it.
    """

    width: float = 1.0
    small_input: bool = False
    dropout: float = 0.5
    hidden: int = 4096
    paper_init: bool = False


def paper_lrn() -> nn.Module:
    """Section 3.3: b = a / (k + alpha * sum of n=5 neighbours' a^2)^beta with k=2, alpha=1e-4, beta=0.75.
    torch's LocalResponseNorm divides alpha by n, so the paper's alpha is passed as alpha * n."""
    return LocalResponseNorm(5, alpha=1e-4 * 5, beta=0.75, k=2.0)


class AlexNet(ImageClassifier):
    """A convolutional table, an adaptive 6x6 pool and the three FC layers of AlexNet.

    Args:
        layout: which network (:data:`ALEXNET_2012`, :data:`ALEXNET_TORCHVISION`, :data:`ZFNET_2013`).
        num_classes, in_channels: classifier size and image channels.
        **options: :class:`AlexNetOptions`, by name.
    """

    options_type = AlexNetOptions

    def __init__(self, layout: AlexNetLayout, *, num_classes: int = 1000, in_channels: int = 3,
                 **options: Any) -> None:
        super().__init__()
        o = self.options = parse_options(AlexNetOptions, options, layout.name)
        check_width(o.width)
        check_classifier_args(num_classes, o.dropout)
        self.in_channels, self.small_input, self.name = in_channels, o.small_input, layout.name
        table = layout.table
        if o.small_input:  # a 3x3/1 first convolution with the same number of filters
            first, rest = table.split(maxsplit=1)
            table = f"conv3-{first.split('-')[1].split('/')[0]} {rest}"
        self.min_input_size = 16 if o.small_input else layout.native_size // 4
        self.features, channels = build_features(table, in_channels, width=o.width, lrn=paper_lrn,
                                                 ceil_mode=layout.ceil_mode)
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))  # identity at the native input size
        self.classifier = _classifier(channels * 36, scale_channels(o.hidden, o.width), num_classes, o.dropout,
                                      dropout_first=layout.dropout_first)
        self.classifier_path = f"classifier.{len(self.classifier) - 1}"  # fc8
        if o.paper_init:
            self._paper_init()

    def _paper_init(self) -> None:
        # Section 5: weights from N(0, 0.01); biases 1 in conv2, conv4, conv5 and the hidden FC layers
        # (to give the ReLUs positive inputs early), 0 elsewhere.
        convs = [m for m in self.features if isinstance(m, nn.Conv2d)]
        linears = [m for m in self.classifier if isinstance(m, nn.Linear)]
        for i, m in enumerate(convs + linears):
            nn.init.normal_(m.weight, 0.0, 0.01)
            one = (m in convs and i in (1, 3, 4)) or m in linears[:2]
            nn.init.constant_(m.bias, 1.0 if one else 0.0)

    def forward_features(self, x: Tensor) -> Tensor:
        check_input(x, in_channels=self.in_channels, min_size=self.min_input_size, model=self.name,
                    small_input_hint=not self.small_input)
        return self.features(x)  # conv1-conv5 with their pools and LRNs

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        x = torch.flatten(self.avgpool(x), 1)
        return self.classifier[:-1](x) if pre_logits else self.classifier(x)  # fc6, fc7[, fc8]


def _classifier(features: int, hidden: int, num_classes: int, dropout: float, *, dropout_first: bool) -> nn.Sequential:
    """fc6, fc7 (ReLU and dropout each) and fc8."""
    fc6, fc7, fc8 = nn.Linear(features, hidden), nn.Linear(hidden, hidden), nn.Linear(hidden, num_classes)
    if dropout_first:
        layers = [nn.Dropout(dropout), fc6, nn.ReLU(inplace=True), nn.Dropout(dropout), fc7,
                  nn.ReLU(inplace=True), fc8]
    else:
        layers = [fc6, nn.ReLU(inplace=True), nn.Dropout(dropout), fc7, nn.ReLU(inplace=True),
                  nn.Dropout(dropout), fc8]
    return nn.Sequential(*layers)


_ALEXNET = "Krizhevsky, Sutskever, Hinton, ImageNet classification with deep convolutional neural networks, NIPS 2012"
_ZFNET = "Zeiler, Fergus, Visualizing and understanding convolutional networks, ECCV 2014"


@register_model(
    # macs: Sze et al., Efficient processing of deep neural networks, Proc. IEEE 2017, Table III: 724M
    "alexnet", family="alexnet", paper=_ALEXNET, year=2012, input_size=227, params=60_965_224, macs=0.724,
    top1=59.3, top5=81.8,
    accuracy_source="paper Table 2: 1 CNN, 40.7% top-1 / 18.2% top-5 error (ILSVRC-2012 val)",
    description="AlexNet as the paper: 227x227, LRN, groups=2 (two-GPU split), overlapping pooling, dropout",
)
def alexnet(**kwargs: Any) -> AlexNet:
    """AlexNet as NIPS 2012 (section 3, Figure 2). ``paper_init=False``: PyTorch's default initialisation
    instead of section 5's (whose N(0, 0.01) weights and unit biases need the paper's long schedule)."""
    return AlexNet(ALEXNET_2012, **{"paper_init": True, **kwargs})


@register_model(
    "alexnet_torchvision", family="alexnet", paper=_ALEXNET + " (torchvision's single-GPU variant)", year=2014,
    input_size=224, params=61_100_840, macs=0.71, top1=56.522, top5=79.066,
    accuracy_source="torchvision AlexNet_Weights.IMAGENET1K_V1 (ImageNet val, 1 crop)",
    description="torchvision-compatible AlexNet (64-192-384-256-256, no LRN, no groups); loads its weights",
)
def alexnet_torchvision(**kwargs: Any) -> AlexNet:
    """AlexNet with torchvision's layout: ``load_state_dict(torchvision.models.alexnet().state_dict())``."""
    return AlexNet(ALEXNET_TORCHVISION, **kwargs)


@register_model(
    "zfnet", family="alexnet", paper=_ZFNET, year=2013, input_size=224, params=62_357_608, macs=None,
    top1=61.6, top5=83.5,
    accuracy_source="ZF paper Table 2: 1 convnet as per Fig. 3, 38.4% top-1 / 16.5% top-5 error (ILSVRC-2012 val)",
    description="ZFNet (Figure 3): 7x7/2 conv1, 5x5/2 conv2, dense conv3-5, contrast normalization",
)
def zfnet(**kwargs: Any) -> AlexNet:
    """ZFNet as Figure 3 of Zeiler and Fergus."""
    return AlexNet(ZFNET_2013, **{"paper_init": True, **kwargs})
