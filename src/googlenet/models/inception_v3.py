"""Inception-v3: Szegedy et al., "Rethinking the Inception Architecture for Computer Vision", CVPR 2016
(arXiv 1512.00567).

The network as released with the paper's ImageNet results (TF-slim, and torchvision's ``inception_v3``
whose state_dict keys and numerics this module reproduces). Table 1 of the paper sketches it; the
released network differs in details the paper's table leaves out or misprints: the stem's 1x1/80 and
3x3/192 convolutions followed by a max pool, and a grid reduction (Figure 10) before the 17x17 and 8x8
stages, each counted as one of Table 1's "Inception" rows. See docs/inception-family.md.

Parameters: 23,834,568 without the auxiliary classifier, 27,161,264 with it (1000 classes).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .blocks import (
    ConvBlock,
    check_classifier_args,
    check_input,
    check_width,
    scale_channels,
    torchvision_input_transform,
)
from .interface import ImageClassifier
from .outputs import InceptionOutputs
from .registry import register_model
from .spec import Conv, Mixed, Pool, Split, build_layers, small_input_steps


def inception_a(pool_features: int) -> tuple:
    """Figure 5: the 35x35 module; GoogLeNet's 5x5 becomes two 3x3 (section 3.1). The released network
    keeps a 5x5 in one branch and adds the factorized double-3x3 branch beside it."""
    return (
        (Conv("branch1x1", 64, 1),),
        (Conv("branch5x5_1", 48, 1), Conv("branch5x5_2", 64, 5)),
        (Conv("branch3x3dbl_1", 64, 1), Conv("branch3x3dbl_2", 96, 3), Conv("branch3x3dbl_3", 96, 3)),
        (Pool("avg"), Conv("branch_pool", pool_features, 1)),
    )


# Figure 10: 35x35 -> 17x17 grid reduction, stride-2 convolutions beside a stride-2 pool (section 5).
REDUCTION_35_TO_17 = (
    (Conv("branch3x3", 384, 3, stride=2, valid=True),),
    (Conv("branch3x3dbl_1", 64, 1), Conv("branch3x3dbl_2", 96, 3),
     Conv("branch3x3dbl_3", 96, 3, stride=2, valid=True)),
    (Pool("max", stride=2, valid=True),),
)


def inception_c(c7: int) -> tuple:
    """Figure 6: the 17x17 module, 7x7 factorized into 1x7 then 7x1 (section 3.2, n = 7)."""
    return (
        (Conv("branch1x1", 192, 1),),
        (Conv("branch7x7_1", c7, 1), Conv("branch7x7_2", c7, (1, 7)), Conv("branch7x7_3", 192, (7, 1))),
        (Conv("branch7x7dbl_1", c7, 1), Conv("branch7x7dbl_2", c7, (7, 1)), Conv("branch7x7dbl_3", c7, (1, 7)),
         Conv("branch7x7dbl_4", c7, (7, 1)), Conv("branch7x7dbl_5", 192, (1, 7))),
        (Pool("avg"), Conv("branch_pool", 192, 1)),
    )


# 17x17 -> 8x8 grid reduction (Figure 10's scheme with a factorized 7x7 before the stride-2 3x3).
REDUCTION_17_TO_8 = (
    (Conv("branch3x3_1", 192, 1), Conv("branch3x3_2", 320, 3, stride=2, valid=True)),
    (Conv("branch7x7x3_1", 192, 1), Conv("branch7x7x3_2", 192, (1, 7)), Conv("branch7x7x3_3", 192, (7, 1)),
     Conv("branch7x7x3_4", 192, 3, stride=2, valid=True)),
    (Pool("max", stride=2, valid=True),),
)

# Figure 7: the 8x8 module with expanded filter banks (3x3 split into parallel 1x3 and 3x1), section 3.2.
INCEPTION_E = (
    (Conv("branch1x1", 320, 1),),
    (Conv("branch3x3_1", 384, 1), Split((Conv("branch3x3_2a", 384, (1, 3)), Conv("branch3x3_2b", 384, (3, 1))))),
    (Conv("branch3x3dbl_1", 448, 1), Conv("branch3x3dbl_2", 384, 3),
     Split((Conv("branch3x3dbl_3a", 384, (1, 3)), Conv("branch3x3dbl_3b", 384, (3, 1))))),
    (Pool("avg"), Conv("branch_pool", 192, 1)),
)

# Table 1's rows as released. Stem: 299x299x3 -> 35x35x192.
STEM = (
    Conv("Conv2d_1a_3x3", 32, 3, stride=2, valid=True),
    Conv("Conv2d_2a_3x3", 32, 3, valid=True),
    Conv("Conv2d_2b_3x3", 64, 3),  # "conv padded"
    Pool("max", stride=2, valid=True, name="maxpool1"),
    Conv("Conv2d_3b_1x1", 80, 1),
    Conv("Conv2d_4a_3x3", 192, 3, valid=True),
    Pool("max", stride=2, valid=True, name="maxpool2"),
)
SMALL_INPUT_DOWNSAMPLE = "maxpool1"  # the one stride-2 row the small-input stem keeps

# "3 x Inception" (35x35x288), "5 x Inception" (17x17x768), "2 x Inception" (8x8x2048).
TRUNK = (
    Mixed("Mixed_5b", inception_a(32)),
    Mixed("Mixed_5c", inception_a(64)),
    Mixed("Mixed_5d", inception_a(64)),
    Mixed("Mixed_6a", REDUCTION_35_TO_17),
    Mixed("Mixed_6b", inception_c(128)),
    Mixed("Mixed_6c", inception_c(160)),
    Mixed("Mixed_6d", inception_c(160)),
    Mixed("Mixed_6e", inception_c(192)),
    Mixed("Mixed_7a", REDUCTION_17_TO_8),
    Mixed("Mixed_7b", INCEPTION_E),
    Mixed("Mixed_7c", INCEPTION_E),
)
AUX_TAP = "Mixed_6e"  # the auxiliary classifier sits on top of the last 17x17 layer (section 4)


class InceptionAux(nn.Module):
    """Section 4 / Figure 8's auxiliary classifier on the 17x17x768 grid: 5x5/3 average pool, 1x1 conv
    128, 5x5 conv 768 (both batch-normalized: the paper's "BN-auxiliary", section 7), linear.

    Grids smaller than 17x17 (small inputs) are pooled adaptively to 5x5 instead; at 17x17 and above this
    is exactly torchvision's ``InceptionAux``.
    """

    def __init__(self, in_channels: int, num_classes: int, *, width: float = 1.0) -> None:
        super().__init__()
        mid, out = scale_channels(128, width), scale_channels(768, width)
        self.conv0 = ConvBlock(in_channels, mid, 1)
        self.conv1 = ConvBlock(mid, out, 5)
        self.fc = nn.Linear(out, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        if min(x.shape[-2:]) >= 17:
            x = F.avg_pool2d(x, kernel_size=5, stride=3)
        else:
            x = F.adaptive_avg_pool2d(x, 5)
        x = self.conv1(self.conv0(x))
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(x)


class InceptionV3(ImageClassifier):
    aux_classifier_paths = ("AuxLogits.fc",)

    """Inception-v3, state_dict-compatible with ``torchvision.models.inception_v3``.

    Args:
        num_classes: classifier size.
        in_channels: image channels.
        aux_logits: build the auxiliary classifier (``AuxLogits``); in training mode the model then
            returns :class:`InceptionOutputs` ``(main, aux)``, in eval mode the main logits.
        dropout: before the final linear layer (torchvision's 0.5; the paper does not state one).
        width: multiplies every channel count (1.0 is the paper's network).
        small_input: the stem's stride-2 rows become stride 1 (except ``maxpool1``) so 28x28 / 32x32
            images reach Mixed_5b at 14x14 / 16x16; parameters unchanged (:func:`small_input_steps`).
        transform_input: re-normalize ImageNet-normalized input as torchvision's weights expect.
    """

    def __init__(
        self, num_classes: int = 1000, in_channels: int = 3, *, aux_logits: bool = True, dropout: float = 0.5,
        width: float = 1.0, small_input: bool = False, transform_input: bool = False, init_weights: bool = True,
    ) -> None:
        super().__init__()
        check_width(width)
        check_classifier_args(num_classes, dropout)
        self.in_channels, self.aux_logits, self.transform_input = in_channels, aux_logits, transform_input
        self.small_input = small_input
        self.min_input_size = 13 if small_input else 75
        stem = small_input_steps(STEM, SMALL_INPUT_DOWNSAMPLE) if small_input else STEM
        layers, channels = build_layers(in_channels, stem + TRUNK[:8], width=width)
        for name, module in layers.items():
            self.add_module(name, module)
        self.AuxLogits = InceptionAux(channels, num_classes, width=width) if aux_logits else None
        layers, channels = build_layers(channels, TRUNK[8:], width=width)
        for name, module in layers.items():
            self.add_module(name, module)
        self._trunk = [step.name for step in stem + TRUNK]
        self.avgpool = nn.AdaptiveAvgPool2d(1)  # Table 1's "pool 8x8"
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(channels, num_classes)
        if init_weights:  # torchvision's scheme
            for m in self.modules():
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    nn.init.trunc_normal_(m.weight, mean=0.0, std=0.1, a=-2, b=2)
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.ones_(m.weight)
                    nn.init.zeros_(m.bias)
            if self.AuxLogits is not None:
                nn.init.trunc_normal_(self.AuxLogits.conv1.conv.weight, std=0.01, a=-2, b=2)
                nn.init.trunc_normal_(self.AuxLogits.fc.weight, std=0.001, a=-2, b=2)

    def _trunk_and_aux(self, x: Tensor, with_aux: bool) -> tuple[Tensor, Tensor | None]:
        check_input(x, in_channels=self.in_channels, min_size=self.min_input_size, model="Inception-v3",
                    small_input_hint=not self.small_input)
        if self.transform_input:
            x = torchvision_input_transform(x)
        aux = None
        for name in self._trunk:  # Table 1's rows, top to bottom
            x = self._modules[name](x)
            if name == AUX_TAP and with_aux:
                aux = self.AuxLogits(x)
        return x, aux

    def forward_features(self, x: Tensor) -> Tensor:
        return self._trunk_and_aux(x, with_aux=False)[0]

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        x = self.dropout(torch.flatten(self.avgpool(x), 1))
        return x if pre_logits else self.fc(x)

    def forward(self, x: Tensor) -> Tensor | InceptionOutputs:
        x, aux = self._trunk_and_aux(x, with_aux=self.training and self.AuxLogits is not None)
        x = self.forward_head(x)
        if aux is not None:
            return InceptionOutputs(x, aux)
        return x


@register_model(
    "inception_v3", family="inception", paper="Szegedy et al., Rethinking the Inception Architecture for "
    "Computer Vision, CVPR 2016", year=2015, input_size=299, params=23_834_568, macs=5.71, top1=78.8, top5=94.4,
    accuracy_source="paper Table 3: Inception-v3 (BN-auxiliary), 21.2% top-1 / 5.6% top-5 error, 1 crop, "
    "ILSVRC 2012 val; torchvision's weights: 77.294 / 93.450",
    description="Inception-v3 as released: factorized 7x7, expanded 8x8 modules, grid reductions, BN aux head; "
    "torchvision-compatible",
)
def inception_v3(**kwargs: Any) -> InceptionV3:
    """Inception-v3 (Rethinking..., Table 1 and Figures 5-7, 10). See :class:`InceptionV3`."""
    return InceptionV3(**kwargs)
