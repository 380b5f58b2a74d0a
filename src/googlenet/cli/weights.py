"""``googlenet weights``: torchvision / timm / BVLC Caffe weights files into googlenet model files."""

from __future__ import annotations

import argparse
from typing import Any

from ._common import add_force_flag, add_json_flag


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "weights", help="import torchvision, timm or BVLC Caffe weights into a model file",
        description="Turn another library's weights file into a googlenet model file (weights, class names, "
                    "preprocessing), which predict, eval, export and train --init-from read.")
    commands = parser.add_subparsers(dest="weights_command", required=True, metavar="ACTION")

    imp = commands.add_parser(
        "import", help="import a weights file",
        description="KIND: torchvision (.pth of alexnet, googlenet, inception_v3, resnet*, squeezenet*, vgg*), "
                    "timm (.pth/.safetensors of inception_v4, inception_resnet_v2), caffe (BVLC "
                    "bvlc_googlenet.caffemodel, into the paper-exact googlenet), or auto. The model is judged "
                    "from the file's keys and shapes. Files are never unpickled.")
    imp.add_argument("kind", choices=["auto", "torchvision", "timm", "caffe"])
    imp.add_argument("file", help="the weights file")
    imp.add_argument("--out", "-o", required=True, help="the model file to write (.safetensors)")
    imp.add_argument("--model", default=None, help="registry model to build (default: the one the file fits)")
    add_force_flag(imp, "--out")
    add_json_flag(imp)
    imp.set_defaults(func=run_import)

    down = commands.add_parser(
        "download", help="download official weights (torchvision's, BVLC's) and import them",
        description="NAME: a torchvision-compatible registry model (resnet50, googlenet_torchvision ...) or "
                    "googlenet (BVLC's Caffe GoogLeNet). The file's hash is checked; needs the internet.")
    down.add_argument("name")
    down.add_argument("--out", "-o", required=True, help="the model file to write (.safetensors)")
    down.add_argument("--cache-dir", default=None, help="where the downloaded file is kept (default: torch.hub's "
                                                        "$TORCH_HOME/hub/checkpoints, shared with torchvision)")
    add_force_flag(down, "--out")
    add_json_flag(down)
    down.set_defaults(func=run_download)


def run_import(args: argparse.Namespace) -> int:
    from ..weights import import_to_file

    imported = import_to_file(args.kind, args.file, args.out, model=args.model, force=args.force)
    _report(imported, args.out, args.json)
    return 0


def run_download(args: argparse.Namespace) -> int:
    from ..system.files import check_output_file
    from ..weights import import_to_file
    from ..weights.pretrained import fetch

    check_output_file(args.out, force=args.force, flag="--out")  # before the download, not after
    item, path = fetch(args.name, folder=args.cache_dir)
    imported = import_to_file(item.kind, path, args.out, model=item.model, force=args.force)
    _report(imported, args.out, args.json)
    return 0


def _report(imported: Any, out: str, as_json: bool) -> None:
    from ..system.text import to_json

    pre = imported.preprocessing
    classes = imported.model_kwargs.get("num_classes", 1000)
    if as_json:
        print(to_json({"out": str(out), "model": imported.model_name, "kind": imported.kind,
                       "model_kwargs": imported.model_kwargs, "num_classes": classes,
                       "class_names": bool(imported.class_names), "preprocessing": pre.as_dict()}))
        return
    aux = imported.model_kwargs.get("aux_logits")
    heads = "" if aux is None else (", with aux heads" if aux else ", no aux heads")
    names = "ImageNet names" if imported.class_names else "no class names"
    print(f"wrote {out}: {imported.model_name} from {imported.kind} {imported.source} ({classes} classes, {names}"
          f"{heads}); input {pre.channel_order} pixels in [0, {pre.scale:g}] minus mean {list(pre.mean)} / std "
          f"{list(pre.std)}, "
          f"{pre.input_size} crop of a {pre.resize} resize")
