"""Network in Network: Lin, Chen, Yan, "Network in network", ICLR 2014 (arXiv 1312.4400).

An "mlpconv" layer (section 3.1, Figure 2) is a convolution followed by a small multilayer perceptron
shared across positions, i.e. 1x1 convolutions ("cccp" in the authors' Caffe files), each with ReLU.
Global average pooling of one feature map per class replaces the fully connected classifier (section
3.2) -- the idea GoogLeNet adopted for its own head (GoogLeNet section 5).

* ``nin_cifar`` -- the CIFAR-10 network of section 4.2 / the authors' cifar10_nin.prototxt: three mlpconv
  layers (192 5x5 + 160 + 96; 192 5x5 + 192 + 192; 192 3x3 + 192 + classes), 3x3/2 max then average
  pooling with dropout 0.5 between them, global average pooling. 966,986 parameters for 10 classes.
  Native 32x32; 28x28 goes through unchanged (``small_input`` changes nothing).
* ``nin`` -- the ImageNet model of the authors' Caffe Model Zoo release (four mlpconv layers after
  AlexNet's widths, 11x11/4 first convolution). 7,595,176 parameters. ``small_input=True`` makes the
  first convolution 3x3/1 (same 96 filters); the rest is unchanged.

As in the authors' Caffe files the last 1x1 convolution is followed by ReLU before the global average pool,
and pools round up (Caffe's ceil mode).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from .blocks import check_classifier_args, check_input, check_width
from .cnn_spec import build_features
from .interface import ImageClassifier
from .registry import register_model

# One mlpconv layer per line: conv, then its 1x1 "MLP" layers (cccp), then pooling and dropout.
CIFAR_MLPCONV = """
    conv5-192 conv1-160 conv1-96   maxpool3/2 dropout
    conv5-192 conv1-192 conv1-192  avgpool3/2 dropout
    conv3-192 conv1-192 conv1-10
"""
IMAGENET_MLPCONV = """
    conv11-96/4p0 conv1-96 conv1-96  maxpool3/2
    conv5-256 conv1-256 conv1-256    maxpool3/2
    conv3-384 conv1-384 conv1-384    maxpool3/2 dropout
    conv3-1024 conv1-1024 conv1-1000
"""


class NiN(ImageClassifier):
    """Stacked mlpconv layers and global average pooling (section 3.2: no fully connected layers)."""

    def __init__(
        self, table: str, *, num_classes: int, in_channels: int = 3, width: float = 1.0,
        small_input: bool = False, imagenet_stem: bool = False, name: str = "NiN",
    ) -> None:
        super().__init__()
        check_width(width)
        check_classifier_args(num_classes)
        self.in_channels, self.small_input, self.name = in_channels, small_input, name
        if small_input and imagenet_stem:  # 3x3/1 first convolution, same number of filters
            first, rest = table.split(maxsplit=1)
            table = f"conv3-{first.split('-')[1].split('/')[0]} {rest}"
        self.min_input_size = 1 if (small_input or not imagenet_stem) else 64
        # the last 1x1 convolution has one map per class (section 3.2), whatever the width
        self.features, _ = build_features(table, in_channels, width=width, ceil_mode=True, last_out=num_classes)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))  # global average pooling
        # The classifier is the last mlpconv's last 1x1 convolution (one map per class) and what follows it.
        self._head_start = max(i for i, m in enumerate(self.features) if isinstance(m, nn.Conv2d))
        self.classifier_path = f"features.{self._head_start}"
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def forward_features(self, x: Tensor) -> Tensor:
        check_input(x, in_channels=self.in_channels, min_size=self.min_input_size, model=self.name,
                    small_input_hint=not self.small_input)
        return self.features[: self._head_start](x)

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        if pre_logits or isinstance(self.features[self._head_start], nn.Identity):  # or reset_classifier(0)
            return torch.flatten(self.avgpool(x), 1)
        return torch.flatten(self.avgpool(self.features[self._head_start:](x)), 1)


_PAPER = "Lin, Chen, Yan, Network in network, ICLR 2014"


@register_model(
    "nin_cifar", family="nin", paper=_PAPER, year=2013, input_size=32, params=966_986, macs=None,
    top1=89.59, top5=None, dataset="CIFAR-10",
    accuracy_source="paper Table 1: NIN + Dropout, 10.41% test error (CIFAR-10, no augmentation)",
    description="NiN for CIFAR-10 (section 4.2): 3 mlpconv layers, global average pooling",
    default_kwargs={"num_classes": 10},
)
def nin_cifar(**kwargs: Any) -> NiN:
    """NiN's CIFAR-10 network (three mlpconv layers)."""
    return NiN(CIFAR_MLPCONV, name="NiN (CIFAR)", **kwargs)


@register_model(
    "nin", family="nin", paper=_PAPER + " (authors' ImageNet model)", year=2014, input_size=224,
    params=7_595_176, macs=None, top1=59.36, top5=None,
    accuracy_source="authors' Caffe Model Zoo NIN-ImageNet release: 59.36% top-1 (ILSVRC-2012 val, center crop)",
    description="NiN for ImageNet: 4 mlpconv layers (AlexNet widths), global average pooling, 30 MB",
    default_kwargs={"num_classes": 1000},
)
def nin(**kwargs: Any) -> NiN:
    """NiN's ImageNet network (four mlpconv layers)."""
    return NiN(IMAGENET_MLPCONV, imagenet_stem=True, name="NiN (ImageNet)", **kwargs)
