"""Running the app under uvicorn: the address, the token warning, the workers and a clean SIGTERM.

SIGTERM (and Ctrl-C) drain: the listening socket closes, requests already received are answered (their
batches still run), then the process exits 0 -- uvicorn's own handler re-raises the signal after draining,
which would end the process with -15, so :class:`_Server` keeps uvicorn's drain and drops the re-raise. With
``--workers N`` uvicorn's supervisor starts N processes on one socket, each loading the model; on SIGTERM it
forwards the signal to each, waits until all drained, and exits 0.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import tempfile

from .settings import SETTINGS_ENV, ServeSettings


def worker_threads(settings: ServeSettings) -> int:
    """This worker's intra-op threads (``--threads``, else the cores shared by the workers), recorded in
    ``settings.threads`` for the backend. PyTorch itself gets them only for ``--backend torch``: on ONNX Runtime,
    torch just resizes and normalizes uploads, on the decode threads in parallel, and a second OpenMP team per
    decode thread would only contend with ONNX Runtime's pool for the same cores."""
    import torch

    threads = settings.threads or max(1, (os.cpu_count() or 1) // settings.workers)
    torch.set_num_threads(threads if settings.backend in ("torch", "eager", "compile") else 1)
    settings.threads = threads
    return threads


def app_from_environment():
    """The app of a ``--workers N`` worker process: settings from ``$GOOGLENET_SERVE_SETTINGS`` (uvicorn factory)."""
    from .app import create_app

    settings = ServeSettings.from_json(os.environ[SETTINGS_ENV])
    worker_threads(settings)
    return create_app(settings)


def exposure_warning(settings: ServeSettings) -> str | None:
    """One line when the server listens beyond this machine without a token."""
    if settings.local or settings.token:
        return None
    return (f"googlenet: warning: serving on {settings.host}:{settings.port} without a token: anyone who can reach "
            f"this address can use the model; pass --token or set GOOGLENET_SERVE_TOKEN")


def _config(settings: ServeSettings, app, **kwargs):
    import uvicorn

    return uvicorn.Config(app, host=settings.host, port=settings.port, log_level=settings.log_level,
                          timeout_graceful_shutdown=settings.drain_timeout_s, access_log=False,
                          server_header=False, **kwargs)


def _server_class():
    import uvicorn

    class _Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self):
            # uvicorn's handlers without its re-raise of the signal once drained (exit 0 after a clean drain)
            handled = (signal.SIGINT, signal.SIGTERM)
            original = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
            try:
                yield
            finally:
                for sig, handler in original.items():
                    signal.signal(sig, handler)

    return _Server


def serve(settings: ServeSettings, *, ready_line: bool = True) -> int:
    """Serve until SIGTERM / SIGINT; the exit code (0 after a clean drain)."""
    warning = exposure_warning(settings)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    if ready_line:
        print(f"googlenet: serving {settings.model} on http://{_url_host(settings.host)}:{settings.port}/ "
              f"({settings.workers} worker{'s' if settings.workers > 1 else ''}, --backend {settings.backend}); "
              "GET /healthz says when it is ready", file=sys.stderr, flush=True)
    if settings.workers == 1:
        from .app import create_app

        worker_threads(settings)
        server = _server_class()(_config(settings, create_app(settings)))
        server.run()
        return 0 if server.started else 2
    metrics_dir = tempfile.mkdtemp(prefix="googlenet-serve-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    os.environ[SETTINGS_ENV] = settings.to_json()
    try:
        config = _config(settings, "googlenet.serve.server:app_from_environment", factory=True,
                         workers=settings.workers)
        from uvicorn.supervisors import Multiprocess

        # Each worker's own uvicorn server drains on the SIGTERM its parent forwards.
        Multiprocess(config, sockets=[config.bind_socket()]).run()
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
