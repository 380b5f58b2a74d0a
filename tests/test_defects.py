"""The defects found when the tool was tried as a new user would (issue 13, item 5), and transfer learning.

Each test failed on the code before its fix: a traceback or exit 1 where one line and exit 2 belong, a
resumed run that trained again, a schedule that ignored a new epoch count, private run files.
"""

from __future__ import annotations

import json
import os
import pickle
import stat
from pathlib import Path

import pytest
import torch

from googlenet.training import make_config, train
from googlenet.training.distributed import DistInfo, is_lost_peer, lost_peer_message, resume_command

TINY = {"width": 0.0625, "in_channels": 1, "small_input": True, "aux_logits": False, "batch_norm": True,
        "lrn": False}


def settings(digits: Path, out: Path, **kw) -> dict:
    base = dict(recipe="fast", dataset=str(digits), val_fraction=0.0, epochs=1, batch_size=16, lr=0.05, threads=1,
                model_kwargs=TINY, out=str(out), eval_test=False, seed=0)
    base.update(kw)
    return base


def one_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.startswith("googlenet: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_a_model_too_large_for_the_machine_is_refused_before_it_is_built(run_cli, digits, tmp_path):
    code, _, err = run_cli("train", "--dataset", digits, "--width", "100", "--out", tmp_path / "w")
    assert code == 2
    line = one_line(err)
    assert "G parameters" in line and "GiB" in line and "smaller --width" in line


@pytest.mark.parametrize("key", ["lr", "momentum", "weight_decay", "ema_decay", "label_smoothing", "grad_clip",
                                 "val_fraction", "warmup_epochs", "lr_gamma", "aux_weight", "seed", "input_size"])
def test_a_word_where_a_number_belongs_is_one_line(run_cli, key, tmp_path):
    code, _, err = run_cli("train", "--set", f"{key}=abc", "--out", tmp_path / "x")
    assert code == 2 and f"{key} must be" in one_line(err)
    toml = tmp_path / "c.toml"
    toml.write_text(f'{key} = "abc"\n')
    code, _, err = run_cli("train", "--config", toml, "--out", tmp_path / "y")
    assert code == 2 and "c.toml" in one_line(err)


def test_threads_zero_is_refused(run_cli, tmp_path):
    code, _, err = run_cli("train", "--threads", "0", "--out", tmp_path / "t")
    assert code == 2 and "threads" in one_line(err)


def test_val_fraction_help_gives_the_recipes_default(run_cli, capsys):
    with pytest.raises(SystemExit):
        run_cli("train", "--help")
    out = capsys.readouterr().out
    flat = " ".join(out.split())
    entry = flat.split("--val-fraction VAL_FRACTION")[-1][:200]
    assert "0.0 (fast)" in entry


@pytest.fixture(scope="module")
def finished_run(digits, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "done"
    train(make_config(**settings(digits, out, max_steps=2, epochs=2)), quiet=True)
    return out


def test_run_files_follow_the_umask(finished_run):
    mask = os.umask(0)
    os.umask(mask)
    for name in ("model.safetensors", "train_state.pt", "config.json", "summary.json"):
        mode = stat.S_IMODE((finished_run / name).stat().st_mode)
        assert mode == 0o666 & ~mask, (name, oct(mode))


def test_resuming_a_finished_run_trains_nothing_and_says_so(run_cli, finished_run):
    model = finished_run / "model.safetensors"
    before = (model.stat().st_mtime_ns, json.loads((finished_run / "summary.json").read_text())["global_step"])
    code, out, _ = run_cli("train", "--resume", finished_run)
    assert code == 0 and "is finished" in out and "nothing to train" in out
    assert model.stat().st_mtime_ns == before[0]
    state = torch.load(finished_run / "train_state.pt", weights_only=True)
    assert state["global_step"] == before[1] == 2


def _copy(run: Path, to: Path) -> Path:
    import shutil

    shutil.copytree(run, to)
    return to


def test_damaged_run_folders_are_one_line(run_cli, finished_run, tmp_path):
    truncated = _copy(finished_run, tmp_path / "truncated")
    last = truncated / "model.safetensors"  # a finished run without averaging resumes from its one copy
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    code, _, err = run_cli("train", "--resume", truncated, "--max-steps", "4")
    assert code == 2 and "model.safetensors" in one_line(err) and "damaged" in err

    pickled = _copy(finished_run, tmp_path / "pickled")
    (pickled / "model.safetensors").write_bytes(pickle.dumps({"w": [1, 2, 3]}))
    code, _, err = run_cli("train", "--resume", pickled, "--max-steps", "4")
    assert code == 2 and "model.safetensors" in one_line(err)

    bad_json = _copy(finished_run, tmp_path / "badjson")
    (bad_json / "config.json").write_text("{not json")
    code, _, err = run_cli("train", "--resume", bad_json)
    assert code == 2 and "config.json" in one_line(err)


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_a_training_state_holding_code_is_refused_without_unsafe_advice(run_cli, finished_run, tmp_path):
    run = _copy(finished_run, tmp_path / "evil")
    with open(run / "train_state.pt", "wb") as f:
        pickle.dump({"format": Evil()}, f)
    code, _, err = run_cli("train", "--resume", run, "--max-steps", "4")
    line = one_line(err)
    assert code == 2 and "train_state.pt" in line
    assert "weights_only" not in err and "pwned" not in err


def test_more_epochs_on_resume_reshape_the_one_cycle_schedule(digits, tmp_path):
    out = tmp_path / "extend"
    train(make_config(**settings(digits, out, epochs=1)), quiet=True)
    assert json.loads((out / "log.jsonl").read_text().splitlines()[-1])["lr"] < 1e-6  # one-cycle ends at 0
    train(resume=out, epochs=3, quiet=True)
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    # The end of epoch 2 of a 3-epoch one-cycle run: 0.5 (1 + cos(pi (2 - 0.5) / (3 - 0.5))) = 0.345 of the peak
    # (the old schedule kept its 1-epoch length and trained the new epochs at 0).
    assert rows[1]["lr"] == pytest.approx(0.05 * 0.5 * (1 + __import__("math").cos(__import__("math").pi * 0.6)),
                                          rel=0.05)
    assert rows[2]["lr"] < 1e-6


def test_torchrun_messages_name_the_lost_rank_and_the_torchrun_command(tmp_path):
    info = DistInfo(rank=0, local_rank=0, world_size=2)
    assert resume_command(tmp_path, info).startswith("torchrun --nproc_per_node 2 -m googlenet train --resume")
    assert resume_command(tmp_path, DistInfo()).startswith("googlenet train --resume")
    err = RuntimeError("[../third_party/gloo/gloo/transport/tcp/pair.cc:545] Read error: Connection reset by peer")
    assert is_lost_peer(err) and not is_lost_peer(ValueError("x"))
    message = lost_peer_message(info, tmp_path)
    assert "rank 1 was lost" in message and "torchrun --nproc_per_node 2" in message


def test_recipe_options_a_model_does_not_take_are_named(capsys):
    config = make_config(recipe="inception-v3", model="resnet18")
    assert config.model_kwargs == {}
    assert "batch_norm" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------- transfer
@pytest.fixture(scope="module")
def pretrained(digits, tmp_path_factory) -> Path:
    """A model trained on digits 0-9 (10 classes), to fine-tune on a 3-class folder."""
    out = tmp_path_factory.mktemp("pre") / "run"
    train(make_config(**settings(digits, out, max_steps=3)), quiet=True)
    return out / "model.safetensors"


@pytest.fixture(scope="module")
def three_classes(digits, tmp_path_factory) -> Path:
    import shutil

    root = tmp_path_factory.mktemp("three")
    for label in ("0", "1", "2"):
        shutil.copytree(digits / "train" / label, root / "train" / label)
    return root


def test_init_from_another_class_count_replaces_the_classifier(pretrained, three_classes, tmp_path, capsys):
    from googlenet.weights.checkpoint import load_model

    out = tmp_path / "ft"
    train(make_config(**settings(three_classes, out, init_from=str(pretrained), max_steps=1, batch_size=8)))
    assert "new classifiers (fc)" in capsys.readouterr().out
    tuned, source = load_model(out / "model.safetensors").model, load_model(pretrained).model
    assert tuned.fc.out_features == 3
    # one step at a tiny learning rate: the trunk is still (nearly) the pretrained one
    torch.testing.assert_close(tuned.conv1.conv.weight, source.conv1.conv.weight, atol=0.05, rtol=0)


def test_freeze_features_trains_only_the_classifier_and_keeps_bn_statistics(pretrained, three_classes, tmp_path):
    from googlenet.weights.checkpoint import load_model

    out = tmp_path / "frozen"
    train(make_config(**settings(three_classes, out, init_from=str(pretrained), freeze="features", max_steps=3,
                                 batch_size=8)), quiet=True)
    tuned, source = load_model(out / "model.safetensors").model, load_model(pretrained).model
    torch.testing.assert_close(tuned.inception5b.branch1.conv.weight, source.inception5b.branch1.conv.weight,
                               atol=0, rtol=0)
    torch.testing.assert_close(tuned.conv1.bn.running_mean, source.conv1.bn.running_mean, atol=0, rtol=0)
    assert tuned.fc.weight.shape == (3, tuned.fc.in_features)


def test_backbone_lr_mult_gives_the_pretrained_layers_a_lower_rate(pretrained, three_classes, tmp_path):
    from googlenet.training.trainer import Trainer

    config = make_config(**settings(three_classes, tmp_path / "mult", init_from=str(pretrained),
                                    backbone_lr_mult=0.1, max_steps=1, batch_size=8))
    trainer = Trainer(config, quiet=True)
    trainer._t0, trainer._elapsed_before, trainer.global_step = 0.0, 0.0, 0
    trainer._setup()
    groups = trainer.opt.param_groups
    assert len(groups) == 2 and groups[0]["initial_lr"] == pytest.approx(0.05 * 0.1)
    assert groups[1]["initial_lr"] == pytest.approx(0.05)
    assert {id(p) for p in groups[1]["params"]} == {id(p) for p in trainer.model.fc.parameters()}


def test_fine_tuning_with_other_input_channels_says_how_to_convert(pretrained, three_classes, tmp_path, run_cli):
    code, _, err = run_cli("train", "--dataset", three_classes, "--init-from", pretrained, "--in-channels", "3",
                           "--out", tmp_path / "rgb", "--max-steps", "1", "--width", "0.0625", "--small-input")
    assert code == 2 and "--in-channels 1" in one_line(err)


def test_init_from_takes_the_network_from_the_model_file(digits, tmp_path):
    import googlenet
    from googlenet.weights.checkpoint import save_model

    source = googlenet.create_model("googlenet_torchvision", width=0.0625, in_channels=1, small_input=True,
                                    num_classes=4, aux_logits=False)
    path = save_model(tmp_path / "tv.safetensors", source, model_name="googlenet_torchvision",
                      model_kwargs={"width": 0.0625, "in_channels": 1, "small_input": True, "num_classes": 4,
                                    "aux_logits": False},
                      class_names=list("abcd"), preprocessing={"channels": 1, "input_size": 28})
    config = make_config(**{**settings(digits, tmp_path / "ft"), "model_kwargs": {}}, init_from=str(path))
    assert config.model == "googlenet_torchvision"
    assert config.model_kwargs["width"] == 0.0625 and "num_classes" not in config.model_kwargs
    summary = train(config, quiet=True)
    assert summary["model"] == "googlenet_torchvision"


def test_a_broken_pipe_is_a_quiet_exit(tmp_path):
    import subprocess
    import sys

    # `googlenet models | head -1`: the reader closes the pipe early
    proc = subprocess.run(f"{sys.executable} -m googlenet models | head -1", shell=True, capture_output=True,
                          text=True, cwd=tmp_path, env={**__import__("os").environ,
                                                        "PYTHONPATH": str(Path(__file__).parents[1] / "src")})
    assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
