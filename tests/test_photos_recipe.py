"""The photos recipe's pieces (issue 22): the held-out split of a train-only tarball, the new builder options,
optimizers and schedules."""

from __future__ import annotations

import io
import math
import tarfile

import pytest
import torch
from PIL import Image

import googlenet
from googlenet.data import load_dataset
from googlenet.training.optim import DECAYS, OPTIMIZERS, Schedule


def _tarball(path, classes=("a", "b"), per_class=10, size=(24, 24)):
    with tarfile.open(path, "w") as tar:
        for c, name in enumerate(classes):
            for i in range(per_class):
                buf = io.BytesIO()
                Image.new("RGB", size, (40 * c + i, 0, 0)).save(buf, "PNG")
                info = tarfile.TarInfo(f"train/{name}/{i}.png")
                info.size = len(buf.getvalue())
                tar.addfile(info, io.BytesIO(buf.getvalue()))
    return path


def test_train_only_tarball_holds_val_out_of_train(tmp_path):
    tar = _tarball(tmp_path / "t.tar")
    train = load_dataset(str(tar), "train", val_fraction=0.2)
    val = load_dataset(str(tar), "val", val_fraction=0.2)
    assert (len(train), len(val)) == (16, 4)  # before: train kept all 20, the 4 held out among them
    red = lambda d: {int(d[i][0][0, 0, 0]) for i in range(len(d))}  # noqa: E731  (each image's own value)
    assert not red(train) & red(val) and len(red(train) | red(val)) == 20


def _count(model):
    return sum(p.numel() for p in model.parameters())


def test_mish_and_maxblur_change_no_parameter_and_no_key():
    base = googlenet.create_model("googlenet", num_classes=10, batch_norm=True, lrn=False, aux_logits=False)
    new = googlenet.create_model("googlenet", num_classes=10, batch_norm=True, lrn=False, aux_logits=False,
                                 activation="mish", pool="maxblur")
    # Mish and the blur have no weights (the blur's binomial kernel is a fixed buffer, not a parameter).
    assert _count(new) == _count(base)
    assert set(new.state_dict()) - set(base.state_dict()) <= {k for k in new.state_dict() if "kernel" in k}
    assert set(base.state_dict()) <= set(new.state_dict())
    assert sum(isinstance(m, torch.nn.Mish) for m in new.modules()) == 57  # every conv: 3 stem + 9 x 6
    assert sum(isinstance(m, torch.nn.ReLU) for m in new.modules()) == 0
    pools = [type(new.get_submodule(n)).__name__ for n in ("maxpool1", "maxpool2", "maxpool3", "maxpool4")]
    assert pools == ["MaxBlurPool2D"] * 4
    x = torch.randn(2, 3, 128, 128, requires_grad=True)
    new.train()(x).sum().backward()
    assert x.grad is not None and new.eval()(x).shape == (2, 10)
    # the same grid as the max pools at 128 and 224 px: 4x4 and 7x7 before the head
    for side, grid in ((128, 4), (224, 7)):
        assert new.forward_features(torch.randn(1, 3, side, side)).shape[-1] == grid


def test_default_googlenet_is_the_papers():
    model = googlenet.create_model("googlenet")
    explicit = googlenet.create_model("googlenet", pool="max", activation="relu")
    assert list(model.state_dict()) == list(explicit.state_dict())
    assert _count(model) == 13_378_280  # README: Table 1's network with both aux heads
    assert all(isinstance(getattr(model, f"maxpool{i}"), torch.nn.MaxPool2d) for i in (1, 2, 3, 4))


@pytest.mark.parametrize(("kwargs", "match"), [(dict(pool="avg"), "pool must be one of max, maxblur"),
                                               (dict(activation="gelu"), "activation must be one of relu, mish")])
def test_bad_new_options_name_the_choices(kwargs, match):
    with pytest.raises(googlenet.UserError, match=match):
        googlenet.create_model("googlenet", **kwargs)


# --- builder options beyond the paper: the deep stem and squeeze-excitation ---------------------------------

def test_deep_stem_parameters_by_hand_and_the_rest_unchanged():
    base = googlenet.create_model("googlenet", num_classes=10, aux_logits=False)
    deep = googlenet.create_model("googlenet", num_classes=10, aux_logits=False, stem="deep")
    # Without batch norm every conv has a bias. Table 1's conv1: 7x7x3x64 + 64. The deep stem: 3x3x3x32 + 32,
    # 3x3x32x32 + 32, 3x3x32x64 + 64 (He et al. 2019's ResNet-C widths).
    conv1 = 7 * 7 * 3 * 64 + 64
    stem = (3 * 3 * 3 * 32 + 32) + (3 * 3 * 32 * 32 + 32) + (3 * 3 * 32 * 64 + 64)
    assert _count(deep) - _count(base) == stem - conv1 == 19_168
    assert _count(deep.conv1) == stem
    keys = lambda m: {k for k in m.state_dict() if not k.startswith("conv1.")}  # noqa: E731
    assert keys(deep) == keys(base)  # everything after the stem is Table 1's
    assert [type(c).__name__ for c in deep.conv1.children()] == ["ConvBlock"] * 3
    assert [c[0].stride for c in deep.conv1.children()] == [(2, 2), (1, 1), (1, 1)]
    for side, grid in ((128, 4), (224, 7)):  # the same grid as the paper's stem
        assert deep.forward_features(torch.randn(1, 3, side, side)).shape[-3:] == (1024, grid, grid)


def test_squeeze_excitation_parameters_by_hand():
    base = googlenet.create_model("googlenet", num_classes=10, batch_norm=True, lrn=False, aux_logits=False)
    se = googlenet.create_model("googlenet", num_classes=10, batch_norm=True, lrn=False, aux_logits=False,
                                se_reduction=16)
    from googlenet.models.googlenet import TABLE_1

    # Hu et al. 2018: two 1x1 convs, C -> C/r -> C, each with a bias, on every module's concatenated output.
    widths = [row.out_channels for row in TABLE_1 if not isinstance(row, str)]
    assert widths == [256, 480, 512, 512, 512, 528, 832, 832, 1024]
    expected = sum(c * (c // 16) + c // 16 + (c // 16) * c + c for c in widths)
    assert _count(se) - _count(base) == expected == 480_103
    assert {k for k in se.state_dict() if ".se." not in k} == set(base.state_dict())
    assert sum(".se." in k for k in se.state_dict()) == 9 * 4  # fc1/fc2 weight and bias per module


def test_new_options_train_and_leave_the_default_keys_alone():
    default = googlenet.create_model("googlenet")
    explicit = googlenet.create_model("googlenet", stem="paper", se_reduction=None)
    assert list(default.state_dict()) == list(explicit.state_dict())
    assert not any(".se." in k or "conv_a" in k for k in default.state_dict())
    assert default.options.additions() == []
    model = googlenet.create_model("googlenet", num_classes=10, batch_norm=True, lrn=False, stem="deep",
                                   se_reduction=16)  # aux heads on: the photos recipe's shape
    x = torch.randn(2, 3, 64, 64, requires_grad=True)  # batch norm's aux heads pool adaptively: 64 px works
    out = model.train()(x)
    sum(t.sum() for t in out).backward()  # main and both aux logits
    assert x.grad is not None and model.conv1.conv_a.conv.weight.grad is not None
    assert model.inception5b.se.fc1.weight.grad is not None
    assert model.eval()(x).shape == (2, 10)


def test_summary_and_diagram_name_what_is_beyond_the_paper(run_cli, tmp_path):
    code, out, _ = run_cli("summary", "googlenet", "--model-arg", "stem=deep", "--model-arg", "se_reduction=16")
    assert code == 0
    assert "deep stem (3x3/2, 3x3, 3x3)" in out and "inception (3a) + SE" in out
    assert "built with options beyond the paper: deep stem" in out and "squeeze-excitation" in out
    code, out, _ = run_cli("summary", "googlenet")
    assert code == 0 and "beyond the paper" not in out and "+ SE" not in out
    code, _, _ = run_cli("diagram", "googlenet", "--model-arg", "stem=deep", "--model-arg", "se_reduction=16",
                         "--expanded", "--format", "dot", "--out", tmp_path / "d")
    dot = (tmp_path / "d.dot").read_text()
    assert code == 0 and "beyond the paper: deep stem" in dot and dot.count("squeeze-excitation (") == 9
    assert "DeepStem" in dot


@pytest.mark.parametrize(("arg", "match"), [
    ("stem=resnet", "stem must be one of paper, deep"),
    ("se_reduction=0", "se_reduction must be a whole number >= 1"),
    ("se_reduction=true", "se_reduction must be a whole number >= 1"),
])
def test_bad_values_of_the_new_options_are_one_line_exit_2(run_cli, arg, match):
    code, out, err = run_cli("summary", "googlenet", "--model-arg", arg)
    assert code == 2 and match in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_contradicting_new_options_are_refused():
    with pytest.raises(googlenet.UserError, match="small_input=True already replaces"):
        googlenet.create_model("googlenet", stem="deep", small_input=True)
    with pytest.raises(googlenet.UserError, match="drop naive_modules=True or se_reduction"):
        googlenet.create_model("googlenet", naive_modules=True, se_reduction=16)


def test_flatcos_and_linear_schedules_reach_zero():
    flat = Schedule("flatcos", steps_per_epoch=10, epochs=4, warmup=0.0, step_epochs=8, gamma=0.96, flat=0.75)
    assert [flat(s) for s in (0, 29)] == [1.0, 1.0]  # the peak for 75% of the run
    assert flat(35) == pytest.approx(0.5 * (1 + math.cos(math.pi * 5 / 10)))
    assert flat(40) == pytest.approx(0.0)
    lin = Schedule("linear", steps_per_epoch=10, epochs=4, warmup=1.0, step_epochs=8, gamma=0.96)
    assert lin(9) == 1.0 and lin(25) == pytest.approx(0.5) and lin(40) == 0.0
    assert set(DECAYS) | {"step"} == set(googlenet.training.config.CHOICES["schedule"])


def test_every_optimizer_of_the_table_takes_a_step():
    from googlenet.training import make_config

    assert set(OPTIMIZERS) == set(googlenet.training.config.CHOICES["optimizer"])
    for name in OPTIMIZERS:
        layer = torch.nn.Linear(3, 2)
        before = layer.weight.detach().clone()
        opt = OPTIMIZERS[name]([{"params": list(layer.parameters())}], make_config(optimizer=name, lr=0.01))
        layer(torch.randn(4, 3)).square().sum().backward()
        opt.step()
        assert not torch.equal(before, layer.weight.detach()), name


# -- --time-budget (training/budget.py) -------------------------------------------------------------------


def _simulate(budget_s, *, setup_s, step_times, steps_per_epoch, eval_s):
    """A run on a fake clock: setup, 5 measured steps, a plan, then epochs re-planned as the trainer does."""
    from googlenet.training.budget import plan

    clock, done = setup_s, 0
    for t in step_times[:5]:
        clock += t
        done += 1
    current = plan(budget_s, elapsed_s=clock, steps_done=done, step_s=sum(step_times[:5]) / 5,
                   steps_per_epoch=steps_per_epoch, epoch_eval_s=eval_s)
    first = current
    while done < current.total_steps:
        epoch_end = min(current.total_steps, (done // steps_per_epoch + 1) * steps_per_epoch)
        spent = [step_times[min(i, len(step_times) - 1)] for i in range(done, epoch_end)]
        clock += sum(spent) + eval_s
        done = epoch_end
        if done < current.total_steps:
            current = plan(budget_s, elapsed_s=clock, steps_done=done, step_s=sum(spent) / len(spent),
                           steps_per_epoch=steps_per_epoch, epoch_eval_s=eval_s, can_stop_now=True)
    return first, current, clock


@pytest.mark.parametrize("budget_s", [300, 900, 1800])
@pytest.mark.parametrize("slowdown", [1.0, 1.3])  # the machine gets slower after the first steps
def test_budget_plan_ends_within_5_percent_of_the_budget(budget_s, slowdown):
    times = [0.5] * 5 + [0.5 * slowdown] * 100_000
    first, last, end = _simulate(budget_s, setup_s=20, step_times=times, steps_per_epoch=148, eval_s=15)
    assert 0.95 * budget_s <= end <= budget_s, (first, last, end)
    assert last.total_steps <= first.total_steps  # slower steps: fewer of them, planned again each epoch


def test_budget_schedule_reaches_zero_at_the_planned_end():
    from googlenet.training.budget import plan

    p = plan(600, elapsed_s=10, steps_done=5, step_s=0.4, steps_per_epoch=100, epoch_eval_s=5)
    s = Schedule("linear", steps_per_epoch=100, epochs=p.epochs, warmup=0.5, step_epochs=8, gamma=0.96,
                 total_steps=p.total_steps)
    assert s(p.total_steps) == 0.0 and s(p.total_steps // 2) > 0.4
    assert p.predicted_s <= 600 and p.epochs == -(-p.total_steps // 100)
    line = p.line(128)
    assert f"{p.total_steps:,} steps" in line and "linear to 0" in line and "128 px" in line


def test_budget_too_short_names_the_minimum():
    from googlenet.training.budget import plan

    with pytest.raises(googlenet.UserError, match=r"shorter than one epoch.*--time-budget 3m or more"):
        plan(60, elapsed_s=30, steps_done=5, step_s=0.5, steps_per_epoch=148, epoch_eval_s=20)


@pytest.mark.parametrize("text", ["abc", "0", "inf", "15 parsecs"])
def test_unparseable_budget_is_one_line_exit_2(run_cli, text):
    code, _, err = run_cli("train", "--time-budget", text, "--epochs", "1")
    assert code == 2 and err.count("\n") == 1 and "time budget" in err


def test_time_budget_run_prints_its_plan_and_ends_inside_the_budget(run_cli, tmp_path, class_folders):
    import json

    root = class_folders(tmp_path / "d", ["a", "b", "c"], per_class=24, size=(32, 32))
    code, out, err = run_cli("train", "--dataset", root, "--recipe", "fast", "--time-budget", "30s",
                             "--batch-size", "8", "--threads", "1", "--no-report", "--out", tmp_path / "run")
    assert code == 0, err  # before: the last re-plan, finding no room for another epoch, was a "too short" error
    assert any("googlenet: time budget 30 s:" in line and "linear to 0" in line for line in out.splitlines()), out
    rows = [json.loads(x) for x in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert len(rows) > 1 and rows[-1]["wall_time_s"] <= 30 * 1.05
    assert rows[-1]["lr"] <= 0.05 * 4e-3  # the fast recipe's peak: the linear schedule ran (nearly) to 0


# -- fit to the data (issue 22, item 3) ---------------------------------------------------------------------------
from googlenet.training.datafit import MAX_EPOCHS, MIN_BATCH, REFERENCE_STEPS, DataFacts, fit  # noqa: E402

RECIPE = dict(batch_size=64, epochs=5, input_size=128, warmup_epochs=0.5)


def test_fit_gives_imagenette_the_recipes_own_settings():
    chosen = fit(DataFacts(images=9469, classes=10, median_side=224), **RECIPE)
    assert (chosen.batch_size, chosen.epochs, chosen.input_size, chosen.warmup_epochs) == (64, 5, 128, 0.5)


@pytest.mark.parametrize("images", [200, 600, 3000, 30000, 120000])
def test_fit_keeps_the_step_budget_and_a_real_batch(images):
    chosen = fit(DataFacts(images=images, classes=7, median_side=500), **RECIPE)
    steps = chosen.epochs * (images // chosen.batch_size)
    assert MIN_BATCH <= chosen.batch_size <= 64
    assert 2 <= chosen.epochs <= 60
    # the step count carries over from Imagenette, except where the epoch bounds stop it
    assert 0.6 * REFERENCE_STEPS <= steps <= 1.6 * REFERENCE_STEPS or chosen.epochs in (2, 60)
    assert chosen.warmup_epochs == pytest.approx(0.5 * chosen.epochs / 5, abs=1e-3)  # the same share of the run


def test_fit_never_upsamples_the_typical_photo_and_keeps_what_the_user_set():
    small = fit(DataFacts(images=5000, classes=3, median_side=100), **RECIPE)
    assert small.input_size == 96 and small.input_size <= 100
    tiny = fit(DataFacts(images=5000, classes=3, median_side=40), **RECIPE)
    assert tiny.input_size == 64  # GoogLeNet's floor: a 2x2 map after five stride-2 stages
    kept = fit(DataFacts(images=300, classes=3, median_side=100), **RECIPE,
               pinned=("batch_size", "epochs", "input_size"))
    assert (kept.batch_size, kept.epochs, kept.input_size) == (64, 5, 128)
    assert "kept as you set them: batch_size, epochs, input_size" in kept.line()


def test_photos_recipe_says_what_it_fitted_on_a_small_photo_set(tmp_path, class_folders, capsys):
    from googlenet.training import make_config

    root = class_folders(tmp_path / "d", ["a", "b"], per_class=30, size=(80, 120))
    config = make_config(recipe="photos", dataset=str(root))
    assert capsys.readouterr().err == ""  # said when the trainer starts
    assert "fitted to the data (60 photos, 2 classes, median shorter side 80 px)" in config.chosen_notes[0]
    assert config.input_size == 80 and config.batch_size == MIN_BATCH and config.epochs > 5
    pinned = make_config(recipe="photos", dataset=str(root), batch_size=8, input_size=72)
    assert (pinned.batch_size, pinned.input_size) == (8, 72)


def test_a_users_small_images_get_the_fast_recipe_fitted_to_their_size(tmp_path, class_folders, capsys, run_cli):
    """The fast recipe's 3 epochs at batch 128 were tuned on Fashion-MNIST's 60,000 images; 160 small images
    would get 3 steps from them. Chosen for a user's set, its step budget carries over; the registry's sets keep
    the recipe as tuned."""
    from googlenet.training import make_config
    from googlenet.training.datafit import RECIPE_STEPS

    root = class_folders(tmp_path / "d", ["a", "b", "c"], per_class=40, size=(32, 32))
    config = make_config(dataset=str(root))
    assert capsys.readouterr().err == ""  # the fit's line waits for the trainer's start (a bad flag stays one line)
    assert config.recipe == "fast" and config.fit_to_data and config.input_size is None
    assert "fitted to the data (120 photos, 3 classes, median shorter side 32 px)" in config.chosen_notes[0]
    assert "chosen_notes" not in config.to_dict()
    code, out, err = run_cli("train", "--dataset", str(root), "--max-steps", "2", "--threads", "1", "--no-report",
                             "--out", str(tmp_path / "run"))
    assert code == 0 and "fitted to the data (120 photos, 3 classes" in err  # said when training starts
    # read whole, as trained (augment none): cached at 32 px, not 1/8 larger, and evaluated whole
    assert "cache: 120 images at 32 px" in out and "at 36 px" not in out
    from googlenet.data.preprocessing import read_file_cfg

    assert read_file_cfg(tmp_path / "run" / "model.safetensors").resize == 32
    # 7 steps an epoch at the smallest batch: as many epochs as the bound allows, toward the 1,406 steps
    assert config.batch_size == MIN_BATCH and config.epochs == MAX_EPOCHS and RECIPE_STEPS["fast"] > 60 * 7
    assert make_config(dataset=str(root), fit_to_data=False).epochs == 3  # asked off, the recipe as written
    fashion = make_config(dataset="fashion-mnist")
    assert (fashion.recipe, fashion.fit_to_data, fashion.epochs, fashion.batch_size) == ("fast", False, 3, 128)


@pytest.mark.slow
def test_time_budget_under_torchrun_plans_alike_on_every_process(tmp_path, class_folders):
    """Each process measures its own step time; planned apart, one would stop while the other waits in a
    collective. Both plan from the slowest process's figures (distributed.all_max) and end together."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = class_folders(tmp_path / "d", ["a", "b", "c"], per_class=16, size=(32, 32))
    src = Path(__file__).resolve().parents[1] / "src"
    slow = tmp_path / "slow"  # process 1's clock runs 1.5x fast: its steps seem slower, its own plan shorter
    slow.mkdir()
    (slow / "sitecustomize.py").write_text(
        "import os, time\n"
        "if os.environ.get('RANK') == '1':\n"
        "    _real = time.perf_counter\n"
        "    _t0 = _real()\n"
        "    time.perf_counter = lambda: _t0 + 1.5 * (_real() - _t0)\n")
    env = {**os.environ, "PYTHONPATH": f"{slow}{os.pathsep}{src}", "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                          "-m", "googlenet", "train", "--dataset", str(root), "--recipe", "fast", "--time-budget",
                          "25s", "--batch-size", "8", "--threads", "1", "--no-report", "--out", str(tmp_path / "run")],
                         env=env, capture_output=True, text=True, timeout=150)
    assert run.returncode == 0, run.stderr[-2000:]
    rows = [json.loads(x) for x in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert rows and rows[-1]["wall_time_s"] <= 25 * 1.1
