"""Training throughput: our training step (fused, channels_last, bf16, compiled) beside torchvision's."""


from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import UserError
from ..system.threads import torch_threads
from .inputs import real_images, torchvision_counterpart
from .machine import load_average, machine
from .timing import Run, time_interleaved

TRAIN_BACKENDS = ("tv-eager", "tv-channels-last", "channels-last", "fused", "bf16", "compile")
# ``compile`` (torch.compile of the fused training model) is left out of the default run: compiling
# GoogLeNet's forward and backward takes minutes on 2 cores. Ask for it with --train-backend compile.
# ``bf16`` (the fused model under bfloat16 autocast, as ``googlenet train --amp on``) pays only on CPUs with
# native bf16 arithmetic (AVX512_BF16 or AMX, listed in the run's ``machine.cpu_features``).
DEFAULT_TRAIN_BACKENDS = ("tv-eager", "tv-channels-last", "channels-last", "fused", "bf16")
TRAIN_ANCHOR = "tv-channels-last"


def train_step_fn(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, aux_weight: float = 0.3,
                   compile_model: bool = False, bf16: bool = False) -> Run:
    """One SGD step (momentum 0.9) on the batch ``(x, y)``: cross-entropy on the main logits plus
    ``aux_weight`` times each auxiliary head's (the paper's 0.3, section 5). The same loop for every model;
    ``bf16`` runs the forward pass under bfloat16 autocast (weights and optimizer stay fp32)."""
    from ..training.loss import training_loss

    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    forward = torch.compile(model) if compile_model else model

    def step() -> float:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = training_loss(forward(x), y, aux_weight=aux_weight).total
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    return step


def prepare_training(names: Sequence[str], model_name: str, model_kwargs: dict[str, Any], x: torch.Tensor,
                     y: torch.Tensor) -> dict[str, tuple[str, Run]]:
    """``{backend: (owner, step)}`` for the training backends (``TRAIN_BACKENDS``)."""
    import torchvision

    from ..deploy.train_fusion import fuse_for_training
    from ..models.registry import create_model

    unknown = [n for n in names if n not in TRAIN_BACKENDS]
    if unknown:
        raise UserError(f"unknown training backend {unknown[0]!r}; choose from {', '.join(TRAIN_BACKENDS)}")
    x_cl = x.contiguous(memory_format=torch.channels_last)
    tv_name = torchvision_counterpart(model_name)
    out: dict[str, tuple[str, Run]] = {}
    for name in names:
        if name.startswith("tv-"):
            kwargs: dict[str, Any] = {"weights": None, "num_classes": model_kwargs.get("num_classes", 1000)}
            if tv_name in ("googlenet", "inception_v3"):
                kwargs["aux_logits"] = model_kwargs.get("aux_logits", True)
            model = torchvision.models.get_model(tv_name, **kwargs)
            cl = name == "tv-channels-last"
            if cl:
                model = model.to(memory_format=torch.channels_last)
            out[name] = ("torchvision", train_step_fn(model, x_cl if cl else x, y))
            continue
        model = create_model(model_name, **model_kwargs)
        if name in ("fused", "bf16", "compile"):
            model = fuse_for_training(model)
        model = model.to(memory_format=torch.channels_last)
        out[name] = ("ours", train_step_fn(model, x_cl, y, compile_model=name == "compile", bf16=name == "bf16"))
    return out


def _bench_training(
    model_name: str = "googlenet_torchvision", *, backends: Sequence[str] = DEFAULT_TRAIN_BACKENDS, batch: int = 128,
    input_size: int = 96, seconds: float = 60.0, model_kwargs: dict[str, Any] | None = None,
    data_dir: str | Path | None = None, log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Training images/s of each backend (one SGD step per call on a batch of real images),
    interleaved with torchvision's model trained by the same loop (eager and channels_last), with the
    intra-op threads in effect (:func:`bench_training` sets them)."""
    threads = torch.get_num_threads()
    log = log or (lambda msg: None)
    if batch < 1 or input_size < 32:
        raise UserError(f"training benchmark needs batch >= 1 and input >= 32, got {batch} and {input_size}")
    unknown = [b for b in backends if b not in TRAIN_BACKENDS]
    if unknown:
        raise UserError(f"unknown training backend {unknown[0]!r}; choose from {', '.join(TRAIN_BACKENDS)}")
    model_kwargs = dict(model_kwargs or {})
    names = list(dict.fromkeys(["tv-eager", TRAIN_ANCHOR] + [b for b in backends if b not in ("tv-eager",
                                                                                            TRAIN_ANCHOR)]))
    load_before = load_average()
    torch.manual_seed(0)
    x = real_images(batch, input_size, data_dir=data_dir)
    y = torch.arange(batch) % 10
    steps = prepare_training(names, model_name, model_kwargs, x, y)
    for name, (_, step) in steps.items():
        t0 = time.perf_counter()
        step()
        log(f"train {name}: first step {time.perf_counter() - t0:.1f}s")
    log(f"timing {len(steps)} training backends for about {seconds:.0f}s")
    timed = time_interleaved({n: s for n, (_, s) in steps.items()}, batch=batch, seconds=seconds, warmup=1)
    anchor = batch / timed[TRAIN_ANCHOR][0]
    tv_eager = batch / timed["tv-eager"][0]
    results = []
    for name, (owner, _) in steps.items():
        sec, rounds, iters = timed[name]
        ips = batch / sec
        results.append({"backend": name, "owner": owner, "batch": batch, "input_size": input_size,
                        "images_per_s": round(ips, 2), "ms_per_step": round(sec * 1e3, 1), "rounds": rounds,
                        "iters_per_round": iters, "vs_tv_eager": round(ips / tv_eager, 3),
                        "vs_tv_channels_last": round(ips / anchor, 3)})
    return {"kind": "training", "model": model_name, "model_kwargs": model_kwargs, "threads": threads,
            "seconds": seconds, "machine": machine(), "load_before": load_before, "load_after": load_average(),
            "results": results}


def bench_training(*args: Any, threads: int | None = None, **kwargs: Any) -> dict[str, Any]:
    """:func:`_bench_training` with ``threads`` intra-op threads (default: torch's), restored afterwards."""
    with torch_threads(threads):
        return _bench_training(*args, **kwargs)
