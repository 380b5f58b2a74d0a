"""ResNet: He, Zhang, Ren, Sun, "Deep residual learning for image recognition", CVPR 2016 (arXiv 1512.03385).

Table 1 as data: a 7x7/2 convolution and a 3x3/2 max pool, four stages (conv2_x ... conv5_x) of basic
blocks (two 3x3, ResNet-18/34) or bottleneck blocks (1x1 reduce, 3x3, 1x1 expand by 4; ResNet-50/101/152,
Figure 5), global average pool, FC. Batch norm after every convolution (section 3.4). Where the shape
changes the shortcut is a 1x1 projection with stride 2 ("option B", section 3.3).

Module names and numerics are torchvision's, so its state_dicts load with equal outputs: 11,689,512 /
21,797,672 / 25,557,032 / 44,549,160 / 60,192,808 parameters. Like torchvision (and unlike the paper's
Table 1 FLOPs), the bottleneck's stride sits on its 3x3 convolution ("ResNet v1.5").

``small_input=True`` replaces the 7x7/2 convolution and the max pool by one 3x3/1 convolution (the CIFAR
stem of section 4.2), so 32x32 images enter conv2_x at 32x32; the four stages are unchanged.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from .blocks import check_classifier_args, check_input, check_width, scale_channels
from .interface import ImageClassifier
from .registry import register_model


class BasicBlock(nn.Module):
    """Figure 5 left: two 3x3 convolutions and an identity (or projection) shortcut."""

    expansion = 1

    def __init__(self, in_channels: int, channels: int, stride: int = 1) -> None:
        super().__init__()
        out = channels * self.expansion
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.downsample = _projection(in_channels, out, stride)

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """Figure 5 right: 1x1 reduce, 3x3, 1x1 expand (x4), shortcut; stride on the 3x3 (torchvision)."""

    expansion = 4

    def __init__(self, in_channels: int, channels: int, stride: int = 1) -> None:
        super().__init__()
        out = channels * self.expansion
        self.conv1 = nn.Conv2d(in_channels, channels, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.conv3 = nn.Conv2d(channels, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _projection(in_channels, out, stride)

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


def _projection(in_channels: int, out_channels: int, stride: int) -> nn.Sequential | None:
    """Shortcut option B (section 3.3): identity when shapes agree, else 1x1 conv (+BN) with the stride."""
    if stride == 1 and in_channels == out_channels:
        return None
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, bias=False), nn.BatchNorm2d(out_channels))


class Depth(NamedTuple):
    """One column of Table 1: block type and the number of blocks in conv2_x ... conv5_x."""

    block: type[BasicBlock] | type[Bottleneck]
    blocks: tuple[int, int, int, int]
    published_params: int
    torchvision_gmacs: float
    paper_gflops: float  # Table 1's "FLOPs" row (multiply-adds, stride on the 1x1), in 1e9


TABLE_1 = {
    18: Depth(BasicBlock, (2, 2, 2, 2), 11_689_512, 1.81, 1.8),
    34: Depth(BasicBlock, (3, 4, 6, 3), 21_797_672, 3.66, 3.6),
    50: Depth(Bottleneck, (3, 4, 6, 3), 25_557_032, 4.09, 3.8),
    101: Depth(Bottleneck, (3, 4, 23, 3), 44_549_160, 7.80, 7.6),
    152: Depth(Bottleneck, (3, 8, 36, 3), 60_192_808, 11.51, 11.3),
}
STAGE_WIDTHS = (64, 128, 256, 512)  # conv2_x ... conv5_x (output of the 3x3 convolutions)


class ResNet(ImageClassifier):
    """ResNet-``depth`` of Table 1 with torchvision's module names."""

    def __init__(
        self, depth: int, *, num_classes: int = 1000, in_channels: int = 3, width: float = 1.0,
        small_input: bool = False, zero_init_residual: bool = False,
    ) -> None:
        super().__init__()
        check_width(width)
        check_classifier_args(num_classes)
        spec = TABLE_1[depth]
        self.in_channels, self.small_input, self.name = in_channels, small_input, f"ResNet-{depth}"
        self.min_input_size = 1 if small_input else 32
        stem = scale_channels(64, width)
        if small_input:  # section 4.2's CIFAR stem: 3x3/1, no max pool
            self.conv1 = nn.Conv2d(in_channels, stem, 3, 1, 1, bias=False)
        else:
            self.conv1 = nn.Conv2d(in_channels, stem, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.Identity() if small_input else nn.MaxPool2d(3, 2, 1)
        channels = stem
        for i, (blocks, stage_width) in enumerate(zip(spec.blocks, STAGE_WIDTHS, strict=True)):
            mid = scale_channels(stage_width, width)
            layers = []
            for b in range(blocks):
                stride = 2 if (b == 0 and i > 0) else 1  # conv3_1, conv4_1, conv5_1 downsample
                layers.append(spec.block(channels, mid, stride))
                channels = mid * spec.block.expansion
            self.add_module(f"layer{i + 1}", nn.Sequential(*layers))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(channels, num_classes)
        for m in self.modules():  # torchvision's initialisation (He et al. 2015, "Delving deep...")
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if zero_init_residual:  # Goyal et al. 2017: each block starts as the identity
            for m in self.modules():
                last_bn = getattr(m, "bn3", None) if isinstance(m, Bottleneck) else getattr(m, "bn2", None)
                if isinstance(m, (BasicBlock, Bottleneck)) and last_bn is not None:
                    nn.init.zeros_(last_bn.weight)

    def forward_features(self, x: Tensor) -> Tensor:
        check_input(x, in_channels=self.in_channels, min_size=self.min_input_size, model=self.name,
                    small_input_hint=not self.small_input)
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))  # Table 1's conv1 and 3x3 max pool
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))  # conv2_x ... conv5_x

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        x = torch.flatten(self.avgpool(x), 1)
        return x if pre_logits else self.fc(x)


_PAPER = "He, Zhang, Ren, Sun, Deep residual learning for image recognition, CVPR 2016"
# torchvision's IMAGENET1K_V1 weights (ImageNet val, 1 crop at 224); these are the models built here.
_TORCHVISION_ACCURACY = {
    18: (69.758, 89.078), 34: (73.314, 91.420), 50: (76.130, 92.862), 101: (77.374, 93.546), 152: (78.312, 94.046),
}


def _register(depth: int) -> None:
    spec = TABLE_1[depth]
    top1, top5 = _TORCHVISION_ACCURACY[depth]

    def build(**kwargs: Any) -> ResNet:
        return ResNet(depth, **kwargs)

    build.__doc__ = f"ResNet-{depth} (Table 1), torchvision-compatible."
    register_model(
        f"resnet{depth}", family="resnet", paper=_PAPER, year=2015, input_size=224,
        params=spec.published_params, macs=spec.torchvision_gmacs, top1=top1, top5=top5,
        accuracy_source=f"torchvision ResNet{depth}_Weights.IMAGENET1K_V1 (ImageNet val, 1 crop)",
        description=f"ResNet-{depth}: {spec.block.__name__} x {spec.blocks}; torchvision-compatible "
                    f"(paper Table 1: {spec.paper_gflops}G FLOPs)",
    )(build)


for _depth in TABLE_1:
    _register(_depth)
