"""Where the time goes: per-operator profile of ONNX Runtime (torchvision's export, our fused export,
int8) and of our eager channels_last model, plus the achieved GFLOP/s against the CPU's nominal peak.

    python benchmarks/profile_ops.py [--batch 32] [--runs 3] [--peak-gflops 157]

``--peak-gflops``: the machine's nominal fp32 peak (default: 2 cores x 32 FLOP/cycle x 2.45 GHz).
The model's FLOPs are counted from its convolutions and linear layers (2 x multiply-adds).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from googlenet.bench import build_pair, real_images, settle_batch_norm  # noqa: E402
from googlenet.deploy.fusion import optimize_for_inference  # noqa: E402
from googlenet.deploy.onnx import export_onnx  # noqa: E402
from googlenet.deploy.quantize import quantize_onnx  # noqa: E402


def count_flops(model: nn.Module, x: torch.Tensor) -> float:
    """2 x multiply-adds of every Conv2d and Linear for one forward pass of ``x`` (per image)."""
    total = 0.0

    def conv_hook(m: nn.Conv2d, _inp, out) -> None:
        nonlocal total
        k = m.kernel_size[0] * m.kernel_size[1] * m.in_channels // m.groups
        total += 2.0 * out.numel() * k

    def linear_hook(m: nn.Linear, _inp, out) -> None:
        nonlocal total
        total += 2.0 * out.numel() * m.in_features

    hooks = [m.register_forward_hook(conv_hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    hooks += [m.register_forward_hook(linear_hook) for m in model.modules() if isinstance(m, nn.Linear)]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return total / len(x)


def ort_profile(path: Path, x: torch.Tensor, runs: int, threads: int) -> dict:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.enable_profiling = True
    options.profile_file_prefix = str(path.with_suffix(""))
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: x.numpy()}
    session.run(None, feed)
    t0 = time.perf_counter()
    for _ in range(runs):
        session.run(None, feed)
    seconds = (time.perf_counter() - t0) / runs
    trace = json.loads(Path(session.end_profiling()).read_text())
    by_op: dict[str, float] = defaultdict(float)
    for ev in trace:
        if ev.get("cat") == "Node" and ev["name"].endswith("_kernel_time"):
            by_op[ev["args"].get("op_name", "?")] += ev["dur"] / 1e6
    total = sum(by_op.values()) or 1.0
    return {"seconds_per_batch": round(seconds, 4),
            "op_share_percent": {k: round(100 * v / total, 1) for k, v in sorted(by_op.items(), key=lambda kv: -kv[1])}}


def torch_profile(model: nn.Module, x: torch.Tensor, runs: int) -> dict:
    from torch.profiler import ProfilerActivity, profile

    with torch.inference_mode():
        model(x)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(runs):
                model(x)
    rows = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)
    total = sum(e.self_cpu_time_total for e in rows) or 1.0
    return {"op_share_percent": {e.key: round(100 * e.self_cpu_time_total / total, 1) for e in rows[:8]}}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="googlenet_torchvision")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--peak-gflops", type=float, default=2 * 32 * 2.45)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    ours, tv = build_pair(args.model)
    images = real_images(max(32, args.batch), 224)
    settle_batch_norm(ours, images[:32])
    x = images[: args.batch].contiguous()
    flops = count_flops(ours, x[:1])
    fused = optimize_for_inference(ours)
    out: dict = {"model": args.model, "batch": args.batch, "gflop_per_image": round(flops / 1e9, 3),
                 "peak_gflops": args.peak_gflops, "bound_images_per_s": round(args.peak_gflops * 1e9 / flops, 1)}
    with tempfile.TemporaryDirectory() as tmp:
        tv_path = export_onnx(tv, Path(tmp) / "tv.onnx")
        our_path = export_onnx(fused, Path(tmp) / "ours.onnx")
        q_path = quantize_onnx(our_path, Path(tmp) / "int8.onnx", images[:32])
        for name, path in (("tv-ort", tv_path), ("ort", our_path), ("int8", q_path)):
            prof = ort_profile(path, x, args.runs, args.threads)
            prof["images_per_s"] = round(args.batch / prof["seconds_per_batch"], 1)
            prof["achieved_gflops"] = round(flops * prof["images_per_s"] / 1e9, 1)
            prof["percent_of_peak"] = round(100 * prof["achieved_gflops"] / args.peak_gflops, 1)
            out[name] = prof
    cl = optimize_for_inference(ours, memory_format=torch.channels_last)
    out["channels-last (torch)"] = torch_profile(cl, x.contiguous(memory_format=torch.channels_last), args.runs)
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
