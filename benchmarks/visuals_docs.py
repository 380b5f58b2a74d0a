"""Make every picture of docs/visuals.md (docs/img/visuals-*).

    python benchmarks/visuals_docs.py                       # diagrams, the zoo chart, the synthetic CAMs
    python benchmarks/visuals_docs.py --run RUN             # + filters, feature maps, CAMs, report screenshot
    python benchmarks/visuals_docs.py --curves-run RUN2     # + the report's curves section of a run of epochs
    python benchmarks/visuals_docs.py --photos-run RUN3 --photo PHOTO.JPEG   # + a photo's CAM and feature maps
    python benchmarks/visuals_docs.py --screenshot PAGE.html OUT.png [--section curves]   # one screenshot

* the GoogLeNet diagram, compact (PNG) and expanded (SVG);
* the zoo chart of ``googlenet compare --plot`` (every registered model measured on the meta device);
* CAMs of the synthetic bright-square model of tests/test_visualize.py (trained here in ~2 s);
* with ``--run`` (a small-image run folder, e.g. MNIST): its first-layer filters, the feature maps of
  inception3a for one test image, CAMs of test images, and its report in headless Chromium;
* with ``--curves-run``: the curves section of that run's report; with ``--photos-run`` and ``--photo``:
  the CAM overlay over the model's view and the photo, and the photo's feature maps.

Screenshots come from Debian's ``chromium`` driven by Playwright (no browser download) at a 1280-px-wide
window, 100% zoom: what a reader of the report sees. Chromium does not start under ``ulimit -v``.
Pictures are written small (PNG at 100 dpi; screenshots reduced to 256 colours) so the repository stays light.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
IMG = REPO / "docs" / "img"
sys.path.insert(0, str(REPO / "tests"))
WINDOW = 1280  # px: the window the report must read well in (docs/visuals.md)


def screenshot(page: Path, out: Path, *, section: str | None = None, width: int = WINDOW) -> Path:
    """``page`` in headless Chromium at ``width`` px, 100% zoom: the whole page, or the element ``#section``;
    saved as a 256-colour PNG."""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    if chromium is None:
        sys.exit("chromium is not installed: run 'sudo apt-get install chromium' (or bash scripts/system_packages.sh)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            tab = browser.new_page(viewport={"width": width, "height": 900}, device_scale_factor=1)
            tab.goto(page.resolve().as_uri())
            if section:
                tab.locator(f"#{section}").screenshot(path=str(out))
            else:
                tab.screenshot(path=str(out), full_page=True)
        finally:
            browser.close()
    return quantize(out)


def quantize(png: Path) -> Path:
    """``png`` rewritten with 256 colours (a third to a half of the bytes: charts and screenshots)."""
    from PIL import Image

    with Image.open(png) as img:
        if img.mode == "P":
            return png
        small = img.convert("RGB").quantize(256)
    small.save(png, optimize=True)
    return png


def lighten(folder: Path) -> None:
    for png in folder.glob("visuals-*.png"):
        quantize(png)


def diagrams_and_zoo(img: Path, zoo: bool) -> None:
    from googlenet.visualize.diagram import build_diagram

    build_diagram("googlenet").render(img / "visuals-googlenet-diagram", ["png"])
    build_diagram("googlenet", mode="expanded").render(img / "visuals-googlenet-expanded", ["svg"])
    if zoo:
        import matplotlib.pyplot as plt

        from googlenet.inspect.compare import compare, draw_zoo

        fig = draw_zoo(compare())
        fig.savefig(img / "visuals-zoo.png", dpi=80)
        plt.close(fig)


def square_cams(img: Path) -> None:
    from googlenet.visualize.cam import explain, save_overlay
    from test_visualize import square_batch, train_square_model  # the test's model and data, not a copy

    model = train_square_model()
    x, y, _ = square_batch(64, torch.Generator().manual_seed(123))
    chosen = torch.cat([x[y == 1][:3], x[y == 0][:1]])
    for i, r in enumerate(explain(model, chosen, top_k=2, class_names=["noise", "square"])):
        r.source = f"test image {i}"
        save_overlay(r, img / f"visuals-cam-square-{i}.png")


def run_pictures(run: Path, img: Path) -> None:
    from googlenet.data import load_dataset
    from googlenet.visualize.cam import explain, model_views, save_overlay
    from googlenet.visualize.features import save_feature_maps, save_filters
    from googlenet.visualize.report import write_run_report
    from googlenet.weights.checkpoint import load_model

    loaded = load_model(run)
    save_filters(loaded.model, img / "visuals-filters.png")
    data = load_dataset(loaded.preprocessing["dataset"], "test", channels=getattr(loaded.model, "in_channels", 1))
    images = [data[i][0] for i in range(4)]
    shown, inputs = model_views(loaded, images)
    save_feature_maps(loaded.model, inputs[0], "inception3a", img / "visuals-features-3a.png")
    for i, r in enumerate(explain(loaded, torch.stack(inputs), top_k=2)):
        r.source, r.image = f"test image {i}", shown[i]  # shown as the model's view, un-normalized
        save_overlay(r, img / f"visuals-cam-run-{i}.png")
    with tempfile.TemporaryDirectory() as tmp:
        report = write_run_report(run, Path(tmp) / "report.html", max_images=1000)
        screenshot(report, img / "visuals-report.png")


def curves_picture(run: Path, img: Path) -> None:
    from googlenet.visualize.report import write_run_report

    with tempfile.TemporaryDirectory() as tmp:
        report = write_run_report(run, Path(tmp) / "report.html", max_images=300)
        screenshot(report, img / "visuals-report-curves.png", section="curves")


def photo_pictures(run: Path, photo: Path, img: Path) -> None:
    from googlenet.visualize.cam import _prepare_files, explain
    from googlenet.visualize.features import save_feature_maps
    from googlenet.weights.checkpoint import load_model

    loaded = load_model(run)
    with tempfile.TemporaryDirectory() as tmp:
        result, = explain(loaded, [photo], top_k=2, out_dir=tmp)
        shutil.copyfile(result.path, img / "visuals-photo-cam.png")
    _, inputs, _ = _prepare_files(loaded, [photo])
    save_feature_maps(loaded.model, inputs[0], "inception3a", img / "visuals-photo-features.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=None, help="a small-image run folder (MNIST, Fashion-MNIST)")
    parser.add_argument("--curves-run", type=Path, default=None, help="a run folder of several epochs")
    parser.add_argument("--photos-run", type=Path, default=None, help="a photo run folder (Imagenette)")
    parser.add_argument("--photo", type=Path, default=None, help="the photo for --photos-run")
    parser.add_argument("--out", type=Path, default=IMG, help="folder of the pictures (default docs/img)")
    parser.add_argument("--no-zoo", action="store_true", help="skip the zoo chart (it measures 32 models)")
    parser.add_argument("--screenshot", nargs=2, type=Path, metavar=("PAGE", "PNG"), default=None,
                        help="only screenshot PAGE (an HTML file) to PNG")
    parser.add_argument("--section", default=None, help="with --screenshot: only the element of this id")
    args = parser.parse_args()
    if args.screenshot:
        print(screenshot(*args.screenshot, section=args.section))
        return
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    diagrams_and_zoo(args.out, not args.no_zoo)
    square_cams(args.out)
    if args.run:
        run_pictures(args.run, args.out)
    if args.curves_run:
        curves_picture(args.curves_run, args.out)
    if args.photos_run and args.photo:
        photo_pictures(args.photos_run, args.photo, args.out)
    lighten(args.out)


if __name__ == "__main__":
    main()
