"""googlenet serve: the HTTP API against `googlenet predict`, batching, every refusal, SIGTERM, and the page in a
real browser (Debian's chromium through Playwright)."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tarfile
import threading
import time
import zlib
from contextlib import asynccontextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

from googlenet.serve import ServeSettings, create_app  # noqa: E402
from googlenet.serve.model import ServedModel  # noqa: E402
from googlenet.serve.server import exposure_warning  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CLASSES = ["tench", "springer", "cassette", "chainsaw", "church"]
KWARGS = dict(num_classes=5, width=0.125, small_input=True, batch_norm=True, lrn=False, aux_logits=False)
CHROMIUM = "/usr/bin/chromium"


def _png(array: np.ndarray, mode: str | None = None) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array, mode).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    """A tiny GoogLeNet whose outputs differ from image to image: random fc weights, batch norm settled on noise."""
    from googlenet.models.registry import create_model
    from googlenet.weights.checkpoint import save_model

    torch.manual_seed(0)
    model = create_model("googlenet", **KWARGS)
    torch.nn.init.normal_(model.get_classifier().weight, std=2.0)
    model.train()
    with torch.no_grad():
        model(torch.rand(16, 3, 32, 32) * 2 - 1)
    path = tmp_path_factory.mktemp("serve") / "tiny.safetensors"
    save_model(path, model.eval(), model_name="googlenet", model_kwargs=KWARGS, class_names=CLASSES,
               preprocessing={"input_size": 32, "channels": 3, "mean": [0.485, 0.456, 0.406],
                              "std": [0.229, 0.224, 0.225]})
    return path


@pytest.fixture(scope="module")
def served(model_file) -> ServedModel:
    return ServedModel.load(model_file, backend="ort", threads=1)


@pytest.fixture(scope="module")
def photos(shared_data, tmp_path_factory) -> list[Path]:
    """Three real Imagenette photos (224x224 JPEG), a grey PNG, an RGBA PNG and a wide JPEG."""
    out = tmp_path_factory.mktemp("photos")
    found = []
    with tarfile.open(shared_data / "imagenette-224.tar.gz") as tar:
        for member in tar:
            if member.isfile() and member.name.endswith(".JPEG"):
                path = out / Path(member.name).name
                path.write_bytes(tar.extractfile(member).read())
                found.append(path)
            if len(found) == 3:
                break
    rng = np.random.default_rng(1)
    grey = (rng.random((60, 45)) * 255).astype(np.uint8)
    (out / "grey.png").write_bytes(_png(grey, "L"))
    rgba = (rng.random((50, 70, 4)) * 255).astype(np.uint8)
    (out / "rgba.png").write_bytes(_png(rgba, "RGBA"))
    wide = Image.open(found[0]).resize((300, 120))
    wide.save(out / "wide.jpg", quality=90)
    return [*found, out / "grey.png", out / "rgba.png", out / "wide.jpg"]


@asynccontextmanager
async def client(model: ServedModel, **settings):
    """An httpx client on the app (ASGI transport), its lifespan run and the model warmed up."""
    app = create_app(ServeSettings(model=str(model.path), **settings), model)
    async with app.router.lifespan_context(app):
        state = app.state.serve
        for _ in range(500):
            if state.status != "loading":
                break
            await asyncio.sleep(0.01)
        assert state.status == "ready", state.error
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1", timeout=30) as c:
            c.app = app
            yield c


def probabilities(result: dict) -> dict[str, float]:
    return {p["class"]: p["probability"] for p in result["predictions"]}


# ----------------------------------------------------------------------------------------- answers


def test_api_answers_equal_googlenet_predict(served, model_file, photos, run_cli):
    code, out, err = run_cli("predict", *photos, "-c", model_file, "--json", "--backend", "ort", "--threads", "1",
                             "--top-k", "5")
    assert code == 0, err
    expected = {Path(r["path"]).name: r for r in json.loads(out)}

    async def main():
        async with client(served, max_wait_ms=0) as c:
            singles = [(await c.post("/v1/predict", content=p.read_bytes())).json() for p in photos]
            files = [("file", (p.name, p.read_bytes(), "application/octet-stream")) for p in photos]
            several = (await c.post("/v1/predict", files=files)).json()
            return singles, several

    singles, several = asyncio.run(main())
    for photo, answer in zip(photos, singles, strict=True):
        want = expected[photo.name]
        (got,) = answer["results"]
        assert got["size"] == want["size"]
        assert [p["class"] for p in got["predictions"]] == [p["class"] for p in want["predictions"]]
        np.testing.assert_allclose([p["probability"] for p in got["predictions"]],
                                   [p["probability"] for p in want["predictions"]], rtol=0, atol=1e-6)
        assert answer["model"]["name"] == "googlenet" and answer["model"]["backend"] == "ort"
        assert len(answer["model"]["version"]) == 12 and answer["time_ms"]["total"] > 0
    assert [r["image"] for r in several["results"]] == [p.name for p in photos]
    for got, photo in zip(several["results"], photos, strict=True):
        want = probabilities(expected[photo.name])
        assert got["predictions"][0]["class"] == expected[photo.name]["predictions"][0]["class"]
        for name, p in probabilities(got).items():
            assert abs(p - want[name]) < 1e-5


def test_batching_gives_the_probabilities_of_single_requests(served, photos):
    data = [p.read_bytes() for p in photos] * 2

    async def main():
        async with client(served, max_batch=1) as c:
            alone = [(await c.post("/v1/predict", content=d)).json()["results"][0] for d in data]
        async with client(served, max_batch=32, max_wait_ms=300) as c:
            together = [r.json()["results"][0] for r in await asyncio.gather(
                *(c.post("/v1/predict", content=d) for d in data))]
            metrics = (await c.get("/metrics")).text
        return alone, together, metrics

    alone, together, metrics = asyncio.run(main())
    assert {r["batch_size"] for r in alone} == {1}
    assert max(r["batch_size"] for r in together) > 1, "concurrent requests were not batched"
    for a, b in zip(alone, together, strict=True):
        pa, pb = probabilities(a), probabilities(b)
        assert pa.keys() == pb.keys()
        for name in pa:
            assert abs(pa[name] - pb[name]) <= 1e-5
    assert "googlenet_serve_batch_size_bucket" in metrics


def test_explain_returns_the_cam_overlay(served, photos):
    async def main():
        async with client(served) as c:
            r = await c.post("/v1/explain", content=photos[0].read_bytes())
            top = (await c.post("/v1/predict", content=photos[0].read_bytes())).json()["results"][0]
            last = top["predictions"][-1]["index"]
            other = await c.post(f"/v1/explain?class_index={last}", files={"file": ("x.jpg", photos[0].read_bytes())})
            return r, top, other, last

    r, top, other, last = asyncio.run(main())
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    png = Image.open(io.BytesIO(r.content))
    assert png.format == "PNG" and png.size[0] >= 224
    assert r.headers["x-googlenet-method"] == "cam"
    assert r.headers["x-googlenet-class"] == top["predictions"][0]["class"]  # eager model, same top class
    assert other.status_code == 200 and other.headers["x-googlenet-class"] == CLASSES[last]
    assert other.content != r.content


def test_gradcam_for_a_head_without_global_average_pooling(tmp_path):
    from googlenet.models.registry import create_model
    from googlenet.weights.checkpoint import save_model

    model = create_model("lenet5", num_classes=3).eval()
    path = save_model(tmp_path / "lenet.safetensors", model, model_name="lenet5", model_kwargs={"num_classes": 3},
                      preprocessing={"input_size": 32, "channels": 1, "mean": [0.5], "std": [0.5]})
    lenet = ServedModel.load(path, backend="torch", threads=1)
    assert lenet.explain_method == "gradcam"

    async def main():
        async with client(lenet) as c:
            return await c.post("/v1/explain", content=_png((np.random.default_rng(0).random((40, 40)) * 255)
                                                             .astype(np.uint8), "L"))

    r = asyncio.run(main())
    assert r.status_code == 200 and r.headers["x-googlenet-method"] == "gradcam"
    assert Image.open(io.BytesIO(r.content)).format == "PNG"


def test_an_onnx_export_serves_the_same_answers_and_explain_says_why_not(served, model_file, photos, tmp_path):
    from googlenet.deploy.export import export_model

    onnx_file = export_model(model_file, tmp_path / "tiny.onnx", check=False).path
    exported = ServedModel.load(onnx_file, backend="auto", threads=1)
    assert exported.backend == "ort" and exported.class_names == CLASSES

    async def ask(model):
        async with client(model) as c:
            answer = (await c.post("/v1/predict", content=photos[0].read_bytes())).json()["results"][0]
            return answer, await c.post("/v1/explain", content=photos[0].read_bytes())

    (from_onnx, refused), (from_file, _) = asyncio.run(ask(exported)), asyncio.run(ask(served))
    assert [p["class"] for p in from_onnx["predictions"]] == [p["class"] for p in from_file["predictions"]]
    for a, b in zip(from_onnx["predictions"], from_file["predictions"], strict=True):
        assert abs(a["probability"] - b["probability"]) < 1e-4
    assert refused.status_code == 409 and refused.json()["error"]["kind"] == "explain_unavailable"
    assert ".safetensors" in refused.json()["error"]["message"]


# ------------------------------------------------------------------------------------ bad input


def _bomb_png(side: int = 40000) -> bytes:
    """A 100-byte PNG that declares a side x side bitmap (a real PNG header; the pixels never come)."""
    raw = _png(np.zeros((1, 1), np.uint8), "L")
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return raw[:8] + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk)) + raw[33:]


def test_every_bad_input_is_a_4xx_naming_the_problem_and_the_server_goes_on(served, photos):
    huge = io.BytesIO()
    Image.new("L", (12000, 9000), 128).save(huge, "JPEG", quality=50)
    tiny = _png(np.zeros((1, 1, 3), np.uint8))
    good = photos[0].read_bytes()
    cases = [  # (request, status, kind, words in the message)
        (dict(content=b"this is not an image, just text"), 415, "not_an_image", "image format"),
        (dict(content=b""), 400, "empty_body", "0 bytes"),
        (dict(content=_bomb_png()), 413, "decompression_bomb", "decompression"),
        (dict(content=os.urandom(3_000_000)), 413, "body_too_large", "--max-body-mb"),
        (dict(content=tiny), 422, "image_too_small", "1 x 1"),
        (dict(content=huge.getvalue()), 413, "image_too_large", "12,000 x 9,000"),
        (dict(files={"file": ("empty.jpg", b"")}), 400, "empty_body", "empty.jpg"),
        (dict(content=b'--b\r\nContent-Disposition: form-data; name="note"\r\n\r\nno file here\r\n--b--\r\n',
              headers={"Content-Type": "multipart/form-data; boundary=b"}), 400, "no_file", "file"),
        (dict(files=[("file", (f"{i}.jpg", good)) for i in range(5)]), 413, "too_many_images", "--max-images"),
        (dict(content=good[: len(good) // 3]), 415, "not_an_image", "decoded"),
    ]

    async def main():
        async with client(served, max_body_mb=2, max_images=4, max_queue=64) as c:
            answers = []
            for request, *_ in cases:
                answers.append(await c.post("/v1/predict", **request))
                ok = await c.post("/v1/predict", content=good)  # everyone else is still served
                assert ok.status_code == 200
            bad_k = await c.post("/v1/predict?top_k=0", content=good)
            metrics = (await c.get("/metrics")).text
            return answers, bad_k, metrics

    answers, bad_k, metrics = asyncio.run(main())
    for (_, status, kind, words), r in zip(cases, answers, strict=True):
        error = r.json()["error"]
        assert (r.status_code, error["kind"]) == (status, kind), error
        assert words in error["message"] and "\n" not in error["message"]
    assert bad_k.status_code == 422 and "top_k" in bad_k.json()["error"]["message"]
    assert 'googlenet_serve_errors_total{kind="decompression_bomb"} 1.0' in metrics
    assert 'googlenet_serve_requests_total{route="/v1/predict",status="413"} 4.0' in metrics


def test_a_slow_client_times_out_with_408(served, photos):
    data = photos[0].read_bytes()

    async def main():
        app = create_app(ServeSettings(model=str(served.path), body_timeout_s=0.3), served)
        async with app.router.lifespan_context(app):
            while app.state.serve.status == "loading":
                await asyncio.sleep(0.01)
            sent = []
            chunks = [data[:100], None]  # 100 bytes, then the client stalls

            async def receive():
                chunk = chunks.pop(0)
                if chunk is None:
                    await asyncio.sleep(5)
                    return {"type": "http.disconnect"}
                return {"type": "http.request", "body": chunk, "more_body": True}

            async def send(message):
                sent.append(message)

            scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                     "scheme": "http", "path": "/v1/predict", "raw_path": b"/v1/predict", "query_string": b"",
                     "root_path": "", "headers": [(b"content-length", str(len(data)).encode())],
                     "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
            t0 = time.perf_counter()
            await app(scope, receive, send)
            return sent, time.perf_counter() - t0

    sent, seconds = asyncio.run(main())
    assert sent[0]["status"] == 408 and seconds < 3
    assert json.loads(sent[1]["body"])["error"]["kind"] == "slow_client"


def test_a_full_queue_answers_503_with_retry_after(served, photos):
    data = photos[0].read_bytes()

    async def main():
        async with client(served, max_queue=2, max_images=2, max_wait_ms=500, max_batch=32) as c:
            return await asyncio.gather(*(c.post("/v1/predict", content=data) for _ in range(6)))

    answers = asyncio.run(main())
    codes = sorted(r.status_code for r in answers)
    assert codes == [200, 200, 503, 503, 503, 503]
    refused = next(r for r in answers if r.status_code == 503)
    assert int(refused.headers["retry-after"]) >= 1 and refused.json()["error"]["kind"] == "overloaded"


def test_token_guards_every_route_but_healthz(served, photos):
    data = photos[0].read_bytes()

    async def main():
        async with client(served, token="s3cret") as c:
            return {
                "healthz": (await c.get("/healthz")).status_code,
                "predict": (await c.post("/v1/predict", content=data)).status_code,
                "wrong": (await c.post("/v1/predict", content=data,
                                       headers={"Authorization": "Bearer no"})).status_code,
                "right": (await c.post("/v1/predict", content=data,
                                       headers={"Authorization": "Bearer s3cret"})).status_code,
                "metrics": (await c.get("/metrics")).status_code,
                "page": (await c.get("/")).status_code,
                "page_token": (await c.get("/?token=s3cret")).status_code,
                "openapi": (await c.get("/openapi.json")).status_code,
            }

    assert asyncio.run(main()) == {"healthz": 200, "predict": 401, "wrong": 401, "right": 200, "metrics": 401,
                                   "page": 401, "page_token": 200, "openapi": 401}


def test_binding_beyond_localhost_warns_without_a_token(model_file, run_cli):
    line = exposure_warning(ServeSettings(model=str(model_file), host="0.0.0.0"))
    assert line.startswith("googlenet: warning:") and "--token" in line and "\n" not in line
    assert exposure_warning(ServeSettings(model=str(model_file), host="0.0.0.0", token="t")) is None
    assert exposure_warning(ServeSettings(model=str(model_file))) is None
    code, _, err = run_cli("serve", "no-such-model.safetensors")
    assert code == 2 and "not found" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli("serve", model_file, "--max-batch", "0")
    assert code == 2 and "--max-batch" in err
    code, _, err = run_cli("serve", model_file, "--backend", "tpu")
    assert code == 2 and "backend" in err


def test_healthz_is_503_until_the_model_is_loaded(model_file):
    """The model loads after the server starts: /healthz and the API say so until it is ready."""

    async def main():
        app = create_app(ServeSettings(model=str(model_file), backend="torch", threads=1))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app)
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
                first = await c.get("/healthz")
                early = await c.post("/v1/predict", content=b"x")
                while app.state.serve.status == "loading":
                    await asyncio.sleep(0.05)
                return first, early, await c.get("/healthz")

    first, early, ready = asyncio.run(main())
    assert first.status_code == 503 and first.json()["status"] == "loading"
    assert early.status_code == 503 and early.json()["error"]["kind"] == "model_loading"
    assert ready.status_code == 200 and ready.json()["model"]["backend"] == "torch"


# ------------------------------------------------------------------------------------- real servers


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_ready(url: str, process: subprocess.Popen | None = None, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the server exited: {process.stderr.read()}")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("the server did not become ready")


def test_sigterm_drains_requests_in_flight_then_exits_0(model_file, photos):
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "googlenet", "serve", str(model_file), "--port", str(port), "--backend", "torch",
         "--threads", "1", "--max-wait-ms", "2000"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process)
        data = photos[0].read_bytes()
        answers: list = []

        def ask():
            answers.append(httpx.post(url + "/v1/predict", content=data, timeout=30))

        threads = [threading.Thread(target=ask) for _ in range(3)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 20
        while "googlenet_serve_queued_images 3.0" not in httpx.get(url + "/metrics").text:  # all three wait
            assert time.monotonic() < deadline, "the requests did not reach the batcher"
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        for t in threads:
            t.join(30)
        code = process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
    assert code == 0, process.stderr.read()
    assert [r.status_code for r in answers] == [200, 200, 200]
    assert {r.json()["results"][0]["batch_size"] for r in answers} == {3}
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/healthz", timeout=2)


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (scripts/system_packages.sh)")
def test_the_page_in_a_real_browser(served, photos):
    """Headless chromium uploads a photo on the page and reads the top-5 bars and the CAM image; any console
    error or any request to a host other than 127.0.0.1 fails the test."""
    playwright = pytest.importorskip("playwright.sync_api")
    import uvicorn

    port = _free_port()
    app = create_app(ServeSettings(model=str(served.path)), served)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    outside, console_errors = [], []
    try:
        _wait_ready(url)
        expected = httpx.post(url + "/v1/predict", content=photos[0].read_bytes()).json()["results"][0]
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
            page = browser.new_page()

            def route(r):
                host = r.request.url.split("/")[2] if "://" in r.request.url else ""
                if host.split(":")[0] != "127.0.0.1":
                    outside.append(r.request.url)
                    return r.abort()
                return r.continue_()

            page.route("**/*", route)
            page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: console_errors.append(str(e)))
            page.goto(url + "/")
            page.wait_for_function("document.getElementById('model').textContent.includes('googlenet')")
            page.set_input_files("#file", str(photos[0]))
            page.wait_for_function("document.querySelectorAll('#top li').length === 5 && "
                                   "document.getElementById('cam').naturalWidth > 0", timeout=20000)
            names = page.locator("#top li .name").all_inner_texts()
            shown = page.locator("#top li .prob").all_inner_texts()
            bars = page.eval_on_selector_all("#top .bar", "els => els.map(e => e.style.width)")
            cam = page.eval_on_selector("#cam", "e => [e.naturalWidth, e.naturalHeight, e.src.slice(0, 5)]")
            caption = page.inner_text("#camcap")
            browser.close()
    finally:
        server.should_exit = True
        thread.join(10)
    assert not outside, f"requests outside 127.0.0.1: {outside}"
    assert not console_errors, console_errors
    assert names == [c["class"] for c in expected["predictions"]]
    assert shown == [f"{100 * c['probability']:.1f}%" for c in expected["predictions"]]
    assert float(bars[0].rstrip("%")) == pytest.approx(100 * expected["predictions"][0]["probability"], abs=0.01)
    assert cam[0] >= 224 and cam[1] >= 224 and cam[2] == "blob:"
    assert expected["predictions"][0]["class"] in caption
