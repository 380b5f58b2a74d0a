"""int8 accuracy change on a trained checkpoint: top-1 of fp32 vs int8 on the dataset's test split.

    python benchmarks/int8_accuracy.py --checkpoint RUN_DIR_OR_MODEL_FILE [--calibration 512] [--json]

The model is fused (googlenet.deploy.fusion.optimize_for_inference), exported to ONNX, and quantized
with ONNX Runtime static quantization (googlenet.quantize.quantize_onnx) calibrated on
``--calibration`` training images (never test images). Both the fp32 export and the int8 model run
in ONNX Runtime over the whole test split (or ``--test-limit`` images); the script prints top-1 of
the PyTorch model, the fp32 export and int8, the change in points, and the int8/fp32 throughput of
the evaluation pass. The dataset and its normalization come from the checkpoint's metadata.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from googlenet.data import eval_transform, load_dataset  # noqa: E402
from googlenet.deploy.fusion import optimize_for_inference  # noqa: E402
from googlenet.deploy.onnx import export_onnx  # noqa: E402
from googlenet.deploy.ort import onnx_predict  # noqa: E402
from googlenet.deploy.quantize import quantize_onnx  # noqa: E402
from googlenet.errors import UserError  # noqa: E402
from googlenet.weights.checkpoint import load_model  # noqa: E402


def stacked(dataset, limit: int | None, *, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    n = len(dataset)
    if limit and limit < n:
        idx = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:limit].tolist()
    else:
        idx = range(n)
    xs, ys = zip(*(dataset[i] for i in idx), strict=True)
    return torch.stack([torch.as_tensor(x) for x in xs]).float(), torch.tensor(ys)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", required=True, help="model file or run folder written by `googlenet train`")
    p.add_argument("--calibration", type=int, default=512, help="training images used to calibrate (default 512)")
    p.add_argument("--method", default="minmax", choices=("minmax", "percentile", "entropy"))
    p.add_argument("--test-limit", type=int, default=None, help="evaluate on this many test images (default all)")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    try:
        loaded = load_model(args.checkpoint)
    except UserError as exc:
        print(f"int8_accuracy: error: {exc}", file=sys.stderr)
        return 2
    pre = loaded.preprocessing  # a PretrainedCfg, input_size and channels filled in
    dataset_name = pre.dataset or "fashion-mnist"
    size = int(pre.input_size)
    tf = eval_transform(input_size=size, mean=pre.mean, std=pre.std, native_size=size)
    common = {"data_dir": args.data_dir, "transform": tf, "channels": pre.channels}
    test_x, test_y = stacked(load_dataset(dataset_name, "test", **common), args.test_limit)
    calib_x, _ = stacked(load_dataset(dataset_name, "train", **common), args.calibration, seed=1)

    model = loaded.model.eval()
    with torch.inference_mode():
        torch_pred = torch.cat([model(c).argmax(1) for c in test_x.split(256)])
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = export_onnx(optimize_for_inference(model), Path(tmp) / "fp32.onnx", input_size=size,
                           in_channels=test_x.shape[1])
        int8 = quantize_onnx(fp32, Path(tmp) / "int8.onnx", calib_x, method=args.method)
        t0 = time.perf_counter()
        fp32_logits = onnx_predict(fp32, test_x)
        t_fp32 = time.perf_counter() - t0
        t0 = time.perf_counter()
        int8_logits = onnx_predict(int8, test_x)
        t_int8 = time.perf_counter() - t0
    y = test_y.numpy()
    top1 = {
        "torch_fp32": float((torch_pred.numpy() == y).mean() * 100),
        "onnx_fp32": float((fp32_logits.argmax(1) == y).mean() * 100),
        "onnx_int8": float((int8_logits.argmax(1) == y).mean() * 100),
    }
    result = {
        "checkpoint": str(loaded.path), "model": loaded.model_name, "model_kwargs": loaded.model_kwargs,
        "dataset": dataset_name, "test_images": len(y), "calibration_images": len(calib_x),
        "method": args.method, "top1": {k: round(v, 2) for k, v in top1.items()},
        "top1_change_points": round(top1["onnx_int8"] - top1["onnx_fp32"], 2),
        "prediction_agreement": round(float((int8_logits.argmax(1) == fp32_logits.argmax(1)).mean() * 100), 2),
        "eval_images_per_s": {"onnx_fp32": round(len(y) / t_fp32, 1), "onnx_int8": round(len(y) / t_int8, 1)},
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
