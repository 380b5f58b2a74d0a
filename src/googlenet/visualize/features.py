"""Feature maps of any layer and the first layer's filters, as image grids.

* :func:`feature_maps` records the output of one named layer (a ``model.get_submodule`` path such as
  ``inception3a`` or ``inception3a.branch2``) for one image; :func:`save_feature_maps` tiles its most
  active channels (or the first ones), each scaled to its own range and titled with its channel number
  and, for an inception module, its branch (#1x1, #3x3, #5x5, pool proj, in concatenation order).
* :func:`first_conv_filters` / :func:`save_filters` show the first convolution's kernels: RGB kernels in
  colour (all filters scaled together around zero, so colour and contrast compare across filters, as in
  AlexNet's Figure 3), single-channel kernels in grey.

The grids are built with ``torchvision.utils.make_grid``.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import UserError


def feature_maps(model: nn.Module, x: Tensor, layer: str) -> Tensor:
    """The output (C, H, W) of ``layer`` for one normalized image ``x`` (1, C, H, W) or (C, H, W)."""
    from .cam import resolve_layer

    name, module = resolve_layer(model, layer)
    x = x.unsqueeze(0) if x.dim() == 3 else x
    captured: list[Tensor] = []
    handle = module.register_forward_hook(lambda mod, args, out: captured.append(out))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(x[:1])
    finally:
        handle.remove()
        model.train(was_training)
    if not captured:
        raise UserError(f"layer {name!r} did not run for this input (an auxiliary head runs only in training); "
                        "pass a layer of the main path")
    out = captured[0]
    out = out[0] if isinstance(out, (tuple, list)) else out
    if not isinstance(out, Tensor) or out.dim() != 4:
        raise UserError(f"layer {name!r} outputs shape {tuple(getattr(out, 'shape', ()))}, not a feature map; "
                        "pick a convolution, pool or inception module")
    return out[0].detach().cpu()


def _grid(maps: Tensor, nrow: int, pad: int = 1) -> Tensor:
    from torchvision.utils import make_grid

    return make_grid(maps, nrow=nrow, padding=pad, pad_value=1.0)


def _save(picture: Tensor, path: str | Path, title: str, grey: bool, scale: float) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..system.files import atomic_write

    array = picture.permute(1, 2, 0).clamp(0, 1).numpy()
    h, w = array.shape[:2]
    fig = plt.figure(figsize=(max(2.0, w * scale / 100), max(2.0, h * scale / 100) + 0.3))
    ax = fig.add_axes((0, 0, 1, 1 - 0.3 / (max(2.0, h * scale / 100) + 0.3)))
    ax.imshow(array[..., 0] if grey else array, cmap="gray" if grey else None, vmin=0, vmax=1,
              interpolation="nearest")
    ax.axis("off")
    fig.suptitle(title, fontsize=10, y=0.995)
    try:
        return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    finally:
        plt.close(fig)


CHANNEL_ORDERS = ("active", "index")


def choose_channels(maps: Tensor, count: int, order: str = "active") -> list[int]:
    """Which ``count`` channels of ``maps`` (C, H, W) to show: the most active (highest mean activation,
    strongest first) or the first ones (``order="index"``, concatenation order)."""
    if order not in CHANNEL_ORDERS:
        raise UserError(f"unknown channel order {order!r}; use active or index")
    if count < 1:
        raise UserError(f"the number of channels to show must be at least 1, got {count}")
    count = min(count, maps.shape[0])
    if order == "index":
        return list(range(count))
    return maps.flatten(1).mean(1).topk(count).indices.tolist()


def _branch_names(model: nn.Module, layer: str) -> list[str] | None:
    """For an inception module, the branch each output channel comes from (Table 1's column names)."""
    from ..models.googlenet import InceptionModule
    from .diagram import table1_numbers

    try:
        module = model.get_submodule(layer)
    except AttributeError:
        return None
    if not isinstance(module, InceptionModule):
        return None
    numbers = table1_numbers(module)
    widths = [("1x1", numbers["#1x1"]), ("3x3", numbers["#3x3"]), ("5x5", numbers["#5x5"]),
              ("pool proj", numbers["pool proj"])]
    return [name for name, n in widths for _ in range(n)]


def save_feature_maps(
    model: nn.Module, x: Tensor, layer: str, path: str | Path, *, max_channels: int = 32, nrow: int | None = None,
    order: str = "active",
) -> Path:
    """``max_channels`` channels of ``layer``'s output for image ``x`` as a PNG, each tile titled with its
    channel number (and, for an inception module, its branch) and scaled to its own range. ``order``:
    ``active`` (default: the channels with the highest mean activation, strongest first) or ``index``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..system.files import atomic_write

    maps = feature_maps(model, x, layer)
    chosen = choose_channels(maps, max_channels, order)
    branches = _branch_names(model, layer)
    ncol = nrow or max(1, int(np.ceil(len(chosen) ** 0.5)))
    nrows = int(np.ceil(len(chosen) / ncol))
    tile = 1.15  # inches (100 px an inch): a 14x14 map at 8 screen pixels per cell
    fig, axes = plt.subplots(nrows, ncol, figsize=(tile * ncol, tile * nrows + 0.8), squeeze=False,
                             layout="constrained")
    for ax in axes.ravel():
        ax.axis("off")
    for ax, c in zip(axes.ravel(), chosen, strict=False):
        ax.imshow(maps[c].numpy(), cmap="gray", interpolation="nearest")  # each channel on its own range
        ax.set_title(f"#{c}" + (f" ({branches[c]})" if branches else ""), fontsize=9, pad=2)
    which = (f"the {len(chosen)} most active (highest mean)" if order == "active"
             else f"the first {len(chosen)}")
    title = (f"{layer}: {which} of {maps.shape[0]} channels, {maps.shape[1]}x{maps.shape[2]} each; "
             "white = strongest, per channel")
    fig.suptitle("\n".join(textwrap.wrap(title, int(tile * ncol * 100 / 7))), fontsize=10)  # ~7 px a character
    try:
        return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    finally:
        plt.close(fig)


def first_conv_filters(model: nn.Module) -> tuple[str, Tensor]:
    """The first ``nn.Conv2d`` of ``model`` (registration order, i.e. the stem) and its weights."""
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            return name, module.weight.detach().cpu().float()
    raise UserError(f"{type(model).__name__} has no Conv2d layer, so it has no filters to show")


def save_filters(model: nn.Module, path: str | Path, *, nrow: int | None = None, max_filters: int = 256) -> Path:
    """The first layer's filters as one picture: RGB kernels as colour, others as grey, one tile per filter."""
    name, weight = first_conv_filters(model)
    out_c, in_c, kh, kw = weight.shape
    weight = weight[:max_filters]
    if in_c == 3:
        # One scale for all filters, centred on zero (grey = 0), so colours compare across filters.
        bound = weight.abs().max().clamp(min=1e-12)
        tiles = weight / (2 * bound) + 0.5
    else:
        tiles = weight.mean(1, keepdim=True) if in_c != 1 else weight
        bound = tiles.abs().amax(dim=(1, 2, 3), keepdim=True).clamp(min=1e-12)
        tiles = tiles / (2 * bound) + 0.5
    nrow = nrow or max(1, int(round(tiles.shape[0] ** 0.5)))
    picture = _grid(tiles, nrow)
    if picture.shape[0] == 1:
        picture = picture.expand(3, -1, -1)
    scale = max(1.0, 320 / picture.shape[-1])
    note = "" if in_c in (1, 3) else f" (mean over {in_c} input channels)"
    title = f"{name}: {min(out_c, max_filters)} filters {kh}x{kw}{note}"
    return _save(picture, path, title, grey=in_c != 3, scale=scale)
