"""GoogLeNet (Inception v1): Szegedy et al., "Going deeper with convolutions", CVPR 2015 (arXiv 1409.4842).

Two builders share one class:

* ``googlenet`` -- the network of the paper's Table 1 and section 5, as released in BVLC Caffe:
  real 5x5 convolutions, local response normalization, biases and ReLU, no batch norm, dropout 0.4,
  two auxiliary classifiers on 4a and 4d. 6,998,552 parameters without the auxiliary heads.
* ``googlenet_torchvision`` -- torchvision's ``googlenet``: batch norm, no LRN, a 3x3 kernel where the
  paper has 5x5, a 2x2 fourth max pool, dropout 0.2. Same state_dict keys and shapes, so torchvision's
  weights load into it (``googlenet weights import torchvision FILE``). 6,624,904 parameters without aux
  heads.

The inception rows below *are* Table 1; the network is built by walking them.

Builder options for the paper's design claims (benchmarks/ablations.py, docs/fidelity.md):
``naive_modules=True`` (Figure 2(a) instead of 2(b), section 4), ``head="fc"`` (a flattened feature map
instead of average pooling, section 5), ``lrn`` / ``batch_norm`` (Figure 3's LRN, batch norm, or neither),
``kernel_5x5=3`` (torchvision's 3x3 in the "#5x5" branch) and ``aux_logits`` (section 5's auxiliary
classifiers). The default configurations' state_dict keys do not depend on them.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.ops import SqueezeExcitation

from ..errors import UserError
from .blocks import (
    ConvBlock,
    LocalResponseNorm,
    check_activation,
    check_classifier_args,
    check_input,
    check_width,
    scale_channels,
    torchvision_input_transform,
)
from .interface import ImageClassifier
from .outputs import GoogLeNetOutputs
from .registry import register_model


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

    ``kernel_5x5=3`` reproduces torchvision's module, whose "5x5" branch uses a 3x3 kernel (a known
    discrepancy kept for compatibility with its weights).
    """

    def __init__(
        self,
        in_channels: int,
        spec: InceptionSpec,
        *,
        batch_norm: bool = False,
        kernel_5x5: int = 5,
        pool_ceil_mode: bool = True,
        activation: str = "relu",
        se_reduction: int | None = None,
    ) -> None:
        super().__init__()
        self.spec = spec

        def conv(cin: int, cout: int, k: int) -> ConvBlock:
            return ConvBlock(cin, cout, k, padding=k // 2, batch_norm=batch_norm, activation=activation)

        self.branch1 = conv(in_channels, spec.n1x1, 1)
        self.branch2 = nn.Sequential(conv(in_channels, spec.n3x3_reduce, 1), conv(spec.n3x3_reduce, spec.n3x3, 3))
        self.branch3 = nn.Sequential(
            conv(in_channels, spec.n5x5_reduce, 1), conv(spec.n5x5_reduce, spec.n5x5, kernel_5x5)
        )
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=pool_ceil_mode), conv(in_channels, spec.pool_proj, 1)
        )
        # Beyond the paper: squeeze-excitation (Hu et al. 2018, Figure 2's "SE-Inception module": the module's
        # concatenated output is rescaled channel by channel). None by default, so the keys stay Table 1's.
        out = spec.out_channels
        self.se = SqueezeExcitation(out, max(1, out // se_reduction)) if se_reduction is not None else None

    @property
    def out_channels(self) -> int:
        return self.spec.out_channels

    def forward(self, x: Tensor) -> Tensor:
        y = torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], dim=1)
        return y if self.se is None else self.se(y)


class NaiveSpec(NamedTuple):
    """Table 1's columns for a naive module (Figure 2(a)): no 1x1 reductions and no pool projection, so
    those columns are empty (``None``) in ``googlenet summary``."""

    name: str
    n1x1: int
    n3x3_reduce: None
    n3x3: int
    n5x5_reduce: None
    n5x5: int
    pool_proj: None


class NaiveInceptionModule(nn.Module):
    """The naive inception module of Figure 2(a): 1x1, 3x3 and 5x5 convolutions straight on the module
    input, and a 3x3/1 max pool, concatenated along channels. No 1x1 reductions.

    Each convolution keeps its Table 1 width (``spec.n1x1``, ``spec.n3x3``, ``spec.n5x5``); the pool
    branch has no projection, so it passes all ``in_channels`` through. The output therefore has
    ``n1x1 + n3x3 + n5x5 + in_channels`` channels and grows module by module -- the problem section 4
    names: "the number of output filters [of the pooling units] equals to the number of filters in the
    previous stage", which leads to "an inevitable increase in the number of outputs from stage to stage"
    (at width 1: 416 channels after 3a, 4944 after 5b instead of 1024), and the 3x3 and 5x5 convolutions
    then run on those wide inputs.

    The branch names follow :class:`InceptionModule` (``branch2`` is the 3x3 path, ``branch3`` the "5x5"
    one), but the layers differ, so its weights do not load into the reduced module or back.
    """

    def __init__(
        self,
        in_channels: int,
        spec: InceptionSpec,
        *,
        batch_norm: bool = False,
        kernel_5x5: int = 5,
        pool_ceil_mode: bool = True,
        activation: str = "relu",
    ) -> None:
        super().__init__()
        self.spec = NaiveSpec(spec.name, spec.n1x1, None, spec.n3x3, None, spec.n5x5, None)
        self.in_channels = in_channels

        def conv(cout: int, k: int) -> ConvBlock:
            return ConvBlock(in_channels, cout, k, padding=k // 2, batch_norm=batch_norm, activation=activation)

        self.branch1 = conv(spec.n1x1, 1)
        self.branch2 = conv(spec.n3x3, 3)
        self.branch3 = conv(spec.n5x5, kernel_5x5)
        self.branch4 = nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=pool_ceil_mode)

    @property
    def out_channels(self) -> int:
        return self.spec.n1x1 + self.spec.n3x3 + self.spec.n5x5 + self.in_channels

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], dim=1)


# Table 1, inception rows. Columns as printed: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj.
# "maxpool" rows are the 3x3/2 max pools between stages.
TABLE_1: tuple[InceptionSpec | str, ...] = (
    InceptionSpec("3a", 64, 96, 128, 16, 32, 32),
    InceptionSpec("3b", 128, 128, 192, 32, 96, 64),
    "maxpool3",
    InceptionSpec("4a", 192, 96, 208, 16, 48, 64),
    InceptionSpec("4b", 160, 112, 224, 24, 64, 64),
    InceptionSpec("4c", 128, 128, 256, 24, 64, 64),
    InceptionSpec("4d", 112, 144, 288, 32, 64, 64),
    InceptionSpec("4e", 256, 160, 320, 32, 128, 128),
    "maxpool4",
    InceptionSpec("5a", 256, 160, 320, 32, 128, 128),
    InceptionSpec("5b", 384, 192, 384, 48, 128, 128),
)

# Table 1's printed "params" and "ops" columns, keyed by our module names. Printed values are what the
# paper says, not what the layers compute: conv1's 2.7K/34M and several other rows do not add up
# (see docs/table1.md). ``googlenet summary googlenet`` prints them beside the measured values.
TABLE_1_PRINTED: dict[str, tuple[float, float]] = {
    "conv1": (2.7e3, 34e6),
    "conv3": (112e3, 360e6),  # the paper's "convolution 3x3/1" row counts the 1x1 reduce (conv2) with it
    "inception3a": (159e3, 128e6),
    "inception3b": (380e3, 304e6),
    "inception4a": (364e3, 73e6),
    "inception4b": (437e3, 88e6),
    "inception4c": (463e3, 100e6),
    "inception4d": (580e3, 119e6),
    "inception4e": (840e3, 170e6),
    "inception5a": (1072e3, 54e6),
    "inception5b": (1388e3, 71e6),
    "fc": (1000e3, 1e6),
}



class AuxClassifier(nn.Module):
    """Section 5's auxiliary classifier: 5x5/3 average pool, 1x1 conv 128 + ReLU, FC 1024 + ReLU,
    dropout 0.7, linear. At 224x224 the pool turns 4a/4d's 14x14 grid into 4x4.

    ``paper_pool=False`` pools adaptively to 4x4 instead, as torchvision does; that also serves
    inputs whose 4a grid is not 14x14 (the small-input stem).
    """

    def __init__(
        self, in_channels: int, num_classes: int, *, batch_norm: bool, width: float, dropout: float,
        paper_pool: bool,
    ) -> None:
        super().__init__()
        self.paper_pool = paper_pool
        conv_out, fc_hidden = scale_channels(128, width), scale_channels(1024, width)
        self.conv = ConvBlock(in_channels, conv_out, 1, batch_norm=batch_norm)
        self.fc1 = nn.Linear(conv_out * 4 * 4, fc_hidden)
        self.fc2 = nn.Linear(fc_hidden, num_classes)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        if self.paper_pool:
            x = F.avg_pool2d(x, kernel_size=5, stride=3)
        # No-op at 224x224 with the paper's pool (already 4x4); makes other input sizes work.
        x = F.adaptive_avg_pool2d(x, (4, 4))
        x = self.conv(x)
        x = torch.flatten(x, 1)
        x = self.dropout(F.relu(self.fc1(x), inplace=True))
        return self.fc2(x)


class DeepStem(nn.Sequential):
    """Beyond the paper: three 3x3 convolutions (stride 2, 1, 1; 32, 32, 64 channels) in place of Table 1's
    7x7/2 convolution -- the "ResNet-C" stem of He et al. 2019 (*Bag of Tricks*, section 4.2), also the
    Imagenette leaderboard's. Same output as conv1 (64 channels at half the input side), so everything after
    it is Table 1's. Cost at 224 px: 3x3x3x32 + 3x3x32x32 + 3x3x32x64 = 28,512 weights (conv1: 9,408)."""

    def __init__(self, in_channels: int, width: float, conv: Any) -> None:
        c = lambda n: scale_channels(n, width)  # noqa: E731
        super().__init__()
        self.conv_a = conv(in_channels, c(32), 3, 2)
        self.conv_b = conv(c(32), c(32), 3)
        self.conv_c = conv(c(32), c(64), 3)


HEADS = ("gap", "fc")
STEMS = ("paper", "deep")


def _pool_side(n: int, kernel: int, stride: int = 2) -> int:
    """Side after a ceil-mode max pool without padding, by PyTorch's rule (a window must start inside)."""
    out = -(-(n - kernel) // stride) + 1
    return max(0, out - 1 if (out - 1) * stride >= n else out)


def final_grid(input_size: int, *, small_input: bool = False, maxpool4_kernel: int = 3) -> int:
    """Side of the 5b feature map for a square ``input_size`` image: 7 at 224 (Table 1's "avg pool 7x7/1"),
    4 at 128. Arithmetic only, so it also serves builds on the meta device."""
    n = input_size
    if small_input:  # 3x3/1 conv (same size), one 3x3/2 pool
        n = _pool_side(n, 3)
    else:  # 7x7/2 conv with padding 3, then the two 3x3/2 pools of the stem
        n = _pool_side(_pool_side((n + 2 * 3 - 7) // 2 + 1, 3), 3)
    return _pool_side(_pool_side(n, 3), maxpool4_kernel)  # maxpool3, maxpool4


POOLS = ("max", "maxblur")


@dataclass(frozen=True)
class GoogLeNetOptions:
    """The builder options of :class:`GoogLeNet`, checked once here (``GoogLeNet(**options)`` and model files'
    ``model_kwargs`` fill them by name).

    The paper's network is the default. ``batch_norm``/``lrn``/``kernel_5x5``/``maxpool4_kernel``/``dropout``/
    ``transform_input`` give torchvision's variant; ``naive_modules``/``head``/``aux_logits`` are the design
    claims of sections 4-5 (docs/fidelity.md); ``pool`` and ``activation`` are additions beyond the paper for
    short trainings on photos (docs/training.md#photos): ``pool="maxblur"`` anti-aliases the four stride-2
    max pools (Zhang 2019, "Making convolutional networks shift-invariant again": max at stride 1, then a
    3x3 binomial blur at stride 2; kornia's ``MaxBlurPool2D``), ``activation="mish"`` replaces every ReLU
    of the convolutions, ``stem="deep"`` is :class:`DeepStem` and ``se_reduction=r`` puts squeeze-excitation
    on every inception module's output. :meth:`additions` names them.
    """

    aux_logits: bool = True
    dropout: float = 0.4
    aux_dropout: float = 0.7
    width: float = 1.0
    small_input: bool = False
    batch_norm: bool = False
    lrn: bool = True
    kernel_5x5: int = 5
    maxpool4_kernel: int = 3
    transform_input: bool = False
    init_weights: bool = True
    naive_modules: bool = False
    head: str = "gap"
    input_size: int = 224
    pool: str = "max"
    activation: str = "relu"
    se_reduction: int | None = None
    stem: str = "paper"

    def additions(self) -> list[str]:
        """The options beyond the paper (and torchvision's variant) in this build, in words; empty for both.
        ``googlenet summary`` and ``googlenet diagram`` print them, so a model is never taken for Table 1's."""
        out = []
        if self.stem == "deep":
            out.append("deep stem (3x3/2, 3x3, 3x3 in place of 7x7/2)")
        if self.se_reduction is not None:
            out.append(f"squeeze-excitation on every inception output (reduction {self.se_reduction})")
        if self.pool == "maxblur":
            out.append("anti-aliased stride-2 pools (MaxBlurPool)")
        if self.activation != "relu":
            out.append(f"{self.activation} in place of ReLU")
        return out

    def check(self, num_classes: int) -> None:
        check_width(self.width)
        check_classifier_args(num_classes, self.dropout, aux_dropout=self.aux_dropout)
        check_activation(self.activation)
        if self.head not in HEADS:
            raise UserError(f"head must be one of {', '.join(HEADS)}, got {self.head!r}; e.g. head='fc'")
        if self.pool not in POOLS:
            raise UserError(f"pool must be one of {', '.join(POOLS)}, got {self.pool!r}; e.g. pool='maxblur'")
        if self.kernel_5x5 not in (3, 5) or self.maxpool4_kernel not in (2, 3):
            raise UserError(f"kernel_5x5 must be 3 or 5 and maxpool4_kernel 2 or 3, got {self.kernel_5x5} and "
                            f"{self.maxpool4_kernel}")
        self._check_additions()

    def _check_additions(self) -> None:
        if self.stem not in STEMS:
            raise UserError(f"stem must be one of {', '.join(STEMS)}, got {self.stem!r}; e.g. stem='deep'")
        if self.stem == "deep" and self.small_input:
            raise UserError("stem='deep' replaces the 224-pixel stem, which small_input=True already replaces; "
                            "use one of them")
        r = self.se_reduction
        if r is not None and (isinstance(r, bool) or not isinstance(r, int) or r < 1):
            raise UserError(f"se_reduction must be a whole number >= 1 (squeeze-excitation's channel reduction) or "
                            f"None, got {r!r}; e.g. se_reduction=16")
        if r is not None and self.naive_modules:
            raise UserError("se_reduction applies to the reduced modules of Figure 2(b); drop naive_modules=True "
                            "or se_reduction")

    @property
    def min_input_size(self) -> int:
        """Smallest side that survives the stem and pools (the paper's aux pool needs a 5x5 grid at 4a)."""
        # Batch norm's aux heads pool adaptively (AuxClassifier's paper_pool=False), so they need no 5x5 grid.
        return 8 if self.small_input else (80 if self.aux_logits and not self.batch_norm else 32)

    @classmethod
    def parse(cls, options: dict[str, Any]) -> GoogLeNetOptions:
        names = {f.name for f in fields(cls)}
        if "kernel3" in options:
            raise UserError("kernel3 is now called kernel_5x5 (the kernel of the '#5x5' branch); e.g. kernel_5x5=3")
        unknown = sorted(set(options) - names)
        if unknown:
            raise UserError(f"cannot build GoogLeNet: no option {unknown[0]!r}; its options: "
                            f"{', '.join(sorted(names))}")
        return cls(**options)


def downsampling_pool(kind: str, kernel: int = 3) -> nn.Module:
    """One of Table 1's stride-2 max pools (ceil mode, as Caffe rounds), or its anti-aliased version."""
    if kind == "max":
        return nn.MaxPool2d(kernel, stride=2, ceil_mode=True)
    try:
        from kornia.filters import MaxBlurPool2D
    except ImportError:
        raise UserError("pool='maxblur' needs kornia; install it with: pip install kornia") from None
    # max_pool_size=kernel - 1: the max at stride 1 over 2x2 (3x3's stride-2 pool keeps the same output size
    # after the blur's stride 2 on the even grids of 128 and 224 px inputs).
    return MaxBlurPool2D(3, stride=2, max_pool_size=2)


class GoogLeNet(ImageClassifier):
    """GoogLeNet, configurable between the paper's network and torchvision's.

    Args:
        num_classes: size of the classifier (1000 for ImageNet).
        in_channels: image channels (3 RGB, 1 grey).
        **options: :class:`GoogLeNetOptions`, by name:

        aux_logits: build the two auxiliary classifiers. In training mode the model then returns
            :class:`GoogLeNetOutputs` ``(main, aux1, aux2)``; in eval mode always the main logits.
        dropout: before the final linear layer (paper 0.4, torchvision 0.2).
        aux_dropout: inside the auxiliary classifiers (0.7 in both).
        width: multiplies every channel count (1.0 is the paper's network).
        small_input: replace the 224x224 stem (7x7/2 conv, two 3x3/2 pools) by a 3x3/1 conv and one
            3x3/2 pool, so 28x28 and 32x32 images reach inception 3a at 14x14 / 16x16 (the paper's
            224 input reaches it at 28x28). Everything after the stem is unchanged.
        batch_norm: batch norm after every convolution (torchvision; not in the paper).
        lrn: the two local response normalizations of the stem (paper; not in torchvision).
        kernel_5x5: kernel of the "#5x5" branch: 5 in the paper, 3 in torchvision.
        maxpool4_kernel: the max pool before 5a: 3x3/2 in the paper, 2x2/2 in torchvision.
        transform_input: re-normalize ImageNet-normalized input the way torchvision's weights expect.
        naive_modules: build every inception module as Figure 2(a) (:class:`NaiveInceptionModule`: no 1x1
            reductions, no pool projection, Table 1's #1x1/#3x3/#5x5 widths); the channel counts then grow
            module by module, and the auxiliary heads and ``fc`` take the wider inputs.
        head: ``"gap"`` (the paper): global average pooling, dropout, one linear layer. ``"fc"``: section
            5's alternative, "fully connected layers" on the whole last feature map: flatten the
            1024 x 7 x 7 map (at 224; the last grid at other sizes), dropout, one linear layer to
            ``num_classes``. One linear layer, not FC-1024 + ReLU + FC, so the two heads differ only in
            pooling (the classifier stays "an extra linear layer" in both) and the comparison isolates
            what section 5 credits with "about 0.6%" of top-1.
        input_size: the image side the ``"fc"`` head is built for (its weights depend on the grid);
            unused by ``"gap"``. Other sizes are refused with an error naming the fix.
        pool: ``"max"`` (the paper) or ``"maxblur"`` (anti-aliased stride-2 pools).
        activation: ``"relu"`` (the paper) or ``"mish"``.
        se_reduction: ``None`` (the paper) or r: squeeze-excitation with ``channels // r`` hidden units on
            every inception module's output (Hu et al. 2018).
        stem: ``"paper"`` (7x7/2) or ``"deep"`` (:class:`DeepStem`, three 3x3 convolutions).

    Normalization variants (Figure 3 has "LocalRespNorm" after the first max pool and after the 3x3
    convolution; batch norm came later, in Ioffe & Szegedy 2015): ``lrn=True, batch_norm=False`` (the
    paper), ``lrn=False, batch_norm=True`` (torchvision), ``lrn=False, batch_norm=False`` (neither; it
    trains from the same BVLC Caffe initialization as the paper's network, at a paper-like learning rate).
    """

    aux_classifier_paths = ("aux1.fc2", "aux2.fc2")
    options_type = GoogLeNetOptions

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, **options: Any) -> None:
        super().__init__()
        o = self.options = GoogLeNetOptions.parse(options)
        o.check(num_classes)
        self.head, self.naive_modules = o.head, o.naive_modules
        self.in_channels = in_channels
        self.aux_logits = o.aux_logits
        self.transform_input = o.transform_input
        self.small_input = o.small_input
        self.min_input_size = o.min_input_size
        self._build_stem(o)
        channels = self._build_inception_rows(o, scale_channels(192, o.width))
        self._build_aux_heads(o, num_classes)
        self._build_head(o, channels, num_classes)
        if o.init_weights:
            self._init_weights(o.batch_norm)

    def _conv(self, o: GoogLeNetOptions, cin: int, cout: int, k: int, stride: int = 1) -> ConvBlock:
        return ConvBlock(cin, cout, k, stride=stride, padding=k // 2, batch_norm=o.batch_norm,
                         activation=o.activation)

    def _build_stem(self, o: GoogLeNetOptions) -> None:
        """Table 1's first rows: convolution 7x7/2, max pool 3x3/2, [LRN], convolution 3x3/1 with its 1x1
        reduce, [LRN], max pool 3x3/2. ``small_input``: a 3x3/1 convolution and no second pool."""
        c = lambda n: scale_channels(n, o.width)  # noqa: E731
        lrn = lambda: LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0) if o.lrn else nn.Identity()  # noqa: E731
        if o.small_input:
            self.conv1 = self._conv(o, self.in_channels, c(64), 3)
        elif o.stem == "deep":
            self.conv1 = DeepStem(self.in_channels, o.width, lambda cin, cout, k, s=1: self._conv(o, cin, cout, k, s))
        else:
            self.conv1 = self._conv(o, self.in_channels, c(64), 7, stride=2)
        self.maxpool1 = downsampling_pool(o.pool)
        self.lrn1 = lrn()
        self.conv2 = self._conv(o, c(64), c(64), 1)
        self.conv3 = self._conv(o, c(64), c(192), 3)
        self.lrn2 = lrn()
        self.maxpool2 = nn.Identity() if o.small_input else downsampling_pool(o.pool)

    def _build_inception_rows(self, o: GoogLeNetOptions, channels: int) -> int:
        """Walk Table 1: an inception module per row, a stride-2 pool per "maxpool" row. Returns 5b's width."""
        for row in TABLE_1:
            if isinstance(row, str):
                self.add_module(row, downsampling_pool(o.pool, o.maxpool4_kernel if row == "maxpool4" else 3))
                continue
            block = NaiveInceptionModule if o.naive_modules else InceptionModule
            extra = {"se_reduction": o.se_reduction} if o.se_reduction is not None else {}
            module = block(channels, row.scaled(o.width), batch_norm=o.batch_norm, kernel_5x5=o.kernel_5x5,
                           activation=o.activation, **extra)
            self.add_module(f"inception{row.name}", module)
            channels = module.out_channels
        return channels

    def _build_aux_heads(self, o: GoogLeNetOptions, num_classes: int) -> None:
        """Section 5: auxiliary classifiers on top of 4a and 4d, whatever width those modules have."""
        if not o.aux_logits:
            self.aux1 = self.aux2 = None
            return
        for name, cin in {"aux1": self.inception4a.out_channels, "aux2": self.inception4d.out_channels}.items():
            self.add_module(name, AuxClassifier(cin, num_classes, batch_norm=o.batch_norm, width=o.width,
                                                dropout=o.aux_dropout,
                                                paper_pool=not o.batch_norm and not o.small_input))

    def _build_head(self, o: GoogLeNetOptions, channels: int, num_classes: int) -> None:
        if o.head == "gap":
            self.avgpool = nn.AdaptiveAvgPool2d(1)  # Table 1's "avg pool 7x7/1" at 224x224
            features = channels
        else:
            size = o.input_size
            if not isinstance(size, int) or isinstance(size, bool) or size < self.min_input_size:
                raise UserError(f"head='fc' needs input_size, the image side it is built for, as a whole number >= "
                                f"{self.min_input_size}; got {size!r}; e.g. input_size=224")
            self.input_size = size
            self.grid = final_grid(size, small_input=o.small_input, maxpool4_kernel=o.maxpool4_kernel)
            self.flatten = nn.Flatten(1)
            features = channels * self.grid * self.grid
        self.dropout = nn.Dropout(o.dropout)
        self.fc = nn.Linear(features, num_classes)

    def _init_weights(self, batch_norm: bool) -> None:
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                if batch_norm:  # torchvision's scheme
                    nn.init.trunc_normal_(m.weight, mean=0.0, std=0.01, a=-2, b=2)
                else:  # BVLC Caffe's train_val.prototxt: xavier weights, constant 0.2 bias
                    nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.constant_(m.bias, 0.0 if batch_norm or isinstance(m, nn.Linear) else 0.2)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _trunk(self, x: Tensor, with_aux: bool) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """Figure 3 from bottom to top: the stem, inception 3a-3b, 4a (aux1 reads it), 4b-4d (aux2 reads
        4d), 4e, 5a-5b. Returns the 5b feature map and the two auxiliary logits (None unless asked)."""
        check_input(x, in_channels=self.in_channels, min_size=self.min_input_size, model="GoogLeNet",
                    small_input_hint=not self.small_input)
        if self.transform_input:
            x = torchvision_input_transform(x)
        x = self.lrn1(self.maxpool1(self.conv1(x)))
        x = self.maxpool2(self.lrn2(self.conv3(self.conv2(x))))
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        x = self.inception4a(x)
        aux1 = self.aux1(x) if with_aux else None
        x = self.inception4d(self.inception4c(self.inception4b(x)))
        aux2 = self.aux2(x) if with_aux else None
        x = self.maxpool4(self.inception4e(x))
        x = self.inception5b(self.inception5a(x))
        return x, aux1, aux2

    def forward_features(self, x: Tensor) -> Tensor:
        return self._trunk(x, with_aux=False)[0]

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        if self.head == "gap":
            # Table 1's "avg pool 7x7/1" at 224x224 (adaptive, so other sizes work), dropout 40%, linear.
            x = torch.flatten(self.avgpool(x), 1)
        else:
            tracing = torch.jit.is_tracing() or torch.compiler.is_compiling()  # symbolic shapes: no check
            if not tracing and tuple(x.shape[-2:]) != (self.grid, self.grid):
                raise UserError(f"GoogLeNet with head='fc' was built for {self.input_size}x{self.input_size} images "
                                f"(a {self.grid}x{self.grid} last feature map) but got a {x.shape[-2]}x{x.shape[-1]} "
                                f"map; resize the images to {self.input_size} or build it with "
                                f"input_size=<your side> (CLI: --model-arg input_size=N)")
            x = self.flatten(x)
        x = self.dropout(x)
        return x if pre_logits else self.fc(x)

    def forward(self, x: Tensor) -> Tensor | GoogLeNetOutputs:
        with_aux = self.training and self.aux_logits
        x, aux1, aux2 = self._trunk(x, with_aux)
        x = self.forward_head(x)
        if with_aux:
            return GoogLeNetOutputs(x, aux1, aux2)
        return x


_PAPER = "Szegedy et al., Going deeper with convolutions, CVPR 2015"


@register_model(
    "googlenet", family="inception", paper=_PAPER, year=2014, input_size=224,
    params=6_998_552, macs=1.58, top1=None, top5=89.93,
    accuracy_source="paper Table 2/3: 1 model, 1 crop, 10.07% top-5 error (ILSVRC 2014 val)",
    description="GoogLeNet exactly as Table 1: 5x5 branches, LRN, aux classifiers on 4a/4d, no BN",
)
def googlenet(**kwargs: Any) -> GoogLeNet:
    """GoogLeNet as published (Table 1, section 5). See :class:`GoogLeNet` for the options."""
    return GoogLeNet(**kwargs)


TORCHVISION_GOOGLENET_KWARGS: dict[str, Any] = dict(
    batch_norm=True, lrn=False, kernel_5x5=3, maxpool4_kernel=2, dropout=0.2, aux_dropout=0.7
)


@register_model(
    "googlenet_torchvision", family="inception", paper=_PAPER + " (torchvision's variant)", year=2014,
    input_size=224, params=6_624_904, macs=1.50, top1=69.778, top5=89.530,
    accuracy_source="torchvision GoogLeNet_Weights.IMAGENET1K_V1 (ImageNet val, 1 crop)",
    description="torchvision-compatible GoogLeNet: BN, 3x3 in the '5x5' branch; loads torchvision weights",
)
def googlenet_torchvision(**kwargs: Any) -> GoogLeNet:
    """GoogLeNet with torchvision's state_dict layout and numerics (batch norm, 3x3 "5x5" branch)."""
    return GoogLeNet(**{**TORCHVISION_GOOGLENET_KWARGS, **kwargs})
