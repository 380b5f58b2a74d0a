"""``googlenet bench MODEL``: inference and training throughput beside torchvision, in one run."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..models.registry import model_info
from ..system.text import format_table, to_json
from ..system.threads import check_threads
from ._common import add_json_flag, add_model_kwargs, model_kwargs_from

INFERENCE_COLUMNS = ["backend", "owner", "batch", "images_per_s", "ms_per_batch", "vs_tv_eager", "vs_tv_ort",
                     "peak_mem_mib", "max_abs_diff", "precision", "peak_fraction"]
TRAINING_COLUMNS = ["backend", "owner", "batch", "input_size", "images_per_s", "ms_per_step", "vs_tv_eager",
                    "vs_tv_channels_last"]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench", help="images/s and peak memory of our backends beside torchvision eager and ONNX Runtime",
        description="Measure inference (batch 1 and 32) and training (96x96, batch 128) throughput of MODEL's "
        "backends interleaved with torchvision's model (eager and ONNX Runtime on its export), "
        "reporting medians and ratios. The anchors are always measured.",
    )
    parser.add_argument("model", help="registered model name (see `googlenet models`), e.g. googlenet_torchvision")
    parser.add_argument("--backend", action="append", default=None, metavar="NAME",
                        help="inference backend (repeatable; default all but compile; a name it does not know lists "
                             "the choices)")
    parser.add_argument("--batch", action="append", type=int, default=None,
                        help="inference batch size (repeatable; default 1 and 32)")
    parser.add_argument("--input-size", type=int, default=None, help="image side (default: the model's)")
    parser.add_argument("--seconds", type=float, default=20.0,
                        help="timing budget per batch size, after warm-up (default 20)")
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads (default: torch's)")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    parser.add_argument("--train", action="store_true", help="also benchmark training (96x96, batch 128)")
    parser.add_argument("--train-only", action="store_true", help="benchmark training only")
    parser.add_argument("--train-backend", action="append", default=None, metavar="NAME",
                        help="training backend (repeatable; default all but compile; a name it does not know "
                        "lists the choices)")
    parser.add_argument("--train-batch", type=int, default=128)
    parser.add_argument("--train-size", type=int, default=96)
    parser.add_argument("--train-seconds", type=float, default=60.0, help="training timing budget (default 60)")
    parser.add_argument("--data-dir", default=None, help="folder with cifar10-jpeg.tar.gz, real photos (default: "
                        "$GOOGLENET_DATA; with neither, the package's synthetic pictures)")
    parser.add_argument("--out", default=None, help="also write the JSON result to this file")
    add_model_kwargs(parser)
    add_json_flag(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..bench import DEFAULT_BACKENDS, DEFAULT_TRAIN_BACKENDS, bench_inference, bench_training

    model_info(args.model)  # unknown model -> UserError naming close matches
    kwargs = model_kwargs_from(args)
    check_threads(args.threads)

    def log(msg: str) -> None:
        print(f"[bench] {msg}", file=sys.stderr, flush=True)

    result: dict = {}
    if not args.train_only:
        result["inference"] = bench_inference(
            args.model, backends=args.backend or DEFAULT_BACKENDS, batches=args.batch or (1, 32),
            input_size=args.input_size,
            seconds=args.seconds, threads=args.threads, memory=not args.no_memory, model_kwargs=kwargs,
            data_dir=args.data_dir, log=log)
    if args.train or args.train_only:
        result["training"] = bench_training(
            args.model, backends=args.train_backend or DEFAULT_TRAIN_BACKENDS, batch=args.train_batch,
            input_size=args.train_size, seconds=args.train_seconds, threads=args.threads, model_kwargs=kwargs,
            data_dir=args.data_dir, log=log)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(to_json(result) + "\n")
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(render(result))
    return 0


def render(result: dict) -> str:
    """The tables (and the machine and load lines) for a bench result."""
    parts = []
    for kind, columns in (("inference", INFERENCE_COLUMNS), ("training", TRAINING_COLUMNS)):
        if kind not in result:
            continue
        r = result[kind]
        m = r["machine"]
        title = (f"{kind}: {r['model']} {r.get('input_size', '')} -- {m['cpu']} "
                 f"({' '.join(m.get('cpu_features') or ['-'])}), {m['cores']} cores, "
                 f"{r['threads']} threads, torch {m['torch']}, onnxruntime {m['onnxruntime']}; "
                 f"load {r['load_before']} -> {r['load_after']}")
        parts.append(format_table(r["results"], columns, title=title))
    return "\n\n".join(parts)
