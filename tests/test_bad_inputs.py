"""Damaged and hostile files of every kind the tool reads (issue 21): one line, exit 2, nothing overwritten.

Each defect of the issue has a test here that failed on the code before its fix. The CLI cases that could
take unbounded memory on a broken build (a model file whose metadata asks for width 64, a decompression
bomb, a tar member declaring more than the bound, ``--input-size 100000``) and a sample of the fuzz campaign
run in one child process under ``RLIMIT_AS`` = 4 GiB (benchmarks/fuzz.py: ``run_cases``); each must stay
under 1.5 GiB resident. Property-based cases (hypothesis, a fixed number of derandomized examples) call the
readers in process and accept only a result or a UserError. The longer campaign: ``python benchmarks/fuzz.py``.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from googlenet.errors import UserError

FEW = settings(max_examples=12, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))


def one_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.startswith("googlenet: error:")]
    assert len(lines) == 1 and "Traceback" not in err and "internal error" not in err, err
    return lines[0]


@pytest.fixture(scope="module")
def fuzz(benchmark_script):
    return benchmark_script("fuzz")


@pytest.fixture(scope="module")
def seeds(fuzz, tmp_path_factory):
    return fuzz.make_seeds(tmp_path_factory.mktemp("seeds"))


@pytest.fixture
def files(seeds, tmp_path, monkeypatch):
    """A folder with the intact seeds under their usual names, the working directory of the test."""
    names = {"safetensors": "m.safetensors", "onnx": "m.onnx", "pth": "w.pth", "caffemodel": "g.caffemodel",
             "png": "i.png", "jpg": "i.jpg", "tar": "d.tar.gz", "toml": "c.toml"}
    for kind, name in names.items():
        (tmp_path / name).write_bytes(seeds[kind])
    for c in "ab":
        for i in range(2):
            (tmp_path / "d" / "train" / c).mkdir(parents=True, exist_ok=True)
            (tmp_path / "d" / "train" / c / f"{i}.png").write_bytes(seeds["png"])
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GOOGLENET_CACHE", str(tmp_path / "cache"))
    return tmp_path


TRAIN = ["train", "--dataset", "d", "--epochs", "1", "--batch-size", "2", "--width", "0.0625", "--threads", "1",
         "--max-steps", "1", "--no-test", "--no-report", "--val-fraction", "0"]


# ------------------------------------------------------------------------------------- 1. outputs never clobber
def test_export_never_writes_over_its_own_input(run_cli, files):
    before = (files / "m.safetensors").read_bytes()
    code, _, err = run_cli("export", "m.safetensors", "--format", "onnx", "--output", "m.safetensors", "--force")
    assert code == 2 and "input" in one_line(err)
    assert (files / "m.safetensors").read_bytes() == before


def test_export_and_import_replace_an_existing_file_only_with_force(run_cli, files):
    (files / "mine.onnx").write_bytes(b"the user's file")
    code, _, err = run_cli("export", "m.safetensors", "--output", "mine.onnx", "--no-check")
    assert code == 2 and "--force" in one_line(err) and (files / "mine.onnx").read_bytes() == b"the user's file"
    code, _, _ = run_cli("export", "m.safetensors", "--output", "mine.onnx", "--no-check", "--force")
    assert code == 0 and (files / "mine.onnx").read_bytes() != b"the user's file"
    (files / "mine.safetensors").write_bytes(b"the user's weights")
    code, _, err = run_cli("weights", "import", "torchvision", "w.pth", "--out", "mine.safetensors")
    assert code == 2 and "--force" in one_line(err)
    assert (files / "mine.safetensors").read_bytes() == b"the user's weights"


def test_train_refuses_a_folder_of_the_users_files_and_marks_its_own(run_cli, files):
    mine = files / "mine"
    mine.mkdir()
    (mine / "model.safetensors").write_bytes(b"my model")
    (mine / "log.jsonl").write_text("my log\n")
    code, _, err = run_cli(*TRAIN, "--out", mine)
    assert code == 2 and "not a googlenet run" in one_line(err) and "--force" in one_line(err)
    assert (mine / "model.safetensors").read_bytes() == b"my model" and (mine / "log.jsonl").read_text() == "my log\n"
    code, _, _ = run_cli(*TRAIN, "--out", files / "run")
    assert code == 0 and (files / "run" / ".googlenet-run").is_file()
    code, _, err = run_cli(*TRAIN, "--out", mine, "--force")
    assert code == 0 and (mine / ".googlenet-run").is_file()


@pytest.mark.parametrize("command", ["train", "eval", "explain"])
def test_out_naming_an_existing_file_is_one_line(run_cli, files, command):
    (files / "taken").write_text("x")
    argv = {"train": [*TRAIN], "eval": ["eval", "m.safetensors", "--dataset", "d", "--split", "train"],
            "explain": ["explain", "i.png", "-c", "m.safetensors"]}[command]
    code, _, err = run_cli(*argv, "--out", "taken")
    assert code == 2 and "is a file" in one_line(err) and (files / "taken").read_text() == "x"


# ------------------------------------------------------------------------- 3. every damaged file is one line
METADATA = ["no_model", "unknown_model", "kwargs_not_json", "kwargs_list", "kwargs_width2", "kwargs_negative_classes",
            "kwargs_word", "kwargs_unknown", "names_short", "names_numbers", "names_object", "names_not_json",
            "mean_word", "mean_nan", "std_zero", "input_huge", "channels_word", "pre_list", "extra_list", "no_format",
            "shape", "dtype"]


@pytest.fixture(scope="module")
def metadata_variants(fuzz, seeds):
    return dict(fuzz.metadata_mutations(seeds["safetensors"], random.Random(0)))


@pytest.mark.parametrize("name", METADATA)
def test_each_damaged_metadata_field_is_one_line(run_cli, files, metadata_variants, name):
    (files / "bad.safetensors").write_bytes(metadata_variants[name])
    code, _, err = run_cli("predict", "i.png", "-c", "bad.safetensors")
    line = one_line(err)
    assert code == 2 and "bad.safetensors" in line
    field = {"names": "class_names", "kwargs": "model", "mean": "mean", "std": "std", "input": "input_size",
             "channels": "channels", "pre": "preprocessing", "extra": "extra", "no": "googlenet metadata"
             if name == "no_format" else "'model'", "unknown": "'model'", "shape": "shapes", "dtype": "int32"}
    assert field[name.split("_")[0]] in line, line


def test_init_from_and_eval_read_the_same_checks(run_cli, files, metadata_variants):
    (files / "bad.safetensors").write_bytes(metadata_variants["names_short"])
    code, _, err = run_cli(*TRAIN, "--init-from", "bad.safetensors", "--out", "r2")
    assert code == 2 and "class_names" in one_line(err)
    code, _, err = run_cli("eval", "bad.safetensors", "--dataset", "d", "--split", "train")
    assert code == 2 and "class_names" in one_line(err)


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_a_damaged_onnx_file_is_one_line_for_predict_and_eval(run_cli, files, seeds, damage):
    data = seeds["onnx"][: len(seeds["onnx"]) // 2] if damage == "truncated" else os.urandom(3000)
    (files / "bad.onnx").write_bytes(data)
    code, _, err = run_cli("predict", "i.png", "-c", "bad.onnx")
    assert code == 2 and "bad.onnx" in one_line(err)
    for backend in ("ort", "int8"):
        code, _, err = run_cli("eval", "bad.onnx", "--dataset", "d", "--split", "train", "--backend", backend)
        assert code == 2 and "bad.onnx" in one_line(err)


def test_onnx_runtime_refusing_a_checked_graph_is_one_line(files, seeds):
    import onnx

    from googlenet.deploy.ort import ort_session

    proto = onnx.load_from_string(seeds["onnx"])
    proto.graph.node[0].op_type = "NoSuchOp"  # well-formed protobuf; the checker or ONNX Runtime refuses it
    onnx.save(proto, str(files / "odd.onnx"))
    with pytest.raises(UserError, match="odd.onnx") as info:
        ort_session(files / "odd.onnx")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("name", ["negative", "overflow", "empty", "zero", "mismatch", "many_dims"])
def test_caffe_blob_shapes_are_checked_before_reshaping(run_cli, files, fuzz, name):
    (files / "bad.caffemodel").write_bytes(dict(fuzz.caffe_mutations(random.Random(0)))[name])
    code, _, err = run_cli("weights", "import", "caffe", "bad.caffemodel", "--out", "o.safetensors")
    line = one_line(err)
    assert code == 2 and "conv1/7x7_s2" in line and not (files / "o.safetensors").exists()


def test_a_gzip_of_random_bytes_keeps_its_whole_message(run_cli, files, fuzz):
    (files / "x.tar.gz").write_bytes(dict(fuzz.tar_mutations(random.Random(0), b"", big=1))["gzip_random"])
    code, _, err = run_cli("train", "--dataset", "x.tar.gz", "--out", "r3")
    line = one_line(err)
    assert code == 2 and "x.tar.gz" in line and "replace it" in line and line.endswith("images")


def test_a_config_file_that_is_not_text_is_one_line(run_cli, files):
    (files / "c.toml").write_bytes(b"epochs = \x92\xbe\n")
    code, _, err = run_cli(*TRAIN, "--config", "c.toml", "--out", "r4")
    assert code == 2 and "UTF-8" in one_line(err)


# --------------------------------------------------------------------------------------------- 4. numerics
@pytest.mark.parametrize("flag", ["--lr", "--momentum", "--weight-decay", "--warmup-epochs", "--crop-scale"])
@pytest.mark.parametrize("value", ["inf", "-inf", "nan"])
def test_non_finite_settings_are_refused(run_cli, tmp_path, flag, value):
    code, _, err = run_cli("train", f"{flag}={value}", "--out", tmp_path / "r")
    assert code == 2 and ("finite" in one_line(err) or "must be" in one_line(err))


def test_a_non_finite_loss_stops_within_a_step_keeps_the_checkpoint_and_resume_continues(files, monkeypatch):
    from googlenet.training import loss as loss_module
    from googlenet.training import train, trainer
    from googlenet.weights.checkpoint import load_model

    real = loss_module.training_loss
    calls = {"n": 0}

    def poisoned(*args, **kwargs):
        calls["n"] += 1
        parts = real(*args, **kwargs)
        if calls["n"] == 3:  # epoch 2, step 1 (2 steps per epoch)
            return parts._replace(total=parts.total * float("nan"))
        return parts

    monkeypatch.setattr(trainer, "training_loss", poisoned)
    kw = dict(recipe="fast", dataset="d", val_fraction=0.0, epochs=3, batch_size=2, lr=0.05, threads=1,
              model_kwargs={"width": 0.0625, "aux_logits": False}, out="nan-run", eval_test=False, report=False)
    with pytest.raises(UserError) as info:
        train(quiet=True, **kw)
    text = str(info.value)
    assert "\n" not in text and "epoch 2 step 1" in text and "last good checkpoint (epoch 1" in text
    assert "--resume nan-run" in text and "learning rate" in text
    state = torch.load(files / "nan-run" / "train_state.pt", weights_only=True)
    assert state["epoch"] == 1 and state["global_step"] == 2
    weights = load_model(files / "nan-run").model.state_dict().values()
    assert all(bool(torch.isfinite(t).all()) for t in weights if t.is_floating_point())
    monkeypatch.setattr(trainer, "training_loss", real)
    summary = train(resume="nan-run", quiet=True, lr=0.01)
    assert summary["global_step"] == 6


# ---------------------------------------------------------------------- 2. bounds: in a memory-bounded child
@pytest.fixture(scope="module")
def bounded(fuzz, seeds, tmp_path_factory):
    """The memory-hungry cases of the issue and a sample of the fuzz campaign, in one child process under
    RLIMIT_AS 4 GiB; tar members bounded at 200 kB (GOOGLENET_MAX_IMAGE_BYTES) so the test tarball stays
    small (the campaign uses the default 256 MiB)."""
    rng = random.Random(0)
    Case = fuzz.Case
    good = {f"d/train/{c}/{i}.png": seeds["png"] for c in "ab" for i in range(2)}
    model = {"m.safetensors": seeds["safetensors"], "i.png": seeds["png"]}
    variants = dict(fuzz.metadata_mutations(seeds["safetensors"], rng))
    bomb = fuzz.jpeg_bomb(seeds["jpg"])
    huge_tar = dict(fuzz.tar_mutations(rng, seeds["png"], big=1 << 20))["member_huge"]
    train = TRAIN[:1] + TRAIN[3:]  # without --dataset d
    cases = [
        Case("width64", ["predict", "i.png", "-c", "w.safetensors"], {**model, "w.safetensors": variants[
            "kwargs_width64"]}),
        Case("input_huge", ["predict", "i.png", "-c", "w.safetensors"], {**model, "w.safetensors": variants[
            "input_huge"]}),
        Case("input_size_100000", [*train, "--dataset", "d", "--input-size", "100000", "--out", "run"], good,
             outputs=("run",)),
        Case("bomb_folder", [*train, "--dataset", "d", "--out", "run"], {**good, "d/train/a/bomb.jpg": bomb},
             outputs=("run",)),
        Case("bomb_folder_skipped", [*train, "--dataset", "d", "--skip-bad-images", "--out", "run"],
             {**good, "d/train/a/bomb.jpg": bomb}, outputs=("run",), ok_codes=(0,)),
        Case("bomb_photos_cache", [*train, "--dataset", "d", "--augment", "photo", "--out", "run"],
             {**good, "d/train/a/bomb.jpg": bomb}, outputs=("run",)),
        Case("bomb_predict", ["predict", "b.jpg", "-c", "m.safetensors"], {**model, "b.jpg": bomb}),
        Case("bomb_explain", ["explain", "b.jpg", "-c", "m.safetensors", "--out", "ex"], {**model, "b.jpg": bomb},
             outputs=("ex",)),
        Case("tar_member", [*train, "--dataset", "d.tar.gz", "--out", "run"], {"d.tar.gz": huge_tar},
             outputs=("run",)),
        Case("scales_100000", ["predict", "i.png", "-c", "m.safetensors", "--scales", "100000"], model),
        Case("crop_size_100000", ["eval", "m.safetensors", "--dataset", "e", "--split", "train", "--crop-size",
                                  "100000", "--backend", "torch"],
             {**model, **{f"e/train/{c}/0.png": seeds["png"] for c in "abc"}}),
        Case("tar_member_skipped", [*train, "--dataset", "d.tar.gz", "--skip-bad-images", "--out", "run"],
             {"d.tar.gz": huge_tar}, outputs=("run",), ok_codes=(0,)),
    ]
    sample = [c for c in fuzz.all_cases(seeds, rng, 2) if not c.name.startswith(("config-flip", "tar-member"))]
    random.Random(1).shuffle(sample)
    cases += sample[:30]
    failures, results = fuzz.run_cases(cases, tmp_path_factory.mktemp("bounded"), timeout=300,
                                       env={"GOOGLENET_MAX_IMAGE_BYTES": "200000"})
    return failures, results


@pytest.mark.parametrize("name", ["width64", "input_huge", "input_size_100000", "bomb_folder", "bomb_photos_cache",
                                  "bomb_predict", "bomb_explain", "tar_member", "scales_100000",
                                  "crop_size_100000"])
def test_unbounded_inputs_are_refused_before_the_work(bounded, name):
    failures, results = bounded
    assert not [why for case, why in failures if case.name == name]
    r = results[name]
    line = one_line(r["err"])
    assert r["code"] == 2 and r["rss"] < 1536 << 20
    expect = {"width64": "GiB", "input_huge": "input_size", "input_size_100000": "--input-size",
              "bomb_folder": "GOOGLENET_MAX_PIXELS", "bomb_photos_cache": "GOOGLENET_MAX_PIXELS",
              "bomb_predict": "megapixel", "bomb_explain": "megapixel", "tar_member": "200,000-byte",
              "scales_100000": "4096", "crop_size_100000": "4096"}[name]
    assert expect in line, line


@pytest.mark.parametrize("name", ["bomb_folder_skipped", "tar_member_skipped"])
def test_skip_bad_images_skips_and_counts_what_is_over_a_bound(bounded, name):
    failures, results = bounded
    assert not [why for case, why in failures if case.name == name]
    assert results[name]["code"] == 0


def test_a_sample_of_the_fuzz_campaign_is_one_line_each(bounded):
    failures, results = bounded
    assert len(results) >= 40
    assert not failures, "\n".join(f"{c.name}: {why}" for c, why in failures)


def test_a_fifo_in_a_training_folder_is_skipped_and_counted(files):
    os.mkfifo(files / "d" / "train" / "a" / "x.jpg")
    code = ("from googlenet.data import load_dataset\n"
            "ds = load_dataset('d', 'train', val_fraction=0)\n"
            "print(len(ds), len(ds.skipped), [ds[i][0].shape[0] for i in range(len(ds))][:1])\n")
    import googlenet  # the child imports the code under test

    env = {**os.environ, "PYTHONPATH": str(Path(googlenet.__file__).resolve().parents[1]), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env,
                         cwd=files)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[:2] == ["4", "1"]


def test_one_pixel_limit_with_one_override(run_cli, files, monkeypatch):
    from googlenet.data import decode_image
    from googlenet.data.cache import decode_resized

    monkeypatch.setenv("GOOGLENET_MAX_PIXELS", "500")  # the 24 x 24 seeds have 576
    for source in ("i.png", "i.jpg", (files / "i.jpg").read_bytes()):
        with pytest.raises(UserError, match="GOOGLENET_MAX_PIXELS"):
            decode_image(source, 3)
        with pytest.raises(UserError, match="GOOGLENET_MAX_PIXELS"):
            decode_resized(source, 16)
    code, _, err = run_cli("predict", "i.png", "-c", "m.safetensors")
    assert code == 2 and "576" in err
    monkeypatch.setenv("GOOGLENET_MAX_PIXELS", "600")
    assert decode_resized("i.jpg", 16)[0].shape == (3, 16, 16)
    monkeypatch.setenv("GOOGLENET_MAX_PIXELS", "many")
    with pytest.raises(UserError, match="positive whole number"):
        decode_image("i.png", 3)


# ------------------------------------------------------------------------------------------ 5. cache hygiene
@pytest.fixture
def photo_set(files):
    from googlenet.data import load_dataset

    return load_dataset("d", "train", val_fraction=0)


def test_cache_sizes_print_in_sensible_units():
    from googlenet.data.cache import _mb

    assert [_mb(n) for n in (0, 1, 2, 999, 1000, 12_345, 590_000_000, 16_000_000_000)] == [
        "0 bytes", "1 byte", "2 bytes", "999 bytes", "1.0 kB", "12.3 kB", "590 MB", "16.0 GB"]


def test_a_bad_cache_bound_is_refused_even_when_the_cache_exists(photo_set, files, monkeypatch):
    from googlenet.data import open_cache

    open_cache(photo_set, 16, cache_dir=files / "cache", log=None)
    monkeypatch.setenv("GOOGLENET_CACHE_MAX_BYTES", "lots")
    with pytest.raises(UserError, match="GOOGLENET_CACHE_MAX_BYTES"):
        open_cache(photo_set, 16, cache_dir=files / "cache", log=None)


def test_a_killed_builds_temporary_file_is_removed_next_run(photo_set, files):
    from googlenet.data import open_cache

    store = open_cache(photo_set, 16, cache_dir=files / "cache", log=None)
    stale = store.path.parent / f".{store.path.name}.k1ll3d.tmp"
    stale.write_bytes(b"\0" * 1000)
    open_cache(photo_set, 16, cache_dir=files / "cache", log=None)
    assert not stale.exists() and store.path.is_file()


def test_a_damaged_cache_file_is_detected_and_rebuilt(photo_set, files):
    from googlenet.data import open_cache

    notes: list[str] = []
    store = open_cache(photo_set, 16, cache_dir=files / "cache", log=notes.append)
    expected = store[list(range(len(store)))].clone()
    data = bytearray(store.path.read_bytes())
    data[-5] ^= 0xFF  # one pixel of the last image
    del store
    store_path = next((files / "cache" / "images").glob("*.npy"))
    store_path.write_bytes(bytes(data))
    again = open_cache(photo_set, 16, cache_dir=files / "cache", log=notes.append)
    assert any("damaged" in n and "rebuilding" in n for n in notes)
    assert torch.equal(again[list(range(len(again)))], expected)


# ------------------------------------------------------------------------ 6. property-based, in process
def _only_user_errors(read, data: bytes, path: Path) -> None:
    path.write_bytes(data)
    try:
        read(path)
    except UserError as exc:
        assert "\n" not in str(exc) and str(exc)


@FEW
@given(cut=st.floats(0, 1), flips=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), max_size=6))
def test_damaged_model_files_load_or_raise_one_line(seeds, tmp_path_factory, cut, flips):
    from googlenet.weights.checkpoint import load_model

    data = bytearray(seeds["safetensors"][: max(1, int(len(seeds["safetensors"]) * cut))])
    for at, value in flips:
        data[int(at * (len(data) - 1))] = value
    _only_user_errors(load_model, bytes(data), tmp_path_factory.mktemp("p") / "m.safetensors")


@FEW
@given(data=st.binary(min_size=0, max_size=400), keep=st.floats(0, 1))
def test_damaged_caffemodels_raise_one_line(seeds, tmp_path_factory, data, keep):
    from googlenet.weights.caffe import import_caffe

    body = seeds["caffemodel"][: int(len(seeds["caffemodel"]) * keep)] + data
    _only_user_errors(import_caffe, body, tmp_path_factory.mktemp("p") / "g.caffemodel")


@FEW
@given(kind=st.sampled_from(["png", "jpg"]), cut=st.floats(0, 1), flips=st.lists(st.tuples(
    st.floats(0, 1), st.integers(0, 255)), max_size=4))
def test_damaged_images_decode_or_raise_one_line(seeds, tmp_path_factory, kind, cut, flips):
    from googlenet.data import decode_image
    from googlenet.data.cache import decode_resized

    data = bytearray(seeds[kind][: max(1, int(len(seeds[kind]) * cut))])
    for at, value in flips:
        data[int(at * (len(data) - 1))] = value
    path = tmp_path_factory.mktemp("p") / f"x.{kind}"
    _only_user_errors(lambda p: decode_image(p, 3), bytes(data), path)
    _only_user_errors(lambda p: decode_resized(p, 16), bytes(data), path)


@FEW
@given(cut=st.floats(0, 1), flips=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), max_size=4))
def test_damaged_tarballs_list_or_raise_one_line(seeds, tmp_path_factory, cut, flips):
    from googlenet.data.archives import archive_bytes, archive_index

    data = bytearray(seeds["tar"][: max(1, int(len(seeds["tar"]) * cut))])
    for at, value in flips:
        data[int(at * (len(data) - 1))] = value
    folder = tmp_path_factory.mktemp("p")
    _only_user_errors(lambda p: (archive_index(p, folder), archive_bytes(p)), bytes(data), folder / "d.tar.gz")


@FEW
@given(cut=st.floats(0, 1), flips=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), max_size=4))
def test_damaged_onnx_files_check_or_raise_one_line(seeds, tmp_path_factory, cut, flips):
    from googlenet.deploy.export import read_export_metadata
    from googlenet.deploy.ort import ort_session

    data = bytearray(seeds["onnx"][: max(1, int(len(seeds["onnx"]) * cut))])
    for at, value in flips:
        data[int(at * (len(data) - 1))] = value
    path = tmp_path_factory.mktemp("p") / "m.onnx"
    _only_user_errors(lambda p: (read_export_metadata(p, "onnx"), ort_session(p, 1)), bytes(data), path)


@FEW
@given(data=st.binary(max_size=300))
def test_damaged_config_files_parse_or_raise_one_line(tmp_path_factory, data):
    from googlenet.training.config import read_config_file

    for suffix in (".toml", ".yaml", ".json"):
        _only_user_errors(read_config_file, data, tmp_path_factory.mktemp("p") / f"c{suffix}")


@FEW
@given(state=st.sampled_from(["truncated", "random", "wrong_format", "not_a_dict"]))
def test_damaged_run_folders_resume_or_raise_one_line(tmp_path_factory, state):
    from googlenet.training import train

    run = tmp_path_factory.mktemp("run")
    (run / "config.json").write_text(json.dumps({"epochs": 1}) if state != "not_a_dict" else "[1]")
    payload = {"truncated": b"PK\x03\x04", "random": bytes(np.random.default_rng(0).integers(0, 255, 200,
                                                                                              dtype=np.uint8)),
               "wrong_format": b"", "not_a_dict": b""}[state]
    if state == "wrong_format":
        torch.save({"format": "other"}, run / "train_state.pt")
    else:
        (run / "train_state.pt").write_bytes(payload)
    with pytest.raises(UserError) as info:
        train(resume=run, quiet=True)
    assert "\n" not in str(info.value)
