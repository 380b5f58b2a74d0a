"""The HTTP API of ``googlenet serve``: a FastAPI app (docs/serving.md).

Routes: ``POST /v1/predict`` (top-k classes of one or several images), ``POST /v1/explain`` (the CAM overlay
as PNG), ``GET /healthz`` (ready once the model is loaded and warmed up), ``GET /metrics`` (Prometheus),
``GET /`` (the page), and FastAPI's ``/openapi.json`` and ``/docs``.

The model loads in a thread after the server starts, so ``/healthz`` answers 503 ``loading`` at once and 200
``ready`` after the warm-up; until then the API answers 503 with Retry-After. Uploads are decoded on a thread
pool (Pillow and the resize release the GIL), never on the event loop; forward passes run on the batcher's
own thread. Every refusal is a JSON ``{"error": {"kind", "message", "status"}}`` that names the problem.
"""

from __future__ import annotations

import asyncio
import hmac
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from .batching import Batcher, Overloaded
from .metrics import Metrics
from .model import ServedModel
from .settings import ServeSettings
from .uploads import ServeError, read_body, split_uploads

ROUTES = ("/", "/v1/predict", "/v1/explain", "/healthz", "/metrics", "/openapi.json", "/docs")
#: The request body's description in the OpenAPI document (the body is read by hand, see uploads.py).
IMAGE_BODY = {"requestBody": {"required": True, "description": "one image as the raw body (any image type), or "
                              "one or more file fields of a multipart/form-data form",
                              "content": {"image/*": {"schema": {"type": "string", "format": "binary"}},
                                          "application/octet-stream": {"schema": {"type": "string",
                                                                                  "format": "binary"}},
                                          "multipart/form-data": {"schema": {"type": "object", "properties": {
                                              "file": {"type": "array", "items": {"type": "string",
                                                                                  "format": "binary"}}}}}}}}


class ClassProbability(BaseModel):
    class_: str = Field(alias="class")
    index: int
    probability: float

class ImageResult(BaseModel):
    image: str
    size: list[int] = Field(description="width, height of the upload")
    batch_size: int = Field(description="images in the forward pass this one ran in")
    predictions: list[ClassProbability]

class ModelInfo(BaseModel):
    name: str
    version: str = Field(description="the first 12 hex digits of the model file's SHA-256")
    file: str
    backend: str
    classes: int
    input_size: int
    explain: str | None

class PredictResponse(BaseModel):
    model: ModelInfo
    results: list[ImageResult]
    time_ms: dict[str, float] = Field(description="read (body), decode, infer (queue and forward pass), total")

class ErrorBody(BaseModel):
    kind: str
    message: str
    status: int

class ErrorResponse(BaseModel):
    error: ErrorBody


class _State:
    def __init__(self, settings: ServeSettings, model: ServedModel | None) -> None:
        self.settings = settings
        self.model = model
        self.status = "loading"
        self.error: str | None = None
        self.metrics = Metrics()
        self.batcher: Batcher | None = None
        self.decode_pool: ThreadPoolExecutor | None = None
        self.explain_pool: ThreadPoolExecutor | None = None

    async def start(self) -> None:
        s = self.settings
        self.decode_pool = ThreadPoolExecutor(s.decode_threads, thread_name_prefix="googlenet-decode")
        self.explain_pool = ThreadPoolExecutor(1, thread_name_prefix="googlenet-explain")
        try:
            if self.model is None:
                self.model = await asyncio.to_thread(ServedModel.load, s.model, backend=s.backend,
                                                     threads=s.threads, data_dir=s.data_dir)
            if self.model.backend == "torch" and s.threads and s.backend != "torch":
                import torch  # auto picked torch: it needs the threads after all

                torch.set_num_threads(s.threads)
            await asyncio.to_thread(self.model.warm_up, s.max_batch)
        except Exception as exc:  # noqa: BLE001 - reported on /healthz and in the log, the server stays up
            self.status, self.error = "failed", str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            print(f"googlenet: error: cannot serve {s.model}: {self.error}", file=sys.stderr, flush=True)
            return
        self.batcher = Batcher(self.model.infer, max_batch=s.max_batch, max_wait_s=s.max_wait_ms / 1000,
                               max_queue=s.max_queue, on_batch=self.metrics.observe_batch,
                               on_pending=self.metrics.queued.set)
        self.batcher.start()
        self.status = "ready"

    async def stop(self) -> None:
        if self.batcher is not None:
            await self.batcher.stop()
        for pool in (self.decode_pool, self.explain_pool):
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)

    def ready(self) -> ServedModel:
        if self.status != "ready":
            if self.status == "failed":
                raise ServeError(503, "model_failed", f"the model could not be loaded ({self.error}); fix it and "
                                 "restart the server")
            raise ServeError(503, "model_loading", "the model is still loading and warming up; retry shortly "
                             "(GET /healthz says when it is ready)", {"Retry-After": "1"})
        return self.model  # type: ignore[return-value]

    async def uploads(self, request) -> list:
        s = self.settings
        body = await read_body(request, max_bytes=s.max_body_bytes, timeout_s=s.body_timeout_s)
        return split_uploads(body, request.headers.get("content-type"), max_images=s.max_images)

    async def prepare(self, model: ServedModel, uploads: list) -> list:
        s = self.settings
        loop = asyncio.get_running_loop()
        jobs = [loop.run_in_executor(self.decode_pool, lambda u=u: model.prepare(
            u.data, u.name, max_pixels=s.max_pixels, min_side=s.min_side)) for u in uploads]
        results = await asyncio.gather(*jobs, return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException):
                raise r
        return list(results)


class _Guard:
    """Pure ASGI middleware: the token check (every route but /healthz) and the request metrics."""

    def __init__(self, app, state: _State) -> None:
        self.app, self.state = app, state

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"]
        route = path if path in ROUTES else "other"
        t0 = time.perf_counter()
        status = {"code": 500}

        async def recording_send(message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        metrics = self.state.metrics
        try:
            token = self.state.settings.token
            if token and path != "/healthz" and not _authorized(scope, token):
                metrics.errors.labels("unauthorized").inc()
                await _send_json(recording_send, ServeError(
                    401, "unauthorized", "this server needs a token; send the header 'Authorization: Bearer TOKEN' "
                    "(the page: add ?token=TOKEN to its address)", {"WWW-Authenticate": "Bearer"}))
                return
            await self.app(scope, receive, recording_send)
        finally:
            metrics.requests.labels(route, str(status["code"])).inc()
            metrics.latency.labels(route).observe(time.perf_counter() - t0)


def _authorized(scope, token: str) -> bool:
    from urllib.parse import parse_qs

    headers = dict(scope.get("headers") or [])
    given = headers.get(b"authorization", b"").decode("latin-1")
    if given.lower().startswith("bearer "):
        given = given[7:].strip()
    else:
        given = (parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token") or [""])[0]
    return hmac.compare_digest(given.encode(), token.encode())


async def _send_json(send, error: ServeError) -> None:
    import json

    body = json.dumps(error.as_json()).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in error.headers.items()]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def create_app(settings: ServeSettings, model: ServedModel | None = None):
    """The FastAPI app serving ``settings.model`` (or an already loaded ``model``, which is then warmed up)."""
    from .. import __version__

    state = _State(settings, model)

    @asynccontextmanager
    async def lifespan(app):
        loading = asyncio.create_task(state.start())
        try:
            yield
        finally:
            loading.cancel()
            await state.stop()

    app = FastAPI(title="googlenet serve", version=__version__, lifespan=lifespan, redoc_url=None,
                  description="Image classification with a googlenet model file: top-k classes, class activation "
                              "maps, health and metrics. docs/serving.md has curl and Python examples.")
    app.state.serve = state
    _add_error_handlers(app, state)
    _add_predict_route(app, state)
    _add_explain_route(app, state)
    _add_info_routes(app, state)
    app.add_middleware(_Guard, state=state)
    return app


#: The error answers every image route documents.
ERRORS = {code: {"model": ErrorResponse} for code in (400, 401, 408, 409, 413, 415, 422, 503)}


def _refuse(state: _State, error: ServeError) -> JSONResponse:
    state.metrics.errors.labels(error.kind).inc()
    return JSONResponse(error.as_json(), status_code=error.status, headers=error.headers)


def _add_error_handlers(app, state: _State) -> None:
    """Every refusal as the JSON error body, counted by kind."""

    @app.exception_handler(ServeError)
    async def _serve_error(request, exc: ServeError):
        return _refuse(state, exc)

    @app.exception_handler(RequestValidationError)
    async def _bad_parameter(request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "query")
        return _refuse(state, ServeError(422, "bad_parameter", f"parameter {where!r}: {first.get('msg', 'invalid')}"))

    @app.exception_handler(HTTPException)
    async def _http_error(request, exc: HTTPException):
        kind = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        hint = "; the routes are POST /v1/predict, POST /v1/explain, GET /healthz, GET /metrics, GET /"
        return _refuse(state, ServeError(exc.status_code, kind,
                                         f"{request.method} {request.url.path}: {exc.detail}{hint}"))


def _top_k(state: _State, value: int | None, model: ServedModel) -> int:
    return min(value or state.settings.top_k, model.num_classes)


def _predictions(model: ServedModel, prepared: list, outputs: list, k: int) -> list[dict]:
    results = []
    for p, (probs, batch) in zip(prepared, outputs, strict=True):
        top = probs.topk(k)
        results.append({"image": p.name, "size": list(p.size), "batch_size": batch, "predictions": [
            {"class": model.class_names[i], "index": i, "probability": v}
            for i, v in zip(top.indices.tolist(), top.values.tolist(), strict=True)]})
    return results


def _add_predict_route(app, state: _State) -> None:
    settings = state.settings

    @app.post("/v1/predict", response_model=PredictResponse, responses=ERRORS, openapi_extra=IMAGE_BODY,
              summary="top-k classes and probabilities of one or several images")
    async def predict(request: Request, top_k: int | None = Query(None, ge=1, description="classes per image")):
        t0 = time.perf_counter()
        model = state.ready()
        uploads = await state.uploads(request)
        t1 = time.perf_counter()
        prepared = await state.prepare(model, uploads)
        t2 = time.perf_counter()
        try:
            outputs = await state.batcher.submit([p.input for p in prepared])
        except Overloaded as exc:
            raise ServeError(503, "overloaded", f"the server has {exc.queued} images queued (--max-queue "
                             f"{settings.max_queue}); retry in {exc.retry_after_s} s",
                             {"Retry-After": str(exc.retry_after_s)}) from None
        t3 = time.perf_counter()
        results = _predictions(model, prepared, outputs, _top_k(state, top_k, model))
        state.metrics.images.inc(len(results))
        t4 = time.perf_counter()
        return {"model": model.describe(), "results": results,
                "time_ms": {"read": round((t1 - t0) * 1e3, 3), "decode": round((t2 - t1) * 1e3, 3),
                            "infer": round((t3 - t2) * 1e3, 3), "total": round((t4 - t0) * 1e3, 3)}}


def _explain_headers(model: ServedModel, done, t0: float) -> dict[str, str]:
    import json

    headers = {"X-Googlenet-Method": done.method, "X-Googlenet-Class": done.classes[0],
               "X-Googlenet-Probability": f"{done.probabilities[0]:.6g}",
               "X-Googlenet-Classes": json.dumps([{"class": c, "index": i, "probability": round(p, 6)}
                                                 for c, i, p in zip(done.classes, done.indices,
                                                                    done.probabilities, strict=True)]),
               "X-Googlenet-Model": f"{model.name} {model.version}",
               "X-Googlenet-Time-Ms": f"{(time.perf_counter() - t0) * 1e3:.1f}"}
    if done.layer:
        headers["X-Googlenet-Layer"] = done.layer
    return {k: _ascii(v) for k, v in headers.items()}


def _add_explain_route(app, state: _State) -> None:
    @app.post("/v1/explain", responses={200: {"content": {"image/png": {}}}, **ERRORS}, openapi_extra=IMAGE_BODY,
              response_class=Response, summary="the class activation map of one image over it, as PNG")
    async def explain(request: Request,
                      class_index: int | None = Query(None, ge=0, description="the class to map (default the top)"),
                      top_k: int | None = Query(None, ge=1, description="classes named in X-Googlenet-Classes")):
        t0 = time.perf_counter()
        model = state.ready()
        uploads = await state.uploads(request)
        if len(uploads) != 1:
            raise ServeError(400, "one_image", f"explain takes one image, got {len(uploads)}; send them one by one")
        (prepared,) = await state.prepare(model, uploads)
        loop = asyncio.get_running_loop()
        done = await loop.run_in_executor(state.explain_pool, lambda: model.explain(
            prepared, class_index=class_index, top_k=_top_k(state, top_k, model)))
        state.metrics.images.inc()
        return Response(done.png, media_type="image/png", headers=_explain_headers(model, done, t0))


def _add_info_routes(app, state: _State) -> None:
    @app.get("/healthz", summary="200 once the model is loaded and warmed up, else 503",
             responses={503: {"description": "loading or failed"}})
    async def healthz():
        body: dict[str, Any] = {"status": state.status}
        if state.model is not None and state.status == "ready":
            body["model"] = state.model.describe()
        if state.error:
            body["error"] = state.error
        return JSONResponse(body, status_code=200 if state.status == "ready" else 503)

    @app.get("/metrics", response_class=Response, summary="Prometheus metrics (text format)")
    async def metrics():
        data, content_type = state.metrics.render()
        return Response(data, media_type=content_type)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page():
        return HTMLResponse(resources.files(__package__).joinpath("page.html").read_text(encoding="utf-8"))


def _ascii(text: str) -> str:
    """A header value in ASCII (class names may not be): non-ASCII as JSON escapes."""
    import json

    return text if text.isascii() else json.dumps(text)[1:-1]
