"""A small trained Fashion-MNIST model for the int8 accuracy check, in minutes on a CPU.

    python benchmarks/quick_fashion_model.py --out /tmp/fm_quick.safetensors [--steps 300] [--width 0.25]

A minimal loop (no augmentation): googlenet_torchvision with the small-input stem, AdamW, batch 128,
reading the IDX files with gzip + numpy. Writes a model file (googlenet.weights.checkpoint.save_model) with
the preprocessing metadata benchmarks/int8_accuracy.py reads. For real training use `googlenet train`.
"""

from __future__ import annotations

import argparse
import gzip
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from googlenet.models.outputs import split_outputs  # noqa: E402
from googlenet.models.registry import create_model  # noqa: E402
from googlenet.weights.checkpoint import save_model  # noqa: E402

FASHION = Path("/usr/share/datasets/fashion-mnist")
MEAN, STD = 0.286, 0.353


def read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--width", type=float, default=0.25)
    p.add_argument("--data-dir", default=str(FASHION))
    args = p.parse_args()
    torch.manual_seed(0)
    images = torch.from_numpy(read_idx(Path(args.data_dir) / "train-images-idx3-ubyte.gz").copy())
    labels = torch.from_numpy(read_idx(Path(args.data_dir) / "train-labels-idx1-ubyte.gz").astype(np.int64))
    x_all = ((images.float() / 255 - MEAN) / STD).unsqueeze(1)
    kwargs = {"num_classes": 10, "in_channels": 1, "small_input": True, "width": args.width, "aux_logits": False}
    model = create_model("googlenet_torchvision", **kwargs).train()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=args.steps)
    t0 = time.time()
    for step in range(args.steps):
        idx = torch.randint(0, len(x_all), (128,))
        main, _ = split_outputs(model(x_all[idx]))
        loss = F.cross_entropy(main, labels[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % 50 == 0:
            print(f"step {step} loss {loss.item():.3f} ({time.time() - t0:.0f}s)", flush=True)
    model.eval()
    pre = {"mean": [MEAN], "std": [STD], "input_size": 28, "channels": 1, "dataset": "fashion-mnist"}
    save_model(args.out, model, model_name="googlenet_torchvision", model_kwargs=kwargs, preprocessing=pre,
               class_names=None)
    print(f"saved {args.out} after {args.steps} steps ({time.time() - t0:.0f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
