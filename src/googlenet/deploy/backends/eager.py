"""``eager``: the model exactly as loaded, so results are bit-for-bit the model's own."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ...models.outputs import split_outputs
from . import register_backend
from .base import Backend, BackendContext


class EagerBackend(Backend):
    name = "eager"

    def __init__(self, model: nn.Module) -> None:
        self.model = model.eval()

    def __call__(self, images: Tensor) -> Tensor:
        with torch.inference_mode():
            main, _ = split_outputs(self.model(images))
        return main.float()


@register_backend("eager", summary="the model as loaded")
def eager(ctx: BackendContext) -> Backend:
    return EagerBackend(ctx.require_model("eager"))
