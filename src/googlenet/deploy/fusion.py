"""Inference-time rewrites that keep a model's outputs equal (within float rounding) and make it faster.

:func:`optimize_for_inference` returns a fused *eval* copy of a model built from
:class:`~googlenet.models.blocks.ConvBlock` and :class:`~googlenet.models.googlenet.InceptionModule`
(``googlenet``, ``googlenet_torchvision`` and every family that uses these blocks):

1. **Batch norm folded into the convolution.** In eval mode BN is the per-channel affine map
   ``y = (x - mean) / sqrt(var + eps) * gamma + beta``; it is absorbed into the convolution's weight
   (scaled per output channel) and bias, so a ``ConvBlock`` becomes one convolution plus ReLU.
2. **The three 1x1 convolutions of an inception module that read the module's input** (``#1x1``,
   ``#3x3 reduce``, ``#5x5 reduce`` of GoogLeNet's Table 1) **become one convolution** whose output
   channels are split afterwards. One larger GEMM instead of three small ones reads the input once and
   keeps the matrix units busy: for inception 3a that is one 192->176 1x1 convolution instead of
   192->64, 192->96 and 192->16.
3. Optionally **channels_last** memory format (``memory_format=torch.channels_last``), which lets
   oneDNN run the convolutions without layout reorders between them.

The result is a plain ``nn.Module`` (eval mode, no auxiliary heads), so it can be run eagerly,
compiled with ``torch.compile`` or exported to ONNX (:func:`export_onnx`).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import UserError
from ..models.blocks import ConvBlock
from ..models.googlenet import InceptionModule
from ..models.interface import aux_head_names


def fold_conv_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d | None) -> nn.Conv2d:
    """A new convolution equal to ``bn(conv(x))`` in eval mode (``bn=None``: a copy with a bias)."""
    weight = conv.weight.detach().double()
    bias = conv.bias.detach().double() if conv.bias is not None else torch.zeros(weight.shape[0], dtype=torch.float64)
    if bn is not None:
        if not bn.track_running_stats or bn.running_mean is None:
            raise UserError("cannot fold a BatchNorm2d without running statistics; build it with "
                            "track_running_stats=True or train the model first")
        scale = torch.rsqrt(bn.running_var.double() + bn.eps)
        if bn.affine:
            scale = scale * bn.weight.detach().double()
        shift = -bn.running_mean.double() * scale
        if bn.affine:
            shift = shift + bn.bias.detach().double()
        weight = weight * scale.reshape(-1, 1, 1, 1)
        bias = bias * scale + shift
    fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                      conv.dilation, conv.groups, bias=True, padding_mode=conv.padding_mode)
    dtype = conv.weight.dtype
    with torch.no_grad():
        fused.weight.copy_(weight.to(dtype))
        fused.bias.copy_(bias.to(dtype))
    return fused.to(conv.weight.device)


class ConvReLU(nn.Module):
    """A convolution with its batch norm folded in, then an optional ReLU."""

    def __init__(self, conv: nn.Conv2d, relu: bool) -> None:
        super().__init__()
        self.conv = conv
        self.relu = relu

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv(x)
        return F.relu(x, inplace=True) if self.relu else x


def fuse_conv_block(block: ConvBlock) -> ConvReLU:
    """``ConvBlock`` (conv [+ BN] [+ ReLU]) -> one convolution with a bias [+ ReLU]."""
    bn = getattr(block, "bn", None)
    return ConvReLU(fold_conv_bn(block.conv, bn), relu=hasattr(block, "relu"))


def _concat_convs(convs: list[nn.Conv2d]) -> nn.Conv2d:
    first = convs[0]
    for c in convs[1:]:
        same = (c.in_channels, c.kernel_size, c.stride, c.padding, c.dilation, c.groups, c.padding_mode) == (
            first.in_channels, first.kernel_size, first.stride, first.padding, first.dilation, first.groups,
            first.padding_mode)
        if not same:
            raise UserError("only convolutions with the same input and geometry can be fused into one")
    fused = nn.Conv2d(first.in_channels, sum(c.out_channels for c in convs), first.kernel_size, first.stride,
                      first.padding, first.dilation, first.groups, bias=True, padding_mode=first.padding_mode)
    with torch.no_grad():
        fused.weight.copy_(torch.cat([c.weight for c in convs]))
        fused.bias.copy_(torch.cat([c.bias for c in convs]))
    return fused.to(first.weight.device, first.weight.dtype)


class FusedInception(nn.Module):
    """An :class:`InceptionModule` in eval mode with BN folded and its three input 1x1 convolutions fused.

    ``forward``: ``y = relu(conv1x1(x))`` split into ``(b1, r3, r5)``; output
    ``cat(b1, relu(conv3(r3)), relu(conv5(r5)), relu(pool_proj(maxpool(x))))`` -- the same tensor as
    the original module, computed with one 1x1 GEMM where it had three.
    """

    def __init__(self, module: InceptionModule) -> None:
        super().__init__()
        b1, (r3, c3), (r5, c5), (pool, proj) = module.branch1, module.branch2, module.branch3, module.branch4
        heads = [fuse_conv_block(b) for b in (b1, r3, r5)]
        if not all(h.relu for h in heads):
            raise UserError("inception fusion expects ReLU after each 1x1 convolution")
        self.conv1x1 = _concat_convs([h.conv for h in heads])
        self.splits = [h.conv.out_channels for h in heads]
        self.conv3 = fuse_conv_block(c3)
        self.conv5 = fuse_conv_block(c5)
        self.pool = copy.deepcopy(pool)
        self.pool_proj = fuse_conv_block(proj)

    def forward(self, x: Tensor) -> Tensor:
        y = F.relu(self.conv1x1(x), inplace=True)
        b1, r3, r5 = torch.split(y, self.splits, dim=1)
        return torch.cat([b1, self.conv3(r3), self.conv5(r5), self.pool_proj(self.pool(x))], dim=1)


def _fuse_children(module: nn.Module) -> None:
    for name, child in list(module.named_children()):
        if isinstance(child, InceptionModule) and _is_standard_inception(child):
            setattr(module, name, FusedInception(child))
        elif isinstance(child, ConvBlock) and isinstance(getattr(child, "conv", None), nn.Conv2d):
            setattr(module, name, fuse_conv_block(child))
        else:
            _fuse_children(child)


def _is_standard_inception(m: InceptionModule) -> bool:
    try:
        b1, (r3, c3), (r5, c5), (_pool, proj) = m.branch1, m.branch2, m.branch3, m.branch4
    except (TypeError, ValueError):
        return False
    blocks = (b1, r3, c3, r5, c5, proj)
    return all(isinstance(b, ConvBlock) for b in blocks) and all(hasattr(b, "relu") for b in blocks)


def optimize_for_inference(
    model: nn.Module, *, fuse_inception: bool = True, memory_format: torch.memory_format | None = None
) -> nn.Module:
    """An equivalent eval-mode copy of ``model`` with BN folded and inception 1x1 convolutions fused.

    ``model`` itself is not changed. Auxiliary classifiers are dropped (they are unused in eval mode).
    With ``fuse_inception=False`` only the batch norms are folded. ``memory_format=torch.channels_last``
    also converts the weights; feed it channels_last input (``x.to(memory_format=torch.channels_last)``)
    for the full benefit -- the outputs are equal either way.
    """
    if not isinstance(model, nn.Module):
        raise UserError(f"optimize_for_inference expects a torch nn.Module, got {type(model).__name__}; "
                        "build one with googlenet.create_model(name)")
    fused = copy.deepcopy(model).eval()
    for aux in aux_head_names(fused):  # the heads the model declares (models/interface.py)
        if isinstance(getattr(fused, aux, None), nn.Module):
            setattr(fused, aux, None)
    if fuse_inception:
        _fuse_children(fused)
    else:
        for name, child in list(fused.named_modules()):
            if isinstance(child, ConvBlock):
                parent = fused.get_submodule(name.rpartition(".")[0]) if "." in name else fused
                setattr(parent, name.rpartition(".")[2], fuse_conv_block(child))
    if memory_format is not None:
        fused = fused.to(memory_format=memory_format)
    for p in fused.parameters():
        p.requires_grad_(False)
    return fused
