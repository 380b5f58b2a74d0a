"""Helpers shared by the plain convolutional stacks (AlexNet, ZFNet, VGG, NiN).

A network's table is written as a string of tokens, one per row of the paper's table:

* ``conv11-96/4p0g2`` -- convolution, kernel 11, 96 filters, stride 4, padding 0, 2 groups
  (``/s``, ``p`` and ``g`` optional: stride 1, padding ``k // 2``, 1 group), then ReLU;
* ``maxpool3/2`` -- max pooling 3x3 stride 2 (``maxpool`` alone: 2x2 stride 2, VGG's);
* ``lrn`` -- local response normalization; ``dropout`` -- dropout 0.5.

:func:`build_features` turns the tokens into an ``nn.Sequential`` with torchvision's module order
(conv, [bn], relu, ...), so torchvision's state_dict keys (``features.0.weight``...) line up.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import NamedTuple

from torch import nn

from ..errors import UserError
from .blocks import scale_channels

_CONV = re.compile(r"conv(\d+)-(\d+)(?:/(\d+))?(?:p(\d+))?(?:g(\d+))?$")
_POOL = re.compile(r"(max|avg)pool(?:(\d+)/(\d+))?$")


class Conv(NamedTuple):
    kernel: int
    out_channels: int
    stride: int
    padding: int
    groups: int


def parse(token: str) -> Conv | tuple[str, int, int] | str:
    if match := _CONV.match(token):
        k, c, s, p, g = match.groups()
        return Conv(int(k), int(c), int(s or 1), int(p) if p is not None else int(k) // 2, int(g or 1))
    if match := _POOL.match(token):
        kind, k, s = match.groups()
        return (kind, int(k or 2), int(s or 2))
    if token in ("lrn", "dropout"):
        return token
    raise ValueError(f"unknown layer token {token!r}")


def build_features(
    table: str,
    in_channels: int,
    *,
    width: float = 1.0,
    batch_norm: bool = False,
    lrn: Callable[[], nn.Module] | None = None,
    ceil_mode: bool = False,
    last_out: int | None = None,
    conv_bias: bool | None = None,
) -> tuple[nn.Sequential, int]:
    """The layers of ``table`` and the number of channels they output.

    ``lrn`` makes the normalization module for ``lrn`` tokens (each paper defines its own);
    ``conv_bias`` overrides the default (a bias only without batch norm; torchvision's VGG keeps both).
    ``last_out`` fixes the final convolution's width (NiN's last 1x1 has one filter per class, unscaled by
    ``width``).
    """
    layers: list[nn.Module] = []
    tokens = table.split()
    last_conv = max(i for i, t in enumerate(tokens) if t.startswith("conv"))
    channels = in_channels
    for i, token in enumerate(tokens):
        row = parse(token)
        if isinstance(row, Conv):
            out = last_out if (i == last_conv and last_out) else scale_channels(row.out_channels, width)
            if row.groups > 1 and (channels % row.groups or out % row.groups):
                raise UserError(f"width={width} gives {channels}->{out} channels, not divisible into "
                                f"{row.groups} groups; pick a width that keeps channels even, e.g. 0.5")
            layers.append(nn.Conv2d(channels, out, row.kernel, row.stride, row.padding, groups=row.groups,
                                    bias=not batch_norm if conv_bias is None else conv_bias))
            if batch_norm:
                layers.append(nn.BatchNorm2d(out))
            layers.append(nn.ReLU(inplace=True))
            channels = out
        elif isinstance(row, tuple):
            kind, k, s = row
            layers.append(nn.MaxPool2d(k, s, ceil_mode=ceil_mode) if kind == "max"
                          else nn.AvgPool2d(k, s, ceil_mode=ceil_mode))
        elif row == "lrn":
            if lrn is None:
                raise ValueError("table has an lrn row but no lrn module was given")
            layers.append(lrn())
        else:
            layers.append(nn.Dropout(0.5))
    return nn.Sequential(*layers), channels
