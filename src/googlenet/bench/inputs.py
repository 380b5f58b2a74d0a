"""What the benchmarks feed the models: real photos, settled batch norm, and our model beside torchvision's."""


from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn


def real_images(n: int, size: int, *, channels: int = 3, data_dir: str | Path | None = None) -> torch.Tensor:
    """``n`` real photos (:func:`googlenet.data.calibration.calibration_photos`) normalized with ImageNet's mean
    and std, as the benchmarked models read them."""
    from ..data import IMAGENET_MEAN, IMAGENET_STD
    from ..data.calibration import calibration_photos

    x = calibration_photos(n, size, channels=channels, data_dir=data_dir)
    mean, std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
    if channels == 1:
        mean, std = mean.mean(0, keepdim=True), std.mean(0, keepdim=True)
    return ((x - mean.view(1, -1, 1, 1)) / std.view(1, -1, 1, 1)).contiguous()



def settle_batch_norm(model: nn.Module, images: torch.Tensor, *, steps: int = 2) -> nn.Module:
    """Give an untrained model's batch norms realistic running statistics (a few train-mode passes on
    real images, no weight update), so benchmarks and quantization see activations of a real range."""
    if not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        return model.eval()
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # cumulative average
    model.train()
    with torch.no_grad():
        for chunk in images.chunk(steps):
            model(chunk)
    return model.eval()


def torchvision_counterpart(model_name: str) -> str:
    """The torchvision model measured beside ours: same name (less ``_torchvision``), else googlenet."""
    import torchvision

    base = model_name.removesuffix("_torchvision")
    return base if base in torchvision.models.list_models(module=torchvision.models) else "googlenet"


def build_pair(model_name: str, model_kwargs: dict[str, Any] | None = None) -> tuple[nn.Module, nn.Module]:
    """(our model, torchvision's counterpart), eval mode, without auxiliary heads. When the state_dict
    keys agree, torchvision's model gets our weights, so the two compute the same function."""
    import torchvision

    from ..models.registry import create_model

    kwargs = {"aux_logits": False, **(model_kwargs or {})}
    try:
        ours = create_model(model_name, **kwargs)
    except TypeError:
        kwargs.pop("aux_logits")
        ours = create_model(model_name, **kwargs)
    tv_name = torchvision_counterpart(model_name)
    tv_kwargs: dict[str, Any] = {"weights": None}
    if tv_name in ("googlenet", "inception_v3"):
        tv_kwargs.update(aux_logits=False, init_weights=False)
    if "num_classes" in kwargs:
        tv_kwargs["num_classes"] = kwargs["num_classes"]
    tv = torchvision.models.get_model(tv_name, **tv_kwargs)
    if same_layout(ours, tv):
        tv.load_state_dict(ours.state_dict())
    return ours.eval(), tv.eval()


def same_layout(a: nn.Module, b: nn.Module) -> bool:
    """Whether ``a``'s state_dict loads into ``b`` (same keys, same shapes)."""
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(sa[k].shape == sb[k].shape for k in sa)
