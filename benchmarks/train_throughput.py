"""Training images/s of the `fast` recipe's GoogLeNet at 28x28 against width, threads and torch.compile.

    python benchmarks/train_throughput.py                       # widths 1/8 and 1/4, 1 and 2 threads
    python benchmarks/train_throughput.py --width 0.25 --threads 1 --compile
    python benchmarks/train_throughput.py --bf16                # bfloat16 autocast (`googlenet train --amp on`)

Random inputs, SGD with Nesterov momentum, channels_last, batch 128: the arithmetic of a training step,
without data loading. Run two 1-thread copies at once to see what two processes get together
(docs/training.md, "The 15-minute recipe").
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from googlenet import create_model  # noqa: E402


def images_per_second(width: float, threads: int, batch: int, steps: int, compile_model: bool,
                      bf16: bool = False) -> float:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = create_model("googlenet", num_classes=10, in_channels=1, small_input=True, batch_norm=True, lrn=False,
                         aux_logits=False, width=width).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    net = torch.compile(model) if compile_model else model
    x = torch.randn(batch, 1, 28, 28).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch,))

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()

    for _ in range(3):  # warm-up (and compilation)
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * batch / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--width", type=float, action="append", help="repeatable (default 0.125 and 0.25)")
    p.add_argument("--threads", type=int, action="append", help="repeatable (default 1 and 2)")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=15)
    p.add_argument("--compile", action="store_true", help="torch.compile the model (minutes of compiling)")
    p.add_argument("--bf16", action="store_true", help="forward pass under bfloat16 autocast")
    args = p.parse_args()
    for width in args.width or (0.125, 0.25):
        for threads in args.threads or (1, 2):
            rate = images_per_second(width, threads, args.batch, args.steps, args.compile, args.bf16)
            print(f"width {width:g}  threads {threads}  batch {args.batch}  compile {args.compile}  bf16 {args.bf16}: "
                  f"{rate:.0f} img/s", flush=True)


if __name__ == "__main__":
    main()
