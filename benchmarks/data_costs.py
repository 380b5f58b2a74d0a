"""The costs behind the data pipeline's choices, measured now on real images (docs/training.md, "Data costs"):
each line names the choice in src/ it supports.

* listing ``imagenette-224.tar.gz`` (why data/archives.py keeps the member list in the cache folder);
* decoding one 224-px JPEG and resizing it, through torchvision.io and through Pillow (data/cache.py);
* normalizing a uint8 batch in one fused pass against two (data/augment.normalize_batch);
* a forward pass fed a ``tv_tensors.Image`` against a plain tensor (data/transforms.py's ToPureTensor);
* antialiased resizing of 64 photos 224 -> 128 as uint8 against float (evaluation/ensemble.py).

    python benchmarks/data_costs.py --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
import os
import platform
import time

from data_pipeline import _median_ms as median_ms  # the same timing loop (this folder is on sys.path)


def photo_costs(data_dir: str | None, count: int) -> dict[str, float]:
    """The tarball listing, and decode + resize per image with each decoder, over ``count`` photos."""
    import torch
    from torchvision.transforms.v2 import functional as TF

    from googlenet.data import load_dataset
    from googlenet.data.archives import _list_archive
    from googlenet.data.cache import decode_resized
    from googlenet.data.images import decode_image

    train = load_dataset("imagenette", "train", data_dir=data_dir, val_fraction=0)
    t = time.perf_counter()
    _list_archive(train.archive)
    listing_s = time.perf_counter() - t
    sources = [train.source(j) for j in range(count)]

    def pillow() -> None:
        for s in sources:
            img = TF.pil_to_tensor(decode_image(s, 3))
            TF.center_crop(TF.resize(img, 144, antialias=True), [144, 144])

    def tv_io() -> None:
        for s in sources:
            decode_resized(s, 144)

    torch.set_num_threads(1)
    return {"listing_s": listing_s, "pillow_ms": median_ms(pillow, 3) / count,
            "torchvision_ms": median_ms(tv_io, 3) / count}


def tensor_costs() -> dict[str, float]:
    """One fused normalization pass against two; a tv_tensor against a plain tensor; uint8 against float resize."""
    import torch
    from torchvision import tv_tensors
    from torchvision.transforms.v2 import functional as TF

    from googlenet import create_model
    from googlenet.data.augment import normalize_batch

    g = torch.Generator().manual_seed(0)
    batch = torch.randint(0, 256, (128, 3, 128, 128), dtype=torch.uint8, generator=g)
    batch = batch.contiguous(memory_format=torch.channels_last)
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    m, s = torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1)
    out = {"fused_ms": median_ms(lambda: normalize_batch(batch, mean, std), 10),
           "two_pass_ms": median_ms(lambda: (batch.float() / 255 - m) / s, 10)}
    model = create_model("googlenet", num_classes=10, in_channels=1, small_input=True, width=0.125,
                         batch_norm=True, lrn=False, aux_logits=False).eval()
    x = torch.randn(32, 1, 28, 28)
    with torch.no_grad():
        out["plain_ms"] = median_ms(lambda: model(x), 5)
        out["tv_tensor_ms"] = median_ms(lambda: model(tv_tensors.Image(x)), 3)
    photos = torch.randint(0, 256, (64, 3, 224, 224), dtype=torch.uint8, generator=g)
    out["resize_uint8_ms"] = median_ms(lambda: TF.resize(photos, [128, 128], antialias=True), 5)
    floats = photos.float() / 255
    out["resize_float_ms"] = median_ms(lambda: TF.resize(floats, [128, 128], antialias=True), 5)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=None, help="folder holding imagenette-224.tar.gz (else $GOOGLENET_DATA)")
    p.add_argument("--photos", type=int, default=200, help="photos decoded per decoder")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    import torch

    from googlenet.system.hardware import cpu_name

    torch.set_num_threads(args.threads)
    tensors = tensor_costs()
    photos = photo_costs(args.data_dir, args.photos)
    print(f"host: {cpu_name()} ({os.cpu_count()} cores), {platform.python_version()}, torch {torch.__version__}; "
          f"load average {os.getloadavg()[0]:.1f}; {args.threads} threads (decoding: 1)")
    print(f"list imagenette-224.tar.gz: {photos['listing_s']:.2f} s")
    print(f"decode + resize to 144 px, per 224-px JPEG: torchvision.io {photos['torchvision_ms']:.2f} ms, "
          f"Pillow {photos['pillow_ms']:.2f} ms")
    print(f"normalize 128x3x128x128 uint8: one fused pass {tensors['fused_ms']:.1f} ms, two passes "
          f"{tensors['two_pass_ms']:.1f} ms")
    print(f"width-1/8 GoogLeNet forward, batch 32 of 28x28: plain tensor {tensors['plain_ms']:.1f} ms, "
          f"tv_tensors.Image {tensors['tv_tensor_ms']:.1f} ms ({tensors['tv_tensor_ms'] / tensors['plain_ms']:.0f}x)")
    print(f"antialiased resize of 64 photos 224 -> 128: uint8 {tensors['resize_uint8_ms']:.1f} ms, float "
          f"{tensors['resize_float_ms']:.1f} ms")


if __name__ == "__main__":
    main()
