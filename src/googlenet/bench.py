"""Throughput benchmarks: our inference backends and training loop beside torchvision's, in one run.

The machine this runs on is usually shared, so absolute figures drift from minute to minute. Every
figure is therefore measured *interleaved* with the anchors -- torchvision's eager model and ONNX
Runtime on torchvision's own ONNX export -- in rounds (backend A, B, C, ... then again), after a
warm-up, and reported as the median over rounds together with its ratio to the anchors. The load
average (``os.getloadavg``) before and after is recorded beside the figures.

Backends (``BACKENDS``):

=================  ==========================================================================
``tv-eager``       torchvision's model, eager, NCHW (anchor)
``tv-ort``         ONNX Runtime on torchvision's ONNX export (anchor)
``eager``          our model after :func:`~googlenet.inference.optimize_for_inference` (BN folded,
                   inception 1x1 convolutions fused), NCHW
``channels-last``  the same, channels_last weights and input
``compile``        the same, channels_last, ``torch.compile`` (inductor, static shapes)
``ort``            ONNX Runtime on the ONNX export of our fused model
``ort-folded``     ONNX Runtime on the export with batch norm folded but the 1x1 convolutions not fused:
                   in ONNX Runtime the fused graph's ``Split`` costs an NCHWc reorder per module (measured
                   0.93-0.96x), so this is our fastest fp32 ONNX graph (the same arithmetic as the anchor)
``int8``           ONNX Runtime on our fused export quantized to int8 (static, calibrated on real
                   images, :mod:`googlenet.quantize`)
=================  ==========================================================================

Peak memory is the peak resident set size of a fresh process that builds the backend and runs it
at each batch size, minus that process's size after ``import torch, onnxruntime`` (so it counts
weights, compiled code, workspace and activations, not the libraries).
"""

from __future__ import annotations

import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .errors import UserError

BACKENDS = ("tv-eager", "tv-ort", "eager", "channels-last", "compile", "ort", "ort-folded", "int8")
ANCHORS = ("tv-eager", "tv-ort")
TRAIN_BACKENDS = ("tv-eager", "tv-channels-last", "channels-last", "fused", "bf16", "compile")
# ``compile`` (torch.compile of the fused training model) is left out of the default run: compiling
# GoogLeNet's forward and backward takes minutes on 2 cores. Ask for it with --train-backend compile.
# ``bf16`` (the fused model under bfloat16 autocast, as ``googlenet train --amp on``) pays only on CPUs with
# native bf16 arithmetic (AVX512_BF16 or AMX, listed in the run's ``machine.cpu_features``).
DEFAULT_TRAIN_BACKENDS = ("tv-eager", "tv-channels-last", "channels-last", "fused", "bf16")
TRAIN_ANCHOR = "tv-channels-last"
#: Pause before each timed stretch of a backend, so the previous backend's spinning threads have gone idle.
SETTLE_SECONDS = 0.2
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# The checkout's sibling ``shared/data`` (as tests/conftest.py), unless GOOGLENET_SHARED_DATA says otherwise.
DEFAULT_DATA = Path(os.environ.get("GOOGLENET_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))
Run = Callable[[], Any]


# ----------------------------------------------------------------------------------------------- images
def real_images(n: int, size: int, *, channels: int = 3, data_dir: str | Path | None = None) -> torch.Tensor:
    """``n`` real CIFAR-10 training images (round-robin over the classes), resized to ``size`` and
    normalized with ImageNet's mean and std; grey (``channels=1``) by averaging the colours."""
    from PIL import Image

    path = Path(data_dir or DEFAULT_DATA) / "cifar10-jpeg.tar.gz"
    if not path.is_file():
        raise UserError(f"real images for calibration not found at {str(path)!r}; pass --data-dir with the "
                        "folder holding cifar10-jpeg.tar.gz (or set GOOGLENET_SHARED_DATA)")
    per_class: dict[str, list[np.ndarray]] = {}
    want = -(-n // 10)
    with tarfile.open(path) as tf:
        for member in tf:
            if not (member.isfile() and member.name.endswith(".jpg")):
                continue
            cls = member.name.split("/")[-2]
            bucket = per_class.setdefault(cls, [])
            if len(bucket) >= want:
                if len(per_class) == 10 and all(len(b) >= want for b in per_class.values()):
                    break
                continue
            f = tf.extractfile(member)
            assert f is not None
            bucket.append(np.asarray(Image.open(f).convert("RGB"), dtype=np.float32) / 255.0)
    images = [img for group in zip(*per_class.values(), strict=False) for img in group][:n]
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()
    x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    x = (x - mean) / std
    if channels == 1:
        x = x.mean(1, keepdim=True)
    elif channels != 3:
        raise UserError(f"real images have 1 or 3 channels, not {channels}; benchmark a model with "
                        "in_channels 1 or 3")
    if len(x) < n:
        x = x.repeat((n + len(x) - 1) // len(x), 1, 1, 1)[:n]
    return x.contiguous()


def settle_batch_norm(model: nn.Module, images: torch.Tensor, *, steps: int = 2) -> nn.Module:
    """Give an untrained model's batch norms realistic running statistics (a few train-mode passes on
    real images, no weight update), so benchmarks and quantization see activations of a real range."""
    if not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        return model.eval()
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # cumulative average
    model.train()
    with torch.no_grad():
        for chunk in images.chunk(steps):
            model(chunk)
    return model.eval()


# ----------------------------------------------------------------------------------------------- models
def torchvision_counterpart(model_name: str) -> str:
    """The torchvision model measured beside ours: same name (less ``_torchvision``), else googlenet."""
    import torchvision

    base = model_name.removesuffix("_torchvision")
    return base if base in torchvision.models.list_models(module=torchvision.models) else "googlenet"


def build_pair(model_name: str, model_kwargs: dict[str, Any] | None = None) -> tuple[nn.Module, nn.Module]:
    """(our model, torchvision's counterpart), eval mode, without auxiliary heads. When the state_dict
    keys agree, torchvision's model gets our weights, so the two compute the same function."""
    import torchvision

    from .registry import create_model

    kwargs = {"aux_logits": False, **(model_kwargs or {})}
    try:
        ours = create_model(model_name, **kwargs)
    except TypeError:
        kwargs.pop("aux_logits")
        ours = create_model(model_name, **kwargs)
    tv_name = torchvision_counterpart(model_name)
    tv_kwargs: dict[str, Any] = {"weights": None}
    if tv_name in ("googlenet", "inception_v3"):
        tv_kwargs.update(aux_logits=False, init_weights=False)
    if "num_classes" in kwargs:
        tv_kwargs["num_classes"] = kwargs["num_classes"]
    tv = torchvision.models.get_model(tv_name, **tv_kwargs)
    if same_layout(ours, tv):
        tv.load_state_dict(ours.state_dict())
    return ours.eval(), tv.eval()


def same_layout(a: nn.Module, b: nn.Module) -> bool:
    """Whether ``a``'s state_dict loads into ``b`` (same keys, same shapes)."""
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(sa[k].shape == sb[k].shape for k in sa)


# ----------------------------------------------------------------------------------------------- backends
@dataclass
class Prepared:
    """A built backend: ``make(x)`` returns a zero-argument callable that runs one batch ``x``."""

    name: str
    owner: str  # "ours" or "torchvision"
    make: Callable[[torch.Tensor], Run]
    to_numpy: Callable[[Any], np.ndarray] = field(default=lambda out: out.detach().numpy())


def _ort_session(path: str | Path, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _ort_backend(name: str, owner: str, path: Path, threads: int) -> Prepared:
    session = _ort_session(path, threads)
    input_name = session.get_inputs()[0].name

    def make(x: torch.Tensor) -> Run:
        feed = {input_name: x.numpy()}
        return lambda: session.run(None, feed)[0]

    return Prepared(name, owner, make, to_numpy=lambda out: out)


def _torch_backend(name: str, owner: str, model: nn.Module, channels_last: bool) -> Prepared:
    def make(x: torch.Tensor) -> Run:
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)

        def run() -> torch.Tensor:
            with torch.inference_mode():
                return model(x)

        return run

    return Prepared(name, owner, make)


def prepare_backends(
    names: Sequence[str], ours: nn.Module, tv: nn.Module, *, workdir: Path, input_size: int, threads: int,
    calibration: torch.Tensor | None = None,
) -> list[Prepared]:
    """Build the requested backends (ONNX files go to ``workdir``)."""
    from .inference import export_onnx, optimize_for_inference

    unknown = [n for n in names if n not in BACKENDS]
    if unknown:
        raise UserError(f"unknown backend {unknown[0]!r}; choose from {', '.join(BACKENDS)}")
    in_channels = getattr(ours, "in_channels", 3)
    fused = None
    if any(n in names for n in ("eager", "ort", "int8")):
        fused = optimize_for_inference(ours)
    fused_cl = None
    if any(n in names for n in ("channels-last", "compile")):
        fused_cl = optimize_for_inference(ours, memory_format=torch.channels_last)
    out: list[Prepared] = []
    for name in names:
        if name == "tv-eager":
            out.append(_torch_backend(name, "torchvision", tv, channels_last=False))
        elif name == "tv-ort":
            path = workdir / "torchvision.onnx"
            if not path.exists():
                export_onnx(tv, path, input_size=input_size, in_channels=in_channels)
            out.append(_ort_backend(name, "torchvision", path, threads))
        elif name == "eager":
            out.append(_torch_backend(name, "ours", fused, channels_last=False))
        elif name == "channels-last":
            out.append(_torch_backend(name, "ours", fused_cl, channels_last=True))
        elif name == "compile":
            compiled = torch.compile(fused_cl, dynamic=False)
            out.append(_torch_backend(name, "ours", compiled, channels_last=True))
        elif name in ("ort", "int8"):
            path = workdir / "ours_fused.onnx"
            if not path.exists():
                export_onnx(fused, path, input_size=input_size, in_channels=in_channels)
            if name == "int8":
                from .quantize import quantize_onnx

                q_path = workdir / "ours_fused_int8.onnx"
                if not q_path.exists():
                    if calibration is None:
                        raise UserError("the int8 backend needs calibration images")
                    quantize_onnx(path, q_path, calibration)
                path = q_path
            out.append(_ort_backend(name, "ours", path, threads))
        elif name == "ort-folded":
            path = workdir / "ours_folded.onnx"
            if not path.exists():
                export_onnx(optimize_for_inference(ours, fuse_inception=False), path, input_size=input_size,
                            in_channels=in_channels)
            out.append(_ort_backend(name, "ours", path, threads))
    return out


# ----------------------------------------------------------------------------------------------- timing
@dataclass
class Measurement:
    backend: str
    owner: str
    batch: int
    images_per_s: float
    ms_per_batch: float
    rounds: int
    iters_per_round: int
    max_abs_diff: float | None = None
    vs_tv_eager: float | None = None
    vs_tv_ort: float | None = None
    peak_mem_mib: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def time_interleaved(runs: dict[str, Run], *, batch: int, seconds: float, warmup: int = 2,
                     min_rounds: int = 3) -> dict[str, tuple[float, int, int]]:
    """Median seconds per call of each run, measured in interleaved rounds within about ``seconds``.

    Returns ``{name: (median_seconds_per_call, rounds, iterations_per_round)}``.
    """
    per_call: dict[str, float] = {}
    for name, run in runs.items():  # warm-up, and a first estimate of the cost of one call
        for _ in range(warmup):
            run()
        t0 = time.perf_counter()
        run()
        per_call[name] = time.perf_counter() - t0
    round_cost = sum(per_call.values())
    rounds = max(min_rounds, min(15, int(seconds / max(round_cost, 1e-6) / 1.5)))
    budget_per_backend = seconds / max(rounds, 1) / max(len(runs), 1)
    iters = {name: max(1, min(50, int(budget_per_backend / max(c, 1e-6)))) for name, c in per_call.items()}
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            # ONNX Runtime's (and OpenMP's) worker threads spin for a while after a call returns; without a
            # pause they steal the cores from the next backend. Measured: an ORT session right after another
            # ran 9% slower at batch 1 (30.2 vs 33.0 img/s, the same graph), which had every ORT backend but
            # the anchor (which follows torchvision's eager model) at a disadvantage.
            time.sleep(SETTLE_SECONDS)
            t0 = time.perf_counter()
            for _ in range(iters[name]):
                run()
            samples[name].append((time.perf_counter() - t0) / iters[name])
    return {name: (statistics.median(s), rounds, iters[name]) for name, s in samples.items()}


def load_average() -> list[float]:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:  # pragma: no cover - not on Linux
        return []


def machine() -> dict[str, Any]:
    from .hardware import cpu_features, cpu_name

    # cpu_features: what decides which backends pay (8-bit dot products for int8, native bf16 for bf16).
    return {"cpu": cpu_name(), "cpu_features": cpu_features(), "cores": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "onnxruntime": _version("onnxruntime"), "torchvision": _version("torchvision"),
            "python": sys.version.split()[0]}


def _version(module: str) -> str:
    try:
        return __import__(module).__version__
    except Exception:  # noqa: BLE001
        return "-"


def bench_inference(
    model_name: str = "googlenet_torchvision", *, backends: Sequence[str] = BACKENDS, batches: Sequence[int] = (1, 32),
    input_size: int | None = None, seconds: float = 20.0, threads: int | None = None, memory: bool = True,
    model_kwargs: dict[str, Any] | None = None, data_dir: str | Path | None = None, workdir: str | Path | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Measure every backend at every batch size, interleaved with torchvision's anchors.

    ``seconds`` is the timing budget per batch size (warm-up and compilation come on top).
    Returns a dict with ``machine``, ``load_before``/``load_after`` and ``results`` (one row per backend
    and batch, with ``vs_tv_eager``/``vs_tv_ort`` ratios and ``max_abs_diff`` to our eager model).
    """
    from .registry import model_info

    log = log or (lambda msg: None)
    if not batches or any(b < 1 for b in batches):
        raise UserError(f"batch sizes must be positive integers, got {list(batches)}; e.g. --batch 1 --batch 32")
    if seconds <= 0:
        raise UserError(f"--seconds must be positive, got {seconds}")
    unknown = [b for b in backends if b not in BACKENDS]
    if unknown:
        raise UserError(f"unknown backend {unknown[0]!r}; choose from {', '.join(BACKENDS)}")
    threads = threads or torch.get_num_threads()
    torch.set_num_threads(threads)
    info = model_info(model_name)
    model_kwargs = dict(model_kwargs or {})
    if input_size is None:
        input_size = 32 if model_kwargs.get("small_input") else info.input_size
    names = list(dict.fromkeys(list(ANCHORS) + [b for b in backends if b not in ANCHORS]))
    load_before = load_average()
    ours, tv = build_pair(model_name, model_kwargs)
    in_channels = getattr(ours, "in_channels", 3)
    images = real_images(max(64, max(batches)), input_size, channels=in_channels, data_dir=data_dir)
    settle_batch_norm(ours, images[:32])
    if same_layout(ours, tv):
        tv.load_state_dict(ours.state_dict())
    else:
        settle_batch_norm(tv, images[:32])
    tmp = tempfile.TemporaryDirectory(prefix="googlenet-bench-") if workdir is None else None
    work = Path(workdir or tmp.name)  # type: ignore[union-attr]
    work.mkdir(parents=True, exist_ok=True)
    try:
        log(f"building backends: {', '.join(names)}")
        prepared = prepare_backends(names, ours, tv, workdir=work, input_size=input_size, threads=threads,
                                    calibration=images[:32])
        results: list[Measurement] = []
        for batch in batches:
            x = images[:batch].contiguous()
            with torch.inference_mode():
                reference = ours(x).numpy()
            runs = {p.name: p.make(x) for p in prepared}
            diffs = {}
            for p in prepared:
                t0 = time.perf_counter()
                out = p.to_numpy(runs[p.name]())  # also triggers compilation outside the timing
                log(f"batch {batch}: {p.name} first call {time.perf_counter() - t0:.1f}s")
                diffs[p.name] = float(np.abs(out - reference).max()) if out.shape == reference.shape else None
            log(f"batch {batch}: timing {len(runs)} backends for about {seconds:.0f}s")
            timed = time_interleaved(runs, batch=batch, seconds=seconds)
            anchor = {a: batch / timed[a][0] for a in ANCHORS}
            for p in prepared:
                sec, rounds, iters = timed[p.name]
                ips = batch / sec
                results.append(Measurement(p.name, p.owner, batch, round(ips, 2), round(sec * 1e3, 2), rounds, iters,
                                           diffs[p.name], round(ips / anchor["tv-eager"], 3),
                                           round(ips / anchor["tv-ort"], 3)))
            del runs
            gc.collect()
        if memory:
            for p in prepared:
                log(f"peak memory: {p.name}")
                peaks = measure_peak_memory(model_name, model_kwargs, p.name, list(batches), input_size, work,
                                            threads)
                for r in results:
                    if r.backend == p.name:
                        r.peak_mem_mib = peaks.get(r.batch)
    finally:
        if tmp is not None:
            tmp.cleanup()
    return {"kind": "inference", "model": model_name, "model_kwargs": model_kwargs, "input_size": input_size,
            "threads": threads, "seconds_per_batch": seconds, "machine": machine(), "load_before": load_before,
            "load_after": load_average(), "results": [r.as_dict() for r in results]}


# ----------------------------------------------------------------------------------------------- memory
def _status_mib(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # pragma: no cover


def _rss_mib() -> float:
    return _status_mib("VmRSS")


def _reset_peak_rss() -> None:
    """Reset VmHWM to the current RSS (Linux: write 5 to /proc/self/clear_refs), so the peak measured
    next counts what the backend keeps (weights, sessions) and what running it takes, not building it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:  # pragma: no cover
        pass


def _probe_main(argv: Sequence[str] | None = None) -> None:
    """Child process of :func:`measure_peak_memory`: build one backend, run it, print peak RSS deltas."""
    import onnxruntime  # noqa: F401  (counted in the baseline)

    spec = json.loads((argv or sys.argv[1:])[0])
    torch.set_num_threads(spec["threads"])
    base = _rss_mib()
    ours, tv = build_pair(spec["model"], spec["model_kwargs"])
    in_channels = getattr(ours, "in_channels", 3)
    (prepared,) = prepare_backends([spec["backend"]], ours, tv, workdir=Path(spec["workdir"]),
                                   input_size=spec["input_size"], threads=spec["threads"])
    del ours, tv
    gc.collect()
    _reset_peak_rss()
    peaks = {}
    for batch in sorted(spec["batches"]):
        x = torch.randn(batch, in_channels, spec["input_size"], spec["input_size"])
        run = prepared.make(x)
        for _ in range(2):
            run()
        # VmHWM is the process's RSS high-water mark; batches run in increasing order.
        peaks[batch] = round(_status_mib("VmHWM") - base, 1)
    print(json.dumps(peaks))


def measure_peak_memory(model_name: str, model_kwargs: dict[str, Any], backend: str, batches: list[int],
                        input_size: int, workdir: Path, threads: int) -> dict[int, float]:
    """Peak RSS growth (MiB) of a fresh process building ``backend`` and running it at each batch."""
    spec = {"model": model_name, "model_kwargs": model_kwargs, "backend": backend, "batches": batches,
            "input_size": input_size, "workdir": str(workdir), "threads": threads}
    src = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, "-c", "from googlenet.bench import _probe_main; _probe_main()",
                           json.dumps(spec)], capture_output=True, text=True, env=env, timeout=900)
    if proc.returncode != 0:
        return {}
    try:
        return {int(k): v for k, v in json.loads(proc.stdout.strip().splitlines()[-1]).items()}
    except (ValueError, IndexError):
        return {}


# ----------------------------------------------------------------------------------------------- training
def _train_step_fn(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, aux_weight: float = 0.3,
                   compile_model: bool = False, bf16: bool = False) -> Run:
    """One SGD step (momentum 0.9) on the batch ``(x, y)``: cross-entropy on the main logits plus
    ``aux_weight`` times each auxiliary head's (the paper's 0.3, section 5). The same loop for every model;
    ``bf16`` runs the forward pass under bfloat16 autocast (weights and optimizer stay fp32)."""
    from .models.layers import split_outputs

    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    forward = torch.compile(model) if compile_model else model

    def step() -> float:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            main, aux = split_outputs(forward(x))
            loss = nn.functional.cross_entropy(main, y)
            for a in aux:
                loss = loss + aux_weight * nn.functional.cross_entropy(a, y)
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    return step


def prepare_training(names: Sequence[str], model_name: str, model_kwargs: dict[str, Any], x: torch.Tensor,
                     y: torch.Tensor) -> dict[str, tuple[str, Run]]:
    """``{backend: (owner, step)}`` for the training backends (``TRAIN_BACKENDS``)."""
    import torchvision

    from .registry import create_model
    from .train_fusion import fuse_for_training

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
            out[name] = ("torchvision", _train_step_fn(model, x_cl if cl else x, y))
            continue
        model = create_model(model_name, **model_kwargs)
        if name in ("fused", "bf16", "compile"):
            model = fuse_for_training(model)
        model = model.to(memory_format=torch.channels_last)
        out[name] = ("ours", _train_step_fn(model, x_cl, y, compile_model=name == "compile", bf16=name == "bf16"))
    return out


def bench_training(
    model_name: str = "googlenet_torchvision", *, backends: Sequence[str] = DEFAULT_TRAIN_BACKENDS, batch: int = 128,
    input_size: int = 96, seconds: float = 60.0, threads: int | None = None,
    model_kwargs: dict[str, Any] | None = None, data_dir: str | Path | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Training images/s of each backend (one SGD step per call on a batch of real images),
    interleaved with torchvision's model trained by the same loop (eager and channels_last)."""
    log = log or (lambda msg: None)
    if batch < 1 or input_size < 32:
        raise UserError(f"training benchmark needs batch >= 1 and input >= 32, got {batch} and {input_size}")
    unknown = [b for b in backends if b not in TRAIN_BACKENDS]
    if unknown:
        raise UserError(f"unknown training backend {unknown[0]!r}; choose from {', '.join(TRAIN_BACKENDS)}")
    threads = threads or torch.get_num_threads()
    torch.set_num_threads(threads)
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
