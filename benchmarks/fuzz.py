"""Damaged files of every kind the tool reads, run through the CLI: each must be one line and exit 2.

    python benchmarks/fuzz.py                  # about 400 cases, a few minutes on 2 cores
    python benchmarks/fuzz.py --cases 2000 --seed 3

Seeds (written here, small): a model file (.safetensors), its ONNX export, a torchvision .pth, a .pt given
as timm, a BVLC .caffemodel, a class-folder tarball, a PNG and a JPEG, a TOML config and a run folder. Each
case damages one of them (truncated at an offset, bytes flipped, a metadata field changed, a declared size
made huge) and runs the command that reads it in a child process under ``RLIMIT_AS`` (``--memory``). A case
fails when the exit code is not 2 (0 is allowed where the damage did not change what is read, e.g. a flip in a
weight value), when stderr holds more than one line or a traceback, when a file outside the case's own
output changed, or when the child used more memory than the bound. tests/test_bad_inputs.py runs a few of
each with the same generators. Prints how many cases it tried and how many failed, and the failures.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import random
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: Address space each child may map (torch alone maps ~1.5 GiB of it); a real 24 GB blow-up dies here.
MEMORY_LIMIT = 4 << 30
#: Resident memory a case may reach (measured by the child, ru_maxrss).
PEAK_RSS_LIMIT = 1536 << 20

TINY = {"width": 0.0625, "in_channels": 1, "small_input": True, "aux_logits": False, "batch_norm": True,
        "lrn": False, "num_classes": 3}


@dataclass
class Case:
    """One damaged input and the command that reads it."""

    name: str
    argv: list[str]
    files: dict[str, bytes] = field(default_factory=dict)  # relative path -> contents, written in the case folder
    outputs: tuple[str, ...] = ()  # relative paths the command may create or change
    ok_codes: tuple[int, ...] = (2,)


# ------------------------------------------------------------------------------------------------ seeds
def make_seeds(folder: Path) -> dict[str, bytes]:
    """The intact files every damaged variant starts from (kind -> bytes)."""
    import numpy as np
    import torch
    import torchvision
    from PIL import Image

    from googlenet.models.registry import create_model
    from googlenet.weights.checkpoint import save_model

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    seeds: dict[str, bytes] = {}
    model = create_model("googlenet", **TINY)
    save_model(folder / "m.safetensors", model, model_name="googlenet", model_kwargs=TINY,
               class_names=["a", "b", "c"], preprocessing={"mean": [0.5], "std": [0.5], "input_size": 28,
                                                           "resize": 28, "channels": 1, "dataset": "x"})
    seeds["safetensors"] = (folder / "m.safetensors").read_bytes()
    from googlenet.deploy.export import export_model

    export_model(folder / "m.safetensors", folder / "m.onnx", check=False)
    seeds["onnx"] = (folder / "m.onnx").read_bytes()
    buf = io.BytesIO()
    torch.save(torchvision.models.squeezenet1_1(num_classes=10).state_dict(), buf)
    seeds["pth"] = buf.getvalue()
    seeds["caffemodel"] = small_caffemodel()
    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 255, (24, 24, 3), dtype=np.uint8))
    png, jpg = io.BytesIO(), io.BytesIO()
    img.save(png, "PNG")
    img.save(jpg, "JPEG")
    seeds["png"], seeds["jpg"] = png.getvalue(), jpg.getvalue()
    tar = io.BytesIO()
    with tarfile.open(fileobj=tar, mode="w:gz") as t:
        for c in ("a", "b"):
            for i in range(3):
                info = tarfile.TarInfo(f"train/{c}/{i}.png")
                info.size = len(seeds["png"])
                t.addfile(info, io.BytesIO(seeds["png"]))
    seeds["tar"] = tar.getvalue()
    seeds["toml"] = b'epochs = 1\nbatch_size = 4\nlr = 0.05\nmax_steps = 1\n'
    return seeds


# ------------------------------------------------------------------------------------------------ damage
def small_caffemodel() -> bytes:
    """A NetParameter with BVLC's first layer only (the import names the missing ones): small, real format."""
    from googlenet.weights.caffe import messages

    net = messages()["NetParameter"](name="GoogleNet")
    layer = net.layer.add(name="conv1/7x7_s2", type="Convolution")
    for dims in ([64, 3, 7, 7], [64]):
        blob = layer.blobs.add()
        blob.shape.dim.extend(dims)
        count = 1
        for d in dims:
            count *= d
        blob.data.extend([0.01] * count)
    return net.SerializeToString()


def truncations(data: bytes, rng: random.Random, n: int) -> Iterator[tuple[str, bytes]]:
    """``data`` cut at 0, 1 byte, the header's end and random offsets."""
    cuts = sorted({0, 1, 8, min(len(data) - 1, 64), len(data) // 2, len(data) - 1,
                   *(rng.randrange(len(data)) for _ in range(max(0, n - 6)))})
    for cut in cuts[:n]:
        yield f"cut{cut}", data[:cut]


def flips(data: bytes, rng: random.Random, n: int, *, head: int | None = None) -> Iterator[tuple[str, bytes]]:
    """``data`` with 1-8 random bytes replaced (in its first ``head`` bytes when given: the headers)."""
    for k in range(n):
        out = bytearray(data)
        span = min(len(out), head or len(out))
        for _ in range(rng.randint(1, 8)):
            out[rng.randrange(span)] = rng.randrange(256)
        yield f"flip{k}", bytes(out)


def metadata_mutations(data: bytes, rng: random.Random) -> Iterator[tuple[str, bytes]]:
    """The model file with each metadata field damaged: missing, not JSON, another type, absurd values."""
    from safetensors import safe_open
    from safetensors.torch import load, save

    tmp = Path(tempfile.mkdtemp()) / "m.safetensors"
    tmp.write_bytes(data)
    with safe_open(str(tmp), "pt") as f:
        meta = dict(f.metadata())
    state = load(data)
    kwargs = json.loads(meta["model_kwargs"])
    changes = {
        "no_model": {"model": None}, "unknown_model": {"model": "resnet9000"},
        "kwargs_not_json": {"model_kwargs": "{width: 64"}, "kwargs_list": {"model_kwargs": "[1, 2]"},
        "kwargs_width64": {"model_kwargs": json.dumps({**kwargs, "width": 64})},
        "kwargs_width2": {"model_kwargs": json.dumps({**kwargs, "width": 2})},
        "kwargs_negative_classes": {"model_kwargs": json.dumps({**kwargs, "num_classes": -3})},
        "kwargs_word": {"model_kwargs": json.dumps({**kwargs, "width": "wide"})},
        "kwargs_unknown": {"model_kwargs": json.dumps({**kwargs, "colour": 1})},
        "names_short": {"class_names": '["a"]'}, "names_numbers": {"class_names": "[1, 2, 3]"},
        "names_object": {"class_names": '{"a": 1}'}, "names_not_json": {"class_names": "[a, b"},
        "mean_word": {"preprocessing": '{"mean": ["x"], "std": [1]}'},
        "mean_nan": {"preprocessing": '{"mean": [NaN], "std": [1]}'},
        "std_zero": {"preprocessing": '{"mean": [0.5], "std": [0]}'},
        "input_huge": {"preprocessing": '{"input_size": 100000, "channels": 1}'},
        "channels_word": {"preprocessing": '{"channels": "grey"}'},
        "pre_list": {"preprocessing": "[]"}, "extra_list": {"extra": "[]"},
        "no_format": {"format": None},
    }
    for name, change in changes.items():
        m = dict(meta)
        for k, v in change.items():
            if v is None:
                m.pop(k, None)
            else:
                m[k] = v
        yield name, save(state, metadata=m)
    # a weight of the right name and another shape, and one of the wrong dtype
    first = next(k for k, v in state.items() if v.is_floating_point())
    yield "shape", save({**state, first: state[first].unsqueeze(0).contiguous()}, metadata=meta)
    yield "dtype", save({**state, first: state[first].to(dtype=__import__("torch").int32)}, metadata=meta)
    del rng


def caffe_mutations(rng: random.Random) -> Iterator[tuple[str, bytes]]:
    """caffemodels whose first blob declares negative, huge (2^32 x 2^32), empty or wrong shapes."""
    from googlenet.weights.caffe import messages

    # (declared dims, values stored): negatives whose product is the count, a product that wraps to 0 in int64
    for name, (dims, count) in {"negative": ([-4, -4], 16), "overflow": ([2**32, 2**32], 0), "empty": ([], 1),
                                "zero": ([0, 3], 0), "mismatch": ([64, 3, 7, 8], 16),
                                "many_dims": ([1] * 12, 1)}.items():
        net = messages()["NetParameter"](name="x")
        layer = net.layer.add(name="conv1/7x7_s2", type="Convolution")
        blob = layer.blobs.add()
        blob.shape.dim.extend(dims)
        blob.data.extend([0.5] * count)
        yield name, net.SerializeToString()
    del rng


def tar_mutations(rng: random.Random, png: bytes, big: int = 300 << 20) -> Iterator[tuple[str, bytes]]:
    """Tarballs with a member declaring 800 MB (of zeros, so the file is small), special members, gzip of
    random bytes."""
    import gzip

    yield "gzip_random", gzip.compress(bytes(rng.randrange(256) for _ in range(2000)))
    yield "plain_random", bytes(rng.randrange(256) for _ in range(2000))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for c in ("a", "b"):
            info = tarfile.TarInfo(f"train/{c}/0.png")
            info.size = len(png)
            t.addfile(info, io.BytesIO(png))
        info = tarfile.TarInfo("train/a/huge.png")
        info.size = big  # over the bound (256 MiB by default); zeros, so the tarball stays small
        t.addfile(info, _Zeros(info.size))
        for kind in (tarfile.FIFOTYPE, tarfile.CHRTYPE, tarfile.SYMTYPE):
            info = tarfile.TarInfo(f"train/b/special{kind.decode()}.png")
            info.type = kind
            info.linkname = "/etc/passwd" if kind == tarfile.SYMTYPE else ""
            t.addfile(info)
    yield "member_huge", buf.getvalue()


class _Zeros(io.RawIOBase):
    def __init__(self, n: int) -> None:
        self.left = n

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # noqa: ANN001
        k = min(len(b), self.left)
        b[:k] = bytes(k)
        self.left -= k
        return k


def jpeg_bomb(jpg: bytes, side: int = 16000) -> bytes:
    """A small JPEG whose frame header declares ``side`` x ``side`` pixels (a decompression bomb)."""
    data = bytearray(jpg)
    for marker in (b"\xff\xc0", b"\xff\xc2"):
        at = data.find(marker)
        if at >= 0:
            data[at + 5:at + 9] = side.to_bytes(2, "big") + side.to_bytes(2, "big")
            return bytes(data)
    raise ValueError("no SOF marker")


# ------------------------------------------------------------------------------------------------ cases
def _tail_cut(name: str, seed: bytes) -> bool:
    """A cut in the last bytes (a JPEG's end marker, a gzip trailer): what was read may still be whole."""
    return name.startswith("cut") and int(name[3:]) >= len(seed) - 16


def model_cases(seeds: dict[str, bytes], rng: random.Random, n: int) -> Iterator[Case]:
    img = {"i.png": seeds["png"]}
    damaged = list(truncations(seeds["safetensors"], rng, n)) + list(flips(seeds["safetensors"], rng, n, head=400))
    damaged += list(metadata_mutations(seeds["safetensors"], rng))
    for name, data in damaged:
        ok = (0, 2) if name.startswith("flip") else (2,)  # a flip in a weight value is still a model
        yield Case(f"model-{name}", ["predict", "i.png", "-c", "m.safetensors"], {**img, "m.safetensors": data},
                   ok_codes=ok)
    for name, data in list(truncations(seeds["safetensors"], rng, 3)) + list(metadata_mutations(
            seeds["safetensors"], rng))[:6]:
        yield Case(f"export-{name}", ["export", "m.safetensors", "--no-check"], {"m.safetensors": data},
                   outputs=("m.onnx",))


def onnx_cases(seeds: dict[str, bytes], rng: random.Random, n: int) -> Iterator[Case]:
    img = {"i.png": seeds["png"]}
    for name, data in list(truncations(seeds["onnx"], rng, n)) + list(flips(seeds["onnx"], rng, n, head=200)):
        yield Case(f"onnx-{name}", ["predict", "i.png", "-c", "m.onnx"], {**img, "m.onnx": data}, ok_codes=(0, 2))
    yield Case("onnx-garbage", ["predict", "i.png", "-c", "m.onnx"], {**img, "m.onnx": b"\x08\x07garbage" * 30})


def weights_cases(seeds: dict[str, bytes], rng: random.Random, n: int) -> Iterator[Case]:
    for kind, suffix in (("torchvision", "pth"), ("timm", "pt"), ("auto", "pth")):
        for name, data in list(truncations(seeds["pth"], rng, n)) + list(flips(seeds["pth"], rng, max(1, n // 2),
                                                                                 head=300)):
            yield Case(f"{kind}-{name}", ["weights", "import", kind, f"w.{suffix}", "--out", "o.safetensors"],
                       {f"w.{suffix}": data}, outputs=("o.safetensors",), ok_codes=(0, 2) if kind == "auto" and
                       name.startswith("flip") else (2,))
    for name, data in list(truncations(seeds["caffemodel"], rng, n)) + list(caffe_mutations(rng)):
        yield Case(f"caffe-{name}", ["weights", "import", "caffe", "g.caffemodel", "--out", "o.safetensors"],
                   {"g.caffemodel": data}, outputs=("o.safetensors",))


def data_cases(seeds: dict[str, bytes], rng: random.Random, n: int, big: int = 300 << 20) -> Iterator[Case]:
    train = ["train", "--epochs", "1", "--batch-size", "2", "--width", "0.0625", "--threads", "1", "--max-steps",
             "1", "--no-test", "--no-report", "--val-fraction", "0", "--out", "run"]
    for name, data in list(truncations(seeds["tar"], rng, n)) + list(tar_mutations(rng, seeds["png"], big)):
        yield Case(f"tar-{name}", [*train[:1], "--dataset", "d.tar.gz", *train[1:]], {"d.tar.gz": data},
                   outputs=("run",), ok_codes=(0, 2) if name == "member_huge" or _tail_cut(name, seeds["tar"])
                   else (2,))
    good = {f"d/train/{c}/{i}.png": seeds["png"] for c in "ab" for i in range(2)}
    images = [(f"png-{k}", k, data, "png") for k, data in truncations(seeds["png"], rng, n)]
    images += [(f"jpg-{k}", k, data, "jpg") for k, data in truncations(seeds["jpg"], rng, n)]
    for name, cut, data, kind in [*images, ("bomb", "bomb", jpeg_bomb(seeds["jpg"]), "jpg")]:
        ok = (0, 2) if _tail_cut(cut, seeds[kind]) else (2,)
        yield Case(f"folder-{name}", [*train[:1], "--dataset", "d", *train[1:]],
                   {**good, "d/train/a/bad.jpg": data}, outputs=("run",), ok_codes=ok)
        yield Case(f"predict-{name}", ["predict", "x.jpg", "-c", "m.safetensors"],
                   {"x.jpg": data, "m.safetensors": seeds["safetensors"]}, ok_codes=ok)
    for name, data in list(truncations(seeds["toml"], rng, 3)) + list(flips(seeds["toml"], rng, n)):
        yield Case(f"config-{name}", [*train[:1], "--dataset", "d", "--config", "c.toml", *train[1:]],
                   {**good, "c.toml": data}, outputs=("run",), ok_codes=(0, 2))


def all_cases(seeds: dict[str, bytes], rng: random.Random, n: int) -> list[Case]:
    cases = []
    for make in (model_cases, onnx_cases, weights_cases, data_cases):
        cases += list(make(seeds, rng, n))
    return cases


# ------------------------------------------------------------------------------------------------ running
_CHILD = r"""
import io, json, resource, sys, os
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
from googlenet.cli import main
for line in sys.stdin:
    case = json.loads(line)
    os.chdir(case["dir"])
    err, out = io.StringIO(), io.StringIO()
    old = sys.stderr, sys.stdout
    sys.stderr, sys.stdout = err, out
    try:
        code = main(case["argv"])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 2
    except MemoryError:
        code = "MemoryError"
    finally:
        sys.stderr, sys.stdout = old
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"code": code, "err": err.getvalue(), "rss": rss}), flush=True)
"""


def _snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink()}


def run_cases(cases: list[Case], work: Path, *, memory: int = MEMORY_LIMIT, timeout: float = 600,
              env: dict[str, str] | None = None) -> tuple[list[tuple[Case, str]], dict[str, dict]]:
    """Run ``cases`` in one child process under RLIMIT_AS ``memory``: (case, why) for each failure, and each
    case's result by name (exit code, stderr, peak resident bytes)."""
    dirs = []
    for k, case in enumerate(cases):
        d = work / f"case{k:04d}"
        for rel, data in case.files.items():
            (d / rel).parent.mkdir(parents=True, exist_ok=True)
            (d / rel).write_bytes(data)
        d.mkdir(parents=True, exist_ok=True)
        dirs.append(d)
    before = [_snapshot(d) for d in dirs]
    import googlenet  # the child runs the same code as this process

    child_env = {**os.environ, "PYTHONPATH": str(Path(googlenet.__file__).resolve().parents[1]),
                 "OMP_NUM_THREADS": "1", "GOOGLENET_CACHE": str(work / "cache"), **(env or {})}
    lines = "".join(json.dumps({"dir": str(d), "argv": c.argv}) + "\n" for d, c in zip(dirs, cases, strict=True))
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(memory)], input=lines, capture_output=True,
                          text=True, timeout=timeout, env=child_env)
    results = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    failures = []
    for k, case in enumerate(cases):
        if k >= len(results):
            failures.append((case, f"the child died before this case (rc {proc.returncode}): "
                                   f"{proc.stderr.strip()[-300:]}"))
            break
        r = results[k]
        errors = [ln for ln in r["err"].splitlines() if ln.startswith("googlenet: error:")]
        changed = [f for f, h in before[k].items() if _snapshot(dirs[k]).get(f) != h
                   and not any(f == o or f.startswith(o + "/") for o in case.outputs)]
        if r["code"] not in case.ok_codes:
            failures.append((case, f"exit {r['code']}: {r['err'].strip()[-300:]}"))
        elif r["code"] == 2 and len(errors) != 1:
            failures.append((case, f"{len(errors)} error lines: {r['err'].strip()[-300:]}"))
        elif "Traceback" in r["err"] or "internal error" in r["err"]:
            failures.append((case, f"traceback: {r['err'].strip()[-300:]}"))
        elif changed:
            failures.append((case, f"changed files outside its output: {changed[:3]}"))
        elif r["rss"] > PEAK_RSS_LIMIT:
            failures.append((case, f"peak resident memory {r['rss'] / 2**20:.0f} MiB over "
                                   f"{PEAK_RSS_LIMIT / 2**20:.0f} MiB"))
    return failures, {c.name: r for c, r in zip(cases, results, strict=False)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=12, help="damaged variants per seed and kind of damage")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO / "src"))
    with tempfile.TemporaryDirectory(prefix="googlenet-fuzz-") as tmp:
        work = Path(tmp)
        seeds = make_seeds(work / "seeds")
        cases = all_cases(seeds, random.Random(args.seed), args.cases)
        failures, _ = run_cases(cases, work / "cases", timeout=3600)
    print(f"fuzz: {len(cases)} cases tried, {len(failures)} failed (seed {args.seed}, {args.cases} per kind)")
    for case, why in failures:
        print(f"  FAIL {case.name}: {' '.join(case.argv)}: {why}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
