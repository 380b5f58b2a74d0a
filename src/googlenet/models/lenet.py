"""LeNet-5: LeCun, Bottou, Bengio, Haffner, "Gradient-based learning applied to document recognition",
Proc. IEEE 86(11), 1998. Section II.B and Figure 2 describe the network layer by layer; Table I is C3's
connection table; Appendix A the squashing function; Appendix C the initialisation.

Two builders:

* ``lenet5`` -- the network of the paper: C1 (6 maps 5x5), S2 (trainable subsampling: the four inputs
  are summed, multiplied by one trainable coefficient per map and shifted by one trainable bias), C3 (16
  maps, each seeing only the S2 maps of Table I), S4, C5 (120 maps 5x5, i.e. fully connected on 5x5
  input), F6 (84 units), every layer up to F6 followed by the scaled tanh ``1.7159 tanh(2a/3)``, and an
  output of 10 Euclidean RBF units whose centres are fixed +-1 7x12 bitmaps of the digits (Figure 3).
  60,000 trainable parameters, exactly as section II.B's per-layer counts.
* ``lenet5_modern`` -- the textbook re-reading: max pool, ReLU, full C3, a linear output trained with
  softmax cross-entropy. 61,706 parameters for 1-channel input and 10 classes.

The RBF output returns *minus* the penalties ``-y_i = -sum_j (x_j - w_ij)^2`` so that, like every model of
the registry, the largest output is the predicted class and ``F.cross_entropy`` can train it: the loss
``y_D + log sum_i exp(-y_i)`` is the paper's MAP criterion (section II.C, eq. 9) without its constant
``exp(-j)`` rubbish-class term.

``small_input=True`` centres images smaller than 32x32 (MNIST's 28x28) in a 32x32 field, as section II.B
does ("the input is a 32x32 pixel image ... significantly larger than the largest character in the
database (at most 20x20 pixels centered in a 28x28 field)").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import UserError
from .blocks import check_classifier_args, check_input
from .interface import ImageClassifier
from .registry import register_model

# Table I: which S2 feature maps (rows) each C3 feature map (columns) combines. "X" as printed.
TABLE_I = """
     0  1  2  3  4  5  6  7  8  9 10 11 12 13 14 15
0    X           X  X  X        X  X  X  X     X  X
1    X  X           X  X  X        X  X  X  X     X
2    X  X  X           X  X  X        X     X  X  X
3       X  X  X        X  X  X  X        X     X  X
4          X  X  X        X  X  X  X     X  X     X
5             X  X  X        X  X  X  X     X  X  X
"""


def parse_connection_table(table: str) -> list[tuple[int, ...]]:
    """Table I as ``[inputs of C3 map 0, inputs of map 1, ...]``: an X belongs to the column whose
    header number it stands under."""
    header, *rows = [line for line in table.splitlines() if line.strip()]
    spans = [(int(m.group()), m.start(), m.end()) for m in re.finditer(r"\d+", header)]
    inputs: list[list[int]] = [[] for _ in spans]
    for row in rows:
        row_id = int(row.split()[0])
        for m in re.finditer("X", row):
            (column,) = [col for col, start, end in spans if start <= m.start() < end]
            inputs[column].append(row_id)
    return [tuple(i) for i in inputs]


C3_CONNECTIONS = parse_connection_table(TABLE_I)

# Figure 3: the RBF centres are "stylized image[s] of the corresponding character class drawn on a 7x12
# bitmap"; '#' is +1, '.' is -1. Our drawing of the ten digits.
DIGIT_BITMAPS = (
    ["..###..", ".#...#.", "#.....#", "#.....#", "#.....#", "#.....#", "#.....#", "#.....#", "#.....#",
     ".#...#.", "..###..", "......."],
    ["...#...", "..##...", ".#.#...", "...#...", "...#...", "...#...", "...#...", "...#...", "...#...",
     "...#...", ".#####.", "......."],
    [".####..", "#....#.", "......#", "......#", ".....#.", "....#..", "...#...", "..#....", ".#.....",
     "#......", "#######", "......."],
    [".#####.", "#.....#", "......#", "......#", "...###.", "......#", "......#", "......#", "......#",
     "#.....#", ".#####.", "......."],
    ["....#..", "...##..", "..#.#..", ".#..#..", "#...#..", "#...#..", "#######", "....#..", "....#..",
     "....#..", "....#..", "......."],
    ["#######", "#......", "#......", "#......", "######.", "......#", "......#", "......#", "......#",
     "#.....#", ".#####.", "......."],
    ["..####.", ".#.....", "#......", "#......", "#.###..", "##...#.", "#.....#", "#.....#", "#.....#",
     ".#...#.", "..###..", "......."],
    ["#######", "......#", ".....#.", ".....#.", "....#..", "....#..", "...#...", "...#...", "..#....",
     "..#....", "..#....", "......."],
    ["..###..", ".#...#.", "#.....#", ".#...#.", "..###..", ".#...#.", "#.....#", "#.....#", "#.....#",
     ".#...#.", "..###..", "......."],
    ["..###..", ".#...#.", "#.....#", "#.....#", "#.....#", ".#...##", "..###.#", "......#", "......#",
     ".....#.", ".####..", "......."],
)


def rbf_centres(num_classes: int, features: int = 84) -> Tensor:
    """The fixed +-1 RBF parameter vectors: Figure 3's digit bitmaps for 10 classes; otherwise random
    +-1 codes with equal probabilities (section II.B: "...could have been chosen at random")."""
    if num_classes == 10 and features == 84:
        return torch.tensor([[1.0 if ch == "#" else -1.0 for row in bitmap for ch in row]
                             for bitmap in DIGIT_BITMAPS])
    generator = torch.Generator().manual_seed(1998)
    return torch.randint(0, 2, (num_classes, features), generator=generator).float() * 2 - 1


class ScaledTanh(nn.Module):
    """Appendix A: ``f(a) = A tanh(S a)`` with A = 1.7159, S = 2/3, so f(1) = 1 and f(-1) = -1."""

    def __init__(self, amplitude: float = 1.7159, slope: float = 2.0 / 3.0) -> None:
        super().__init__()
        self.amplitude, self.slope = amplitude, slope

    def forward(self, x: Tensor) -> Tensor:
        return self.amplitude * torch.tanh(self.slope * x)

    def extra_repr(self) -> str:
        return f"amplitude={self.amplitude}, slope={self.slope:.4g}"


class Subsampling(nn.Module):
    """S2 / S4 (section II.B): each unit sums a non-overlapping 2x2 neighbourhood of one map, multiplies
    by the map's trainable coefficient and adds the map's trainable bias: 2 parameters per map and
    5 connections per unit (4 inputs + bias)."""

    def __init__(self, channels: int, kernel_size: int = 2) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.weight = nn.Parameter(torch.empty(channels))
        self.bias = nn.Parameter(torch.empty(channels))
        fan_in = kernel_size * kernel_size
        nn.init.uniform_(self.weight, -2.4 / fan_in, 2.4 / fan_in)  # Appendix C
        nn.init.uniform_(self.bias, -2.4 / fan_in, 2.4 / fan_in)

    def forward(self, x: Tensor) -> Tensor:
        k = self.kernel_size
        summed = F.avg_pool2d(x, k) * (k * k)
        return summed * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)

    def connections(self, inputs: Sequence[Tensor], output: Tensor) -> int:
        # for the whole batch, like every forward hook of googlenet.summary (it divides by the batch)
        return output.numel() * (self.kernel_size**2 + 1)

    def extra_repr(self) -> str:
        return f"{self.weight.numel()}, kernel_size={self.kernel_size}, stride={self.kernel_size}"


class PartialConv2d(nn.Module):
    """C3 (section II.B, Table I): output map ``j`` is a convolution over only the input maps
    ``connections[j]``. Maps with the same fan-in are computed together by one grouped convolution over
    the gathered input maps, so only the table's weights exist: 1,516 parameters for Table I, not 2,416.
    """

    def __init__(self, connections: Sequence[Sequence[int]], kernel_size: int) -> None:
        super().__init__()
        self.table = [tuple(c) for c in connections]
        self.out_channels = len(self.table)
        self.in_channels = 1 + max(i for c in self.table for i in c)
        self.kernel_size = kernel_size
        fan_ins = sorted({len(c) for c in self.table})
        self.weights = nn.ParameterList()
        order: list[int] = []
        for fan_in in fan_ins:
            maps = [j for j, c in enumerate(self.table) if len(c) == fan_in]
            order += maps
            gather = torch.tensor([i for j in maps for i in self.table[j]])
            self.register_buffer(f"gather{fan_in}", gather, persistent=False)
            weight = nn.Parameter(torch.empty(len(maps), fan_in, kernel_size, kernel_size))
            bound = 2.4 / (fan_in * kernel_size * kernel_size)  # Appendix C: +-2.4 / F_i
            nn.init.uniform_(weight, -bound, bound)
            self.weights.append(weight)
        self.fan_ins = fan_ins
        self.register_buffer("order", torch.argsort(torch.tensor(order)), persistent=False)
        self.bias = nn.Parameter(torch.empty(self.out_channels))
        nn.init.uniform_(self.bias, -2.4 / 25, 2.4 / 25)

    def forward(self, x: Tensor) -> Tensor:
        outputs = []
        for fan_in, weight in zip(self.fan_ins, self.weights, strict=True):
            gathered = x.index_select(1, getattr(self, f"gather{fan_in}"))
            outputs.append(F.conv2d(gathered, weight, groups=weight.shape[0]))
        return torch.cat(outputs, 1).index_select(1, self.order) + self.bias.view(1, -1, 1, 1)

    def connections(self, inputs: Sequence[Tensor], output: Tensor) -> int:
        # every weight and bias is used once per output position (weight sharing, section II.A);
        # for the whole batch, like every forward hook of googlenet.summary (it divides by the batch)
        per_position = sum(w.numel() for w in self.weights) + self.bias.numel()
        return per_position * output.shape[0] * output.shape[-1] * output.shape[-2]

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, table=Table I"


class EuclideanRBF(nn.Module):
    """Output layer (section II.B, eq. 7): ``y_i = sum_j (x_j - w_ij)^2`` with fixed +-1 centres ``w_i``.
    Returns ``-y`` so that the argmax is the predicted class and cross-entropy is eq. 9's MAP loss."""

    def __init__(self, in_features: int, num_classes: int) -> None:
        super().__init__()
        self.register_buffer("centres", rbf_centres(num_classes, in_features))

    @property
    def out_features(self) -> int:
        return self.centres.shape[0]

    def forward(self, x: Tensor) -> Tensor:
        return -(x.unsqueeze(1) - self.centres).pow(2).sum(-1)

    def connections(self, inputs: Sequence[Tensor], output: Tensor) -> int:
        return self.centres.numel() * output.shape[0]  # 84 per unit, whole batch

    def extra_repr(self) -> str:
        return f"in_features={self.centres.shape[1]}, out_features={self.centres.shape[0]}, fixed centres"


class LeNet5(ImageClassifier):
    """LeNet-5 (Figure 2). ``paper=True``: the 1998 network; ``paper=False``: max pool, ReLU, full C3,
    linear output. Input 32x32; ``small_input`` centres smaller images (28x28) in a 32x32 field.

    ``forward_features`` ends at C5 (120 maps of 1x1); the head is F6 and the output layer."""

    classifier_path = "output"

    def __init__(self, num_classes: int = 10, in_channels: int = 1, *, small_input: bool = False,
                 paper: bool = True) -> None:
        super().__init__()
        check_classifier_args(num_classes)
        self.in_channels, self.small_input, self.paper = in_channels, small_input, paper
        self.name = "LeNet-5" if paper else "LeNet-5 (modern)"

        def act() -> nn.Module:
            return ScaledTanh() if paper else nn.ReLU(inplace=True)

        self.c1 = nn.Conv2d(in_channels, 6, 5)  # 6 maps of 28x28, 5x5 neighbourhoods
        self.act1 = act()
        self.s2 = Subsampling(6) if paper else nn.MaxPool2d(2)  # 6 maps of 14x14
        self.act2 = act() if paper else nn.Identity()
        # C3: 16 maps of 10x10, each over the S2 maps of Table I (section II.B)
        self.c3 = PartialConv2d(C3_CONNECTIONS, 5) if paper else nn.Conv2d(6, 16, 5)
        self.act3 = act()
        self.s4 = Subsampling(16) if paper else nn.MaxPool2d(2)  # 16 maps of 5x5
        self.act4 = act() if paper else nn.Identity()
        self.c5 = nn.Conv2d(16, 120, 5)  # 120 maps of 1x1: a full connection to S4
        self.act5 = act()
        self.f6 = nn.Linear(120, 84)
        self.act6 = act()
        self.output = EuclideanRBF(84, num_classes) if paper else nn.Linear(84, num_classes)
        if paper:  # Appendix C: uniform in +-2.4 / fan-in
            for m in (self.c1, self.c5, self.f6):
                fan_in = m.weight[0].numel()
                nn.init.uniform_(m.weight, -2.4 / fan_in, 2.4 / fan_in)
                nn.init.uniform_(m.bias, -2.4 / fan_in, 2.4 / fan_in)

    def forward_features(self, x: Tensor) -> Tensor:
        check_input(x, in_channels=self.in_channels, min_size=1, model=self.name)
        h, w = x.shape[-2:]
        if self.small_input and (h < 32 or w < 32) and h <= 32 and w <= 32:
            top, left = (32 - h) // 2, (32 - w) // 2
            # replicate the border: the background extends, as in the paper's 32x32 field
            x = F.pad(x, (left, 32 - w - left, top, 32 - h - top), mode="replicate")
        elif not torch.compiler.is_compiling() and tuple(x.shape[-2:]) != (32, 32):
            hint = "" if self.small_input else " or build with small_input=True (CLI: --small-input) to centre it"
            raise UserError(f"{self.name} takes 32x32 images, got {h}x{w}; resize to 32x32{hint}")
        x = self.act2(self.s2(self.act1(self.c1(x))))  # C1, S2
        x = self.act4(self.s4(self.act3(self.c3(x))))  # C3, S4
        return self.act5(self.c5(x))  # C5

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        x = self.act6(self.f6(torch.flatten(x, 1)))  # F6
        return x if pre_logits else self.output(x)

    def new_classifier_layer(self, old: nn.Module, num_classes: int) -> nn.Module:
        if isinstance(old, EuclideanRBF):  # new +-1 centres for the new classes (section II.B)
            return EuclideanRBF(old.centres.shape[1], num_classes)
        return super().new_classifier_layer(old, num_classes)


_PAPER = "LeCun, Bottou, Bengio, Haffner, Gradient-based learning applied to document recognition, Proc. IEEE 1998"


@register_model(
    # macs: Sze et al., Efficient processing of deep neural networks, Proc. IEEE 2017, Table III: 341k
    # (our modules measure 325,680: the subsampling and RBF layers are not matrix products)
    "lenet5", family="lenet", paper=_PAPER, year=1998, input_size=32, params=60_000, macs=0.000_341,
    top1=99.05, top5=None, dataset="MNIST",
    accuracy_source="paper section III.C.2: 0.95% test error without distortions (MNIST test set)",
    description="LeNet-5 as section II.B: trainable subsampling, Table I C3, scaled tanh, fixed RBF output",
    default_kwargs={"num_classes": 10, "in_channels": 1},
)
def lenet5(**kwargs: Any) -> LeNet5:
    """LeNet-5 as the 1998 paper. ``small_input=True`` centres 28x28 images in the 32x32 field."""
    return LeNet5(paper=True, **kwargs)


@register_model(
    "lenet5_modern", family="lenet", paper=_PAPER + " (modern variant)", year=1998, input_size=32,
    params=61_706, macs=None, dataset="MNIST",
    description="LeNet-5 as usually re-implemented: ReLU, 2x2 max pool, full C3, linear + softmax output",
    default_kwargs={"num_classes": 10, "in_channels": 1},
)
def lenet5_modern(**kwargs: Any) -> LeNet5:
    """LeNet-5 with ReLU, max pooling, a fully connected C3 and a linear (softmax) output."""
    return LeNet5(paper=False, **kwargs)
