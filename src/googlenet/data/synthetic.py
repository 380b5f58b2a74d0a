"""Photo-like pictures the package draws itself, for measurements on a fresh clone with no dataset.

Uniform noise is a poor stand-in for photos: its activations have other ranges, so int8 calibrated on it, or
batch norm settled on it, says little. These pictures have what photos have and noise lacks: smooth colour
gradients, large uniform regions, hard edges between objects, a little sensor grain. They are no substitute for
real photos where accuracy is measured; ``googlenet bench`` uses them only when no CIFAR-10 is at hand.
"""

from __future__ import annotations

import numpy as np
import torch


def _picture(rng: np.random.Generator, size: int):
    from PIL import Image, ImageDraw, ImageFilter

    # A sky-to-ground gradient at a random angle between two colours, with low-frequency blotches.
    yy, xx = np.mgrid[0:size, 0:size] / max(1, size - 1)
    angle = rng.uniform(0, np.pi)
    t = (np.cos(angle) * xx + np.sin(angle) * yy)[..., None]
    t = (t - t.min()) / max(1e-6, float(np.ptp(t)))
    low, high = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    blotches = np.asarray(Image.fromarray(rng.uniform(0, 255, (4, 4, 3)).astype(np.uint8)).resize(
        (size, size), Image.BICUBIC), np.float64)
    base = (1 - t) * low + t * high
    image = Image.fromarray(np.clip(0.75 * base + 0.25 * blotches, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(3, 7))):  # objects: ellipses, boxes and polygons with hard edges
        x0, y0 = rng.uniform(-0.2, 0.9, 2) * size
        w, h = rng.uniform(0.15, 0.6, 2) * size
        colour = tuple(int(c) for c in rng.uniform(0, 255, 3))
        kind = int(rng.integers(3))
        if kind == 0:
            draw.ellipse((x0, y0, x0 + w, y0 + h), fill=colour)
        elif kind == 1:
            draw.rectangle((x0, y0, x0 + w, y0 + h), fill=colour)
        else:
            draw.polygon([tuple(p) for p in rng.uniform(0, 1, (int(rng.integers(3, 6)), 2)) * size], fill=colour)
    image = image.filter(ImageFilter.GaussianBlur(radius=max(0.5, size / 150)))
    grain = rng.normal(0, 4, (size, size, 3))
    return np.clip(np.asarray(image, np.float64) + grain, 0, 255).astype(np.uint8)


def synthetic_photos(n: int, size: int, *, channels: int = 3, seed: int = 0) -> torch.Tensor:
    """``n`` pictures (N, channels, size, size) as pixels in [0, 1], the same for the same ``seed``; grey
    (``channels=1``) by averaging the colours."""
    rng = np.random.default_rng(seed)
    x = torch.from_numpy(np.stack([_picture(rng, size) for _ in range(n)])).permute(0, 3, 1, 2).float() / 255.0
    return (x.mean(1, keepdim=True) if channels == 1 else x).contiguous()
