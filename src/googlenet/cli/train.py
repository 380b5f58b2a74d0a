"""``googlenet train``: train a model of the registry on a dataset (see docs/training.md).

Every flag is derived from :class:`~googlenet.training.config.TrainConfig`: its name, type, choices,
help and group come from the field, so a new setting is one new field there.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..training.config import FIELDS, RECIPES, setting_type
from ._common import add_force_flag, add_json_flag, add_model_kwargs, model_kwargs_from, parse_key_values

_GROUPS = ("run", "data", "model", "optimisation")  # TrainConfig's setting(group=...) names


def _help_text(name: str) -> str:
    """The field's help and its default, once: the recipes that change it, then the rest's (or the help's words)."""
    text, base = FIELDS[name].metadata["help"], FIELDS[name].default
    changed = [f"{values[name]} ({recipe})" for recipe, values in RECIPES.items()
               if name in values and values[name] != base]
    if "default" in text:  # the help says the default in words ("the dataset's native size")
        return f"{text} (recipes: {', '.join(changed)})" if changed else text
    if changed:
        return f"{text} (default: {', '.join(changed)}, else {base})"
    return text if base is None else f"{text} (default: {base})"


def add_setting_flags(parser: argparse.ArgumentParser) -> dict[str, argparse._ArgumentGroup]:
    """One flag per TrainConfig field (``--batch-size`` for ``batch_size``), in the field's group."""
    groups = {name: parser.add_argument_group(name) for name in _GROUPS}
    for name, f in FIELDS.items():
        flag = f.metadata.get("flag")
        if flag == "":  # set through other flags (model_kwargs: --width, --model-arg ...)
            continue
        kind, _ = setting_type(name)
        option = "--" + (flag or name).replace("_", "-")
        help_text = _help_text(name).replace("%", "%%")
        group = groups[f.metadata["group"]]
        if kind is bool:
            group.add_argument(option, dest=name, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        else:
            group.add_argument(option, dest=name, type=kind, default=None, help=help_text,
                               choices=f.metadata["choices"] or None, metavar=None if f.metadata["choices"] else
                               name.upper())
    return groups


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train", help="train a model (default: small-input GoogLeNet on Fashion-MNIST, evaluated on its test set)",
        description="Train a model. With no options: the 'fast' recipe, GoogLeNet (small-input stem, batch norm, "
        "width 1/8) on Fashion-MNIST, then top-1/top-5 on the 10,000 test images. Settings come from the recipe, "
        "then --config FILE (TOML/YAML), then these flags. Under torchrun it trains data-parallel.",
    )
    groups = add_setting_flags(p)
    run_group = groups["run"]
    run_group.add_argument("--config", default=None, metavar="FILE", help="settings file (.toml, .yaml); keys = "
                           "setting names")
    run_group.add_argument("--resume", default=None, metavar="RUN_DIR", help="continue the run saved in RUN_DIR")
    run_group.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                           help="any setting, VALUE parsed as JSON (repeatable)")
    add_force_flag(run_group, "the files of an --out folder that is not a run")
    add_json_flag(run_group, "print the run's summary (summary.json) as JSON; progress goes to stderr")
    add_model_kwargs(groups["model"])
    p.set_defaults(func=run)


def settings_from(args: argparse.Namespace) -> dict[str, Any]:
    settings: dict[str, Any] = {k: getattr(args, k) for k in FIELDS if getattr(args, k, None) is not None}
    settings.update(parse_key_values(args.set, "--set", "lr_gamma=0.9"))
    kwargs = model_kwargs_from(args)
    if kwargs:
        settings["model_kwargs"] = {**settings.get("model_kwargs", {}), **kwargs}
    return settings


def run(args: argparse.Namespace) -> int:
    import contextlib
    import sys

    settings = settings_from(args)
    if args.resume and args.config:
        raise UserError("--resume continues a run with its saved settings; drop --config")
    # With --json, stdout holds the summary alone: the progress lines go to stderr.
    with contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext():
        summary = _train(args, settings)
    warning = chance_warning(summary)
    if warning and _is_main_process():
        print(f"googlenet: warning: {warning}", file=sys.stderr, flush=True)
    if summary.get("run_dir") and _is_main_process() and Path(summary["run_dir"]).is_dir():
        from ..training.records import describe_run_dir

        print(describe_run_dir(summary["run_dir"]), file=sys.stderr if args.json else sys.stdout, flush=True)
    if args.json and _is_main_process():
        from ..system.text import to_json

        print(to_json(summary))
    return 0


def _train(args: argparse.Namespace, settings: dict[str, Any]) -> dict[str, Any]:
    from ..training import make_config, train

    if args.resume:
        return train(resume=args.resume, **settings)
    config = make_config(file=args.config, **settings)
    summary = train(config, force=args.force)
    if config.report and summary.get("global_step"):
        summary["report"] = write_report(summary["run_dir"], config.data_dir)
    return summary


#: How close to chance (in points of top-1) a result is to be called "at chance".
CHANCE_MARGIN = 3.0


def chance_warning(summary: dict[str, Any]) -> str | None:
    """A line when the run's accuracy is within CHANCE_MARGIN points of guessing (100 / classes), else None."""
    classes = (summary.get("model_kwargs") or {}).get("num_classes")
    split, top1 = next(((s, summary[f"{s}_top1"]) for s in ("test", "val") if summary.get(f"{s}_top1") is not None),
                       (None, None))
    if not classes or top1 is None or top1 > 100 / classes + CHANCE_MARGIN:
        return None
    return (f"{split} top-1 {top1:.2f}% is at chance for {classes} classes ({100 / classes:.2f}%): the model has "
            f"not learned yet (it may give every image one class); train longer (--epochs, --max-steps) or check "
            "the labels")


def write_report(run_dir: str, data_dir: str | None) -> str | None:
    """report.html beside the model; a report that fails costs a note, never the run (it is saved)."""
    import sys

    from ..visualize.report import write_run_report

    if not _is_main_process():
        return None
    try:
        path = write_run_report(run_dir, data_dir=data_dir)
    except Exception as exc:  # noqa: BLE001 - the page is a convenience
        print(f"googlenet: note: report.html not written ({exc.__class__.__name__}: {str(exc)[:200]}); "
              f"make it later with: googlenet report {run_dir}", file=sys.stderr, flush=True)
        return None
    print(f"report: {path}", flush=True)
    return str(path)


def _is_main_process() -> bool:
    import os

    return os.environ.get("RANK", "0") == "0"
