"""Where the network looks: class activation maps (CAM) and Grad-CAM.

* **CAM** (Zhou, Khosla, Lapedriza, Oliva & Torralba, "Learning Deep Features for Discriminative
  Localization", CVPR 2016, section 2) is exact for a network whose head is global average pooling
  followed by one linear layer -- GoogLeNet's head (section 5 of the GoogLeNet paper: "average pooling
  before the classifier"). With ``f_k(x, y)`` the last feature map and ``w_ck`` the fc weights, the
  class score is ``S_c = sum_k w_ck * mean_xy f_k(x, y) + b_c``, so ``M_c(x, y) = sum_k w_ck f_k(x, y)``
  says how much each location adds to class c; its spatial mean is exactly ``S_c - b_c``. Computed from
  ``model.forward_features`` and ``model.get_classifier()`` in one pass, no gradients.
* **Grad-CAM** (Selvaraju et al., ICCV 2017) works for any model and any layer: the channel weights are the
  spatially averaged gradients of the class score. It comes from the ``grad-cam`` package
  (``pytorch_grad_cam``), not from hook code of our own.

Maps are upsampled bilinearly to the input and scaled to [0, 1] per map. :func:`explain` runs either on a
batch or on image files and writes one PNG per image: the image, then one overlay per top-k class.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import UserError

METHODS = ("cam", "gradcam")


@dataclass
class Explanation:
    """One image's top-k classes and a map in [0, 1] (the input's H x W) for each."""

    source: str
    image: Tensor = field(repr=False)  # (C, H, W) in [0, 1]: the crop the model read, for display
    classes: list[str]
    indices: list[int]
    probabilities: list[float]
    maps: list[np.ndarray] = field(repr=False)
    method: str = "cam"
    layer: str | None = None
    path: Path | None = None  # the overlay PNG, when one was written
    # The photo at its own resolution (C, H, W) in [0, 1] and where the model's view lies in it (x, y, width,
    # height in its pixels), for overlays at the photo's resolution; None for a tensor batch.
    photo: Tensor | None = field(repr=False, default=None)
    view_box: tuple[float, float, float, float] | None = None
    #: The backend whose forward pass gave ``probabilities`` and ranked ``indices`` (auto: the one it picked).
    backend: str = "eager"

    def as_dict(self) -> dict[str, Any]:
        peaks = [list(np.unravel_index(int(m.argmax()), m.shape)) for m in self.maps]
        return {"source": self.source, "method": self.method, "layer": self.layer, "backend": self.backend,
                "overlay": str(self.path) if self.path else None,
                "classes": [{"class": c, "index": i, "probability": p, "peak_yx": [int(v) for v in pk]}
                            for c, i, p, pk in zip(self.classes, self.indices, self.probabilities, peaks,
                                                   strict=True)]}


def _normalise(maps: Tensor) -> Tensor:
    """Each (H, W) map to [0, 1]; a constant map becomes zeros."""
    flat = maps.flatten(-2)
    low = flat.min(-1).values[..., None, None]
    high = flat.max(-1).values[..., None, None]
    return (maps - low) / (high - low).clamp(min=1e-12)


def _check_cam_model(model: nn.Module) -> nn.Linear:
    missing = [m for m in ("forward_features", "forward_head", "get_classifier") if not hasattr(model, m)]
    if missing:
        raise UserError(f"{type(model).__name__} has no {missing[0]}(), which CAM needs; use method='gradcam' "
                        "(CLI: --method gradcam), which works for any model")
    fc = model.get_classifier()
    if not isinstance(fc, nn.Linear):
        raise UserError(f"{type(model).__name__}'s classifier is a {type(fc).__name__}, not one linear layer, so "
                        "CAM is not defined for it; use method='gradcam' (CLI: --method gradcam)")
    return fc


def class_activation_map(
    model: nn.Module, x: Tensor, classes: Tensor | Sequence[int] | None = None, *, top_k: int = 1,
    upsample: bool = True,
) -> tuple[Tensor, Tensor, Tensor]:
    """Zhou et al.'s CAM of ``model`` (eval mode) for a normalized batch ``x`` (N, C, H, W).

    Args:
        classes: the class of each image's map (N,), or (N, k); default each image's ``top_k`` classes.
        upsample: to the input's H x W (bilinear) and scaled to [0, 1]; ``False`` returns the raw
            ``sum_k w_ck f_k`` on the feature grid, whose mean is the class logit minus the fc bias.

    Returns:
        maps (N, k, H, W), logits (N, classes), the class indices (N, k).

    Raises a :class:`UserError` when the head is not global-average-pool + linear (then CAM would not be
    exact), checked numerically against ``forward_head``.
    """
    fc = _check_cam_model(model)
    with torch.no_grad():
        features = model.forward_features(x)
        if features.dim() != 4:
            raise UserError(f"forward_features returned shape {tuple(features.shape)}, not a (N, C, H, W) map; "
                            "use method='gradcam'")
        logits = model.forward_head(features)
        pooled_logits = fc(features.mean(dim=(2, 3)))
        if features.shape[1] != fc.in_features or not torch.allclose(logits, pooled_logits, rtol=1e-3, atol=1e-4):
            raise UserError(f"{type(model).__name__}'s head is not global average pooling + one linear layer, so "
                            "CAM is not exact for it; use method='gradcam' (CLI: --method gradcam)")
        if classes is None:
            index = logits.topk(min(top_k, logits.shape[1]), dim=1).indices
        else:
            index = torch.as_tensor(classes, dtype=torch.long, device=logits.device)
            index = index[:, None] if index.dim() == 1 else index
        weights = fc.weight[index]  # (N, k, C): w_ck of each requested class
        maps = torch.einsum("nkc,nchw->nkhw", weights, features)
        if upsample:
            maps = _normalise(F.interpolate(maps, size=x.shape[-2:], mode="bilinear", align_corners=False))
    return maps, logits, index


def resolve_layer(model: nn.Module, layer: str | None, example: Tensor | None = None) -> tuple[str, nn.Module]:
    """The module named ``layer`` (``model.get_submodule`` path), or by default the last block whose output
    is still a spatial map (e.g. GoogLeNet's inception5b, VGG's last pool) on ``example`` (one input the model
    reads; default zeros of 224 px, or 32 for a small-input stem)."""
    if layer:
        try:
            return layer, model.get_submodule(layer)
        except AttributeError:
            names = [n for n, _ in model.named_modules() if n and "." not in n]
            raise UserError(f"model has no layer {layer!r}; top-level layers are {', '.join(names[:12])}"
                            f"{' ...' if len(names) > 12 else ''} (nested: e.g. inception4a.branch2)") from None
    from .diagram import blocks

    candidates = blocks(model)
    seen: dict[str, bool] = {}
    handles = [m.register_forward_hook(lambda mod, a, out, name=name: seen.__setitem__(
        name, isinstance(out, Tensor) and out.dim() == 4 and out.shape[-1] * out.shape[-2] > 1))
        for name, m in candidates]
    try:
        size = 32 if getattr(model, "small_input", False) else 224
        conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
        channels = int(getattr(model, "in_channels", 0) or (conv.in_channels if conv is not None else 3))
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
        with torch.no_grad():
            model(torch.zeros(1, channels, size, size, device=device) if example is None else example)
    finally:
        for h in handles:
            h.remove()
    spatial = [name for name, ok in seen.items() if ok]
    if not spatial:
        raise UserError("found no layer with a spatial output to explain; pass --layer NAME")
    return spatial[-1], model.get_submodule(spatial[-1])


def gradcam_map(
    model: nn.Module, x: Tensor, classes: Tensor | Sequence[int] | None = None, *, layer: str | None = None,
    top_k: int = 1,
) -> tuple[Tensor, Tensor, Tensor, str]:
    """Grad-CAM (pytorch-grad-cam) of ``layer`` for a normalized batch: maps (N, k, H, W) in [0, 1], logits,
    class indices (N, k) and the layer's name."""
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    from ..models.outputs import split_outputs

    name, target = resolve_layer(model, layer, x[:1])
    with torch.no_grad():
        logits, _ = split_outputs(model(x))
    if classes is None:
        index = logits.topk(min(top_k, logits.shape[1]), dim=1).indices
    else:
        index = torch.as_tensor(classes, dtype=torch.long)
        index = index[:, None] if index.dim() == 1 else index
    maps = []
    with GradCAM(model=model, target_layers=[target]) as cam:
        for j in range(index.shape[1]):
            targets = [ClassifierOutputTarget(int(c)) for c in index[:, j]]
            maps.append(torch.from_numpy(cam(input_tensor=x, targets=targets)).float())
    return torch.stack(maps, dim=1), logits, index, name


# ----------------------------------------------------------------------------------------- pictures


def _display(image: Tensor) -> np.ndarray:
    array = image.detach().cpu().float().clamp(0, 1).numpy()
    return array[0] if array.shape[0] == 1 else array.transpose(1, 2, 0)


#: What the overlay's colour bar says: each map is scaled to [0, 1] on its own (``_normalise``).
COLOUR_BAR_LABEL = "class evidence ({what})\nper map: 0 = least, 1 = most"


def save_overlay(explanation: Explanation, path: str | Path, *, alpha: float = 0.5, panel: float = 2.6) -> Path:
    """The image, then the map of each top-k class laid over it (jet colours, ``alpha``), with a colour bar,
    as one PNG. With ``explanation.photo``, a second row lays the maps over the photo at its own resolution
    (the model's view outlined). ``panel``: inches per picture (100 px an inch)."""
    import matplotlib.pyplot as plt

    from ..system.files import atomic_write

    fig = overlay_figure(explanation, alpha=alpha, panel=panel)
    try:
        return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    finally:
        plt.close(fig)


def overlay_figure(explanation: Explanation, *, alpha: float = 0.5, panel: float = 2.6) -> Any:
    """The matplotlib ``Figure`` of :func:`save_overlay` (rows: the model's view, then the photo if any)."""
    import textwrap

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    e = explanation
    rows = 2 if e.photo is not None else 1
    k = len(e.maps)
    fig, axes = plt.subplots(rows, k + 1, figsize=(panel * (k + 1) + 1.0, panel * rows + 0.7), squeeze=False,
                             layout="constrained")
    view = _display(e.image)
    side = f"{view.shape[1]}x{view.shape[0]}"
    _overlay_row(axes[0], view, e, alpha, f"the model's view, {side}", None)
    if e.photo is not None:
        photo = _display(e.photo)
        _overlay_row(axes[1], photo, e, alpha, f"the photo, {photo.shape[1]}x{photo.shape[0]}", e.view_box)
    scale = matplotlib.cm.ScalarMappable(matplotlib.colors.Normalize(0, 1), "jet")  # unblended colours
    bar = fig.colorbar(scale, ax=axes.ravel().tolist(), fraction=0.04, pad=0.02, ticks=[0, 0.5, 1])
    what = "CAM" if e.method == "cam" else f"Grad-CAM of {e.layer}"
    bar.set_label(COLOUR_BAR_LABEL.format(what=what), fontsize=9)
    bar.ax.tick_params(labelsize=9)
    name = Path(e.source).name
    title = f"{name}: {'CAM' if e.method == 'cam' else 'Grad-CAM'} (+ marks each map's maximum)"
    width = fig.get_size_inches()[0] * 100 / 7  # characters of 10 pt at 100 px an inch
    fig.suptitle("\n".join(textwrap.wrap(title, int(width))), fontsize=10)
    return fig


def _overlay_row(axes: Any, picture: np.ndarray, e: Explanation, alpha: float, title: str,
                 box: tuple[float, float, float, float] | None) -> None:
    """One row: ``picture`` alone, then each map over it (the maps cover ``box``, default the whole picture)."""

    from matplotlib.patches import Rectangle

    grey = picture.ndim == 2
    h, w = picture.shape[:2]
    x0, y0, bw, bh = box or (0, 0, w, h)
    extent = (x0 - 0.5, x0 + bw - 0.5, y0 + bh - 0.5, y0 - 0.5)  # imshow's pixel-centre convention
    axes[0].imshow(picture, cmap="gray" if grey else None, vmin=0, vmax=1)
    axes[0].set_title(_wrap(title, axes[0]), fontsize=9)
    for ax, name, p, heat in zip(axes[1:], e.classes, e.probabilities, e.maps, strict=True):
        ax.imshow(picture, cmap="gray" if grey else None, vmin=0, vmax=1)
        ax.imshow(heat, cmap="jet", alpha=alpha, vmin=0, vmax=1, extent=extent, interpolation="bilinear")
        if box is not None:
            ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), bw, bh, fill=False, edgecolor="white", lw=1, ls="--"))
        ax.set_xlim(-0.5, w - 0.5)
        ax.set_ylim(h - 0.5, -0.5)
        ax.plot(*_peak_marker(heat, extent), marker="+", color="white", markersize=9, markeredgewidth=2,
                clip_on=False)
        ax.set_title(_wrap(f"{name} {p:.1%}", ax), fontsize=9)
    for ax in axes:
        ax.axis("off")


def _wrap(text: str, ax: Any) -> str:
    """``text`` wrapped to the width of ``ax``'s panel (9 pt: about 6 px a character at 100 px an inch)."""
    import textwrap

    width = ax.figure.get_size_inches()[0] / ax.get_subplotspec().get_gridspec().ncols * 100 / 6
    return "\n".join(textwrap.wrap(text, max(8, int(width))))


def _peak_marker(heat: np.ndarray, extent: tuple[float, float, float, float]) -> tuple[list, list]:
    """The map's maximum in the picture's coordinates, kept more than a marker's half-width (8% of the side)
    from the border so the whole cross shows."""
    hh, hw = heat.shape
    y, x = np.unravel_index(int(heat.argmax()), heat.shape)
    left, right, bottom, top = extent
    margin_x, margin_y = 0.08 * (right - left), 0.08 * (bottom - top)
    px = left + (x + 0.5) / hw * (right - left)
    py = top + (y + 0.5) / hh * (bottom - top)
    return [float(np.clip(px, left + margin_x, right - margin_x))], [float(np.clip(py, top + margin_y,
                                                                                   bottom - margin_y))]


def model_views(loaded: Any, images: Sequence[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
    """uint8 / [0, 1] images (C, H, W) as the model file's 1-crop test view: (display crops in [0, 1],
    normalized inputs), i.e. the resize, centre crop, channels and mean/std that evaluation uses."""
    from ..evaluation.ensemble import Member

    member = Member.from_loaded(loaded)
    protocol = member.protocol(1)
    shown, inputs = [], []
    for image in images:
        image = image.as_subclass(Tensor)
        image = image.float() / 255.0 if image.dtype == torch.uint8 else image.float()
        view = next(protocol.views(image))
        shown.append(view[0])
        inputs.append(member.prepare(view)[0])
    return shown, inputs


def _prepare_files(loaded: Any, paths: Sequence[str | Path], skipped: list | None = None,
                   ) -> tuple[list[Tensor], list[Tensor], list[str]]:
    """Each file decoded (any mode and size) and turned into the model's 1-crop test view.

    With ``skipped`` (a list), an input that cannot be read -- a missing or corrupt file, an empty folder, a
    symbolic link loop -- is appended to it as an :class:`~googlenet.evaluation.predict.InputProblem` and left
    out, as ``googlenet predict`` does; without it the first one raises."""
    from ..errors import DataError
    from ..evaluation.ensemble import Member
    from ..evaluation.predict import InputProblem, find_images, load_image, scan_inputs

    member = Member.from_loaded(loaded)
    largest = max(member.protocol(1).scales)
    if skipped is None:
        files = find_images(paths)
        images = [load_image(path, member.channels, max_short_side=largest)[0] for path in files]
    else:
        files, images = [], []
        for entry in scan_inputs(paths):
            if isinstance(entry, InputProblem):
                skipped.append(entry)
                continue
            try:
                images.append(load_image(entry, member.channels, max_short_side=largest)[0])
            except DataError as exc:
                skipped.append(InputProblem(str(entry), str(exc)))
                continue
            files.append(entry)
    shown, inputs = model_views(loaded, images)
    return shown, inputs, [str(p) for p in files]


#: The photo row of an overlay shows a photo at most this many pixels on its shorter side.
PHOTO_SIDE = 768


def photos_at_own_resolution(loaded: Any, files: Sequence[str | Path]) -> list[tuple[Tensor, tuple]]:
    """Each file decoded again for display (shorter side at most :data:`PHOTO_SIDE`) in [0, 1], with the box
    (x, y, width, height, in its pixels) that the model's 1-crop view covers: the shorter side resized to
    the test scale, then the centre ``crop_size`` square (:class:`~googlenet.evaluation.crops.CropProtocol`)."""
    from ..evaluation.crops import CropProtocol
    from ..evaluation.ensemble import Member
    from ..evaluation.predict import load_image

    member = Member.from_loaded(loaded)
    scale = CropProtocol(1, member.crop_size, member.default_scales(1)).scales[0]
    out = []
    for path in files:
        photo = load_image(path, member.channels, max_short_side=PHOTO_SIDE)[0].float() / 255.0
        h, w = photo.shape[-2:]
        side = member.crop_size * min(h, w) / scale
        out.append((photo, ((w - side) / 2, (h - side) / 2, side, side)))
    return out


def _check_explain_args(method: str, layer: str | None, top_k: int) -> None:
    if method not in METHODS:
        raise UserError(f"unknown explanation method {method!r}; use cam or gradcam")
    if top_k < 1:
        raise UserError(f"--top-k must be at least 1, got {top_k}")
    if method == "cam" and layer:
        raise UserError("CAM always reads the last feature map; --layer is for --method gradcam")


def _explain_inputs(loaded: Any, images: Any, skipped: list | None) -> tuple[list, list, list[str]]:
    """(display images, model inputs, source names) of a tensor batch or of image files."""
    if isinstance(images, (str, Path)):
        images = [images]
    if isinstance(images, Tensor):
        batch = images if images.dim() == 4 else images.unsqueeze(0)
        inputs = list(batch.float())
        return [_normalise(t) for t in inputs], inputs, [f"image{i}" for i in range(len(inputs))]
    if loaded is None:
        raise UserError("image files need a model file (its preprocessing); pass the run folder or "
                        "model.safetensors, or a tensor batch with a plain module")
    return _prepare_files(loaded, images, skipped)


def _overlay_names(sources: Sequence[str], method: str) -> list[str]:
    """One PNG name per source, ``<stem>-<method>.png``, numbered where two stems are equal."""
    used: set[str] = set()
    names = []
    for source in sources:
        stem = Path(source).stem
        name, n = stem, 1
        while name in used:
            n += 1
            name = f"{stem}-{n}"
        used.add(name)
        names.append(f"{name}-{method}.png")
    return names


def _score_backend(module: nn.Module, loaded: Any, inputs: list[Tensor], opts: ExplainOptions) -> Any:
    """The :class:`~googlenet.deploy.backends.Backend` whose forward pass gives the scores and the top-k classes,
    built now, before any PNG is written (None for ``eager``: the torch pass of the maps gives them). A backend
    that cannot run here is one line (a UserError), as in ``googlenet predict``. ``int8`` and ``auto`` calibrate
    on real photos for a model file, as predict does (``data_dir``), and on the batch itself for a module."""
    from ..deploy.backends import CALIBRATION_IMAGES, build_backend, resolve_backend
    from ..evaluation.ensemble import Member

    name = resolve_backend(opts.backend)
    if name == "eager" or not inputs:
        return None
    size = int(inputs[0].shape[-1])
    if loaded is not None:
        member = Member.from_loaded(loaded)
        member.use_backend(name, data_dir=opts.data_dir)
        return member.runner(size)
    return build_backend(name, module, crop_size=size, channels=int(inputs[0].shape[0]),
                         calibration=torch.stack(inputs[:CALIBRATION_IMAGES]))


def _explain_batches(module: nn.Module, shown: list, inputs: list, sources: list[str], names: list[str],
                     settings: dict[str, Any], scorer: Any = None) -> list[Explanation]:
    """Each batch's classes and scores from ``scorer`` (a backend; None: the torch pass of the maps), then the
    maps of those classes from ``module``."""
    method, layer, top_k, batch_size = (settings[k] for k in ("method", "layer", "top_k", "batch_size"))
    backend = scorer.name if scorer is not None else "eager"
    results: list[Explanation] = []
    for start in range(0, len(inputs), batch_size):
        x = torch.stack(inputs[start:start + batch_size])
        scores = classes = None
        if scorer is not None:
            with torch.no_grad():
                scores = scorer(x).float()
            classes = scores.topk(min(top_k, scores.shape[1]), dim=1).indices
        if method == "cam":
            maps, logits, index = class_activation_map(module, x, classes, top_k=top_k)
        else:
            maps, logits, index, layer = gradcam_map(module, x, classes, layer=layer, top_k=top_k)
        probs = F.softmax((logits if scores is None else scores).float(), dim=1)
        for i in range(x.shape[0]):
            idx = index[i].tolist()
            j = start + i
            results.append(Explanation(
                sources[j], shown[j].cpu(), [names[c] if c < len(names) else str(c) for c in idx], idx,
                [float(probs[i, c]) for c in idx], [m.cpu().numpy() for m in maps[i]], method,
                layer if method == "gradcam" else None, backend=backend))
    return results


@dataclass(frozen=True)
class ExplainOptions:
    """How :func:`explain` computes its maps (its keywords, by name): ``method``, Grad-CAM's ``layer``, the
    ``top_k`` classes mapped per image, the images per forward pass, and the ``backend`` that scores them."""

    method: str = "cam"
    layer: str | None = None
    top_k: int = 3
    batch_size: int = 16
    #: A name of :mod:`googlenet.deploy.backends` whose forward pass gives the probabilities and the top-k
    #: classes; the maps of those classes are still computed in torch (CAM's features, Grad-CAM's gradients).
    backend: str = "eager"
    #: Where ``int8`` / ``auto`` find real photos to calibrate on (cifar10-jpeg.tar.gz; default $GOOGLENET_DATA).
    data_dir: str | Path | None = None


def explain(
    model: Any,
    images: Tensor | Sequence[str | Path] | str | Path,
    *,
    out_dir: str | Path | None = None,
    class_names: Sequence[str] | None = None,
    skipped: list | None = None,
    force: bool = False,
    **options: Any,
) -> list[Explanation]:
    """CAM or Grad-CAM for each image's ``top_k`` classes, with an overlay PNG per image in ``out_dir``
    (for image files: over the model's view and over the photo at its own resolution).

    Args:
        model: a model file or run folder (path), a :class:`~googlenet.checkpoint.LoadedModel`, or a module.
        images: image files / folders (read as the model's 1-crop test view: the model file's resize,
            crop and normalization), or a batch (N, C, H, W) fed to the model as it is (float; shown
            min-max scaled).
        method: ``"cam"`` (exact, global-average-pool + linear heads) or ``"gradcam"`` (any model).
        skipped: a list that receives an :class:`~googlenet.evaluation.predict.InputProblem` for each input
            that cannot be read (``fatal``) or is not an image (a symbolic link loop), which is then left out
            (default: the first unreadable one raises a DataError).
        layer: Grad-CAM's layer (a ``get_submodule`` path such as ``inception4e``); default the last
            spatial block. CAM always reads ``forward_features``.
        backend: what gives the scores and ranks the top-k classes (``ort``, ``openvino``... default ``eager``,
            the model itself); the maps of those classes still come from the torch model. ``data_dir``: int8's
            and auto's calibration photos.
        force: replace PNGs of the same names already in ``out_dir`` (else a one-line UserError, before any work).
    """
    from ..deploy.backends import resolve_backend
    from ..weights.checkpoint import LoadedModel, load_model

    opts = ExplainOptions(**options)
    method = opts.method
    _check_explain_args(method, opts.layer, opts.top_k)
    resolve_backend(opts.backend)  # a bad name, or one that cannot run here, is one line before the model loads
    if isinstance(model, (str, Path)):
        model = load_model(model)
    loaded = model if isinstance(model, LoadedModel) else None
    module = loaded.model if loaded else model
    names = list(class_names or (loaded.class_names if loaded else None) or [])
    shown, inputs, sources = _explain_inputs(loaded, images, skipped)
    files = out_dir is not None and not isinstance(images, Tensor)
    if out_dir is not None:
        from ..system.files import check_output_dir

        pngs = _overlay_names(sources, method)
        check_output_dir(out_dir, force=force, names=tuple(pngs))
    module.eval()
    scorer = _score_backend(module, loaded, inputs, opts)
    results = _explain_batches(module, shown, inputs, sources, names, dataclasses.asdict(opts), scorer)
    if out_dir is not None:
        if files:  # the photo row: the same maps over the photo at its own resolution
            for r, (photo, box) in zip(results, photos_at_own_resolution(loaded, sources), strict=True):
                r.photo, r.view_box = photo, box
        for r, png in zip(results, pngs, strict=True):
            r.path = save_overlay(r, Path(out_dir) / png)
    return results


def explain_files(checkpoint: str | Path, paths: Sequence[str | Path], **kwargs: Any) -> list[Explanation]:
    """:func:`explain` for a model file and image files (what ``googlenet explain`` runs)."""
    return explain(checkpoint, list(paths), **kwargs)
