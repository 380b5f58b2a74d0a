"""Photos: Imagenette and class-folder tarballs read in place, the decode-once cache, batched augmentation."""

from __future__ import annotations

import io
import os
import tarfile
from collections import Counter
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision.transforms.v2 import functional as TF

from googlenet.data import dataset_stats, load_dataset
from googlenet.data.archives import archive_index, class_name_for, display_names
from googlenet.data.augment import DEFAULT_RATIO, resized_crop_batch, sample_crops
from googlenet.data.cache import open_cache
from googlenet.data.datasets import IMAGENET_MEAN, IMAGENET_STD
from googlenet.errors import DataError
from googlenet.training.fastdata import PhotoBatches

PER_CLASS = 12
CLASSES = ("n01440764", "n02102040", "n02979186")


@pytest.fixture(scope="session")
def photo_tree(shared_data, tmp_path_factory) -> Path:
    """train/<wnid>/ (12 real Imagenette photos for each of 3 classes, one of them greyscale) and val/ (3 each)."""
    root = tmp_path_factory.mktemp("imagenette-subset")
    want = {("train", c): PER_CLASS for c in CLASSES} | {("val", c): 3 for c in CLASSES}
    grey = None
    with tarfile.open(shared_data / "imagenette-224.tar.gz") as tar:
        for m in tar:
            if not m.isfile():
                continue
            split, cls, name = Path(m.name).parts[-3:]
            data = None
            if want.get((split, cls), 0) > 0:
                data = tar.extractfile(m).read()
                want[(split, cls)] -= 1
            elif grey is None and split == "train":
                data = tar.extractfile(m).read()
                if Image.open(io.BytesIO(data)).mode != "L":
                    continue
                grey, cls = name, CLASSES[0]  # a grey photo (Imagenette has 242), filed under class 0
            if data is not None:
                (root / split / cls).mkdir(parents=True, exist_ok=True)
                (root / split / cls / name).write_bytes(data)
            if grey is not None and not any(want.values()):
                break
    assert grey is not None
    (root / "GREY").write_text(grey)
    return root


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GOOGLENET_CACHE", str(tmp_path / "cache"))


def _reference(path: Path, size: int) -> torch.Tensor:
    """Decode with Pillow, resize the shorter side (antialiased bilinear), centre-crop: independent of the cache."""
    img = TF.pil_to_tensor(Image.open(path).convert("RGB"))
    return TF.center_crop(TF.resize(img, size, antialias=True), [size, size])


def _one_line(exc: pytest.ExceptionInfo) -> str:
    msg = str(exc.value)
    assert "\n" not in msg
    return msg


def test_imagenette_found_by_name_and_read_in_place(shared_data, monkeypatch, tmp_path):
    val = load_dataset("imagenette", "val", data_dir=shared_data)
    assert len(val) == 3925 and val.classes[0] == "tench" and val.classes[9] == "parachute"
    # Per-class val counts from shared/data/README.md
    assert torch.bincount(val.targets).tolist() == [387, 395, 357, 386, 409, 394, 389, 419, 399, 390]
    monkeypatch.setenv("GOOGLENET_DATA", str(shared_data))
    assert len(load_dataset("imagenette", "train")) == 9469
    stats = dataset_stats("imagenette")
    assert stats.mean == IMAGENET_MEAN and stats.std == IMAGENET_STD and stats.classes == tuple(val.classes)
    # A path to the tarball is a dataset too; the member list is kept in the cache folder's index.
    assert dataset_stats(str(shared_data / "imagenette-224.tar.gz")).classes == stats.classes
    assert list((tmp_path / "cache" / "index").glob("imagenette-224.tar.gz-*.json"))
    with pytest.raises(DataError, match="no test/ folder") as exc:
        load_dataset("imagenette", "test", data_dir=shared_data)
    _one_line(exc)
    with pytest.raises(DataError, match="imagenette not found.*--data-dir"):
        monkeypatch.delenv("GOOGLENET_DATA")
        load_dataset("imagenette", "train", data_dir=tmp_path)


def test_wnid_folders_get_class_names():
    assert class_name_for("n03888257") == "parachute"
    assert class_name_for("n99999999") == "n99999999"  # unknown wnid: itself
    assert display_names(["n01440764", "n03028079"]) == ["tench", "church"]
    assert display_names(["cat", "n01440764"]) == ["cat", "n01440764"]  # not all wnids: folder names as they are


def test_cache_holds_the_pixels_of_direct_decoding_and_greyscale_becomes_rgb(photo_tree, tmp_path, capsys):
    train = load_dataset(photo_tree, "train")
    assert train.classes == ["tench", "English springer", "cassette player"]
    store = open_cache(train, 96, cache_dir=tmp_path / "c")
    out = capsys.readouterr().out
    assert f"cache: {len(train)} images at 96 px" in out and str(tmp_path / "c") in out
    assert not store.on_the_fly and store.path.parent == tmp_path / "c" / "images"
    assert store.path.stat().st_size >= len(train) * 3 * 96 * 96
    for j in (0, 5, len(train) - 1):
        assert torch.equal(store.images[j], _reference(Path(train.sources[j]), 96))
    grey = next(j for j, s in enumerate(train.sources) if Path(s).name == (photo_tree / "GREY").read_text())
    assert Image.open(train.sources[grey]).mode == "L"
    g = store.images[grey]
    assert g.shape == (3, 96, 96) and torch.equal(g[0], g[2])  # grey -> RGB repeats the channel
    assert train[grey][0].shape[0] == 3
    again = open_cache(train, 96, cache_dir=tmp_path / "c", log=None)  # the same file, not rebuilt
    assert again.path == store.path and again.path.stat().st_mtime_ns == store.path.stat().st_mtime_ns


def test_a_changed_image_rebuilds_the_cache_and_a_failed_build_leaves_none(photo_tree, tmp_path, monkeypatch):
    import shutil

    tree = tmp_path / "tree"
    shutil.copytree(photo_tree / "train", tree / "train")
    ds = load_dataset(tree, "train")
    old = open_cache(ds, 64, log=None)
    first = Path(ds.sources[0])
    Image.open(first).convert("RGB").transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(first, quality=90)
    os.utime(first, ns=(first.stat().st_atime_ns, first.stat().st_mtime_ns + 10**9))
    new = open_cache(load_dataset(tree, "train"), 64, log=None)
    assert new.path != old.path and not old.path.exists()  # rebuilt; the stale file is gone
    assert torch.equal(new.images[0], _reference(first, 64)) and not torch.equal(new.images[0], old.images[0])

    import googlenet.data.cache as cache_mod

    real, calls = cache_mod.decode_resized, []

    def dies(*a, **k):
        calls.append(1)
        if len(calls) > 5:
            raise KeyboardInterrupt  # a build killed half-way
        return real(*a, **k)

    monkeypatch.setattr(cache_mod, "decode_resized", dies)
    with pytest.raises(KeyboardInterrupt):
        open_cache(ds, 48, cache_dir=tmp_path / "k", log=None)
    assert not [p for p in (tmp_path / "k" / "images").iterdir() if p.suffix in (".npy", ".tmp")]


def test_unwritable_or_oversized_cache_decodes_on_the_fly_with_one_note(photo_tree, tmp_path, capsys):
    ds = load_dataset(photo_tree, "train")
    (tmp_path / "file").write_text("")
    store = open_cache(ds, 64, cache_dir=tmp_path / "file" / "sub")
    notes = capsys.readouterr().out.strip().splitlines()
    assert len(notes) == 1 and "cannot be written" in notes[0] and "on the fly" in notes[0]
    assert store.on_the_fly
    assert torch.equal(store[[2]][0], _reference(Path(ds.sources[2]), 64))
    big = open_cache(ds, 64, cache_dir=tmp_path / "ok", max_bytes=1000)
    notes = capsys.readouterr().out.strip().splitlines()
    assert big.on_the_fly and len(notes) == 1 and "over the" in notes[0]
    assert not (tmp_path / "ok" / "images").exists()


def test_small_images_are_upsampled_with_one_note(tmp_path, capsys):
    for cls in ("a", "b"):
        for k in range(3):
            (tmp_path / "d" / "train" / cls).mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (40, 30), (80 * k, 40, 200)).save(tmp_path / "d" / "train" / cls / f"{k}.png")
    store = open_cache(load_dataset(tmp_path / "d", "train"), 64, cache_dir=tmp_path / "c")
    out = capsys.readouterr().out
    assert out.count("upsampled") == 1 and "6 of 6 images are smaller than 64 px" in out
    assert store.images.shape == (6, 3, 64, 64)


def test_augmentation_on_real_images_draws_the_asked_scales_and_flips(photo_tree, tmp_path):
    ds = load_dataset(photo_tree, "train")
    store = open_cache(ds, 144, cache_dir=tmp_path / "c", log=None)
    lo, hi = 0.35, 1.0
    params = sample_crops(512, 144, scale=(lo, hi), generator=torch.Generator().manual_seed(1))
    assert ((params.scale >= lo) & (params.scale <= hi)).all()
    assert params.scale.min() < lo + 0.05 and params.scale.max() > hi - 0.05  # the whole range is used
    area = (params.height * params.width).float() / 144**2
    assert ((area > lo - 0.03) & (area <= hi)).all()  # the drawn scale, up to rounding to whole pixels
    aspect = params.width.float() / params.height
    assert (aspect > DEFAULT_RATIO[0] - 0.02).all() and (aspect < DEFAULT_RATIO[1] + 0.02).all()
    assert 0.4 <= params.flip.float().mean() <= 0.6
    # On a real batch the output is exactly crop -> antialiased bilinear resize -> flip of each image.
    x = store[list(range(len(ds)))]
    p = params[: len(ds)]
    y = resized_crop_batch(x, p, 112)
    assert y.shape == (len(ds), 3, 112, 112) and y.is_contiguous(memory_format=torch.channels_last)
    for i in (0, 1, 2, 3):
        t, left, h, w = (int(v[i]) for v in (p.top, p.left, p.height, p.width))
        ref = F.interpolate(x[i:i + 1, :, t:t + h, left:left + w].contiguous(), size=(112, 112), mode="bilinear",
                            antialias=True, align_corners=False)[0]
        ref = ref.flip(-1) if p.flip[i] else ref
        assert (ref.int() - y[i].int()).abs().max() <= 1  # uint8 kernels: channels-last vs first may round apart


def test_photo_batches_are_reproducible_resumable_and_sharded(photo_tree, tmp_path):
    ds = load_dataset(photo_tree, "train")
    stats = dataset_stats(str(photo_tree))
    store = open_cache(ds, 80, cache_dir=tmp_path / "c", log=None)
    pb = PhotoBatches(ds, store, out_size=64, augment=True, mean=stats.mean, std=stats.std, seed=3)
    a = list(pb.epoch_batches(1, 8))
    b = list(PhotoBatches(ds, store, out_size=64, augment=True, mean=stats.mean, std=stats.std, seed=3)
             .epoch_batches(1, 8))
    assert all(torch.equal(u[0], v[0]) and torch.equal(u[1], v[1]) for u, v in zip(a, b, strict=True))
    assert torch.equal(next(pb.epoch_batches(1, 8, start=2))[0], a[2][0])  # resuming at batch 2
    assert not torch.equal(next(pb.epoch_batches(2, 8))[0], a[0][0])  # another epoch, other crops
    x, y = a[0]
    assert x.shape == (8, 3, 64, 64) and x.dtype == torch.float32 and x.is_contiguous(memory_format=torch.channels_last)
    assert abs(float(x.mean())) < 1.5  # normalized
    labels = [torch.cat([yb for _, yb in pb.epoch_batches(0, 8, rank=r, world_size=2)]) for r in (0, 1)]
    got, want = Counter(torch.cat(labels).tolist()), Counter(ds.targets.tolist())
    assert not want - got and sum((got - want).values()) == 1  # the shards cover the split; 37 -> 38: one repeat
    ev = PhotoBatches(ds, store, out_size=64, augment=False, mean=stats.mean, std=stats.std)
    xe, _ = ev.batch([0], 0)
    centre = store.images[0][:, 8:72, 8:72].float() / 255
    ref = (centre - torch.tensor(stats.mean).view(3, 1, 1)) / torch.tensor(stats.std).view(3, 1, 1)
    assert torch.allclose(xe[0], ref, atol=1e-5)


def _tar(path: Path, files: dict[str, bytes], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 1_600_000_000
            tar.addfile(info, io.BytesIO(data))
    return path


def _png(colour: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (20, 20), (colour, 0, 0)).save(buf, format="PNG")
    return buf.getvalue()


def test_class_folder_tarballs_and_their_bad_forms(photo_tree, tmp_path):
    files = {f"train/{p.parent.name}/{p.name}": p.read_bytes() for p in sorted((photo_tree / "train").rglob("*.JPEG"))}
    files |= {f"val/{p.parent.name}/{p.name}": p.read_bytes() for p in sorted((photo_tree / "val").rglob("*.JPEG"))}
    good = _tar(tmp_path / "photos.tgz", files)
    train, val = load_dataset(str(good), "train"), load_dataset(str(good), "val")
    assert len(train) == 3 * PER_CLASS + 1 and len(val) == 9 and train.classes[0] == "tench"
    assert len(archive_index(good)) == len(files)
    store = open_cache(train, 64, cache_dir=tmp_path / "c", log=None)
    name = next(iter(files))
    assert torch.equal(store.images[0], _reference(photo_tree / Path(name), 64))
    plain = _tar(tmp_path / "photos.tar", files, mode="w")
    assert len(load_dataset(str(plain), "val")) == 9

    (tmp_path / "notgz.tar.gz").write_bytes(b"this is not a tarball at all")
    with pytest.raises(DataError, match="is not a gzip file") as exc:
        load_dataset(str(tmp_path / "notgz.tar.gz"), "train")
    _one_line(exc)
    flat = _tar(tmp_path / "flat.tar.gz", {"a.png": _png(1), "b.png": _png(2)})
    with pytest.raises(DataError, match="holds no class folders") as exc:
        load_dataset(str(flat), "train")
    _one_line(exc)
    single = _tar(tmp_path / "single.tar.gz", {"train/cat/a.png": _png(1), "train/cat/b.png": _png(2)})
    with pytest.raises(DataError, match="single class folder") as exc:
        load_dataset(str(single), "train")
    _one_line(exc)
    (tmp_path / "one" / "train" / "cat").mkdir(parents=True)
    (tmp_path / "one" / "train" / "cat" / "a.png").write_bytes(_png(3))
    with pytest.raises(DataError, match="single class folder"):
        load_dataset(tmp_path / "one", "train")
    (tmp_path / "one" / "train" / "dog").mkdir()
    with pytest.raises(DataError, match="no images in class folder .*dog.*add images") as exc:
        load_dataset(tmp_path / "one", "train")
    _one_line(exc)


def test_concurrent_openers_build_the_cache_once(photo_tree, tmp_path, monkeypatch):
    import threading

    import googlenet.data.cache as cache_mod

    real, builds = cache_mod._build, []
    monkeypatch.setattr(cache_mod, "_build", lambda *a, **k: (builds.append(1), real(*a, **k)))
    ds = load_dataset(photo_tree, "train")
    stores = []
    threads = [threading.Thread(target=lambda: stores.append(open_cache(ds, 40, cache_dir=tmp_path, log=None)))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(builds) == 1 and stores[0].path == stores[1].path  # the second waited on the lock, then read
    assert not stores[0].on_the_fly and not stores[1].on_the_fly


WORKER = """
import sys
import torch.distributed as dist
dist.init_process_group("gloo")
import googlenet.data.cache as c
from googlenet.data import load_dataset
builds = []
real = c._build
c._build = lambda *a, **k: (builds.append(1), real(*a, **k))
store = c.open_cache(load_dataset(sys.argv[1], "train"), 48, cache_dir=sys.argv[2], log=None)
# One file per rank: the two ranks' prints to one pipe can interleave (a CI run saw two lines run together).
with open(f"{sys.argv[2]}-rank{dist.get_rank()}.txt", "w") as out:
    out.write(f"rank {dist.get_rank()} builds {len(builds)} file {store.path.name} sum {int(store.images.sum())}")
dist.destroy_process_group()
"""


@pytest.mark.slow
def test_torchrun_ranks_share_one_cache_built_by_rank_0(photo_tree, tmp_path):
    import subprocess
    import sys

    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    src = Path(__file__).resolve().parents[1] / "src"
    env = {**os.environ, "PYTHONPATH": str(src), "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                          str(script), str(photo_tree), str(tmp_path / "c")], env=env, capture_output=True, text=True,
                         timeout=90)
    assert run.returncode == 0, run.stderr[-2000:]
    lines = [(tmp_path / f"c-rank{rank}.txt").read_text() for rank in (0, 1)]
    assert len(lines) == 2
    assert lines[0].split()[:4] == ["rank", "0", "builds", "1"] and lines[1].split()[:4] == ["rank", "1", "builds", "0"]
    assert lines[0].split()[4:] == lines[1].split()[4:]  # the same file, the same pixels
