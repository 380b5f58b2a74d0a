"""The command line without surprises (issue 24, item 4): a parser that needs no torch, --version, one-line
argument errors, defaults stated once, config files that take the flags' names, --json everywhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
COMMANDS = ("bench", "compare", "cost", "diagram", "eval", "explain", "export", "models", "predict", "report",
            "serve", "summary", "train", "weights")


def _python(code: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, env=env)


def _cli(*argv: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.run([sys.executable, "-m", "googlenet", *argv], capture_output=True, text=True,
                          timeout=timeout, env=env)


def test_help_of_every_command_imports_no_torch():
    # Building the parser and printing each command's help must not load torch (the 3-6 s of `googlenet --help`
    # on main); a fresh interpreter, so that nothing this test session imported counts.
    code = f"""
import contextlib, io, sys
from googlenet.cli import build_parser
parser = build_parser()
for argv in [["--help"]] + [[c, "--help"] for c in {COMMANDS!r}] + [["weights", "import", "--help"]]:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
        parser.parse_args(argv)
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "torchvision", "numpy", "PIL", "onnxruntime"))
print(heavy)
"""
    done = _python(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_version():
    import googlenet

    done = _cli("--version", timeout=30)
    assert done.returncode == 0
    assert done.stdout.strip() == f"googlenet {googlenet.__version__}"


@pytest.mark.parametrize("argv, named", [
    (("train", "--lr", "abc"), "--lr"),
    (("eval", "--crops", "7", "x.safetensors"), "--crops"),
    (("weights", "import", "auto"), "--out"),
    (("no-such-command",), "COMMAND"),
])
def test_argument_error_is_one_line_without_usage(argv, named):
    done = _cli(*argv, timeout=30)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "usage:" not in done.stderr
    assert named in lines[0] and "--help" in lines[0]
    assert lines[0].startswith("googlenet")


def _subparsers(parser):
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield name, sub
                yield from ((f"{name} {n}", s) for n, s in _subparsers(sub))


def test_help_states_each_default_once():
    from googlenet.cli import build_parser

    twice = [f"{command} {'/'.join(a.option_strings) or a.dest}: {a.help}"
             for command, sub in _subparsers(build_parser()) for a in sub._actions
             if a.help and a.help.lower().count("default") > 1]
    assert twice == []
    train = dict(_subparsers(build_parser()))["train"]
    recipe = next(a for a in train._actions if "--recipe" in a.option_strings)
    assert "photos for a dataset of photos, else fast" in recipe.help


TINY_FLAGS = ("--width", "0.0625", "--in-channels", "1", "--small-input", "--no-aux", "--epochs", "1",
              "--batch-size", "16", "--threads", "1", "--val-fraction", "0", "--no-test")


def test_config_file_takes_the_flags_names(tmp_path):
    from googlenet.training import make_config

    toml = tmp_path / "c.toml"
    toml.write_text("width = 0.25\nno_aux = true\nsmall_input = true\nin_channels = 1\n[model_kwargs]\nlrn = false\n")
    kwargs = make_config(file=toml).model_kwargs
    assert kwargs["width"] == 0.25 and kwargs["aux_logits"] is False and kwargs["small_input"] is True
    assert kwargs["in_channels"] == 1 and kwargs["lrn"] is False
    yaml_file = tmp_path / "c.yaml"
    yaml_file.write_text("width: 0.5\nmodel_kwargs:\n  width: 0.125\n")  # the flag's name wins, as --width does
    assert make_config(file=yaml_file).model_kwargs["width"] == 0.5
    assert make_config(width=0.375, no_aux=False).model_kwargs["width"] == 0.375  # and make_config's arguments


def test_set_takes_the_flags_names(run_cli, digits, tmp_path):
    code, out, err = run_cli("train", "--dataset", digits, *TINY_FLAGS, "--set", "width=0.125", "--max-steps", "1",
                             "--no-report", "--out", tmp_path / "r", "--json")
    assert code == 0, err
    assert json.loads(out)["model_kwargs"]["width"] == 0.125


def test_train_report_and_diagram_print_json(run_cli, digits, tmp_path):
    code, out, err = run_cli("train", "--dataset", digits, *TINY_FLAGS, "--max-steps", "2", "--out", tmp_path / "r",
                             "--json")
    assert code == 0, err
    summary = json.loads(out)  # stdout is the JSON alone; the progress went to stderr
    assert summary["global_step"] == 2 and Path(summary["run_dir"]) == tmp_path / "r"
    assert summary["report"] == str(tmp_path / "r" / "report.html") and "epoch 1/1" in err
    code, out, err = run_cli("report", tmp_path / "r", "--max-images", "16", "--mistakes", "2", "--json",
                             "--out", tmp_path / "again.html")
    assert code == 0, err
    assert json.loads(out)["report"] == str(tmp_path / "again.html") and (tmp_path / "again.html").is_file()
    code, out, err = run_cli("diagram", "lenet5", "--format", "dot", "--out", tmp_path / "d", "--json")
    assert code == 0, err
    drawn = json.loads(out)
    assert drawn["written"] == [str(tmp_path / "d.dot")] and drawn["model"] == "lenet5"
    assert "digraph" in (tmp_path / "d.dot").read_text()


@pytest.fixture(scope="module")
def two_class_run(class_folders, tmp_path_factory) -> tuple[Path, Path]:
    """A finished run on two classes of coloured noise (CLI, so that the console shows what a user sees)."""
    from googlenet.cli import main

    root = class_folders(tmp_path_factory.mktemp("two"), ["red", "green"], per_class=6, size=(32, 32))
    out = tmp_path_factory.mktemp("runs") / "two"
    assert main(["train", "--dataset", str(root), "--width", "0.0625", "--small-input", "--no-aux", "--epochs", "1",
                 "--batch-size", "4", "--threads", "1", "--val-fraction", "0", "--no-report", "--out",
                 str(out)]) == 0
    return out, root


def test_eval_and_predict_share_one_preamble_and_print_fixed_digits(run_cli, two_class_run):
    from googlenet.cli import _common, predict
    from googlenet.cli import eval as eval_cli

    run, root = two_class_run
    for module in (eval_cli, predict):  # one preamble (issue 23, item 7), not a copy per command
        assert "load_ensemble" in vars(module) and "crops_per_pass" not in module.run.__code__.co_names
    code, out, err = run_cli("predict", root / "test", "-c", run, "--top-k", "2")
    assert code in (0, 2), err
    probabilities = [line.split()[-1] for line in out.splitlines()[2:]]
    assert probabilities and all(len(p) == 6 and p[1] == "." for p in probabilities), out  # 0.2530, never 0.253
    code, out, err = run_cli("eval", run, "--dataset", root)
    assert code == 0, err
    assert "top-1 acc %" in out and "top-5" not in out  # two classes: top-5 is 100% by construction
    code, _, err = run_cli("eval", run, "--backend", "nope")
    assert code == 2 and "nope" in err
    assert _common.load_ensemble.__doc__


def test_bench_runs_without_data_dir_on_the_packages_pictures(run_cli, monkeypatch, tmp_path):
    # A fresh clone: no --data-dir, no $GOOGLENET_DATA. int8 is calibrated on the synthetic pictures, one note.
    from googlenet.data import calibration

    monkeypatch.delenv("GOOGLENET_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    calibration._note_synthetic.cache_clear()
    code, out, err = run_cli("bench", "googlenet_torchvision", "--input-size", "64", "--seconds", "0.2", "--batch",
                             "1", "--backend", "int8", "--no-memory", "--threads", "1", "--json")
    assert code == 0, err
    rows = json.loads(out)["inference"]["results"]
    assert {r["backend"] for r in rows} == {"tv-eager", "tv-ort", "int8"}
    notes = [line for line in err.splitlines() if line.startswith("googlenet: note:")]
    assert len(notes) == 1 and "synthetic" in notes[0]
    with pytest.raises(Exception, match="not found"):  # a folder the user named still has to hold the photos
        calibration.calibration_photos(2, 32, data_dir=tmp_path)


def test_synthetic_pictures_are_photo_like_and_repeatable():
    from googlenet.data.synthetic import synthetic_photos

    x = synthetic_photos(4, 48)
    assert x.shape == (4, 3, 48, 48) and 0 <= x.min() and x.max() <= 1
    assert torch_equal(x, synthetic_photos(4, 48)) and not torch_equal(x, synthetic_photos(4, 48, seed=1))
    # Unlike uniform noise, neighbouring pixels are alike: most of a photo is smooth.
    step = (x[..., 1:] - x[..., :-1]).abs().mean()
    assert step < 0.05 and x.std() > 0.1
    assert synthetic_photos(2, 16, channels=1).shape == (2, 1, 16, 16)


def torch_equal(a, b) -> bool:
    import torch

    return bool(torch.equal(a, b))


def test_chance_warning_names_the_split_and_the_chance_level():
    from googlenet.cli.train import chance_warning

    at_chance = chance_warning({"model_kwargs": {"num_classes": 10}, "test_top1": 10.0, "val_top1": 80.0})
    assert at_chance.startswith("test top-1 10.00% is at chance for 10 classes (10.00%)")
    assert chance_warning({"model_kwargs": {"num_classes": 10}, "test_top1": 12.5}) is not None  # near chance
    assert chance_warning({"model_kwargs": {"num_classes": 10}, "test_top1": 90.0}) is None
    assert chance_warning({"model_kwargs": {"num_classes": 2}, "val_top1": 51.0}).startswith("val top-1 51.00%")
    assert chance_warning({"model_kwargs": {"num_classes": 2}}) is None  # nothing measured


def test_a_run_at_chance_warns_once(run_cli, tmp_path):
    import shutil

    from PIL import Image

    root = tmp_path / "same"  # both classes hold the same pictures: no model can beat 50%
    for split in ("train", "test"):
        (root / split / "a").mkdir(parents=True)
        for i in range(4):
            Image.new("RGB", (32, 32), (60 * i, 40, 200 - 40 * i)).save(root / split / "a" / f"{i}.png")
        shutil.copytree(root / split / "a", root / split / "b")
    code, out, err = run_cli("train", "--dataset", root, "--width", "0.0625", "--small-input", "--no-aux", "--epochs",
                             "1", "--batch-size", "4", "--threads", "1", "--val-fraction", "0", "--no-report",
                             "--out", tmp_path / "r")
    assert code == 0, err
    warnings = [line for line in err.splitlines() if line.startswith("googlenet: warning:")]
    assert len(warnings) == 1 and "test top-1 50.00% is at chance for 2 classes" in warnings[0]
    # Two classes: top-5 is 100% by construction, so no figure of it anywhere (console, summary, log, curves).
    done = [line for line in out.splitlines() if line.startswith("done:")]
    assert len(done) == 1 and "test top-1 50.00%" in done[0] and "top-5" not in out
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    rows = [json.loads(line) for line in (tmp_path / "r" / "log.jsonl").read_text().splitlines()]
    assert summary["test_top1"] == 50.0 and not [k for d in (summary, *rows) for k in d if "top5" in k]


def test_the_start_line_and_estimate_honour_max_steps_and_ten_classes_keep_top5(run_cli, digits, tmp_path):
    # 96 train images / batch 4 = 24 steps per epoch, and 2 epochs; --max-steps 7 ends the run long before.
    code, out, err = run_cli("train", "--dataset", digits, "--width", "0.0625", "--in-channels", "1", "--small-input",
                             "--no-aux", "--epochs", "2", "--batch-size", "4", "--threads", "1", "--val-fraction",
                             "0.2", "--no-report", "--max-steps", "7", "--out", tmp_path / "r")
    assert code == 0, err
    start = next(line for line in out.splitlines() if line.startswith("training googlenet"))
    assert "2 epochs x 24 steps (stops at --max-steps 7)" in start
    estimate = next(line for line in out.splitlines() if "per epoch at" in line)
    assert "--max-steps 7: about" in estimate and "2 epochs: about" not in estimate
    rows = [json.loads(line) for line in (tmp_path / "r" / "log.jsonl").read_text().splitlines()]
    assert rows[-1]["global_step"] == 7 and rows[-1]["val_top5"] is not None  # ten classes: top-5 means something


@pytest.fixture
def source_model(tmp_path) -> Path:
    """A small model file recorded as trained at 40 px with its own normalization, to fine-tune from."""
    import googlenet
    from googlenet.weights.checkpoint import save_model

    kwargs = {"width": 0.0625, "in_channels": 1, "small_input": True, "num_classes": 4, "aux_logits": False}
    return save_model(tmp_path / "src.safetensors", googlenet.create_model("googlenet", **kwargs),
                      model_name="googlenet", model_kwargs=kwargs, class_names=list("abcd"),
                      preprocessing={"channels": 1, "input_size": 40, "mean": [0.25], "std": [0.5]})


def test_init_from_keeps_the_source_input_size_and_says_so(source_model, tmp_path, capsys):
    from googlenet.training import make_config

    config = make_config(dataset="mnist", init_from=str(source_model))
    assert config.input_size == 40
    notes = [line for line in capsys.readouterr().err.splitlines() if "--init-from" in line]
    assert len(notes) == 1 and "40 px" in notes[0] and "--input-size" in notes[0]
    assert "its normalization" in notes[0]
    assert make_config(dataset="mnist", init_from=str(source_model), input_size=32).input_size == 32  # told
    told = [line for line in capsys.readouterr().err.splitlines() if "--init-from" in line]
    assert len(told) == 1 and "px" not in told[0] and "its normalization" in told[0]


def test_fine_tuning_trains_with_the_source_input_size_and_normalization(source_model, digits, tmp_path):
    from googlenet.training import make_config, train
    from googlenet.training.config import source_normalization
    from googlenet.weights.checkpoint import load_model

    config = make_config(dataset=str(digits), init_from=str(source_model), out=str(tmp_path / "ft"), max_steps=1,
                         epochs=1, batch_size=8, threads=1, eval_test=False, val_fraction=0.0, report=False)
    train(config, quiet=True)
    pre = load_model(tmp_path / "ft").preprocessing
    assert pre.input_size == 40 and list(pre.mean) == [0.25] and list(pre.std) == [0.5]  # the source's, not MNIST's
    caffe = {"mean": [104.0, 117.0, 123.0], "std": [1.0, 1.0, 1.0], "channel_order": "bgr", "scale": 255.0}
    assert source_normalization(caffe) is None  # BGR 0-255: the pipelines cannot feed it, so the data's is used


def test_the_recipe_note_states_the_settings_actually_used(class_folders, tmp_path, capsys):
    from googlenet.training import make_config

    root = class_folders(tmp_path / "photos", ["a", "b"], per_class=2, size=(96, 96))
    c = make_config(dataset=str(root))  # whatever the recipe and its fit to the data chose, the note says it
    assert capsys.readouterr().err == ""  # said when the trainer starts: a bad flag stays the run's one line
    assert any(f"googlenet at width 1, {c.epochs} epochs at {c.input_size} px (name" in n for n in c.chosen_notes)
    c = make_config(dataset=str(root), epochs=2, input_size=64, width=0.25, max_steps=40)
    note = [line for line in c.chosen_notes if "recipe photos" in line]
    assert len(note) == 1 and "googlenet at width 0.25, 2 epochs (at most 40 steps) at 64 px" in note[0]
    assert "128 px" not in note[0] and "5 epochs" not in note[0]


def test_a_finished_run_keeps_one_copy_of_its_weights_and_says_what_it_holds(run_cli, digits, tmp_path):
    from safetensors.torch import load_file

    run = tmp_path / "r"
    flags = ("--dataset", digits, *TINY_FLAGS[:-1], "--no-report", "--out", run)
    code, out, err = run_cli("train", *flags, "--max-steps", "2")
    assert code == 0, err
    assert (run / "model.safetensors").is_file() and not (run / "last.safetensors").exists()
    held = [line for line in out.splitlines() if line.startswith(f"run folder {run} holds")]
    assert len(held) == 1 and "model.safetensors" in held[0] and "train_state.pt" in held[0] and "MB" in held[0]
    assert "delete it to keep only the model" in held[0]
    before = load_file(run / "model.safetensors")
    code, out, err = run_cli("train", "--resume", run, "--max-steps", "4")  # training on reads the one copy
    assert code == 0, err
    assert json.loads((run / "summary.json").read_text())["global_step"] == 4
    after = load_file(run / "model.safetensors")
    assert any(not bool((before[k] == after[k]).all()) for k in before) and not (run / "last.safetensors").exists()
