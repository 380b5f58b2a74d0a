"""Inception-v4, Inception-ResNet-v1 and Inception-ResNet-v2: Szegedy, Ioffe, Vanhoucke & Alemi,
"Inception-v4, Inception-ResNet and the Impact of Residual Connections on Learning", AAAI 2017
(arXiv 1602.07261).

* ``inception_v4`` -- Figure 9 with the stem of Figure 3, Inception-A/B/C of Figures 4-6 and the
  reductions of Figures 7 (k, l, m, n = 192, 224, 256, 384) and 8. Numerically identical to the released
  TF-slim network and to timm's ``inception_v4`` (:func:`load_timm_state_dict`); where the figures and the
  released network disagree (the order of 1x7 / 7x1 and 1x3 / 3x1 in some branches) the released network
  is followed, because its weights produced the published results. 42,679,816 parameters.
* ``inception_resnet_v1`` -- Figure 15 with the stem of Figure 14 and the modules of Figures 10, 7
  (192, 192, 256, 384), 11, 12, 13, exactly as drawn. No reference weights were released.
* ``inception_resnet_v2`` -- as released (TF-slim, timm's ``inception_resnet_v2``). The paper's
  Figures 16-19 give channel counts that cannot be summed (e.g. Inception-ResNet-B outputs 1154 channels
  onto a 1152-channel input); the released network uses the v3-style stem plus a 35x35 Inception module,
  320 / 1088 / 2080 channels, a final linear Inception-ResNet-C and a 1x1 convolution to 1536 channels.
  55,843,464 parameters. See docs/inception-family.md for the full list of differences.

Batch norm sits on every convolution except the residual branches' final 1x1 projections, i.e. not on
the summations (section 3.2); residual branches are scaled by 0.17 / 0.10 / 0.20 (section 3.3 says 0.1
to 0.3; the values are the released network's). Dropout keeps 0.8 of the activations (Figures 9, 15).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from ..errors import DataError, UserError
from .blocks import check_classifier_args, check_input, check_width, parse_options
from .interface import ImageClassifier
from .registry import register_model
from .spec import Branch, Conv, Mixed, MixedBlock, Pool, Split, build_layers, inception_resnet_block, small_input_steps

V = True  # the figures' "V": valid padding
MAXPOOL_2V = Pool("max", stride=2, valid=V)

# ---------------------------------------------------------------- Inception-v4 (Figures 3-9)
# Figure 3: the stem shared by Inception-v4 and (in the paper) Inception-ResNet-v2. 299x299x3 -> 35x35x384.
V4_STEM = (
    Conv("Conv2d_1a_3x3", 32, 3, stride=2, valid=V),
    Conv("Conv2d_2a_3x3", 32, 3, valid=V),
    Conv("Conv2d_2b_3x3", 64, 3),
    Mixed("Mixed_3a", ((MAXPOOL_2V,), (Conv("conv", 96, 3, stride=2, valid=V),))),
    Mixed("Mixed_4a", (
        (Conv("branch0_0", 64, 1), Conv("branch0_1", 96, 3, valid=V)),
        (Conv("branch1_0", 64, 1), Conv("branch1_1", 64, (1, 7)), Conv("branch1_2", 64, (7, 1)),
         Conv("branch1_3", 96, 3, valid=V)),
    )),
    Mixed("Mixed_5a", ((Conv("conv", 192, 3, stride=2, valid=V),), (MAXPOOL_2V,))),
)

# Figure 4: Inception-A, 35x35x384.
V4_INCEPTION_A = (
    (Conv("branch0", 96, 1),),
    (Conv("branch1_0", 64, 1), Conv("branch1_1", 96, 3)),
    (Conv("branch2_0", 64, 1), Conv("branch2_1", 96, 3), Conv("branch2_2", 96, 3)),
    (Pool("avg"), Conv("branch3_1", 96, 1)),
)


def reduction_a(k: int, l: int, m: int, n: int) -> tuple[Branch, ...]:
    """Figure 7: 35x35 -> 17x17; Table 1 gives k, l, m, n per network."""
    return (
        (Conv("branch0", n, 3, stride=2, valid=V),),
        (Conv("branch1_0", k, 1), Conv("branch1_1", l, 3), Conv("branch1_2", m, 3, stride=2, valid=V)),
        (MAXPOOL_2V,),
    )


# Figure 5: Inception-B, 17x17x1024 (7x7 factorized into 1x7 and 7x1).
V4_INCEPTION_B = (
    (Conv("branch0", 384, 1),),
    (Conv("branch1_0", 192, 1), Conv("branch1_1", 224, (1, 7)), Conv("branch1_2", 256, (7, 1))),
    (Conv("branch2_0", 192, 1), Conv("branch2_1", 192, (7, 1)), Conv("branch2_2", 224, (1, 7)),
     Conv("branch2_3", 224, (7, 1)), Conv("branch2_4", 256, (1, 7))),
    (Pool("avg"), Conv("branch3_1", 128, 1)),
)

# Figure 8: Reduction-B, 17x17 -> 8x8.
V4_REDUCTION_B = (
    (Conv("branch0_0", 192, 1), Conv("branch0_1", 192, 3, stride=2, valid=V)),
    (Conv("branch1_0", 256, 1), Conv("branch1_1", 256, (1, 7)), Conv("branch1_2", 320, (7, 1)),
     Conv("branch1_3", 320, 3, stride=2, valid=V)),
    (MAXPOOL_2V,),
)

# Figure 6: Inception-C, 8x8x1536, with the expanded 1x3 / 3x1 filter banks.
V4_INCEPTION_C = (
    (Conv("branch0", 256, 1),),
    (Conv("branch1_0", 384, 1), Split((Conv("branch1_1a", 256, (1, 3)), Conv("branch1_1b", 256, (3, 1))))),
    (Conv("branch2_0", 384, 1), Conv("branch2_1", 448, (3, 1)), Conv("branch2_2", 512, (1, 3)),
     Split((Conv("branch2_3a", 256, (1, 3)), Conv("branch2_3b", 256, (3, 1))))),
    (Pool("avg"), Conv("branch3_1", 256, 1)),
)


class Stage(NamedTuple):
    """A row of Figure 9 / 15: ``repeat`` copies of a module (``scale`` set for residual ones)."""

    name: str
    branches: tuple[Branch, ...]
    repeat: int = 1
    scale: float | None = None  # residual scaling; None for a plain (concatenating) Inception module
    last_linear: bool = False  # the released Inception-ResNet-v2 ends with a linear, unscaled module


# Figure 9: Inception-v4 = stem, 4 x Inception-A, Reduction-A, 7 x Inception-B, Reduction-B, 3 x Inception-C.
INCEPTION_V4 = (
    Stage("inception_a", V4_INCEPTION_A, 4),
    Stage("reduction_a", reduction_a(192, 224, 256, 384)),
    Stage("inception_b", V4_INCEPTION_B, 7),
    Stage("reduction_b", V4_REDUCTION_B),
    Stage("inception_c", V4_INCEPTION_C, 3),
)

# ---------------------------------------------------------------- Inception-ResNet-v1 (Figures 7, 10-15)
# Figure 14: 299x299x3 -> 35x35x256.
IR_V1_STEM = (
    Conv("Conv2d_1a_3x3", 32, 3, stride=2, valid=V),
    Conv("Conv2d_2a_3x3", 32, 3, valid=V),
    Conv("Conv2d_2b_3x3", 64, 3),
    Pool("max", stride=2, valid=V, name="MaxPool_3a_3x3"),
    Conv("Conv2d_3b_1x1", 80, 1),
    Conv("Conv2d_4a_3x3", 192, 3, valid=V),
    Conv("Conv2d_4b_3x3", 256, 3, stride=2, valid=V),
)
IR_V1 = (
    # Figure 10: Inception-ResNet-A, 35x35x256.
    Stage("inception_resnet_a", (
        (Conv("branch0", 32, 1),),
        (Conv("branch1_0", 32, 1), Conv("branch1_1", 32, 3)),
        (Conv("branch2_0", 32, 1), Conv("branch2_1", 32, 3), Conv("branch2_2", 32, 3)),
    ), 5, scale=0.17),
    Stage("reduction_a", reduction_a(192, 192, 256, 384)),  # Table 1, Inception-ResNet-v1 -> 17x17x896
    # Figure 11: Inception-ResNet-B, 17x17x896.
    Stage("inception_resnet_b", (
        (Conv("branch0", 128, 1),),
        (Conv("branch1_0", 128, 1), Conv("branch1_1", 128, (1, 7)), Conv("branch1_2", 128, (7, 1))),
    ), 10, scale=0.10),
    # Figure 12: Reduction-B, 17x17 -> 8x8x1792.
    Stage("reduction_b", (
        (Conv("branch0_0", 256, 1), Conv("branch0_1", 384, 3, stride=2, valid=V)),
        (Conv("branch1_0", 256, 1), Conv("branch1_1", 256, 3, stride=2, valid=V)),
        (Conv("branch2_0", 256, 1), Conv("branch2_1", 256, 3), Conv("branch2_2", 256, 3, stride=2, valid=V)),
        (MAXPOOL_2V,),
    )),
    # Figure 13: Inception-ResNet-C, 8x8x1792.
    Stage("inception_resnet_c", (
        (Conv("branch0", 192, 1),),
        (Conv("branch1_0", 192, 1), Conv("branch1_1", 192, (1, 3)), Conv("branch1_2", 192, (3, 1))),
    ), 5, scale=0.20),
)

# ---------------------------------------------------------------- Inception-ResNet-v2 (as released)
IR_V2_STEM = (
    Conv("Conv2d_1a_3x3", 32, 3, stride=2, valid=V),
    Conv("Conv2d_2a_3x3", 32, 3, valid=V),
    Conv("Conv2d_2b_3x3", 64, 3),
    Pool("max", stride=2, valid=V, name="MaxPool_3a_3x3"),
    Conv("Conv2d_3b_1x1", 80, 1),
    Conv("Conv2d_4a_3x3", 192, 3, valid=V),
    Pool("max", stride=2, valid=V, name="MaxPool_5a_3x3"),
    Mixed("Mixed_5b", (  # a 35x35 Inception module -> 320 channels
        (Conv("branch0", 96, 1),),
        (Conv("branch1_0", 48, 1), Conv("branch1_1", 64, 5)),
        (Conv("branch2_0", 64, 1), Conv("branch2_1", 96, 3), Conv("branch2_2", 96, 3)),
        (Pool("avg"), Conv("branch3_1", 64, 1)),
    )),
)
IR_V2 = (
    # Figure 16: Inception-ResNet-A (branch widths as drawn; projection back to 320, not 384).
    Stage("inception_resnet_a", (
        (Conv("branch0", 32, 1),),
        (Conv("branch1_0", 32, 1), Conv("branch1_1", 32, 3)),
        (Conv("branch2_0", 32, 1), Conv("branch2_1", 48, 3), Conv("branch2_2", 64, 3)),
    ), 10, scale=0.17),
    Stage("reduction_a", reduction_a(256, 256, 384, 384)),  # Table 1, Inception-ResNet-v2 -> 1088
    # Figure 17: Inception-ResNet-B (projection to 1088, not 1154).
    Stage("inception_resnet_b", (
        (Conv("branch0", 192, 1),),
        (Conv("branch1_0", 128, 1), Conv("branch1_1", 160, (1, 7)), Conv("branch1_2", 192, (7, 1))),
    ), 20, scale=0.10),
    # Figure 18: Reduction-B -> 8x8x2080.
    Stage("reduction_b", (
        (Conv("branch0_0", 256, 1), Conv("branch0_1", 384, 3, stride=2, valid=V)),
        (Conv("branch1_0", 256, 1), Conv("branch1_1", 288, 3, stride=2, valid=V)),
        (Conv("branch2_0", 256, 1), Conv("branch2_1", 288, 3), Conv("branch2_2", 320, 3, stride=2, valid=V)),
        (MAXPOOL_2V,),
    )),
    # Figure 19: Inception-ResNet-C (projection to 2080, not 2048); 9 scaled + 1 linear, unscaled.
    Stage("inception_resnet_c", (
        (Conv("branch0", 192, 1),),
        (Conv("branch1_0", 192, 1), Conv("branch1_1", 224, (1, 3)), Conv("branch1_2", 256, (3, 1))),
    ), 10, scale=0.20, last_linear=True),
)


@dataclass(frozen=True)
class InceptionV4Layout:
    """Which of the paper's networks a builder makes.

    ``stem`` and ``stages``: the rows (the module constants); ``small_input_downsample``: the stem row that
    keeps its stride 2 with ``small_input`` (:func:`~googlenet.models.spec.small_input_steps`);
    ``head_conv``: the released Inception-ResNet-v2's final 1x1 convolution (1536), or None;
    ``min_input_size``: the smallest image side through the stem, native and with ``small_input``.
    """

    name: str
    stem: Sequence
    stages: Sequence[Stage]
    small_input_downsample: str
    head_conv: int | None = None
    min_input_size: tuple[int, int] = (75, 13)


@dataclass(frozen=True)
class InceptionV4Options:
    """The builder options of :class:`InceptionV4Net`, by name.

    ``width`` multiplies every channel count (residual projections follow automatically); ``small_input``:
    the stem's stride-2 rows become stride 1 except the layout's ``small_input_downsample``, so 28x28 /
    32x32 images reach the first Inception stage at 14x14 / 16x16 with the same parameters (the stages are
    unchanged); ``dropout``: before the final linear layer (Figures 9 and 15: keep 0.8); ``aux_logits``:
    refused (the paper has no auxiliary classifier), accepted as False so a recipe's may pass through.
    """

    width: float = 1.0
    small_input: bool = False
    dropout: float = 0.2
    aux_logits: bool = False

    def check(self, name: str, num_classes: int) -> None:
        check_width(self.width)
        if self.aux_logits:
            raise UserError(f"{name} has no auxiliary classifier in the paper; build it with aux_logits=False "
                            "(CLI: --no-aux) or leave the option out")
        check_classifier_args(num_classes, self.dropout)


class InceptionV4Net(ImageClassifier):
    """The Inception-v4 paper's networks: a stem, then Figure 9 / 15's stages, average pool, dropout, linear.

    Args:
        layout: which network (:class:`InceptionV4Layout`).
        num_classes, in_channels: classifier size and image channels.
        **options: :class:`InceptionV4Options`, by name.
    """

    options_type = InceptionV4Options

    def __init__(self, layout: InceptionV4Layout, *, num_classes: int = 1000, in_channels: int = 3,
                 **options: Any) -> None:
        super().__init__()
        o = self.options = parse_options(InceptionV4Options, options, layout.name)
        o.check(layout.name, num_classes)
        self.name, self.in_channels, self.small_input = layout.name, in_channels, o.small_input
        self.min_input_size = layout.min_input_size[1] if o.small_input else layout.min_input_size[0]
        stem = small_input_steps(layout.stem, layout.small_input_downsample) if o.small_input else layout.stem
        layers, channels = build_layers(in_channels, stem, width=o.width, count_include_pad=False)
        self.stem = nn.Sequential()
        for key, module in layers.items():
            self.stem.add_module(key, module)
        channels = self._build_stages(layout.stages, channels, o.width)
        if layout.head_conv is not None:
            layers, channels = build_layers(channels, (Conv("Conv2d_7b_1x1", layout.head_conv, 1),), width=o.width)
            self.head_conv = layers["Conv2d_7b_1x1"]
        else:
            self.head_conv = None
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(o.dropout)
        self.fc = nn.Linear(channels, num_classes)

    def _build_stages(self, stages: Sequence[Stage], channels: int, width: float) -> int:
        """One submodule per stage (a Sequential of its repeats); returns the channels after the last."""
        for stage in stages:
            blocks = nn.Sequential()
            for i in range(stage.repeat):
                if stage.scale is None:
                    block = MixedBlock(channels, stage.branches, width=width, count_include_pad=False)
                    channels = block.out_channels
                else:
                    last = stage.last_linear and i == stage.repeat - 1
                    block = inception_resnet_block(channels, stage.branches, 1.0 if last else stage.scale,
                                                   width=width, activation=not last)
                blocks.add_module(str(i), block)
            self.add_module(stage.name, blocks[0] if stage.repeat == 1 else blocks)
        self._stages = [stage.name for stage in stages]
        return channels

    def forward_features(self, x: Tensor) -> Tensor:
        check_input(x, in_channels=self.in_channels, min_size=self.min_input_size, model=self.name,
                    small_input_hint=not self.small_input)
        x = self.stem(x)
        for name in self._stages:  # Figure 9 / 15, bottom to top
            x = self._modules[name](x)
        return x if self.head_conv is None else self.head_conv(x)

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        x = self.dropout(torch.flatten(self.avgpool(x), 1))
        return x if pre_logits else self.fc(x)


_PAPER = ("Szegedy, Ioffe, Vanhoucke & Alemi, Inception-v4, Inception-ResNet and the Impact of Residual "
          "Connections on Learning, AAAI 2017")
_TABLE_2 = "paper Table 2: single crop, single model, ILSVRC 2012 val"


@register_model(
    "inception_v4", family="inception", paper=_PAPER, year=2016, input_size=299, params=42_679_816, macs=12.25,
    top1=80.0, top5=95.0, accuracy_source=_TABLE_2 + " (20.0% / 5.0% error)",
    description="Inception-v4: Figure 3 stem, 4xA, Reduction-A, 7xB, Reduction-B, 3xC; loads timm weights",
)
def inception_v4(**kwargs: Any) -> InceptionV4Net:
    """Inception-v4 (Figure 9). Options: see :class:`InceptionV4Options`."""
    return InceptionV4Net(InceptionV4Layout("Inception-v4", V4_STEM, INCEPTION_V4, "Mixed_3a"), **kwargs)


@register_model(
    "inception_resnet_v1", family="inception", paper=_PAPER, year=2016, input_size=299, params=22_756_328,
    macs=6.21, top1=78.7, top5=94.5, accuracy_source=_TABLE_2 + " (21.3% / 5.5% error)",
    description="Inception-ResNet-v1 exactly as Figures 7, 10-15: residual Inception modules, scaled residuals",
)
def inception_resnet_v1(**kwargs: Any) -> InceptionV4Net:
    """Inception-ResNet-v1 (Figure 15 with Figures 14, 10, 7, 11, 12, 13)."""
    return InceptionV4Net(InceptionV4Layout("Inception-ResNet-v1", IR_V1_STEM, IR_V1, "MaxPool_3a_3x3"), **kwargs)


@register_model(
    "inception_resnet_v2", family="inception", paper=_PAPER, year=2016, input_size=299, params=55_843_464,
    macs=13.16, top1=80.1, top5=95.1, accuracy_source=_TABLE_2 + " (19.9% / 4.9% error)",
    description="Inception-ResNet-v2 as released (TF-slim): 10xA, 20xB, 10xC, 1x1 to 1536; loads timm weights",
)
def inception_resnet_v2(**kwargs: Any) -> InceptionV4Net:
    """Inception-ResNet-v2 as released with the paper's weights (TF-slim); see the module docstring."""
    layout = InceptionV4Layout("Inception-ResNet-v2", IR_V2_STEM, IR_V2, "MaxPool_3a_3x3", head_conv=1536)
    return InceptionV4Net(layout, **kwargs)


# ---------------------------------------------------------------- timm state_dict keys -> ours
_V4_FEATURES = (["stem.Conv2d_1a_3x3", "stem.Conv2d_2a_3x3", "stem.Conv2d_2b_3x3", "stem.Mixed_3a",
                 "stem.Mixed_4a", "stem.Mixed_5a"] + [f"inception_a.{i}" for i in range(4)] + ["reduction_a"]
                + [f"inception_b.{i}" for i in range(7)] + ["reduction_b"] + [f"inception_c.{i}" for i in range(3)])
_IR_V2_NAMES = {
    "conv2d_1a": "stem.Conv2d_1a_3x3", "conv2d_2a": "stem.Conv2d_2a_3x3", "conv2d_2b": "stem.Conv2d_2b_3x3",
    "conv2d_3b": "stem.Conv2d_3b_1x1", "conv2d_4a": "stem.Conv2d_4a_3x3", "mixed_5b": "stem.Mixed_5b",
    "mixed_6a": "reduction_a", "mixed_7a": "reduction_b", "block8": "inception_resnet_c.9",
    "conv2d_7b": "head_conv", "classif": "fc",
}
_IR_V2_REPEATS = {"repeat": "inception_resnet_a", "repeat_1": "inception_resnet_b", "repeat_2": "inception_resnet_c"}


def timm_key(key: str, model: str) -> str:
    """Our state_dict key for a key of timm's ``inception_v4`` or ``inception_resnet_v2``."""
    key = re.sub(r"\.branch(\d)\.(\d)\.", r".branch\1_\2.", key)  # nn.Sequential branches -> named convs
    if model == "inception_v4":
        if key.startswith("last_linear."):
            return "fc." + key[len("last_linear."):]
        match = re.match(r"features\.(\d+)\.(.*)", key)
        if match:
            return f"{_V4_FEATURES[int(match[1])]}.{match[2]}"
        return key
    if model == "inception_resnet_v2":
        match = re.match(r"(repeat(?:_\d)?)\.(\d+)\.(.*)", key)
        if match:
            rest = match[3]
            rest = "residual.up." + rest[len("conv2d."):] if rest.startswith("conv2d.") else "residual.branches." + rest
            return f"{_IR_V2_REPEATS[match[1]]}.{match[2]}.{rest}"
        head, _, rest = key.partition(".")
        if head == "block8":
            rest = "residual.up." + rest[len("conv2d."):] if rest.startswith("conv2d.") else "residual.branches." + rest
        return f"{_IR_V2_NAMES.get(head, head)}.{rest}"
    raise UserError(f"no timm key mapping for {model!r}; use inception_v4 or inception_resnet_v2")


def load_timm_state_dict(model: nn.Module, state: Mapping[str, Tensor], model_name: str) -> nn.Module:
    """Load a timm ``inception_v4`` / ``inception_resnet_v2`` state_dict (e.g. ``timm.create_model(...,
    pretrained=False).state_dict()`` or a ``torch.load``-ed timm checkpoint) into our model, strictly."""
    mapped = {timm_key(k, model_name): v for k, v in state.items()}
    own = model.state_dict()
    missing = sorted(set(own) - set(mapped))
    unexpected = sorted(set(mapped) - set(own))
    if missing or unexpected:
        raise DataError(f"timm {model_name} state_dict does not fit: {len(missing)} missing keys (e.g. "
                        f"{missing[:2]}), {len(unexpected)} unexpected (e.g. {unexpected[:2]}); build "
                        f"{model_name} with default width and the checkpoint's num_classes")
    for key, value in mapped.items():
        if own[key].shape != value.shape:
            raise DataError(f"{key} has shape {tuple(value.shape)} in the timm state_dict, the model expects "
                            f"{tuple(own[key].shape)}; build {model_name} with default width and the "
                            "checkpoint's num_classes")
    model.load_state_dict(mapped)
    return model
