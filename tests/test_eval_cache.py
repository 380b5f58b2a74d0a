"""Eval's decoded views kept for the next evaluation (data/cache.py ViewCache, evaluation/runner.py): the second
pass of a split reads the pixels the first one computed and decodes nothing; a changed photo, another crop, a
partial pass, a damaged file or a busy lock never gives wrong pixels or a half-written cache."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

import googlenet.evaluation.runner as runner
from googlenet.data.cache import _try_lock, _unlock
from googlenet.evaluation import evaluate
from test_eval_backends import CLASSES, small_model


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    return small_model(tmp_path_factory.mktemp("model"))


@pytest.fixture
def photos(tmp_path, class_folders):
    """3 classes x 4 photos of 40 x 48 (not square, so the crop matters)."""
    return class_folders(tmp_path / "data", CLASSES)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("GOOGLENET_CACHE", str(folder))
    return folder / "images"


@pytest.fixture
def decodes(monkeypatch):
    """How many batches eval decoded from the files."""
    calls = []
    real = runner.decode_batch

    def counting(data, positions):
        calls.append(len(positions))
        return real(data, positions)

    monkeypatch.setattr(runner, "decode_batch", counting)
    return calls


def _views(folder):
    return sorted(folder.glob("*-views-*.npy")) if folder.is_dir() else []


def _eval(model_file, photos, **options):
    return evaluate([model_file], str(photos), split="test", batch_size=5, backend="torch", **options)


def test_the_second_eval_reads_the_views_the_first_kept(model_file, photos, cache, decodes, capsys):
    first = _eval(model_file, photos)
    assert sum(decodes) == 12 and len(_views(cache)) == 1
    assert "kept the 12 decoded views (32 px" in capsys.readouterr().err
    (kept,) = _views(cache)
    assert np.load(kept).shape == (12, 32, 32, 3) and kept.with_name(kept.name + ".crc32").is_file()
    decodes.clear()
    second = _eval(model_file, photos)
    assert decodes == []  # nothing decoded: every view came from the file
    assert torch.equal(second.probabilities, first.probabilities) and torch.equal(second.targets, first.targets)
    uncached = _eval(model_file, photos, cache=False)
    assert sum(decodes) == 12 and torch.equal(uncached.probabilities, first.probabilities)
    # A limited pass reads the first images from the kept views too.
    decodes.clear()
    part = _eval(model_file, photos, limit=7)
    assert decodes == [] and torch.allclose(part.probabilities, first.probabilities[:, :7], atol=1e-6)


def test_a_changed_photo_or_another_crop_is_decoded_again(model_file, photos, cache, decodes):
    _eval(model_file, photos)
    (old,) = _views(cache)
    photo = photos / "test" / "bee" / "2.png"
    Image.new("RGB", (48, 40), (0, 0, 250)).save(photo)  # another photo under the same name
    os.utime(photo, (1e9, 1e9))
    decodes.clear()
    changed = _eval(model_file, photos)
    assert sum(decodes) == 12
    assert torch.equal(changed.probabilities, _eval(model_file, photos, cache=False).probabilities)
    (new,) = _views(cache)  # the stale file of the same split and crop is gone
    assert new != old and not old.exists()
    _eval(model_file, photos, crop_size=24)
    assert len(_views(cache)) == 2  # another crop: another file beside it


def test_a_partial_ten_crop_or_uncached_pass_keeps_nothing(model_file, photos, cache):
    _eval(model_file, photos, limit=11)
    _eval(model_file, photos, crops=10)
    _eval(model_file, photos, cache=False)
    assert _views(cache) == [] and not list(cache.glob(".*.tmp"))


def test_a_damaged_view_file_is_never_read(model_file, photos, cache, decodes):
    first = _eval(model_file, photos)
    (kept,) = _views(cache)
    data = bytearray(kept.read_bytes())
    data[-100] ^= 0xFF  # one flipped bit in the last view: the same size, another CRC-32
    kept.write_bytes(bytes(data))
    decodes.clear()
    again = _eval(model_file, photos)
    assert sum(decodes) == 12 and torch.equal(again.probabilities, first.probabilities)
    decodes.clear()
    _eval(model_file, photos)
    assert decodes == []  # rewritten whole by the pass that found it damaged


def test_another_process_writing_the_same_views_leaves_this_one_decoding(model_file, photos, cache, decodes):
    first = _eval(model_file, photos, limit=11)  # a partial pass: it took the split's lock, kept nothing
    (lock,) = cache.glob("*-views-*.lock")
    held = _try_lock(lock)  # as the process writing the same file would hold it
    assert held is not None
    try:
        decodes.clear()
        busy = _eval(model_file, photos)
    finally:
        _unlock(held)
    # (batches of 5, 5, 2 against 5, 5, 1: the same pixels, kernels that may round otherwise)
    assert sum(decodes) == 12 and torch.allclose(busy.probabilities[:, :11], first.probabilities, atol=1e-6)
    assert _views(cache) == [] and not list(cache.glob(".*.tmp"))


def test_the_cli_keeps_json_on_stdout_and_says_no_cache(model_file, photos, cache, run_cli):
    code, out, err = run_cli("eval", model_file, "--dataset", photos, "--split", "test", "--json")
    assert code == 0 and json.loads(out)["num_images"] == 12 and "kept the 12 decoded views" in err
    code, out, err = run_cli("eval", model_file, "--dataset", photos, "--split", "test", "--no-cache")
    assert code == 0 and "kept" not in err
    assert len(_views(cache)) == 1
