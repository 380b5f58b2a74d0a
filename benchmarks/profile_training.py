"""Per-operator profile of one training step (torchvision's googlenet, channels_last, 96x96).

    python benchmarks/profile_training.py [--batch 32] [--fused]

Prints the operators' share of self CPU time, grouped: convolution forward/backward, batch norm,
ReLU, the rest. ``--fused`` profiles our model with googlenet.train_fusion instead.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import torch
import torchvision
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from googlenet.deploy.train_fusion import fuse_for_training  # noqa: E402
from googlenet.models.outputs import split_outputs  # noqa: E402
from googlenet.models.registry import create_model  # noqa: E402

GROUPS = (("conv backward", ("convolution_backward",)), ("conv forward", ("mkldnn_convolution", "convolution")),
          ("batch norm", ("batch_norm",)), ("relu", ("relu", "threshold", "clamp")),
          ("cat/split/copy", ("cat", "copy", "split", "clone", "contiguous")), ("pooling", ("pool",)),
          ("optimizer", ("sgd", "_foreach", "add_", "mul_")))


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--size", type=int, default=96)
    p.add_argument("--fused", action="store_true")
    args = p.parse_args()
    torch.manual_seed(0)
    if args.fused:
        model = fuse_for_training(create_model("googlenet_torchvision"))
    else:
        model = torchvision.models.googlenet(weights=None, aux_logits=True, init_weights=True)
    model = model.to(memory_format=torch.channels_last).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(args.batch, 3, args.size, args.size).contiguous(memory_format=torch.channels_last)
    y = torch.arange(args.batch) % 10

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        main, aux = split_outputs(model(x))
        loss = torch.nn.functional.cross_entropy(main, y) + sum(0.3 * torch.nn.functional.cross_entropy(a, y)
                                                                for a in aux)
        loss.backward()
        opt.step()

    step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    shares: dict[str, float] = defaultdict(float)
    total = 0.0
    for e in prof.key_averages():
        if not e.key.startswith("aten::"):
            continue
        total += e.self_cpu_time_total
        name = e.key[len("aten::"):]
        group = next((g for g, keys in GROUPS if any(k in name for k in keys)), "other")
        shares[group] += e.self_cpu_time_total
    print(json.dumps({g: round(100 * v / total, 1) for g, v in sorted(shares.items(), key=lambda kv: -kv[1])},
                     indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
