"""``googlenet train``: train a model of the registry on a dataset (see docs/training.md)."""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import UserError
from ._common import add_model_kwargs, model_kwargs_from, parse_key_values


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train", help="train a model (default: small-input GoogLeNet on Fashion-MNIST, evaluated on its test set)",
        description="Train a model. With no options: the 'fast' recipe, GoogLeNet (small-input stem, batch norm, "
        "width 1/8) on Fashion-MNIST, then top-1/top-5 on the 10,000 test images. Settings come from the recipe, "
        "then --config FILE (TOML/YAML), then these flags. Under torchrun it trains data-parallel.",
    )
    g = p.add_argument_group("run")
    g.add_argument("--recipe", default=None, help="paper, inception-v3 or fast (default fast)")
    g.add_argument("--config", default=None, metavar="FILE", help="settings file (.toml, .yaml); keys = flag names")
    g.add_argument("--out", default=None, metavar="DIR", help="run folder (default runs/<dataset>-<model>-<time>)")
    g.add_argument("--resume", default=None, metavar="RUN_DIR", help="continue the run saved in RUN_DIR")
    g.add_argument("--seed", type=int, default=None)
    g.add_argument("--device", default=None, help="auto (default), cpu, cuda, cuda:N, mps")
    g.add_argument("--amp", default=None, choices=("auto", "on", "off"), help="mixed precision (auto: on with CUDA)")
    g.add_argument("--channels-last", default=None, choices=("auto", "on", "off"))
    g.add_argument("--compile", action="store_true", default=None, help="torch.compile the model")
    g.add_argument("--sync-bn", action="store_true", default=None, help="SyncBatchNorm under torchrun")
    g.add_argument("--workers", type=int, default=None, help="data loader processes (default 0 on CPU)")
    g.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's)")
    g.add_argument("--max-steps", type=int, default=None, help="stop after this many steps (smoke tests)")
    g.add_argument("--no-test", dest="eval_test", action="store_false", default=None,
                   help="skip the final evaluation on the test split")
    g.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="any other setting, VALUE parsed as JSON (repeatable)")

    d = p.add_argument_group("data")
    d.add_argument("--dataset", default=None, help="fashion-mnist (default), mnist, cifar10, folder, or a folder path")
    d.add_argument("--data-dir", default=None, metavar="DIR", help="where the dataset files are "
                   "(else $GOOGLENET_DATA, else /usr/share/datasets/fashion-mnist)")
    d.add_argument("--download", action="store_true", default=None, help="download (Fashion-)MNIST if missing")
    d.add_argument("--val-fraction", type=float, default=None, help="held-out part of train when no val split (0.1)")
    d.add_argument("--split-seed", type=int, default=None)
    d.add_argument("--skip-bad-images", action="store_true", default=None,
                   help="skip (and count) images that fail to decode instead of stopping")
    d.add_argument("--input-size", type=int, default=None, help="image side fed to the model (default: native)")
    d.add_argument("--augment", default=None, choices=("paper", "small", "none"))
    d.add_argument("--pad", type=int, default=None, help="small augmentation: padding before the random crop")
    d.add_argument("--hflip", action=argparse.BooleanOptionalAction, default=None, help="random horizontal flips")

    m = p.add_argument_group("model")
    m.add_argument("--model", default=None, help="registry name (default googlenet); see `googlenet models`")
    add_model_kwargs(m)
    m.add_argument("--init-from", default=None, metavar="MODEL_FILE", help="start from these weights")

    o = p.add_argument_group("optimisation")
    o.add_argument("--epochs", type=int, default=None)
    o.add_argument("--batch-size", type=int, default=None, help="global batch (split across torchrun processes)")
    o.add_argument("--optimizer", default=None, choices=("sgd", "rmsprop", "adamw"))
    o.add_argument("--lr", type=float, default=None, help="peak learning rate")
    o.add_argument("--momentum", type=float, default=None)
    o.add_argument("--weight-decay", type=float, default=None)
    o.add_argument("--schedule", default=None, choices=("onecycle", "step", "cosine", "constant"))
    o.add_argument("--warmup-epochs", type=float, default=None)
    o.add_argument("--lr-step-epochs", type=float, default=None, help="step schedule: epochs between decays")
    o.add_argument("--lr-gamma", type=float, default=None, help="step schedule: factor per decay")
    o.add_argument("--label-smoothing", type=float, default=None)
    o.add_argument("--grad-clip", type=float, default=None, help="clip the gradient norm to this")
    o.add_argument("--aux-weight", type=float, default=None, help="weight of each auxiliary loss (paper 0.3)")
    o.add_argument("--ema-decay", type=float, default=None, help="average the weights with this decay per step")
    p.set_defaults(func=run)


_FLAG_FIELDS = (
    "recipe", "out", "seed", "device", "amp", "channels_last", "compile", "sync_bn", "workers", "threads", "max_steps",
    "eval_test", "dataset", "data_dir", "download", "val_fraction", "split_seed", "skip_bad_images", "input_size",
    "augment", "pad", "hflip", "model", "init_from", "epochs", "batch_size", "optimizer", "lr", "momentum",
    "weight_decay", "schedule", "warmup_epochs", "lr_step_epochs", "lr_gamma", "label_smoothing", "grad_clip",
    "aux_weight", "ema_decay",
)


def settings_from(args: argparse.Namespace) -> dict[str, Any]:
    settings: dict[str, Any] = {k: getattr(args, k) for k in _FLAG_FIELDS if getattr(args, k, None) is not None}
    settings.update(parse_key_values(args.set, "--set", "lr_gamma=0.9"))
    kwargs = model_kwargs_from(args)
    if kwargs:
        settings["model_kwargs"] = kwargs
    return settings


def run(args: argparse.Namespace) -> int:
    from ..training import make_config, train

    settings = settings_from(args)
    if args.resume:
        if args.config:
            raise UserError("--resume continues a run with its saved settings; drop --config")
        train(resume=args.resume, **settings)
        return 0
    train(make_config(file=args.config, **settings))
    return 0
