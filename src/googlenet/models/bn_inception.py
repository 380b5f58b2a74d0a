"""BN-Inception (Inception-v2): Ioffe & Szegedy, "Batch Normalization: Accelerating Deep Network Training
by Reducing Internal Covariate Shift", ICML 2015 (arXiv 1502.03167), appendix, Figure 5.

GoogLeNet with batch norm after every convolution and the changes the appendix lists:

* every 5x5 convolution is replaced by two consecutive 3x3 ("double #3x3" columns);
* three 28x28 Inception modules instead of two (3a, 3b, 3c);
* pooling inside the modules is sometimes average, sometimes max (the "Pool +proj" column);
* no pooling layers between modules: 3c and 4e reduce the grid with stride-2 convolutions beside a
  stride-2 max pool whose output is passed through ("max +pass through");
* the first convolution is separable with depth multiplier 8 (``separable_conv1``; set it False for the
  plain 7x7 convolution of the widely used Caffe re-implementation).

The rows below *are* Figure 5; the network is built by walking them.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from ..errors import UserError
from .blocks import ConvBlock, SeparableConvBlock, check_classifier_args, check_input, check_width, scale_channels
from .interface import ImageClassifier
from .registry import register_model
from .spec import Conv, MixedBlock, Pool


class BNInceptionSpec(NamedTuple):
    """One row of Figure 5. ``n1x1 = 0`` and ``pool_proj = 0`` with ``stride = 2`` are the table's
    grid-reducing modules (no 1x1 branch, pool "pass through")."""

    name: str
    n1x1: int
    n3x3_reduce: int
    n3x3: int
    double3x3_reduce: int
    double3x3: int
    pool: str  # "avg" or "max"
    pool_proj: int
    stride: int = 1

    def branches(self) -> tuple:
        s = self.stride
        branches = [(Conv("branch1x1", self.n1x1, 1),)] if self.n1x1 else []
        branches.append((Conv("branch3x3_reduce", self.n3x3_reduce, 1), Conv("branch3x3", self.n3x3, 3, stride=s)))
        branches.append((
            Conv("double3x3_reduce", self.double3x3_reduce, 1),
            Conv("double3x3a", self.double3x3, 3),
            Conv("double3x3b", self.double3x3, 3, stride=s),
        ))
        pool = Pool(self.pool, stride=s)
        branches.append((pool, Conv("pool_proj", self.pool_proj, 1)) if self.pool_proj else (pool,))
        return tuple(branches)


# Figure 5. Columns: #1x1, #3x3 reduce, #3x3, double #3x3 reduce, double #3x3, Pool, +proj, stride.
FIGURE_5: tuple[BNInceptionSpec, ...] = (
    BNInceptionSpec("3a", 64, 64, 64, 64, 96, "avg", 32),
    BNInceptionSpec("3b", 64, 64, 96, 64, 96, "avg", 64),
    BNInceptionSpec("3c", 0, 128, 160, 64, 96, "max", 0, stride=2),
    BNInceptionSpec("4a", 224, 64, 96, 96, 128, "avg", 128),
    BNInceptionSpec("4b", 192, 96, 128, 96, 128, "avg", 128),
    BNInceptionSpec("4c", 160, 128, 160, 128, 160, "avg", 128),
    BNInceptionSpec("4d", 96, 128, 192, 160, 192, "avg", 128),
    BNInceptionSpec("4e", 0, 128, 192, 192, 256, "max", 0, stride=2),
    BNInceptionSpec("5a", 352, 192, 320, 160, 224, "avg", 128),
    BNInceptionSpec("5b", 352, 192, 320, 192, 224, "max", 128),
)


class BNInception(ImageClassifier):
    """BN-Inception as Figure 5 of the batch-normalization paper.

    Args:
        num_classes: classifier size.
        in_channels: image channels.
        width: multiplies every channel count.
        small_input: replace the 224x224 stem (7x7/2 conv, two 3x3/2 pools) by a 3x3/1 conv and one
            3x3/2 pool, exactly as GoogLeNet's small-input stem, so 28x28 / 32x32 images reach inception
            3a at 14x14 / 16x16 (the paper's 224 input reaches it at 28x28). The rest is unchanged.
        separable_conv1: the paper's depthwise-separable first convolution (depth multiplier 8).
        dropout: before the final linear layer (GoogLeNet's 0.4; the paper reduces or removes it for
            its fastest variants, section 4.2.1).
        aux_logits: accepted for a uniform interface (the CLI's ``--no-aux``); only False is valid.
    """

    def __init__(
        self, num_classes: int = 1000, in_channels: int = 3, *, width: float = 1.0, small_input: bool = False,
        separable_conv1: bool = True, dropout: float = 0.4, bn_eps: float = 1e-5, aux_logits: bool = False,
    ) -> None:
        super().__init__()
        check_width(width)
        if aux_logits:
            raise UserError("BN-Inception has no auxiliary classifier in the paper's Figure 5; build it with "
                            "aux_logits=False (CLI: --no-aux) or leave the option out")
        check_classifier_args(num_classes, dropout)
        self.in_channels, self.small_input = in_channels, small_input
        self.min_input_size = 2 if small_input else 7
        c = lambda n: scale_channels(n, width)  # noqa: E731
        # Stem: Figure 5's rows "convolution* 7x7/2", "max pool 3x3/2", "convolution 3x3/1" (with its
        # 1x1 reduce of 64), "max pool 3x3/2".
        if small_input:
            self.conv1 = ConvBlock(in_channels, c(64), 3, stride=1, padding=1, bn_eps=bn_eps)
        elif separable_conv1:
            self.conv1 = SeparableConvBlock(in_channels, c(64), 7, stride=2, padding=3, depth_multiplier=8,
                                            bn_eps=bn_eps)
        else:
            self.conv1 = ConvBlock(in_channels, c(64), 7, stride=2, padding=3, bn_eps=bn_eps)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2_reduce = ConvBlock(c(64), c(64), 1, bn_eps=bn_eps)
        self.conv2 = ConvBlock(c(64), c(192), 3, padding=1, bn_eps=bn_eps)
        self.maxpool2 = nn.Identity() if small_input else nn.MaxPool2d(3, stride=2, ceil_mode=True)
        channels = c(192)
        for row in FIGURE_5:
            block = MixedBlock(channels, row.branches(), width=width, bn_eps=bn_eps)
            self.add_module(f"inception{row.name}", block)
            channels = block.out_channels
        self.avgpool = nn.AdaptiveAvgPool2d(1)  # "avg pool 7x7/1"
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(channels, num_classes)
        self._trunk = ["conv1", "maxpool1", "conv2_reduce", "conv2", "maxpool2"] + [
            f"inception{row.name}" for row in FIGURE_5
        ]

    def forward_features(self, x: Tensor) -> Tensor:
        check_input(x, in_channels=self.in_channels, min_size=self.min_input_size, model="BN-Inception",
                    small_input_hint=not self.small_input)
        for name in self._trunk:  # Figure 5's rows, top to bottom
            x = self._modules[name](x)
        return x

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        x = self.dropout(torch.flatten(self.avgpool(x), 1))
        return x if pre_logits else self.fc(x)


@register_model(
    "bn_inception", family="inception", paper="Ioffe & Szegedy, Batch Normalization: Accelerating Deep Network "
    "Training by Reducing Internal Covariate Shift, ICML 2015", year=2015, input_size=224,
    params=11_278_528, macs=1.95, top1=74.8, top5=92.18,
    accuracy_source="paper Figure 4: BN-Inception single crop, 25.2% top-1 / 7.82% top-5 error (ILSVRC 2012 "
    "val); params and mult-adds measured on this implementation (the paper gives neither)",
    description="Inception-v2: GoogLeNet + batch norm, 5x5 -> two 3x3, three 28x28 modules, stride-2 modules",
)
def bn_inception(**kwargs: Any) -> BNInception:
    """BN-Inception (batch-normalization paper, Figure 5). See :class:`BNInception`."""
    return BNInception(**kwargs)
