"""ENet: Paszke, Chaurasia, Kim, Culurciello, "ENet: a deep neural network architecture for real-time
semantic segmentation", arXiv 1606.02147, 2016.

An encoder-decoder for per-pixel classification, built from ResNet-style bottlenecks (section 3,
Figure 2b): 1x1 projection (4x fewer channels), a main convolution -- regular 3x3, dilated 3x3, or
asymmetric 5x1 then 1x5 -- and a 1x1 expansion, each followed by batch norm and PReLU, spatial dropout,
and a shortcut. Downsampling bottlenecks replace the projection by a 2x2/2 convolution and max-pool the
shortcut (zero-padding its channels); upsampling bottlenecks max-unpool the shortcut with the indices of
the matching downsampling (section 4, "decoder"). The initial block (Figure 2a) concatenates a 13-filter
3x3/2 convolution with a 2x2 max pool of the input. No biases in the convolutions (section 4).
Table 1 below is the network, row by row. 363,911 parameters for 19 classes (paper Table 3: 0.37M).

Output: logits of shape ``(N, num_classes, H, W)``. H and W must be multiples of 8 (three halvings and
three doublings); ``small_input=True`` pads any other size up to the next multiple of 8 and crops the
output back, so 28x28 images work.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import UserError
from .blocks import check_classifier_args, check_input
from .interface import ImageClassifier
from .registry import register_model


class Row(NamedTuple):
    """One row of Table 1: name, type ("downsampling", "regular", "dilated", "asymmetric", "upsampling"),
    the dilation or asymmetric kernel size where the table gives one, and output channels."""

    name: str
    kind: str
    arg: int
    out: int


def _stage(n: int, channels: int) -> list[Row]:
    # bottleneck n.1 ... n.8 of stages 2 and 3 (stage 3 is stage 2 without the downsampling, Table 1)
    kinds = [("regular", 0), ("dilated", 2), ("asymmetric", 5), ("dilated", 4),
             ("regular", 0), ("dilated", 8), ("asymmetric", 5), ("dilated", 16)]
    return [Row(f"bottleneck{n}_{i + 1}", kind, arg, channels) for i, (kind, arg) in enumerate(kinds)]


TABLE_1: list[Row] = [
    Row("bottleneck1_0", "downsampling", 0, 64),
    *[Row(f"bottleneck1_{i}", "regular", 0, 64) for i in range(1, 5)],
    Row("bottleneck2_0", "downsampling", 0, 128),
    *_stage(2, 128),
    *_stage(3, 128),
    Row("bottleneck4_0", "upsampling", 0, 64),
    Row("bottleneck4_1", "regular", 0, 64),
    Row("bottleneck4_2", "regular", 0, 64),
    Row("bottleneck5_0", "upsampling", 0, 16),
    Row("bottleneck5_1", "regular", 0, 16),
]
# upsampling bottleneck -> the downsampling bottleneck whose max-pool indices it reuses
UNPOOL_FROM = {"bottleneck4_0": "bottleneck2_0", "bottleneck5_0": "bottleneck1_0"}


def _bn_act(channels: int, relu: bool) -> list[nn.Module]:
    # Encoder: PReLU with one slope per feature map (section 4); decoder: ReLU, as the authors' code.
    return [nn.BatchNorm2d(channels, eps=1e-3), nn.ReLU(inplace=True) if relu else nn.PReLU(channels)]


class InitialBlock(nn.Module):
    """Figure 2a: 3x3/2 convolution (out - in filters) concatenated with a 2x2/2 max pool of the input."""

    def __init__(self, in_channels: int, out_channels: int = 16) -> None:
        super().__init__()
        if out_channels <= in_channels:
            raise UserError(f"ENet's initial block needs fewer than 16 input channels, got {in_channels}; "
                            "convert the images to RGB or grey")
        self.conv = nn.Conv2d(in_channels, out_channels - in_channels, 3, stride=2, padding=1, bias=False)
        self.pool = nn.MaxPool2d(2, 2)
        self.bn, self.act = _bn_act(out_channels, relu=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.bn(torch.cat([self.conv(x), self.pool(x)], 1)))


class Bottleneck(nn.Module):
    """Figure 2b: regular, dilated or asymmetric bottleneck with an identity shortcut."""

    def __init__(self, channels: int, kind: str, arg: int, dropout: float, relu: bool) -> None:
        super().__init__()
        mid = channels // 4  # "projection ... reduces the dimensionality" by 4 (section 3)
        if kind == "asymmetric":  # a 5x5 convolution as 5x1 then 1x5 (section 4, "asymmetric convolutions")
            main = [nn.Conv2d(mid, mid, (arg, 1), padding=(arg // 2, 0), bias=False),
                    nn.Conv2d(mid, mid, (1, arg), padding=(0, arg // 2), bias=False)]
        else:
            dilation = arg if kind == "dilated" else 1
            main = [nn.Conv2d(mid, mid, 3, padding=dilation, dilation=dilation, bias=False)]
        self.branch = nn.Sequential(
            nn.Conv2d(channels, mid, 1, bias=False), *_bn_act(mid, relu),
            *main, *_bn_act(mid, relu),
            nn.Conv2d(mid, channels, 1, bias=False), *_bn_act(channels, relu),
            nn.Dropout2d(dropout),  # spatial dropout (section 4, "regularization")
        )
        self.act = _bn_act(channels, relu)[1]

    def forward(self, x: Tensor) -> Tensor:
        return self.act(x + self.branch(x))


class DownsamplingBottleneck(nn.Module):
    """2x2/2 projection instead of 1x1; the shortcut is a 2x2 max pool (indices kept), zero-padded."""

    def __init__(self, in_channels: int, out_channels: int, dropout: float) -> None:
        super().__init__()
        mid = in_channels // 4
        self.pool = nn.MaxPool2d(2, 2, return_indices=True)
        self.branch = nn.Sequential(
            nn.Conv2d(in_channels, mid, 2, stride=2, bias=False), *_bn_act(mid, False),
            nn.Conv2d(mid, mid, 3, padding=1, bias=False), *_bn_act(mid, False),
            nn.Conv2d(mid, out_channels, 1, bias=False), *_bn_act(out_channels, False),
            nn.Dropout2d(dropout),
        )
        self.extra_channels = out_channels - in_channels
        self.act = nn.PReLU(out_channels)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        shortcut, indices = self.pool(x)
        shortcut = F.pad(shortcut, (0, 0, 0, 0, 0, self.extra_channels))
        return self.act(shortcut + self.branch(x)), indices


class UpsamplingBottleneck(nn.Module):
    """Shortcut: 1x1 conv + BN to the output width, then max-unpooling with the encoder's indices;
    branch: 1x1 projection, 3x3/2 transposed convolution, 1x1 expansion."""

    def __init__(self, in_channels: int, out_channels: int, dropout: float) -> None:
        super().__init__()
        mid = in_channels // 4
        self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, bias=False),
                                      nn.BatchNorm2d(out_channels, eps=1e-3))
        self.unpool = nn.MaxUnpool2d(2, 2)
        self.branch = nn.Sequential(
            nn.Conv2d(in_channels, mid, 1, bias=False), *_bn_act(mid, True),
            nn.ConvTranspose2d(mid, mid, 3, stride=2, padding=1, output_padding=1, bias=False),
            *_bn_act(mid, True),
            nn.Conv2d(mid, out_channels, 1, bias=False), *_bn_act(out_channels, True),
            nn.Dropout2d(dropout),
        )
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: Tensor, indices: Tensor) -> Tensor:
        shortcut = self.unpool(self.shortcut(x), indices)
        return self.act(shortcut + self.branch(x))


class ENet(ImageClassifier):
    """ENet (Table 1). ``forward`` returns per-pixel logits ``(N, num_classes, H, W)``.

    Its "classifier" is Table 1's final ``fullconv``: ``forward_features`` gives the decoder's last
    16-channel map at half the input resolution, ``forward_head`` the per-pixel logits from it.
    """

    classifier_path = "fullconv"

    def __init__(self, num_classes: int = 19, in_channels: int = 3, *, small_input: bool = False,
                 dropout: tuple[float, float] = (0.01, 0.1)) -> None:
        super().__init__()
        check_classifier_args(num_classes)
        self.in_channels, self.small_input = in_channels, small_input
        self.initial = InitialBlock(in_channels, 16)
        channels = 16
        for row in TABLE_1:
            # spatial dropout 0.01 before bottleneck2.0, 0.1 afterwards (section 4)
            p = dropout[0] if row.name.startswith("bottleneck1") else dropout[1]
            decoder = row.name.startswith(("bottleneck4", "bottleneck5"))
            if row.kind == "downsampling":
                module: nn.Module = DownsamplingBottleneck(channels, row.out, p)
            elif row.kind == "upsampling":
                module = UpsamplingBottleneck(channels, row.out, p)
            else:
                module = Bottleneck(channels, row.kind, row.arg, p, relu=decoder)
            self.add_module(row.name, module)
            channels = row.out
        # Table 1's "fullconv": a transposed convolution back to the input resolution, one map per class
        self.fullconv = nn.ConvTranspose2d(channels, num_classes, 3, stride=2, padding=1, output_padding=1,
                                           bias=False)

    def forward_features(self, x: Tensor) -> Tensor:
        check_input(x, in_channels=self.in_channels, min_size=8, model="ENet", small_input_hint=False)
        h, w = x.shape[-2:]
        pad_h, pad_w = -h % 8, -w % 8
        if pad_h or pad_w:
            if not self.small_input:
                raise UserError(f"ENet needs image sides that are multiples of 8, got {h}x{w}; resize or crop "
                                "them, or build with small_input=True (CLI: --small-input) to pad and crop back")
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        x = self.initial(x)
        indices: dict[str, Tensor] = {}
        for row in TABLE_1:
            module = getattr(self, row.name)
            if row.kind == "downsampling":
                x, indices[row.name] = module(x)
            elif row.kind == "upsampling":
                x = module(x, indices[UNPOOL_FROM[row.name]])
            else:
                x = module(x)
        return x

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        return x if pre_logits else self.fullconv(x)

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        return self.forward_head(self.forward_features(x))[..., :h, :w]  # crop the small-input padding

    def new_classifier_layer(self, old: nn.Module, num_classes: int) -> nn.Module:
        return nn.ConvTranspose2d(old.in_channels, num_classes, 3, stride=2, padding=1, output_padding=1, bias=False)


@register_model(
    "enet", family="enet", year=2016, input_size=512, params=370_000, macs=None, task="segmentation",
    dataset="Cityscapes", accuracy_source="paper Table 4: 58.3% class IoU on Cityscapes test (not top-1)",
    paper="Paszke, Chaurasia, Kim, Culurciello, ENet: a deep neural network architecture for real-time "
          "semantic segmentation, 2016",
    description="ENet encoder-decoder: initial block, dilated/asymmetric bottlenecks, max-unpooling decoder",
    default_kwargs={"num_classes": 19},
)
def enet(**kwargs: Any) -> ENet:
    """ENet for semantic segmentation; per-pixel logits at the input resolution."""
    return ENet(**kwargs)
