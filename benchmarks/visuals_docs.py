"""Make the pictures of docs/visuals.md (docs/img/visuals-*.png).

    python benchmarks/visuals_docs.py [--run RUN]   # RUN: a Fashion-MNIST run folder for filters/features

* the GoogLeNet diagram, compact (PNG) and expanded (SVG);
* CAMs of the synthetic bright-square model of tests/test_visualize.py (trained here in ~2 s);
* with ``--run``: the run's first-layer filters, the feature maps of inception3a for one test image,
  CAMs of test images, and its report's screenshot (needs chromium).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
IMG = REPO / "docs" / "img"
sys.path.insert(0, str(REPO / "tests"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    from googlenet.visualize.cam import explain, save_overlay
    from googlenet.visualize.diagram import build_diagram

    IMG.mkdir(parents=True, exist_ok=True)
    build_diagram("googlenet").render(IMG / "visuals-googlenet-diagram", ["png"])
    build_diagram("googlenet", mode="expanded").render(IMG / "visuals-googlenet-expanded", ["svg"])

    from test_visualize import square_batch, train_square_model  # the test's model and data, not a copy

    model = train_square_model()
    x, y, _ = square_batch(64, torch.Generator().manual_seed(123))
    chosen = torch.cat([x[y == 1][:3], x[y == 0][:1]])
    for i, r in enumerate(explain(model, chosen, top_k=2, class_names=["noise", "square"])):
        r.source = f"test image {i}"
        save_overlay(r, IMG / f"visuals-cam-square-{i}.png")

    if args.run:
        from googlenet.data import load_dataset
        from googlenet.visualize.cam import model_views
        from googlenet.visualize.features import save_feature_maps, save_filters
        from googlenet.visualize.report import write_run_report
        from googlenet.weights.checkpoint import load_model

        loaded = load_model(args.run)
        save_filters(loaded.model, IMG / "visuals-filters.png")
        data = load_dataset(loaded.preprocessing.dataset, "test", channels=1)
        images = [data[i][0] for i in range(4)]
        _, inputs = model_views(loaded, images)
        save_feature_maps(loaded.model, inputs[0], "inception3a", IMG / "visuals-features-3a.png")
        for i, r in enumerate(explain(loaded, torch.stack(inputs), top_k=2)):
            r.source = f"test image {i}"
            r.image = model_views(loaded, [images[i]])[0][0]  # shown un-normalized
            save_overlay(r, IMG / f"visuals-cam-fashion-{i}.png")
        report = write_run_report(args.run, max_images=1000)
        subprocess.run([sys.executable, str(REPO / "benchmarks" / "report_screenshot.py"), str(report),
                        "--out", str(IMG / "visuals-report.png"), "--width", "1000", "--height", "2200"], check=True)


if __name__ == "__main__":
    main()
