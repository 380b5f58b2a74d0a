"""googlenet.training: the aux-weighted loss, kill-and-resume equality, torchrun DDP, the CLI, bad input.

Runs use a small ImageFolder of real MNIST digits (written from shared/data) and GoogLeNet at width 1/16,
single-threaded, so each run takes seconds.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from googlenet.data import load_dataset
from googlenet.errors import DataError, UserError
from googlenet.training import make_config, train
from googlenet.weights.checkpoint import load_model

REPO = Path(__file__).resolve().parents[1]
# The paper's GoogLeNet (LRN, no batch norm, two auxiliary heads), tiny, on 28x28 grey digits.
TINY = {"width": 0.0625, "in_channels": 1, "small_input": True, "aux_logits": True, "batch_norm": False,
        "lrn": True}


def config(digits: Path, out: Path, **kw):
    settings = dict(dataset=str(digits), val_fraction=0.2, epochs=3, batch_size=16, lr=0.05, threads=1,
                    augment="small", model_kwargs=TINY, out=str(out), eval_test=False, seed=3)
    settings.update(kw)
    return make_config(kw.pop("recipe", "paper"), **settings)


def test_run_folder_holds_weights_state_log_curves_and_a_loadable_model(digits, tmp_path):
    summary = train(config(digits, tmp_path / "run", epochs=2, ema_decay=0.9), quiet=True)
    run = tmp_path / "run"
    for name in ("model.safetensors", "last.safetensors", "train_state.pt", "config.json", "log.jsonl",
                 "curves.png", "summary.json"):
        assert (run / name).is_file(), name
    rows = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2] and rows[-1]["global_step"] == summary["global_step"] == 12
    for key in ("train_loss", "train_aux1_loss", "train_aux2_loss", "train_top1", "train_top5", "val_top1",
                "val_top5", "lr", "images_per_s", "wall_time_s"):
        assert rows[-1][key] is not None, key
    assert (run / "curves.png").read_bytes()[:4] == b"\x89PNG"
    loaded = load_model(run)  # the averaged weights, rebuilt from the metadata alone
    assert loaded.class_names == [str(d) for d in range(10)]
    assert loaded.preprocessing.channels == 1 and loaded.preprocessing.input_size == 28
    ema = load_file(run / "model.safetensors")
    raw = load_file(run / "last.safetensors")
    assert not torch.equal(ema["fc.weight"], raw["fc.weight"])  # Polyak-averaged != last iterate


def test_loss_adds_aux_losses_with_weight(digits, tmp_path):
    # With aux_weight 0 (and no weight decay) the aux heads get no gradient: they stay at initialisation.
    for name, weight in (("a", 0.0), ("b", 0.3)):
        train(config(digits, tmp_path / name, epochs=1, max_steps=2, aux_weight=weight, ema_decay=None,
                     weight_decay=0.0), quiet=True)
    torch.manual_seed(3)  # the runs' seed: the same initial weights
    from googlenet import create_model

    fresh = create_model("googlenet", num_classes=10, **TINY).state_dict()
    # No averaging: a finished run keeps its trained weights once, in model.safetensors.
    a, b = load_file(tmp_path / "a" / "model.safetensors"), load_file(tmp_path / "b" / "model.safetensors")
    assert torch.equal(a["aux1.fc2.weight"], fresh["aux1.fc2.weight"])
    assert not torch.equal(b["aux1.fc2.weight"], fresh["aux1.fc2.weight"])
    assert not torch.equal(a["fc.weight"], fresh["fc.weight"])


SIGTERM_RUN = """
import json, os, signal, sys
from pathlib import Path
import torch
from safetensors.torch import load_file
sys.path.insert(0, sys.argv[3])
from test_training import config
from googlenet.training import TrainingInterrupted, train

digits, tmp_path = Path(sys.argv[1]), Path(sys.argv[2])
cfg = dict(ema_decay=0.9)  # dropout (RNG), Polyak averaging, momentum: all must be restored
straight = train(config(digits, tmp_path / "straight", **cfg), quiet=True)

def kill(step):
    if step == 8:
        os.kill(os.getpid(), signal.SIGTERM)

try:
    train(config(digits, tmp_path / "killed", **cfg), quiet=True, on_step=kill)
    raise SystemExit("SIGTERM did not stop the run")
except TrainingInterrupted as stop:
    assert (stop.epoch, stop.step) == (1, 2), (stop.epoch, stop.step)
state = torch.load(tmp_path / "killed" / "train_state.pt", weights_only=True)
assert state["global_step"] == 8 and state["step_in_epoch"] == 2
resumed = train(resume=tmp_path / "killed", quiet=True)
assert resumed["global_step"] == straight["global_step"] == 18
for name in ("last.safetensors", "model.safetensors"):
    a, b = load_file(tmp_path / "straight" / name), load_file(tmp_path / "killed" / name)
    assert all(torch.equal(a[k], b[k]) for k in a), name  # bit-identical, not just close
rows_a = (tmp_path / "straight" / "log.jsonl").read_text().splitlines()
rows_b = (tmp_path / "killed" / "log.jsonl").read_text().splitlines()
for ra, rb in zip(rows_a, rows_b, strict=True):
    ra, rb = json.loads(ra), json.loads(rb)
    assert ra["train_loss"] == rb["train_loss"] and ra["val_top1"] == rb["val_top1"]
print("ok")
"""


def test_sigterm_mid_epoch_then_resume_equals_an_uninterrupted_run(digits, tmp_path):
    # 96 train images / batch 16 = 6 steps per epoch; SIGTERM after step 8 (epoch 2, step 2). The signal goes
    # to a process of its own, as a real one would, not to pytest's (whose earlier tests leave native thread
    # pools of ONNX Runtime and OpenVINO running).
    script = tmp_path / "sigterm_run.py"
    script.write_text(SIGTERM_RUN)
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, str(script), str(digits), str(tmp_path), str(REPO / "tests")], env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and run.stdout.strip().endswith("ok"), (run.stdout[-1500:], run.stderr[-3000:])


def _cli_env() -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), OMP_NUM_THREADS="1")
    env.pop("GOOGLENET_DATA", None)
    return env


@pytest.mark.skipif(shutil.which("torchrun") is None and not (Path(sys.executable).parent / "torchrun").exists(),
                    reason="torchrun not installed")
def test_torchrun_two_processes_match_one_process_with_the_same_global_batch(digits, tmp_path):
    # No dropout and no batch norm: then 2 processes x 8 images and 1 process x 16 images compute the same
    # averaged gradient, up to float summation order.
    common = ["train", "--dataset", str(digits), "--recipe", "paper", "--epochs", "1", "--max-steps", "3",
              "--batch-size", "16", "--lr", "0.05", "--no-test", "--threads", "1", "--val-fraction", "0.2",
              "--width", "0.0625", "--in-channels", "1", "--small-input", "--model-arg", "dropout=0",
              "--model-arg", "aux_dropout=0", "--set", "ema_decay=null"]
    import socket

    with socket.socket() as sock:  # a free port, so parallel test runs do not collide
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
                "--master_port", str(port), "-m", "googlenet"]
    ddp = subprocess.run(torchrun + common + ["--out", str(tmp_path / "ddp")], env=_cli_env(),
                         capture_output=True, text=True, timeout=300)
    assert ddp.returncode == 0, ddp.stderr[-2000:]
    # The same settings in this process, through the Python API.
    train(make_config("paper", dataset=str(digits), epochs=1, max_steps=3, batch_size=16, lr=0.05, eval_test=False,
                      threads=1, val_fraction=0.2, ema_decay=None, out=str(tmp_path / "one"),
                      model_kwargs={"width": 0.0625, "in_channels": 1, "small_input": True, "dropout": 0,
                                    "aux_dropout": 0}), quiet=True)
    summary = json.loads((tmp_path / "ddp" / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["global_step"] == 3
    a, b = load_file(tmp_path / "ddp" / "model.safetensors"), load_file(tmp_path / "one" / "model.safetensors")
    for k in a:
        assert torch.allclose(a[k], b[k], rtol=1e-4, atol=1e-6), (k, (a[k] - b[k]).abs().max())
    # ... and the 3 steps did move the weights away from the seed-0 initialisation by far more than that.
    from googlenet import create_model

    kwargs = load_model(tmp_path / "one").model_kwargs
    torch.manual_seed(0)
    init = create_model("googlenet", **kwargs).state_dict()
    assert max((b[k] - init[k]).abs().max().item() for k in b if b[k].is_floating_point()) > 1e-3


def test_cli_bad_input_is_one_line_with_exit_code_2(run_cli, digits, tmp_path):
    cases = [
        (["--lr", "-0.1"], "learning rate must be positive"),
        (["--batch-size", "0"], "batch size must be"),
        (["--dataset", "imagenet-1k"], "unknown dataset"),
        (["--model", "googlenet_v9"], "unknown model"),
        (["--dataset", str(tmp_path / "missing")], "unknown dataset"),
        (["--dataset", "cifar10", "--data-dir", str(tmp_path)], "cifar10 not found"),
        (["--dataset", str(digits), "--num-classes", "7"], "drop --num-classes"),
        (["--recipe", "alexnet"], "unknown recipe"),
        (["--resume", str(tmp_path)], "no checkpoint to resume"),
        (["--config", str(tmp_path / "nope.toml")], "config file"),
    ]
    (tmp_path / "empty").mkdir()
    cases.append((["--dataset", str(tmp_path / "empty")], "no class folders"))
    # (A checkpoint of another class count is fine-tuned: tests/test_defects.py.)
    for argv, message in cases:
        code, out, err = run_cli("train", "--threads", "1", *argv)
        assert code == 2, (argv, out, err)
        assert message in err and err.count("\n") == 1 and "Traceback" not in err, (argv, err)


def test_config_file_and_flags_override_the_recipe(tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text('lr = 0.02\nepochs = 7\nlabel-smoothing = 0.1\n[model_kwargs]\nwidth = 0.25\n')
    c = make_config("inception-v3", file=toml, epochs=9)
    assert (c.optimizer, c.rmsprop_eps, c.lr_gamma, c.lr_step_epochs, c.grad_clip) == ("rmsprop", 1.0, 0.94, 2.0, 2.0)
    assert (c.lr, c.epochs, c.label_smoothing, c.model_kwargs["width"]) == (0.02, 9, 0.1, 0.25)
    yaml_file = tmp_path / "c.yaml"
    yaml_file.write_text("recipe: paper\nlr_gamma: 0.5\n")
    c = make_config(file=yaml_file)
    assert (c.recipe, c.lr_gamma, c.lr_step_epochs, c.momentum, c.ema_decay) == ("paper", 0.5, 8.0, 0.9, 0.9999)
    yaml_file.write_text("learning_rate: 0.1\n")
    with pytest.raises(UserError, match="unknown training setting 'learning_rate'"):
        make_config(file=yaml_file)


def test_corrupt_image_stops_training_naming_the_file_unless_skipped(digits, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(digits, data)
    (data / "train" / "3" / "zz-broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(DataError, match="zz-broken.png"):
        train(config(data, tmp_path / "r1", epochs=1, val_fraction=0.0), quiet=True)
    summary = train(config(data, tmp_path / "r2", epochs=1, max_steps=1, skip_bad_images=True), quiet=True)
    assert summary["skipped_images"] == 1 and summary["skipped_files"][0].endswith("zz-broken.png")


def test_batched_augmentation_equals_v2_crop_and_flip_per_image(shared_data):
    from torchvision.transforms.v2 import functional as TF

    from googlenet.training.fastdata import TensorBatches

    ds = load_dataset("mnist", "test", data_dir=shared_data)
    fast = TensorBatches(ds, augment=True, pad=2, hflip=True, mean=[0.5], std=[0.25], seed=7)
    x, y = fast.batch(list(range(16)), epoch=3)
    assert torch.equal(y, ds.targets[:16])
    assert fast.flip.any() and not fast.flip.all() and fast.dx.max() == 4
    for i in range(16):
        img = TF.crop(TF.pad(ds[i][0], [2, 2, 2, 2]), int(fast.dy[i]), int(fast.dx[i]), 28, 28)
        if fast.flip[i]:
            img = TF.horizontal_flip(img)
        assert torch.allclose(x[i], (img.float() / 255 - 0.5) / 0.25), i
    # The same image gets the same draw whatever batch it is in (so DDP and resumes see the same data).
    a, _ = fast.batch([5, 9], epoch=3)
    assert torch.equal(a, x[[5, 9]])
    b, _ = fast.batch([5, 9], epoch=4)
    assert not torch.equal(b, a)


@pytest.mark.parametrize("native_bf16", [False, True])
def test_amp_on_a_cpu_runs_bf16_and_says_when_the_cpu_would_emulate_it(digits, tmp_path, capsys, monkeypatch,
                                                                         native_bf16):
    import googlenet.training.trainer as trainer_module

    monkeypatch.setattr(trainer_module, "cpu_has_native_bf16", lambda: native_bf16)
    seen: list[torch.dtype] = []
    real_linear = torch.nn.functional.linear

    def recording_linear(x, w, b=None):
        out = real_linear(x, w, b)
        seen.append(out.dtype)
        return out

    monkeypatch.setattr(torch.nn.functional, "linear", recording_linear)
    train(config(digits, tmp_path / "amp", epochs=1, max_steps=1, amp="on", device="cpu"))
    out = capsys.readouterr().out
    assert torch.bfloat16 in seen  # the classifier ran under bf16 autocast
    assert ("emulated and slower than fp32" in out) is (not native_bf16)
