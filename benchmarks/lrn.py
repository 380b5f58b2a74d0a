"""Our LocalResponseNorm against torch's, alone and inside a training step of the paper-exact GoogLeNet.

`googlenet.models.blocks.LocalResponseNorm` computes torch's function (tests/test_lrn.py checks value and
gradient) by adding shifted slices of the padded squares instead of torch's ``avg_pool3d``. This prints the
forward + backward time of both at the shapes of GoogLeNet's two LRNs (after pool1 and after conv2 3x3), and a
whole SGD step of ``googlenet`` (LRN, no batch norm: Figure 3) with each, with the ratio against torch's
measured in the same run.

    python benchmarks/lrn.py                          # width 1, 112 px, batch 32, 2 threads
    python benchmarks/lrn.py --width 0.5 --input-size 112 --batch-size 64 --bf16   # as docs/fidelity.md's lrn runs
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from googlenet import create_model
from googlenet.bench.machine import load_average
from googlenet.models.blocks import LocalResponseNorm, scale_channels
from googlenet.system.hardware import cpu_name


def timed(fn, repeats: int) -> float:
    """Median seconds of ``fn()`` over ``repeats`` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def autocast(bf16: bool):
    """bf16 autocast as the photo recipe trains (torch's LRN then runs its avg_pool3d in fp32)."""
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16)


def layer_step(layer: nn.Module, x: torch.Tensor, bf16: bool):
    def step():
        x.grad = None
        with autocast(bf16):
            y = layer(x)
        y.float().sum().backward()
    return step


def model_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor, opt: torch.optim.Optimizer, bf16: bool):
    def step():
        with autocast(bf16):
            out = model(x)
        logits = out[0] if isinstance(out, tuple) else getattr(out, "logits", out)
        loss = nn.functional.cross_entropy(logits.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step


def use_lrn(model: nn.Module, cls: type) -> None:
    for m in model.modules():
        if isinstance(m, nn.LocalResponseNorm):
            m.__class__ = cls


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--width", type=float, default=1.0)
    p.add_argument("--input-size", type=int, default=112)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--bf16", action="store_true", help="under bf16 autocast (the photo recipe on a native-bf16 CPU)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    grid = args.input_size // 4  # after conv1 (stride 2) and pool1 (stride 2); conv2/conv3 keep it
    print(f"host CPU {cpu_name()}, {args.threads} thread(s), torch {torch.__version__}; width {args.width}, "
          f"{args.input_size} px, batch {args.batch_size}, {'bf16 autocast' if args.bf16 else 'fp32'}")
    for where, channels in (("after pool1", 64), ("after conv2 3x3", 192)):
        c = scale_channels(channels, args.width)
        x = (torch.randn(args.batch_size, c, grid, grid) * 10).requires_grad_(True)
        theirs = timed(layer_step(nn.LocalResponseNorm(5, 1e-4, 0.75, 1.0), x, args.bf16), args.repeats)
        ours = timed(layer_step(LocalResponseNorm(5, 1e-4, 0.75, 1.0), x, args.bf16), args.repeats)
        print(f"  LRN {where} ({c} x {grid} x {grid}): torch {theirs * 1e3:.1f} ms, ours {ours * 1e3:.1f} ms "
              f"forward + backward: {theirs / ours:.2f}x")
    model = create_model("googlenet", num_classes=10, width=args.width, aux_logits=False).train()
    x = torch.randn(args.batch_size, 3, args.input_size, args.input_size)
    y = torch.randint(0, 10, (args.batch_size,))
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    results = {}
    for name, cls in (("torch", nn.LocalResponseNorm), ("ours", LocalResponseNorm)):
        use_lrn(model, cls)
        results[name] = timed(model_step(model, x, y, opt, args.bf16), args.repeats)
    print(f"  training step of googlenet (LRN, no BN): torch's LRN {results['torch'] * 1e3:.0f} ms, ours "
          f"{results['ours'] * 1e3:.0f} ms: {results['torch'] / results['ours']:.2f}x")
    load = load_average()
    if load:
        print(f"load average {load[0]} at the end")


if __name__ == "__main__":
    main()
