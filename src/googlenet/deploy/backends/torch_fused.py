"""``torch`` and ``compile``: the folded and fused model in channels_last on PyTorch/oneDNN.

Batch norm folded and each inception module's three input 1x1 convolutions fused into one
(:func:`~googlenet.deploy.fusion.optimize_for_inference`); channels_last, so oneDNN runs the convolutions
without layout reorders. ``compile`` adds ``torch.compile`` (inductor, static shapes)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ...models.outputs import split_outputs
from . import register_backend
from .base import Backend, BackendContext


class TorchBackend(Backend):
    def __init__(self, model: nn.Module, device: str | torch.device, name: str = "torch") -> None:
        self.name, self.device, self.model = name, torch.device(device), model

    def _input(self, images: Tensor) -> Tensor:
        return images.to(self.device).contiguous(memory_format=torch.channels_last)

    def __call__(self, images: Tensor) -> Tensor:
        with torch.inference_mode():
            main, _ = split_outputs(self.model(self._input(images)))
        return main.float()

    def bind(self, images: Tensor):
        x = self._input(images)

        def run() -> Tensor:
            with torch.inference_mode():
                return split_outputs(self.model(x))[0]

        return run


def _fused(ctx: BackendContext, name: str) -> nn.Module:
    from ..fusion import optimize_for_inference

    model = ctx.require_model(name).to(ctx.device)
    return optimize_for_inference(model, memory_format=torch.channels_last)


@register_backend("torch", summary="folded and fused model, channels_last")
def torch_backend(ctx: BackendContext) -> Backend:
    return TorchBackend(_fused(ctx, "torch"), ctx.device)


@register_backend("compile", summary="torch under torch.compile")
def compiled(ctx: BackendContext) -> Backend:
    return TorchBackend(torch.compile(_fused(ctx, "compile"), dynamic=False), ctx.device, "compile")
