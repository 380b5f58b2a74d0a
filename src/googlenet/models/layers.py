"""Building blocks shared by the model families.

Kept deliberately small and explicit, so each family file reads like its paper:

* :class:`ConvBlock` -- convolution, optional batch norm, ReLU (the "conv" of every table).
* :class:`InceptionModule` -- the four parallel branches of GoogLeNet's Figure 2(b).
* :func:`factorized_5x5`, :func:`factorized_nxn` -- the v3 factorizations (Rethinking..., section 3).
* :class:`GridReduction` -- the efficient grid-size reduction (Rethinking..., section 5, Figure 10).
* :class:`ScaledResidual` -- Inception-ResNet's residual scaling (Inception-v4 paper, section 3.3).
* :func:`check_input` -- one place for the "wrong channel count / image too small" errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor, nn

from ..errors import UserError


def scale_channels(channels: int, width: float) -> int:
    """Channel count under a width multiplier; never below 1 so tiny widths still build."""
    return max(1, int(round(channels * width)))


def check_width(width: float) -> None:
    if not width > 0:
        raise UserError(f"width multiplier must be positive, got {width}; use e.g. width=1.0 or width=0.5")


class ConvBlock(nn.Sequential):
    """Conv2d [+ BatchNorm2d] [+ ReLU].

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
        activation: bool = True,
        groups: int = 1,
        dilation: int | tuple[int, int] = 1,
    ) -> None:
        layers: dict[str, nn.Module] = {
            "conv": nn.Conv2d(
                in_channels, out_channels, kernel_size, stride, padding,
                dilation=dilation, groups=groups, bias=not batch_norm,
            )
        }
        if batch_norm:
            layers["bn"] = nn.BatchNorm2d(out_channels, eps=bn_eps)
        if activation:
            layers["relu"] = nn.ReLU(inplace=True)
        super().__init__()
        for name, module in layers.items():
            self.add_module(name, module)


class InceptionSpec(NamedTuple):
    """One row of GoogLeNet's Table 1: the output widths of an inception module's branches."""

    name: str
    n1x1: int
    n3x3_reduce: int
    n3x3: int
    n5x5_reduce: int
    n5x5: int
    pool_proj: int

    @property
    def out_channels(self) -> int:
        return self.n1x1 + self.n3x3 + self.n5x5 + self.pool_proj

    def scaled(self, width: float) -> InceptionSpec:
        return InceptionSpec(self.name, *(scale_channels(c, width) for c in self[1:]))


class InceptionModule(nn.Module):
    """GoogLeNet's inception module with dimension reductions (Figure 2(b)).

    Four branches whose outputs are concatenated along channels:
    ``branch1`` 1x1; ``branch2`` 1x1 reduce then 3x3; ``branch3`` 1x1 reduce then 5x5;
    ``branch4`` 3x3/1 max pool then 1x1 "pool proj". The 1x1 reductions before the expensive 3x3 and
    5x5 convolutions are the paper's central idea (section 4): they bound the cost of each stage.

    ``kernel3=3`` reproduces torchvision's module, whose "5x5" branch uses a 3x3 kernel (a known
    discrepancy kept for compatibility with its weights).
    """

    def __init__(
        self,
        in_channels: int,
        spec: InceptionSpec,
        *,
        batch_norm: bool = False,
        kernel3: int = 5,
        pool_ceil_mode: bool = True,
    ) -> None:
        super().__init__()
        self.spec = spec

        def conv(cin: int, cout: int, k: int) -> ConvBlock:
            return ConvBlock(cin, cout, k, padding=k // 2, batch_norm=batch_norm)

        self.branch1 = conv(in_channels, spec.n1x1, 1)
        self.branch2 = nn.Sequential(conv(in_channels, spec.n3x3_reduce, 1), conv(spec.n3x3_reduce, spec.n3x3, 3))
        self.branch3 = nn.Sequential(
            conv(in_channels, spec.n5x5_reduce, 1), conv(spec.n5x5_reduce, spec.n5x5, kernel3)
        )
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=pool_ceil_mode), conv(in_channels, spec.pool_proj, 1)
        )

    @property
    def out_channels(self) -> int:
        return self.spec.out_channels

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], dim=1)


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


class GoogLeNetOutputs(NamedTuple):
    """What a GoogLeNet returns in training mode with its auxiliary classifiers (section 5)."""

    main: Tensor
    aux1: Tensor
    aux2: Tensor


def split_outputs(outputs: Tensor | tuple) -> tuple[Tensor, list[Tensor]]:
    """Main logits and the list of auxiliary logits, for any model of the registry.

    Models with auxiliary heads return a NamedTuple whose first field is ``main`` in training mode;
    every other model returns a plain tensor.
    """
    if isinstance(outputs, Tensor):
        return outputs, []
    main, *aux = outputs
    return main, [a for a in aux if a is not None]


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


# --------------------------------------------------------------------------------------------------
# Declarative Inception modules for BN-Inception, Inception-v3, Inception-v4 and Inception-ResNet.
#
# Their papers draw every module as parallel branches of convolutions and pools whose outputs are
# concatenated (Rethinking..., Figures 5-7 and 10; Inception-v4 paper, Figures 3-19). The specs below
# write those figures down as data; :class:`MixedBlock` builds and runs them. The figures' "V" marks a
# valid (unpadded) convolution or pool; everything else is "same"-padded.
# --------------------------------------------------------------------------------------------------


class Conv(NamedTuple):
    """One conv-BN-ReLU of a figure: ``Conv("branch1x1", 64, 1)``; ``kernel`` may be ``(1, 7)``."""

    name: str
    out: int
    kernel: int | tuple[int, int]
    stride: int = 1
    valid: bool = False  # the figures' "V": no padding

    @property
    def padding(self) -> tuple[int, int]:
        kh, kw = (self.kernel, self.kernel) if isinstance(self.kernel, int) else self.kernel
        return (0, 0) if self.valid else (kh // 2, kw // 2)


class Pool(NamedTuple):
    """A 3x3 max or average pool of a figure; ``name`` is needed only outside a :class:`Mixed` block."""

    kind: str  # "max" or "avg"
    stride: int = 1
    valid: bool = False
    kernel: int = 3
    ceil: bool = False  # Caffe-style output size (BN-Inception's stem, like GoogLeNet's)
    name: str = ""

    def build(self, count_include_pad: bool = True) -> nn.Module:
        padding = 0 if self.valid else self.kernel // 2
        if self.kind == "max":
            return nn.MaxPool2d(self.kernel, self.stride, padding, ceil_mode=self.ceil)
        if self.kind == "avg":
            return nn.AvgPool2d(self.kernel, self.stride, padding, ceil_mode=self.ceil,
                                count_include_pad=count_include_pad)
        raise ValueError(f"unknown pool kind {self.kind!r}")


class Split(NamedTuple):
    """Convolutions applied side by side to the same input and concatenated: the "expanded filter bank"
    of Rethinking..., Figure 7 (a 3x3 split into parallel 1x3 and 3x1), used in v3, v4 and Inception-C."""

    convs: tuple[Conv, ...]


Step = Conv | Pool | Split
Branch = tuple[Step, ...]


class Mixed(NamedTuple):
    """A whole module: named, with its branches in concatenation order."""

    name: str
    branches: tuple[Branch, ...]


class MixedBlock(nn.Module):
    """Run the branches of a :class:`Mixed` spec on the same input and concatenate them along channels.

    Every :class:`Conv` becomes a :class:`ConvBlock` registered under its own name directly on this
    module, so the state_dict keys are those of the reference implementations (e.g. torchvision's
    ``Mixed_7b.branch3x3_2a.conv.weight``). A branch holding only a stride-2 pool next to stride-2
    convolution branches is the efficient grid-size reduction of Rethinking..., section 5, Figure 10.

    Args:
        in_channels: channels of the input.
        branches: the branches in concatenation order.
        width: multiplies every convolution's output channels.
        count_include_pad: whether average pools count the zero padding (torchvision's v3: yes;
            the TF-slim reference of v4 / Inception-ResNet that timm reproduces: no).
        bn_eps: batch-norm epsilon.
    """

    def __init__(
        self, in_channels: int, branches: Sequence[Branch], *, width: float = 1.0,
        count_include_pad: bool = True, bn_eps: float = 1e-3,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self._plans: list[list[str | tuple[str, ...]]] = []
        out_channels = 0
        for index, branch in enumerate(branches):
            channels, plan = in_channels, []
            for step in branch:
                if isinstance(step, Pool):
                    name = step.name or f"pool{index}"
                    self.add_module(name, step.build(count_include_pad))
                    plan.append(name)
                elif isinstance(step, Conv):
                    self.add_module(step.name, _conv_block(channels, step, width, bn_eps))
                    channels = scale_channels(step.out, width)
                    plan.append(step.name)
                elif isinstance(step, Split):
                    for conv in step.convs:
                        self.add_module(conv.name, _conv_block(channels, conv, width, bn_eps))
                    channels = sum(scale_channels(conv.out, width) for conv in step.convs)
                    plan.append(tuple(conv.name for conv in step.convs))
                else:
                    raise TypeError(f"not a branch step: {step!r}")
            self._plans.append(plan)
            out_channels += channels
        self.out_channels = out_channels

    def forward(self, x: Tensor) -> Tensor:
        outputs = []
        for plan in self._plans:
            y = x
            for step in plan:
                if isinstance(step, tuple):
                    y = torch.cat([self._modules[name](y) for name in step], dim=1)
                else:
                    y = self._modules[step](y)
            outputs.append(y)
        return torch.cat(outputs, dim=1)


def _conv_block(in_channels: int, conv: Conv, width: float, bn_eps: float) -> ConvBlock:
    return ConvBlock(in_channels, scale_channels(conv.out, width), conv.kernel, conv.stride, conv.padding,
                     bn_eps=bn_eps)


def build_layers(
    in_channels: int, steps: Sequence[Conv | Pool | Mixed], *, width: float = 1.0,
    count_include_pad: bool = True, bn_eps: float = 1e-3,
) -> tuple[dict[str, nn.Module], int]:
    """Modules for a sequence of stem/trunk rows, in order, and the channels they end with."""
    layers: dict[str, nn.Module] = {}
    channels = in_channels
    for step in steps:
        if isinstance(step, Conv):
            layers[step.name] = _conv_block(channels, step, width, bn_eps)
            channels = scale_channels(step.out, width)
        elif isinstance(step, Pool):
            if not step.name:
                raise ValueError(f"a pool outside a Mixed block needs a name: {step!r}")
            layers[step.name] = step.build(count_include_pad)
        elif isinstance(step, Mixed):
            block = MixedBlock(channels, step.branches, width=width, count_include_pad=count_include_pad,
                               bn_eps=bn_eps)
            layers[step.name] = block
            channels = block.out_channels
        else:
            raise TypeError(f"not a layer row: {step!r}")
    return layers, channels


def small_input_steps(steps: Sequence[Conv | Pool | Mixed], downsample: str) -> tuple[Conv | Pool | Mixed, ...]:
    """The small-input stem of v3, v4 and Inception-ResNet, derived from the native stem.

    Every stride-2 convolution or pool becomes stride 1 and every valid ("V") one is padded, except the
    row named ``downsample``, which keeps its stride 2 (padded). A 28x28 / 32x32 image then reaches the
    first Inception stage at 14x14 / 16x16 instead of 35x35 at 299x299, like GoogLeNet's small stem
    (16x16 at inception 3a). The kernels and channel counts, hence all parameter shapes, are unchanged:
    weights trained at 299x299 load into the small-input network.
    """
    names = [step.name for step in steps]
    if downsample not in names:
        raise ValueError(f"no stem row named {downsample!r} in {names}")

    def adapt(step: Step | Mixed, keep_stride: bool) -> Step | Mixed:
        if isinstance(step, Mixed):
            return step._replace(branches=tuple(tuple(adapt(s, keep_stride) for s in b) for b in step.branches))
        if isinstance(step, Split):
            return Split(tuple(adapt(c, keep_stride) for c in step.convs))
        stride = step.stride if keep_stride else 1
        if isinstance(step, Pool):
            return step._replace(stride=stride, valid=False, ceil=False)
        return step._replace(stride=stride, valid=False)

    return tuple(adapt(step, step.name == downsample) for step in steps)


def inception_resnet_block(
    in_channels: int, branches: Sequence[Branch], scale: float, *, width: float = 1.0,
    activation: bool = True, count_include_pad: bool = False, bn_eps: float = 1e-3,
) -> ScaledResidual:
    """An Inception-ResNet module (Inception-v4 paper, Figures 10-13 and 16-19).

    The branches are concatenated, a 1x1 convolution *without* batch norm or activation ("1x1 Conv
    (Linear)" in the figures) projects them back to ``in_channels``, the result is scaled by ``scale``
    (section 3.3) and added to the input, then ReLU. Batch norm sits only on the branch convolutions, not
    on the summation (section 3.2).
    """
    mixed = MixedBlock(in_channels, branches, width=width, count_include_pad=count_include_pad, bn_eps=bn_eps)
    residual = nn.Sequential()
    residual.add_module("branches", mixed)
    residual.add_module("up", nn.Conv2d(mixed.out_channels, in_channels, 1, bias=True))
    return ScaledResidual(residual, scale, activation=activation)


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


class InceptionOutputs(NamedTuple):
    """What Inception-v3 returns in training mode with its auxiliary classifier (Rethinking..., section 4)."""

    main: Tensor
    aux: Tensor
