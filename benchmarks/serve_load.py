"""`googlenet serve` under load: throughput and p50/p95/p99 latency at 1, 8 and 32 concurrent clients, with and
without dynamic batching, beside `googlenet bench`'s images/s for the same backend and batch, in one run.

The model is a 224-px GoogLeNet (Table 1, aux heads off) with batch norm settled on real photos, saved as a
model file; the requests are real Imagenette photos (224x224 JPEG, decoded, resized to 256 and centre-cropped
by the server, as `googlenet predict` does). The client is one async httpx process against 127.0.0.1 only, on
the same machine as the server (so it takes some of the CPU the server would have); every level is bounded in
requests and in seconds. The anchors come from `googlenet.bench.bench_inference` (bench's `ort-folded` is what
`serve --backend ort` runs; `channels-last` is `--backend torch`), measured in the same run, and the decoding
time is the server's own preparation of the same photos, timed in this process.

    python benchmarks/serve_load.py --data-dir ../shared/data                  # about 5 minutes
    python benchmarks/serve_load.py --backend torch --seconds 10 --out serve.json

Goals (issue 26): at 32 clients, throughput >= 0.8x bench's batch-32 images/s; at 1 client, p50 latency
<= 1.3x (bench's batch-1 time + decoding).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"  # never anything else: this is a load generator


def build_model(path: Path, data_dir: str | None) -> Path:
    import torch

    from googlenet.bench.inputs import real_images, settle_batch_norm
    from googlenet.data import IMAGENET_MEAN, IMAGENET_STD
    from googlenet.data.imagenet import imagenet_class_names
    from googlenet.models.registry import create_model
    from googlenet.weights.checkpoint import save_model

    torch.manual_seed(0)
    model = create_model("googlenet", aux_logits=False)
    settle_batch_norm(model, real_images(32, 224, data_dir=data_dir))
    return save_model(path, model, model_name="googlenet", model_kwargs={"aux_logits": False},
                      class_names=imagenet_class_names(),
                      preprocessing={"input_size": 224, "channels": 3, "mean": list(IMAGENET_MEAN),
                                     "std": list(IMAGENET_STD), "resize": 256})


def photos(data_dir: str | None, n: int) -> list[bytes]:
    folder = Path(data_dir or os.environ.get("GOOGLENET_DATA", REPO.parent / "shared" / "data"))
    out = []
    with tarfile.open(folder / "imagenette-224.tar.gz") as tar:
        for member in tar:
            if member.isfile() and member.name.lower().endswith(".jpeg"):
                out.append(tar.extractfile(member).read())
            if len(out) == n:
                break
    return out


def decode_ms(model_path: Path, data: list[bytes], backend: str, threads: int) -> float:
    """The server's own preparation of one upload (decode, resize, crop, normalize), median ms, with the torch
    threads the server gives it (serve.server.worker_threads: one on ONNX Runtime backends)."""
    import torch

    from googlenet.serve.model import ServedModel

    torch.set_num_threads(threads if backend == "torch" else 1)

    served = ServedModel.load(model_path, backend="torch", threads=1)
    times = []
    for _ in range(3):
        for d in data:
            t0 = time.perf_counter()
            served.prepare(d, "x", max_pixels=10**9, min_side=1)
            times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def bench_figures(backend: str, threads: int, seconds: float, data_dir: str | None) -> dict[int, dict]:
    from googlenet.bench import bench_inference

    result = bench_inference("googlenet", backends=[backend], batches=(1, 32), seconds=seconds,
                             threads=threads, memory=False, model_kwargs={"aux_logits": False}, data_dir=data_dir,
                             log=lambda m: print(f"[bench] {m}", file=sys.stderr, flush=True))
    rows = {r["batch"]: r for r in result["results"] if r["backend"] == backend}
    return {b: {"images_per_s": r["images_per_s"], "ms_per_batch": r["ms_per_batch"]} for b, r in rows.items()}


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def start_server(model: Path, backend: str, threads: int, max_batch: int, max_wait_ms: float) -> tuple:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    process = subprocess.Popen(
        [sys.executable, "-m", "googlenet", "serve", str(model), "--host", HOST, "--port", str(port), "--backend",
         backend, "--threads", str(threads), "--max-batch", str(max_batch), "--max-wait-ms", str(max_wait_ms),
         "--max-queue", "1024"], env=env, stderr=subprocess.PIPE, text=True)
    import httpx

    url = f"http://{HOST}:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited: {process.stderr.read()}")
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    process.kill()
    raise SystemExit("the server did not become ready in 300 s")


async def load(url: str, data: list[bytes], clients: int, seconds: float, max_requests: int) -> dict:
    import httpx

    latencies: list[float] = []
    batches: list[int] = []
    errors = 0
    sent = 0
    async with httpx.AsyncClient(base_url=url, timeout=60,
                                 limits=httpx.Limits(max_connections=clients, max_keepalive_connections=clients)) as c:
        for d in data[:clients]:  # one warm-up request per connection
            await c.post("/v1/predict", content=d)
        end = time.monotonic() + seconds

        async def client(k: int) -> None:
            nonlocal errors, sent
            i = k
            while time.monotonic() < end and sent < max_requests:
                sent += 1
                t0 = time.perf_counter()
                r = await c.post("/v1/predict?top_k=5", content=data[i % len(data)])
                latencies.append(time.perf_counter() - t0)
                if r.status_code == 200:
                    batches.append(r.json()["results"][0]["batch_size"])
                else:
                    errors += 1
                i += clients

        t0 = time.perf_counter()
        await asyncio.gather(*(client(k) for k in range(clients)))
        elapsed = time.perf_counter() - t0
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [latencies[0]] * 99
    return {"clients": clients, "requests": len(latencies), "errors": errors, "seconds": round(elapsed, 2),
            "images_per_s": round(len(batches) / elapsed, 2), "p50_ms": round(q[49] * 1e3, 1),
            "p95_ms": round(q[94] * 1e3, 1), "p99_ms": round(q[98] * 1e3, 1),
            "mean_batch": round(statistics.fmean(batches), 2) if batches else None}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backend", default="ort",
                   choices=("ort", "torch", "int8", "openvino", "openvino-bf16", "openvino-int8"))
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="intra-op threads (server and bench)")
    p.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    p.add_argument("--seconds", type=float, default=15.0, help="per load level (default 15)")
    p.add_argument("--max-requests", type=int, default=2000, help="per load level (default 2000)")
    p.add_argument("--bench-seconds", type=float, default=15.0, help="bench's budget per batch size")
    p.add_argument("--max-wait-ms", type=float, default=5.0)
    p.add_argument("--data-dir", default=None, help="folder with imagenette-224.tar.gz and cifar10-jpeg.tar.gz")
    p.add_argument("--out", default=None, help="also write the JSON result here")
    args = p.parse_args()

    from googlenet.bench.machine import load_average, machine

    work = Path(tempfile.mkdtemp(prefix="googlenet-serve-load-"))
    model = build_model(work / "googlenet224.safetensors", args.data_dir)
    data = photos(args.data_dir, 64)
    result = {"machine": machine(), "backend": args.backend, "threads": args.threads, "load_before": load_average(),
              "decode_ms": round(decode_ms(model, data, args.backend, args.threads), 2)}
    print(f"decoding (server's prepare): {result['decode_ms']} ms per photo", file=sys.stderr, flush=True)
    result["bench"] = bench_figures(args.backend, args.threads, args.bench_seconds, args.data_dir)
    print(f"bench: {result['bench']}", file=sys.stderr, flush=True)
    runs = []
    for label, max_batch in (("batching", 32), ("no batching", 1)):
        process, url = start_server(model, args.backend, args.threads, max_batch, args.max_wait_ms)
        try:
            for clients in args.clients:
                row = {"mode": label, "max_batch": max_batch, "max_wait_ms": args.max_wait_ms,
                       **asyncio.run(load(url, data, clients, args.seconds, args.max_requests))}
                print(json.dumps(row), file=sys.stderr, flush=True)
                runs.append(row)
        finally:
            process.terminate()
            process.wait(60)
    result["runs"] = runs
    result["load_after"] = load_average()
    b1, b32 = result["bench"][1], result["bench"][32]
    one = next(r for r in runs if r["mode"] == "batching" and r["clients"] == 1)
    many = max((r for r in runs if r["mode"] == "batching"), key=lambda r: r["clients"])
    budget = 1.3 * (b1["ms_per_batch"] + result["decode_ms"])
    result["goals"] = {
        f"throughput at {many['clients']} clients / bench batch 32": round(many["images_per_s"] / b32["images_per_s"],
                                                                          3),
        "p50 at 1 client (ms)": one["p50_ms"], "1.3 x (bench batch-1 ms + decode ms)": round(budget, 1)}
    print(f"\n{result['machine']['cpu']}, {args.threads} threads, --backend {args.backend}; load "
          f"{result['load_before']} -> {result['load_after']}")
    print(f"bench ({args.backend}): batch 1 {b1['images_per_s']} img/s ({b1['ms_per_batch']} ms), "
          f"batch 32 {b32['images_per_s']} img/s; decoding {result['decode_ms']} ms/photo")
    print(f"{'mode':<12} {'clients':>7} {'img/s':>7} {'vs b32':>6} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} "
          f"{'batch':>5} {'requests':>8} {'errors':>6}")
    for r in runs:
        print(f"{r['mode']:<12} {r['clients']:>7} {r['images_per_s']:>7} "
              f"{r['images_per_s'] / b32['images_per_s']:>6.2f} {r['p50_ms']:>7} {r['p95_ms']:>7} {r['p99_ms']:>7} "
              f"{r['mean_batch']!s:>5} {r['requests']:>8} {r['errors']:>6}")
    print(json.dumps(result["goals"]))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
