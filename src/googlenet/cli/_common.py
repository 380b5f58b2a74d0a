"""Argument helpers shared by the subcommands."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..errors import UserError

#: How int8 is calibrated when the command has no images of its own to calibrate on (predict, serve).
CIFAR_CALIBRATION = "calibrated on real CIFAR-10 photos from --data-dir / $GOOGLENET_DATA"


def add_backend_flag(parser: argparse.ArgumentParser, int8_calibration: str = CIFAR_CALIBRATION,
                     default: str = "auto") -> None:
    """``--backend``, one help text for every command that runs a model (eval, predict, serve, explain);
    ``default``: ``auto``, or ``eager`` where a command's results must stay the model's own (explain)."""
    auto = ("(default: " if default == "auto" else "(") + ("the fastest fp32/bf16 backend here within 0.1 pt top-1 "
                                                           "of torch, measured once per model and machine, cached)")
    eager = "eager (default: the model as loaded)" if default == "eager" else "eager (the model as loaded)"
    parser.add_argument("--backend", default=default, metavar="NAME", help=(
        f"what runs the model (googlenet.deploy.backends; docs/evaluation.md \"Backends\"): auto {auto}, "
        "torch (folded and fused model, channels_last), ort (ONNX Runtime fp32), int8 (ONNX Runtime int8, "
        f"{int8_calibration}), openvino (OpenVINO fp32), openvino-bf16 (where the CPU has native bf16), "
        f"openvino-int8 (NNCF int8, {int8_calibration}), {eager}, compile, ort-fused"))


def add_json_flag(parser: argparse.ArgumentParser, help: str = "print JSON for machines instead of a table") -> None:
    parser.add_argument("--json", action="store_true", help=help)


def add_force_flag(parser: argparse.ArgumentParser, what: str = "the output") -> None:
    """``--force``: the one flag, in every command, that lets it replace files it did not write."""
    from ..system.files import FORCE_FLAG

    parser.add_argument(FORCE_FLAG, action="store_true",
                        help=f"replace {what} if it exists (never the command's own input)")


def add_model_kwargs(parser: argparse.ArgumentParser) -> None:
    """The options every model builder takes."""
    parser.add_argument("--num-classes", type=int, default=None, help="classifier size (default: the model's)")
    parser.add_argument("--in-channels", type=int, default=None, help="image channels (3 RGB, 1 grey)")
    parser.add_argument("--width", type=float, default=None, help="channel-width multiplier (default 1.0)")
    parser.add_argument("--small-input", action="store_true", help="small-image stem (28x28, 32x32 inputs)")
    parser.add_argument("--no-aux", action="store_true", help="build without auxiliary classifiers")
    parser.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE",
                        help="any other builder argument, VALUE parsed as JSON (repeatable)")


def model_kwargs_from(args: argparse.Namespace) -> dict[str, Any]:
    """The builder options of add_model_kwargs' flags, mapped as a config file's are (training.config)."""
    from ..training.config import MODEL_OPTIONS, fold_model_options

    kwargs = fold_model_options({name: getattr(args, name, None) for name in MODEL_OPTIONS}).get("model_kwargs", {})
    kwargs.update(parse_key_values(getattr(args, "model_arg", []), "--model-arg", "dropout=0.2"))
    return kwargs


def parse_key_values(items: list[str], flag: str, example: str) -> dict[str, Any]:
    """``["lr=0.1", "name=x"]`` -> ``{"lr": 0.1, "name": "x"}``: values parsed as JSON, else kept as text."""
    parsed: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"{flag} expects KEY=VALUE, got {item!r}; e.g. {flag} {example}")
        try:
            parsed[key.replace("-", "_")] = json.loads(value)
        except json.JSONDecodeError:
            parsed[key.replace("-", "_")] = value
    return parsed


def add_crop_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--crops", type=int, default=1, choices=(1, 10, 144),
                        help="test crops per image: 1 centre, 10 (AlexNet), 144 (GoogLeNet section 7)")
    parser.add_argument("--scales", default=None, metavar="S1,S2,...",
                        help="shorter side(s) the image is resized to before cropping (default: 256 for 1/10 "
                             "crops, 256,288,320,352 for 144, scaled by crop size / 224)")
    parser.add_argument("--crop-size", type=int, default=None,
                        help="crop side in pixels (default: the input size the checkpoint records)")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads (default: PyTorch's; 1 is often fastest on a busy shared machine)")
    parser.add_argument("--crop-batch", type=int, default=64,
                        help="most crops in one forward pass; bounds memory (default 64: 144 crops of 224 px then "
                             "peak about 0.8 GB above the model on CPU)")


def load_ensemble(args: argparse.Namespace, paths: list[str]) -> Any:
    """eval's and predict's one preamble: threads, the backend's name and --crop-batch checked before anything
    loads, then the model files (an ensemble if several), their warnings printed."""
    import sys

    from ..deploy.backends import check_backend
    from ..evaluation import Ensemble
    from ..evaluation.ensemble import crops_per_pass

    apply_threads(args)
    check_backend(args.backend)
    crops_per_pass(args.crop_batch, 224)  # a bad --crop-batch fails before the models load
    ensemble = Ensemble.load(paths, crop_size=args.crop_size)
    for line in ensemble.warnings():
        print(f"googlenet: warning: {line}", file=sys.stderr)
    return ensemble


def apply_threads(args: argparse.Namespace) -> None:
    """Set torch's threads for the rest of this command (the process ends with it)."""
    from ..system.threads import check_threads

    if check_threads(args.threads) is not None:
        import torch

        torch.set_num_threads(args.threads)


def parse_scales(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        return [int(s) for s in text.replace(" ", "").split(",") if s]
    except ValueError:
        raise UserError(f"--scales expects integers separated by commas, got {text!r}; "
                        "e.g. --scales 256,288,320,352") from None
