"""The spec language of the later Inception papers: their figures written down as data.

BN-Inception, Inception-v3, Inception-v4 and Inception-ResNet draw every module as parallel branches of
convolutions and pools whose outputs are concatenated (Rethinking..., Figures 5-7 and 10; Inception-v4
paper, Figures 3-19). A family file lists its stem and modules as rows of :class:`Conv`, :class:`Pool`,
:class:`Split` and :class:`Mixed`; :func:`build_layers` and :class:`MixedBlock` turn the rows into modules.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor, nn

from .blocks import ConvBlock, ScaledResidual, scale_channels


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
