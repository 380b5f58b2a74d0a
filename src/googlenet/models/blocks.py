"""Building blocks shared by the model families.

Kept deliberately small and explicit, so each family file reads like its paper:

* :class:`ConvBlock` -- convolution, optional batch norm, ReLU (the "conv" of every table).
* :func:`factorized_5x5`, :func:`factorized_nxn` -- the v3 factorizations (Rethinking..., section 3).
* :class:`GridReduction` -- the efficient grid-size reduction (Rethinking..., section 5, Figure 10).
* :class:`ScaledResidual` -- Inception-ResNet's residual scaling (Inception-v4 paper, section 3.3).
* :class:`SeparableConvBlock` -- BN-Inception's depthwise-separable first layer.
* :class:`LocalResponseNorm` -- torch's LRN, computed faster (GoogLeNet's Figure 3, AlexNet's section 3.3).
* :func:`check_input`, :func:`check_width`, :func:`check_classifier_args` -- one place for the
  "wrong channel count / image too small / impossible width or class count" errors.
* :func:`parse_options` -- a builder's ``**options`` into its options dataclass, an unknown name refused.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import UserError

Options = TypeVar("Options")


def scale_channels(channels: int, width: float) -> int:
    """Channel count under a width multiplier; never below 1 so tiny widths still build."""
    return max(1, int(round(channels * width)))

def check_width(width: float) -> None:
    if not width > 0:
        raise UserError(f"width multiplier must be positive, got {width}; use e.g. width=1.0 or width=0.5")

class LocalResponseNorm(nn.LocalResponseNorm):
    """``torch.nn.LocalResponseNorm``, the same function computed as a sum of shifted squares.

    b_c = a_c / (k + alpha / n * sum of a_j^2 over the n channels j around c)^beta, channels beyond the
    edges counting as zeros, exactly as torch's. torch sums the window with ``avg_pool3d`` (in fp32 even
    under bf16 autocast); adding the n shifted slices of the padded squares into one buffer is faster
    (``python benchmarks/lrn.py``; docs/performance.md, "LRN, the paper's normalization").
    Being a subclass, it prints, exports to ONNX and is recognised (tables, diagrams) as an LRN layer.
    """

    def forward(self, input: Tensor) -> Tensor:
        if input.dim() < 3:
            return super().forward(input)  # torch's own message for a wrong shape
        channels = input.shape[1]
        before, after = self.size // 2, (self.size - 1) // 2
        padding = [0, 0] * (input.dim() - 2) + [before, after]  # F.pad pads the last dims first
        squares = F.pad(input * input, padding)
        # In place on one buffer: no tensor per term (autograd's add needs none of its inputs).
        window = squares.narrow(1, 0, channels).clone()
        for shift in range(1, self.size):
            window.add_(squares.narrow(1, shift, channels))
        return input / window.mul_(self.alpha / self.size).add_(self.k).pow_(self.beta)


#: Activations a :class:`ConvBlock` can end with. ReLU is every paper's here; Mish (Misra 2019) is the
#: Imagenette leaderboard's (docs/training.md#photos), offered as a builder option.
ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "mish": nn.Mish}


def check_activation(name: str) -> None:
    if name not in ACTIVATIONS:
        raise UserError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {name!r}; e.g. activation='mish'")


class ConvBlock(nn.Sequential):
    """Conv2d [+ BatchNorm2d] [+ ReLU, or another of :data:`ACTIVATIONS`].

    GoogLeNet as published has no batch norm (it predates it), so its convolutions carry a bias.
    With ``batch_norm=True`` the bias is dropped (the BN shift replaces it), as in torchvision's
    ``BasicConv2d`` whose keys (``conv``, ``bn``) this module reproduces.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] | str = 0,
        *,
        batch_norm: bool = True,
        bn_eps: float = 1e-3,
        activation: bool | str = True,
    ) -> None:
        layers: dict[str, nn.Module] = {
            "conv": nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=not batch_norm)
        }
        if batch_norm:
            layers["bn"] = nn.BatchNorm2d(out_channels, eps=bn_eps)
        if activation:
            name = "relu" if activation is True else str(activation)
            check_activation(name)
            layers[name] = ACTIVATIONS[name](inplace=True)
        super().__init__()
        for name, module in layers.items():
            self.add_module(name, module)

def factorized_5x5(in_channels: int, mid_channels: int, out_channels: int, *, batch_norm: bool = True) -> nn.Sequential:
    """A 5x5 convolution replaced by two stacked 3x3 (Rethinking..., section 3.1, Figure 1): 28% cheaper."""
    return nn.Sequential(
        ConvBlock(in_channels, mid_channels, 3, padding=1, batch_norm=batch_norm),
        ConvBlock(mid_channels, out_channels, 3, padding=1, batch_norm=batch_norm),
    )

def factorized_nxn(
    in_channels: int, mid_channels: int, out_channels: int, n: int, *, batch_norm: bool = True
) -> nn.Sequential:
    """An n x n convolution replaced by 1 x n then n x 1 (Rethinking..., section 3.2, Figure 3)."""
    return nn.Sequential(
        ConvBlock(in_channels, mid_channels, (1, n), padding=(0, n // 2), batch_norm=batch_norm),
        ConvBlock(mid_channels, out_channels, (n, 1), padding=(n // 2, 0), batch_norm=batch_norm),
    )

class GridReduction(nn.Module):
    """Efficient grid-size reduction (Rethinking..., section 5, Figure 10).

    Stride-2 convolution branches run in parallel with a stride-2 pool and are concatenated, so the
    grid halves without either a representational bottleneck (pool first) or 3x the cost (conv first).
    """

    def __init__(self, conv_branches: Sequence[nn.Module], pool: nn.Module | None = None) -> None:
        super().__init__()
        self.branches = nn.ModuleList(conv_branches)
        self.pool = pool if pool is not None else nn.MaxPool2d(3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([branch(x) for branch in self.branches] + [self.pool(x)], dim=1)

class ScaledResidual(nn.Module):
    """``relu(x + scale * residual(x))`` -- Inception-ResNet's residual scaling (v4 paper, section 3.3).

    Scaling the residual by 0.1-0.3 before the addition kept very wide Inception-ResNets from dying
    early in training.
    """

    def __init__(self, residual: nn.Module, scale: float, *, activation: bool = True) -> None:
        super().__init__()
        self.residual = residual
        self.scale = scale
        self.activation = nn.ReLU(inplace=False) if activation else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.activation(x + self.scale * self.residual(x))

class SeparableConvBlock(nn.Sequential):
    """Depthwise ``kernel_size`` convolution with ``depth_multiplier`` filters per input channel, then a
    1x1 convolution, batch norm and ReLU (TensorFlow's ``separable_conv2d``).

    BN-Inception's first layer is one, with depth multiplier 8 (batch-normalization paper, appendix).
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0, *,
        depth_multiplier: int = 8, bn_eps: float = 1e-3,
    ) -> None:
        super().__init__()
        mid = in_channels * depth_multiplier
        self.add_module("depthwise", nn.Conv2d(in_channels, mid, kernel_size, stride, padding,
                                               groups=in_channels, bias=False))
        self.add_module("pointwise", ConvBlock(mid, out_channels, 1, bn_eps=bn_eps))

def check_input(x: Tensor, *, in_channels: int, min_size: int, model: str, small_input_hint: bool = True) -> None:
    """Raise a :class:`UserError` naming the fix when ``x`` cannot go through the model.

    Runs only in eager mode: under tracing/export the shapes are symbolic and the check is skipped.
    """
    if torch.jit.is_tracing() or torch.jit.is_scripting() or torch.compiler.is_compiling():
        return
    if x.dim() != 4:
        raise UserError(f"{model} expects a batch of images shaped (N, C, H, W), got shape {tuple(x.shape)}; "
                        "add a batch dimension with x.unsqueeze(0)")
    if x.shape[1] != in_channels:
        raise UserError(
            f"{model} was built for {in_channels}-channel images but got {x.shape[1]} channels; "
            f"build it with in_channels={x.shape[1]} (CLI: --in-channels {x.shape[1]}) or convert the images"
        )
    height, width = x.shape[-2:]
    if min(height, width) < min_size:
        hint = " or build it with small_input=True (CLI: --small-input)" if small_input_hint else ""
        raise UserError(
            f"{model}: a {height}x{width} image is smaller than the {min_size}x{min_size} this stem needs; "
            f"resize the images to at least {min_size} pixels{hint}"
        )


def check_classifier_args(num_classes: int, dropout: float = 0.0, *, aux_dropout: float | None = None) -> None:
    """The one check of every builder's classifier arguments."""
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1:
        raise UserError(f"num_classes must be a whole number >= 1, got {num_classes!r}; e.g. num_classes=10")
    for name, value in (("dropout", dropout), ("aux_dropout", aux_dropout)):
        if value is not None and not 0.0 <= value < 1.0:
            raise UserError(f"{name} must be in [0, 1), got {value!r}; e.g. {name}=0.2")


def parse_options(options_type: type[Options], options: Mapping[str, Any], model: str) -> Options:
    """``options_type(**options)`` for a builder's ``**options`` (``options_type`` a dataclass); a name it
    does not have is a one-line UserError naming the ones it has, rather than Python's TypeError."""
    names = sorted(f.name for f in dataclasses.fields(options_type))
    unknown = sorted(set(options) - set(names))
    if unknown:
        raise UserError(f"cannot build {model}: no option {unknown[0]!r}; its options: num_classes, in_channels, "
                        f"{', '.join(names)}")
    return options_type(**options)


def torchvision_input_transform(x: Tensor) -> Tensor:
    """Re-normalize ImageNet-normalized input (mean 0.485/0.456/0.406, std 0.229/0.224/0.225) to the
    mean-0.5/std-0.5 input torchvision's GoogLeNet and Inception-v3 weights were trained on
    (``transform_input=True``)."""
    x0 = x[:, 0:1] * (0.229 / 0.5) + (0.485 - 0.5) / 0.5
    x1 = x[:, 1:2] * (0.224 / 0.5) + (0.456 - 0.5) / 0.5
    x2 = x[:, 2:3] * (0.225 / 0.5) + (0.406 - 0.5) / 0.5
    return torch.cat((x0, x1, x2), 1)
