"""``googlenet explain IMAGE... -c MODEL``: where the model looks (CAM / Grad-CAM), its feature maps and filters."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..system.text import format_table, to_json
from ._common import add_backend_flag, add_force_flag, add_json_flag


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "explain", help="class activation maps (CAM, Grad-CAM) of image files, feature maps, first-layer filters",
        description="For each image, one PNG: the image the model reads (its 1-crop test view), then the map of "
                    "each top-k class over it. CAM (Zhou et al. 2016) is exact for global-average-pool + linear "
                    "heads (GoogLeNet); Grad-CAM (pytorch-grad-cam) works for any model and layer. The "
                    "probabilities and the top-k classes come from --backend (default eager: the model as loaded); "
                    "the maps of those classes are always computed in torch.")
    parser.add_argument("images", nargs="+", metavar="IMAGE_OR_FOLDER")
    parser.add_argument("--checkpoint", "-c", required=True, help="a model file or run folder")
    parser.add_argument("--method", choices=("cam", "gradcam"), default="cam",
                        help="cam (default; exact from the fc weights) or gradcam (any model, any --layer)")
    parser.add_argument("--layer", default=None,
                        help="Grad-CAM's layer, e.g. inception4e (default: the last spatial block)")
    parser.add_argument("--top-k", "-k", type=int, default=3, help="classes per image (default 3)")
    parser.add_argument("--out", "-o", default="explain", help="folder for the PNGs (default ./explain)")
    parser.add_argument("--features", default=None, metavar="LAYER",
                        help="also save LAYER's feature maps for each image (e.g. inception3a, conv1)")
    parser.add_argument("--filters", action="store_true", help="also save the first layer's filters")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: PyTorch's)")
    # The scores and the top-k classes come from --backend; the maps of those classes are computed in torch.
    # Checked in run(), not with choices=, so that a bad name is one line.
    add_backend_flag(parser, default="eager")
    parser.add_argument("--data-dir", default=None, help="where cifar10-jpeg.tar.gz is (int8 calibration only)")
    add_force_flag(parser, "PNGs of the same names in --out")
    add_json_flag(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..deploy.backends import resolve_backend
    from ..system.files import check_output_dir, check_output_file
    from ..visualize.cam import _prepare_files, explain
    from ..visualize.features import save_feature_maps, save_filters
    from ..weights.checkpoint import load_model
    from ._common import apply_threads

    apply_threads(args)
    resolve_backend(args.backend)  # a bad or missing backend is one line before anything loads
    check_output_dir(args.out, force=args.force, names=("filters.png",) if args.filters else ())
    loaded = load_model(args.checkpoint)
    skipped: list = []  # unreadable inputs are reported and left out, as in `googlenet predict`
    results = explain(loaded, args.images, method=args.method, layer=args.layer, top_k=args.top_k,
                      backend=args.backend, data_dir=args.data_dir, out_dir=args.out, skipped=skipped,
                      force=args.force)
    backend = results[0].backend if results else args.backend
    for problem in skipped:
        print(f"googlenet: {'error' if problem.fatal else 'note'}: {problem.message}", file=sys.stderr)
    failed = sum(p.fatal for p in skipped)
    extra = []
    if args.features:
        _, inputs, sources = _prepare_files(loaded, args.images, [])
        for x, source in zip(inputs, sources, strict=True):
            name = f"{Path(source).stem}-features-{args.features.replace('.', '_')}.png"
            target = check_output_file(Path(args.out) / name, force=args.force, flag="--out")
            extra.append(str(save_feature_maps(loaded.model, x, args.features, target)))
    if args.filters:
        extra.append(str(save_filters(loaded.model, Path(args.out) / "filters.png")))
    if args.json:
        print(to_json({"backend": backend, "explanations": [r.as_dict() for r in results], "pictures": extra,
                       "skipped": [{"path": p.path, "error" if p.fatal else "note": p.message} for p in skipped]}))
        return 2 if failed else 0
    rows = []
    for r in results:
        for rank, (name, p) in enumerate(zip(r.classes, r.probabilities, strict=True), 1):
            rows.append({"image": r.source if rank == 1 else "", "rank": rank, "class": name,
                         "probability": f"{p:.4f}", "overlay": str(r.path) if rank == 1 else ""})
    if rows:
        print(format_table(rows, title=f"{'CAM' if args.method == 'cam' else 'Grad-CAM'} of {loaded.model_name}, "
                                       f"scores from --backend {backend}"))
    for path in extra:
        print(f"wrote {path}")
    if failed:
        print(f"googlenet: {failed} of {failed + len(results)} inputs could not be read", file=sys.stderr)
        return 2
    return 0
