"""``googlenet serve``: a trained model behind an HTTP API (FastAPI under uvicorn), docs/serving.md.

* :func:`create_app` -- the ASGI app: ``POST /v1/predict``, ``POST /v1/explain``, ``GET /healthz``,
  ``GET /metrics``, ``GET /`` (a page), ``/openapi.json``;
* :class:`ServeSettings` -- every setting and limit;
* :func:`serve` -- run it under uvicorn (workers, SIGTERM drain).

This folder sits on top of the library: it reads models through ``weights/`` and ``evaluation/`` (exactly as
``googlenet predict``), runs them on ``deploy/``'s backends through one adapter (``backend.py``) and draws
maps with ``visualize/``. Only ``cli/serve.py`` imports it. fastapi, uvicorn, python-multipart and
prometheus-client are the ``serve`` extra; importing this package does not import them.
"""

from .settings import ServeSettings

__all__ = ["ServeSettings", "create_app", "serve"]


def __getattr__(name: str):
    if name == "create_app":
        from .app import create_app

        return create_app
    if name == "serve":
        from .server import serve

        return serve
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
