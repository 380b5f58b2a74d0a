"""The whole performance benchmark in one command (about 5 minutes on an idle 2-core machine).

    python benchmarks/run_all.py [--model googlenet_torchvision] [--checkpoint RUN_DIR] [--out DIR]

1. inference: ``googlenet bench MODEL`` -- every backend at batch 1 and 32 beside torchvision eager and
   ONNX Runtime on torchvision's export, interleaved, medians, ratios, peak memory;
2. training: 96x96, batch 128, our loop on torchvision's model (eager, channels_last) and ours;
3. int8 accuracy: if ``--checkpoint`` names a trained model (``googlenet train``), top-1 of fp32 and
   int8 on its test split (benchmarks/int8_accuracy.py).

Writes ``bench.json`` (and ``int8_accuracy.json``) under ``--out`` and prints the tables, the machine
and the load average before and after each part.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from googlenet.cli.bench import render  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="googlenet_torchvision")
    p.add_argument("--checkpoint", default=None, help="trained model for the int8 accuracy check")
    p.add_argument("--seconds", type=float, default=20.0, help="inference timing budget per batch size")
    p.add_argument("--train-seconds", type=float, default=60.0)
    p.add_argument("--out", default="benchmarks/results")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    env_cmd = [sys.executable, "-m", "googlenet"]
    bench = [*env_cmd, "bench", args.model, "--train", "--seconds", str(args.seconds), "--train-seconds",
             str(args.train_seconds), "--out", str(out / "bench.json"), "--json"]
    env = {"PYTHONPATH": str(ROOT / "src")}
    import os

    env = {**os.environ, **env}
    print("$", " ".join(bench[1:]), flush=True)
    proc = subprocess.run(bench, env=env, stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        return proc.returncode
    print(render(json.loads(proc.stdout)))
    if args.checkpoint:
        acc = [sys.executable, str(ROOT / "benchmarks" / "int8_accuracy.py"), "--checkpoint", args.checkpoint, "--json"]
        print("$", " ".join(acc[1:]), flush=True)
        proc = subprocess.run(acc, env=env, stdout=subprocess.PIPE, text=True)
        if proc.returncode != 0:
            return proc.returncode
        (out / "int8_accuracy.json").write_text(proc.stdout)
        print(proc.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
