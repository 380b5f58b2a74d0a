"""What the benchmarks feed the models: real photos, settled batch norm, and our model beside torchvision's."""


from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import DataError, UserError


def real_images(n: int, size: int, *, channels: int = 3, data_dir: str | Path | None = None) -> torch.Tensor:
    """``n`` real CIFAR-10 training photos (round-robin over the classes), resized to ``size`` and
    normalized with ImageNet's mean and std; grey (``channels=1``) by averaging the colours.

    The photos come through :func:`googlenet.data.load_dataset` (``data_dir``, else ``$GOOGLENET_DATA``).
    With neither (a fresh clone), the package's own pictures (:mod:`googlenet.data.synthetic`) stand in,
    and one note says so: int8 is then calibrated on them.
    """
    from ..data import IMAGENET_MEAN, IMAGENET_STD, load_dataset

    if channels not in (1, 3):
        raise UserError(f"real images have 1 or 3 channels, not {channels}; benchmark a model with "
                        "in_channels 1 or 3")
    try:
        dataset = load_dataset("cifar10", "train", data_dir=data_dir, val_fraction=0.0)
    except DataError:
        if data_dir is not None:  # a folder the user named: its problem is theirs to fix
            raise
        from ..data.synthetic import synthetic_photos

        _note_synthetic()
        x = synthetic_photos(n, size)
        mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        x = (x - mean) / std
        return (x.mean(1, keepdim=True) if channels == 1 else x).contiguous()
    targets = dataset.targets
    classes = int(targets.max()) + 1
    per_class = [torch.nonzero(targets == c).flatten()[: -(-n // classes)] for c in range(classes)]
    order = [int(i) for group in zip(*per_class, strict=False) for i in group][:n]
    x = torch.stack([dataset[i][0] for i in order]).float() / 255.0
    x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    x = (x - mean) / std
    if channels == 1:
        x = x.mean(1, keepdim=True)
    if len(x) < n:
        x = x.repeat((n + len(x) - 1) // len(x), 1, 1, 1)[:n]
    return x.contiguous()


@functools.cache
def _note_synthetic() -> None:  # once per process: inference and training both ask for images
    print("googlenet: note: no CIFAR-10 photos (--data-dir / $GOOGLENET_DATA): the inputs, and int8's calibration, "
          "are the package's synthetic pictures (googlenet.data.synthetic); pass --data-dir for real photos",
          file=sys.stderr, flush=True)


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
