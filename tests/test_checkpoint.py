"""Model files rebuild their model exactly; writes are atomic; loading never runs code from a file."""

from __future__ import annotations

import os
import pickle

import pytest
import torch

import googlenet
from googlenet.system.files import atomic_write
from googlenet.training.state import load_training_state, save_training_state
from googlenet.weights.checkpoint import load_model, read_model_metadata, save_model

KWARGS = {"num_classes": 10, "in_channels": 1, "small_input": True, "width": 0.25}


def test_model_file_round_trip_rebuilds_the_same_network(tmp_path):
    model = googlenet.create_model("googlenet", **KWARGS).eval()
    path = save_model(tmp_path / "run" / "model.safetensors", model, model_name="googlenet", model_kwargs=KWARGS,
                      class_names=[str(i) for i in range(10)], preprocessing={"mean": [0.5], "std": [0.25]})
    loaded = load_model(tmp_path / "run")  # a run folder works as well as the file
    assert loaded.model_name == "googlenet" and loaded.num_classes == 10
    assert loaded.class_names[3] == "3" and loaded.preprocessing.std == (0.25,)
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(x), model(x), atol=0, rtol=0)
    assert read_model_metadata(path)["model_kwargs"] == KWARGS


def test_load_can_drop_aux_heads(tmp_path):
    model = googlenet.create_model("googlenet", **KWARGS)
    save_model(tmp_path / "m.safetensors", model, model_name="googlenet", model_kwargs=KWARGS)
    loaded = load_model(tmp_path / "m.safetensors", aux_logits=False)
    assert loaded.model.aux1 is None


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "state.bin"
    target.write_bytes(b"old")

    def crash(tmp):
        tmp.write_bytes(b"half")
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError):
        atomic_write(target, crash)
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["state.bin"]  # the temporary file is gone too


def test_training_state_round_trip(tmp_path):
    state = {"epoch": 3, "optimizer": {"lr": 0.1, "buf": torch.ones(2)}, "rng": torch.get_rng_state()}
    save_training_state(tmp_path / "s.pt", state)
    back = load_training_state(tmp_path / "s.pt")
    assert back["epoch"] == 3 and torch.equal(back["optimizer"]["buf"], torch.ones(2))


class _Payload:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_training_state_with_code_in_it_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    with open(path, "wb") as f:
        pickle.dump({"epoch": _Payload()}, f, protocol=2)
    with pytest.raises(googlenet.DataError, match="cannot read training state"):
        load_training_state(path)


@pytest.mark.parametrize(
    ("content", "match"),
    [(None, "not found"), (b"garbage", "not a readable safetensors"), ("foreign", "no googlenet metadata")],
)
def test_bad_model_files_name_the_problem(tmp_path, content, match):
    path = tmp_path / "model.safetensors"
    if content == "foreign":
        from safetensors.torch import save_file

        save_file({"w": torch.zeros(1)}, str(path))
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(googlenet.DataError, match=match):
        load_model(path)


def test_empty_run_folder(tmp_path):
    with pytest.raises(googlenet.DataError, match="no model.safetensors in folder"):
        load_model(tmp_path)
