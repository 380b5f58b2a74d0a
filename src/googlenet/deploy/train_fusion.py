"""A training-time rewrite: the inception module's three input 1x1 convolutions as one, batch norm included.

Batch norm normalizes each channel on its own (batch statistics in training, running statistics in
eval), so ``BN_176(conv_192->176(x))`` computes exactly ``cat(BN_64(conv_a(x)), BN_96(conv_b(x)),
BN_16(conv_c(x)))`` when the fused convolution's filters and the fused BN's parameters and running
statistics are the three originals stacked. The forward pass, the gradients and the running-statistic
updates are the same; the work is one larger GEMM (and one BN/ReLU pass) instead of three small ones,
in both the forward and the backward pass.

:func:`fuse_for_training` returns such a model (a deep copy; the original is untouched) and
:func:`unfuse_state_dict` maps its weights back to the original layout, so checkpoints keep the
model's own (torchvision-compatible) keys.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from ..errors import UserError
from ..models.blocks import ConvBlock
from ..models.googlenet import InceptionModule

_HEAD_NAMES = ("branch1", "branch2.0", "branch3.0")


class TrainFusedInception(nn.Module):
    """:class:`InceptionModule` with ``branch1``, ``branch2[0]`` and ``branch3[0]`` as one ConvBlock."""

    def __init__(self, module: InceptionModule) -> None:
        super().__init__()
        heads: list[ConvBlock] = [module.branch1, module.branch2[0], module.branch3[0]]
        first = heads[0]
        has_bn = hasattr(first, "bn")
        if any(hasattr(h, "bn") != has_bn or not hasattr(h, "relu") for h in heads):
            raise UserError("training fusion expects the three 1x1 ConvBlocks to agree on batch norm and ReLU")
        self.splits = [h.conv.out_channels for h in heads]
        total = sum(self.splits)
        conv = first.conv
        self.head = ConvBlock(conv.in_channels, total, 1, batch_norm=has_bn, bn_eps=first.bn.eps if has_bn else 1e-3)
        with torch.no_grad():
            self.head.conv.weight.copy_(torch.cat([h.conv.weight for h in heads]))
            if conv.bias is not None:
                self.head.conv.bias.copy_(torch.cat([h.conv.bias for h in heads]))
            if has_bn:
                bn = self.head.bn
                bn.momentum = first.bn.momentum
                for attr in ("weight", "bias", "running_mean", "running_var"):
                    getattr(bn, attr).copy_(torch.cat([getattr(h.bn, attr) for h in heads]))
                bn.num_batches_tracked.copy_(first.bn.num_batches_tracked)
        self.head.to(conv.weight.device, conv.weight.dtype)
        self.conv3 = module.branch2[1]
        self.conv5 = module.branch3[1]
        self.branch4 = module.branch4

    def forward(self, x: Tensor) -> Tensor:
        b1, r3, r5 = torch.split(self.head(x), self.splits, dim=1)
        return torch.cat([b1, self.conv3(r3), self.conv5(r5), self.branch4(x)], dim=1)


def _fusable(m: InceptionModule) -> bool:
    try:
        heads = [m.branch1, m.branch2[0], m.branch3[0]]
    except (TypeError, IndexError, AttributeError):
        return False
    return all(isinstance(h, ConvBlock) and h.conv.kernel_size == (1, 1) and h.conv.stride == (1, 1)
               for h in heads) and len({h.conv.in_channels for h in heads}) == 1


def fuse_for_training(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` whose inception modules run their three 1x1 convolutions as one."""
    if not isinstance(model, nn.Module):
        raise UserError(f"fuse_for_training expects an nn.Module, got {type(model).__name__}")
    fused = copy.deepcopy(model)

    def walk(module: nn.Module) -> None:
        for name, child in list(module.named_children()):
            if isinstance(child, InceptionModule) and _fusable(child):
                setattr(module, name, TrainFusedInception(child))
            else:
                walk(child)

    walk(fused)
    return fused


def unfuse_state_dict(fused: nn.Module) -> dict[str, Tensor]:
    """The state_dict of ``fused`` in the original model's layout (its own keys, e.g. torchvision's)."""
    state: dict[str, Tensor] = {}
    prefixes = {name: m for name, m in fused.named_modules() if isinstance(m, TrainFusedInception)}
    for key, value in fused.state_dict().items():
        owner = next((p for p in prefixes if key.startswith(p + ".")), None)
        if owner is None:
            state[key] = value
            continue
        module, rest = prefixes[owner], key[len(owner) + 1:]
        if rest.startswith("head."):
            leaf = rest[len("head."):]  # conv.weight, bn.running_mean, ...
            if leaf.endswith("num_batches_tracked"):
                for head in _HEAD_NAMES:
                    state[f"{owner}.{head}.{leaf}"] = value
                continue
            for head, part in zip(_HEAD_NAMES, torch.split(value, module.splits, dim=0), strict=True):
                state[f"{owner}.{head}.{leaf}"] = part.clone()
        elif rest.startswith("conv3."):
            state[f"{owner}.branch2.1.{rest[len('conv3.'):]}"] = value
        elif rest.startswith("conv5."):
            state[f"{owner}.branch3.1.{rest[len('conv5.'):]}"] = value
        else:
            state[f"{owner}.{rest}"] = value
    return state

