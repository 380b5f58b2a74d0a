"""``googlenet serve MODEL``: the model behind an HTTP API with dynamic batching, a page, health and metrics."""

from __future__ import annotations

import argparse
import os

from ._common import add_backend_flag


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve", help="serve a model over HTTP: predict, explain (CAM), a page, health, metrics",
        description="Serve MODEL (a model file, run folder or .onnx export) on http://HOST:PORT/: POST /v1/predict, "
                    "POST /v1/explain, GET /healthz, GET /metrics, GET / (a page for photos), /openapi.json. "
                    "Requests arriving within --max-wait-ms run as one batch. SIGTERM drains in-flight requests "
                    "and exits 0. See docs/serving.md.")
    parser.add_argument("model", metavar="MODEL", help="model.safetensors, a run folder, or an .onnx export")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine "
                        "only; another address without a token prints a warning)")
    parser.add_argument("--port", type=int, default=8000)
    add_backend_flag(parser)
    parser.add_argument("--workers", type=int, default=1, help="processes, each with the model (default 1)")
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads per worker (default: the cores "
                        "divided among the workers)")
    parser.add_argument("--token", default=None, help="require 'Authorization: Bearer TOKEN' on every route but "
                        "/healthz (default: $GOOGLENET_SERVE_TOKEN; the environment keeps it out of `ps`)")
    parser.add_argument("--top-k", type=int, default=5, help="classes per image unless the request says (default 5)")
    group = parser.add_argument_group("batching and limits")
    group.add_argument("--max-batch", type=int, default=32, help="most images in one forward pass (default 32; 1: "
                       "no batching)")
    group.add_argument("--max-wait-ms", type=float, default=5.0, help="longest an image waits for others to join "
                       "its batch (default 5)")
    group.add_argument("--max-queue", type=int, default=256, help="images admitted and not answered; more are "
                       "refused with 503 and Retry-After (default 256)")
    group.add_argument("--max-body-mb", type=float, default=20.0, help="largest request body (413 above; default 20)")
    group.add_argument("--max-images", type=int, default=32, help="most images in one request (default 32)")
    group.add_argument("--max-megapixels", type=float, default=64.0, help="largest image an upload may declare "
                       "(413 above, checked before decoding; default 64)")
    group.add_argument("--min-side", type=int, default=8, help="smallest image side in pixels (422 below; default 8)")
    group.add_argument("--body-timeout", dest="body_timeout_s", type=float, default=10.0,
                       help="seconds a request body may take to arrive (408 after; default 10)")
    group.add_argument("--decode-threads", type=int, default=2, help="threads decoding uploads (default 2)")
    group.add_argument("--drain-timeout", dest="drain_timeout_s", type=float, default=30.0,
                       help="seconds SIGTERM waits for in-flight requests (default 30)")
    parser.add_argument("--data-dir", default=None, help="where cifar10-jpeg.tar.gz is (int8 calibration only)")
    parser.add_argument("--log-level", default="warning", choices=("critical", "error", "warning", "info", "debug"),
                        help="uvicorn's log level (default warning)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import UserError
    from ..serve.backend import check
    from ..serve.settings import TOKEN_ENV, ServeSettings

    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise UserError(f"googlenet serve needs {exc.name}; pip install 'googlenet[serve]'") from None
    from ..serve.server import serve
    from ..weights.checkpoint import existing_file, resolve_model_path

    check(args.backend)
    # A missing or unreadable model fails here, in one line, rather than on /healthz after the server started.
    if args.model.lower().endswith(".onnx"):
        existing_file(args.model, "model")
    else:
        resolve_model_path(args.model)
    settings = ServeSettings(
        model=args.model, backend=args.backend, host=args.host, port=args.port, workers=args.workers,
        threads=args.threads, token=args.token or os.environ.get(TOKEN_ENV) or None, top_k=args.top_k,
        max_batch=args.max_batch, max_wait_ms=args.max_wait_ms, max_queue=args.max_queue,
        max_body_mb=args.max_body_mb, max_images=args.max_images, max_megapixels=args.max_megapixels,
        min_side=args.min_side, body_timeout_s=args.body_timeout_s, decode_threads=args.decode_threads,
        drain_timeout_s=args.drain_timeout_s, data_dir=args.data_dir, log_level=args.log_level)
    return serve(settings)
