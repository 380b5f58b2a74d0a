"""googlenet.visualize: CAM / Grad-CAM, feature maps and filters, the architecture diagram, the run report."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from googlenet.errors import UserError
from googlenet.models.googlenet import GoogLeNet
from googlenet.system.threads import torch_threads

REPO = Path(__file__).resolve().parents[1]
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz not installed "
                               "(bash scripts/system_packages.sh)")


@pytest.fixture(autouse=True)
def one_thread():
    """These tiny models run fastest on one thread, the more so on a shared machine."""
    with torch_threads(1):
        yield


def small_googlenet(**kw) -> GoogLeNet:
    torch.manual_seed(0)
    args = dict(num_classes=3, in_channels=3, aux_logits=False, width=0.125, small_input=True, batch_norm=True,
                lrn=False)
    return GoogLeNet(**{**args, **kw}).eval()


# ------------------------------------------------------------------------------------------- diagram


def test_every_registered_model_has_a_compact_diagram(tmp_path):
    from googlenet.models.registry import list_models
    from googlenet.visualize.diagram import build_diagram

    for name in list_models():
        d = build_diagram(name)
        assert d.traced, name  # the meta-device forward pass ran, so the edges are the real data flow
        assert len(d.nodes) >= 5 and d.edges, name
        assert "input" in d.source and "softmax" in d.source, name
        ids = {n.id for n in d.nodes}
        assert all(a in ids and b in ids for a, b in d.edges), name
    if shutil.which("dot"):
        for name in ("googlenet", "inception_v3", "resnet18", "enet"):
            svg, = build_diagram(name).render(tmp_path / name, ["svg"])
            assert svg.read_text().lstrip().startswith(("<?xml", "<svg"))


def test_googlenet_diagram_is_figure_3():
    from googlenet.visualize.diagram import build_diagram

    d = build_diagram("googlenet")
    src = d.source
    inception = re.findall(r"^\s*(inception\d[a-e]) \[.*class=inception", src, flags=re.M)
    assert inception == ["inception3a", "inception3b", "inception4a", "inception4b", "inception4c", "inception4d",
                         "inception4e", "inception5a", "inception5b"]
    line_3a = next(line for line in src.splitlines() if line.strip().startswith("inception3a ["))
    assert "".join(f"<TD>{n}</TD>" for n in (64, 96, 128, 16, 32, 32)) in line_3a  # Table 1's row for 3a
    aux = [n for n in d.nodes if n.kind == "aux"]
    assert [n.id for n in aux] == ["aux1", "aux2"]
    assert ("inception4a", "aux1") in d.edges and ("inception4d", "aux2") in d.edges  # section 5's taps
    assert ("inception4a", "inception4b") in d.edges
    assert sorted(n.title for n in d.nodes if n.kind == "output") == ["aux1", "aux2", "main"]
    pools = [n.id for n in d.nodes if n.kind == "pool"]
    assert pools == ["maxpool1", "maxpool2", "maxpool3", "maxpool4", "avgpool"]
    assert "Conv 7x7+2(S) 64" in src and "LocalRespNorm" in src


def test_expanded_diagram_draws_four_branches(tmp_path):
    from googlenet.visualize.diagram import build_diagram

    d = build_diagram("googlenet", mode="expanded")
    assert d.source.count("subgraph cluster_inception") == 9
    assert d.source.count("DepthConcat") == 9
    # 3a's branches as Figure 3 draws them: 1x1; 1x1 -> 3x3; 1x1 -> 5x5; max pool -> 1x1 pool proj
    assert re.search(r'"inception3a/b1s1" \[label="Conv 3x3\+1\(S\) 128"', d.source)
    assert re.search(r'"inception3a/b2s1" \[label="Conv 5x5\+1\(S\) 32"', d.source)
    assert re.search(r'"inception3a/b3s0" \[label="MaxPool 3x3\+1\(S\)"', d.source)
    # torchvision's variant has a 3x3 where the paper has 5x5, and the diagram says so
    tv = build_diagram("googlenet_torchvision", mode="expanded").source
    assert re.search(r'"inception3a/b2s1" \[label="Conv 3x3\+1\(S\) 32"', tv)
    if shutil.which("dot"):
        paths = d.render(tmp_path / "g", ["svg", "png"])
        assert [p.suffix for p in paths] == [".svg", ".png"]
        assert Image.open(paths[1]).size[1] > 1000


def test_diagram_cli(run_cli, tmp_path):
    code, out, err = run_cli("diagram", "googlenet", "--small-input", "--format", "dot", "--out", tmp_path / "d")
    assert code == 0, err
    src = (tmp_path / "d.dot").read_text()
    assert "input\n32x32x3" in src  # the small-input stem at 32x32
    code, _, err = run_cli("diagram", "googlenet", "--format", "gif", "--out", tmp_path / "d")
    assert code == 2 and "unknown diagram format" in err


# ------------------------------------------------------------------------------------------- CAM


def test_cam_is_exact_from_the_fc_weights():
    from googlenet.visualize.cam import class_activation_map

    model = small_googlenet()
    x = torch.randn(2, 3, 32, 32)
    raw, logits, index = class_activation_map(model, x, top_k=3, upsample=False)
    assert raw.shape == (2, 3, 4, 4) and index.shape == (2, 3)
    # Zhou et al. eq. (1)-(2): the map's spatial mean is the class score without its bias.
    bias = model.fc.bias[index]
    torch.testing.assert_close(raw.mean(dim=(2, 3)) + bias, logits.gather(1, index), rtol=1e-4, atol=1e-5)
    maps, _, _ = class_activation_map(model, x, classes=[0, 2])
    assert maps.shape == (2, 1, 32, 32) and maps.min() >= 0 and maps.max() <= 1


def test_cam_refuses_heads_it_cannot_explain():
    from googlenet.visualize.cam import class_activation_map

    with pytest.raises(UserError, match="gradcam"):
        class_activation_map(nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten()), torch.zeros(1, 3, 8, 8))

    class MaxHead(TinyGAPNet):  # a max-pooled head: CAM's sum is not the score
        def forward_head(self, f, pre_logits=False):
            return self.fc(f.amax(dim=(2, 3)))

    with pytest.raises(UserError, match="not global average pooling"):
        class_activation_map(MaxHead(channels=3).eval(), torch.rand(2, 3, 32, 32))


def test_gradcam_any_layer():
    from googlenet.visualize.cam import gradcam_map, resolve_layer

    model = small_googlenet()
    assert resolve_layer(model, None)[0] == "inception5b"  # the last block with a spatial output
    x = torch.randn(2, 3, 32, 32)
    maps, logits, index, layer = gradcam_map(model, x, layer="inception4a", top_k=2)
    assert layer == "inception4a" and maps.shape == (2, 2, 32, 32)
    assert float(maps.min()) >= 0 and float(maps.max()) <= 1 + 1e-6
    with pytest.raises(UserError, match="no layer 'inception9z'"):
        gradcam_map(model, x, layer="inception9z")


class TinyGAPNet(nn.Module):
    """Three convolutions, global average pooling, one linear layer: Zhou et al.'s GAP network in miniature.

    Its receptive field (10 px) is small beside the 32 px image, so evidence stays where it was found. A
    GoogLeNet at 32x32 ends on a 4x4 grid whose every cell sees the whole image (Zhou et al. cut GoogLeNet
    after 4e for a 14x14 map, section 3.1), and trained for seconds its CAM did not localize (2-6 of 16).
    """

    def __init__(self, channels: int = 1) -> None:
        super().__init__()

        def block(i: int, o: int, k: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(i, o, k, padding=k // 2, bias=False), nn.BatchNorm2d(o), nn.ReLU())

        self.features = nn.Sequential(block(channels, 16, 3), nn.MaxPool2d(2), block(16, 32, 3), nn.MaxPool2d(2),
                                      block(32, 32, 1))
        self.fc = nn.Linear(32, 2)

    def forward_features(self, x):
        return self.features(x)

    def forward_head(self, f, pre_logits=False):
        f = f.mean(dim=(2, 3))
        return f if pre_logits else self.fc(f)

    def get_classifier(self):
        return self.fc

    def forward(self, x):
        return self.forward_head(self.forward_features(x))


def square_batch(n: int, g: torch.Generator, side: int = 8, size: int = 32):
    """Noise in [0, 0.5]; class 1 has a square of side ``side`` made 0.5 brighter at a random place."""
    x = torch.rand(n, 1, size, size, generator=g) * 0.5
    y = torch.randint(0, 2, (n,), generator=g)
    boxes = []
    for i in range(n):
        r, c = torch.randint(0, size - side + 1, (2,), generator=g).tolist()
        boxes.append((r, c))
        if y[i]:
            x[i, :, r:r + side, c:c + side] += 0.5
    return x, y, boxes


def train_square_model(steps: int = 100) -> TinyGAPNet:
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    model = TinyGAPNet()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(steps):
        x, y, _ = square_batch(32, g)
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


def peak(heat: np.ndarray | torch.Tensor) -> tuple[float, float]:
    """Where a map is largest; a plateau of equal maxima (bilinear upsampling's border) counts at its centre."""
    heat = torch.as_tensor(heat)
    ys, xs = torch.nonzero(heat >= heat.max() - 1e-6, as_tuple=True)
    return ys.float().mean().item(), xs.float().mean().item()


def test_cam_peaks_on_the_bright_square(tmp_path):
    from googlenet.visualize.cam import explain, save_overlay

    model = train_square_model()
    x, y, boxes = square_batch(64, torch.Generator().manual_seed(123))
    with torch.no_grad():
        assert (model(x).argmax(1) == y).float().mean() > 0.9
    x1 = x[y == 1][:16]
    b1 = [b for b, label in zip(boxes, y.tolist(), strict=True) if label][:16]
    results = explain(model, x1, top_k=2, class_names=["noise", "square"])
    hits = 0
    for r, (row, col) in zip(results, b1, strict=True):
        assert r.classes[0] == "square"
        py, px = peak(r.maps[0])
        hits += row <= py < row + 8 and col <= px < col + 8
    assert hits >= 12, f"CAM peaked on the square in only {hits} of 16 images"
    png = Image.open(save_overlay(results[0], tmp_path / "square.png"))
    assert png.size[0] > png.size[1] * 2  # the image and two overlays side by side


# ------------------------------------------------------------------------------------------- files, CLI


def save_run_model(path: Path, model: nn.Module, dataset: str | None = None) -> Path:
    from googlenet.weights.checkpoint import save_model

    pre = {"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25], "input_size": 32, "resize": 32, "channels": 3}
    if dataset:
        pre["dataset"] = dataset
    kwargs = dict(num_classes=3, in_channels=3, aux_logits=False, width=0.125, small_input=True, batch_norm=True,
                  lrn=False)
    return save_model(path, model, model_name="googlenet", model_kwargs=kwargs, class_names=["a", "b", "c"],
                      preprocessing=pre)


def write_images(folder: Path, n: int, size: int = 40, seed: int = 0) -> list[Path]:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"img{i}.png"
        Image.fromarray(rng.integers(0, 255, (size, size + 8, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def test_explain_cli_writes_overlays_features_and_filters(run_cli, tmp_path):
    model_file = save_run_model(tmp_path / "m.safetensors", small_googlenet())
    images = write_images(tmp_path / "imgs", 2)
    out = tmp_path / "out"
    code, stdout, err = run_cli("explain", *images, "-c", model_file, "--top-k", "2", "--out", out,
                                "--features", "inception3a", "--filters", "--json")
    assert code == 0, err
    data = json.loads(stdout)
    assert len(data["explanations"]) == 2 and len(data["explanations"][0]["classes"]) == 2
    assert sorted(p.name for p in out.iterdir()) == ["filters.png", "img0-cam.png", "img0-features-inception3a.png",
                                                    "img1-cam.png", "img1-features-inception3a.png"]
    code, stdout, err = run_cli("explain", images[0], "-c", model_file, "--method", "gradcam", "--layer",
                                "inception4e", "--out", out)
    assert code == 0, err and "Grad-CAM" in stdout
    assert (out / "img0-gradcam.png").is_file()
    code, _, err = run_cli("explain", tmp_path / "missing.png", "-c", model_file, "--out", out)
    assert code == 2 and "missing.png" in err


def lively_googlenet() -> GoogLeNet:
    """small_googlenet with the BN statistics of a random batch and a random classifier, so that its class
    scores differ by image and by class (fresh, its last features are about 1e-18: every probability 1/3)."""
    model = small_googlenet()
    g = torch.Generator().manual_seed(0)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.momentum = 1.0
    model.train()
    with torch.no_grad():
        model(torch.randn(8, 3, 32, 32, generator=g))
        model.fc.weight.copy_(torch.randn(model.fc.weight.shape, generator=g))
    return model.eval()


OPENVINO = pytest.mark.skipif(importlib.util.find_spec("openvino") is None, reason="openvino not installed")


@pytest.mark.parametrize("backend", ["ort", pytest.param("openvino", marks=OPENVINO)])
def test_explain_cli_scores_from_a_backend_match_eager(backend, run_cli, tmp_path):
    model_file = save_run_model(tmp_path / "m.safetensors", lively_googlenet())
    images = write_images(tmp_path / "imgs", 3)
    runs = {}
    for name, flags in (("eager", []), (backend, ["--backend", backend])):  # eager: the default
        code, stdout, err = run_cli("explain", *images, "-c", model_file, "-k", "2", "--out", tmp_path / name,
                                    *flags, "--json")
        assert code == 0, err
        runs[name] = json.loads(stdout)
    assert runs["eager"]["backend"] == "eager" and runs[backend]["backend"] == backend
    probabilities = []
    for e, b in zip(runs["eager"]["explanations"], runs[backend]["explanations"], strict=True):
        assert e["backend"] == "eager" and b["backend"] == backend
        assert [c["index"] for c in b["classes"]] == [c["index"] for c in e["classes"]]
        assert [c["probability"] for c in b["classes"]] == pytest.approx(
            [c["probability"] for c in e["classes"]], abs=1e-4)
        assert [c["peak_yx"] for c in b["classes"]] == [c["peak_yx"] for c in e["classes"]]  # the same torch maps
        probabilities += [c["probability"] for c in e["classes"]]
    assert max(probabilities) - min(probabilities) > 0.05  # scores that tell classes apart: the match means something
    code, stdout, err = run_cli("explain", images[0], "-c", model_file, "--out", tmp_path / backend, "--force",
                                "--backend", backend)
    assert code == 0, err
    assert f"scores from --backend {backend}" in stdout


def test_explain_ranks_by_the_backend_and_maps_in_torch(monkeypatch):
    from googlenet.deploy.backends import ort
    from googlenet.visualize.cam import class_activation_map, explain

    model = lively_googlenet()
    x = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    _, logits, _ = class_activation_map(model, x)
    assert logits.argmin(1).tolist() != logits.argmax(1).tolist()
    forward = ort.OrtBackend.__call__
    monkeypatch.setattr(ort.OrtBackend, "__call__", lambda self, images: -forward(self, images))  # ranks reversed
    lowest = logits.argmin(1)
    cams, _, _ = class_activation_map(model, x, classes=lowest)
    for method in ("cam", "gradcam"):
        results = explain(model, x, top_k=1, backend="ort", method=method)
        assert [r.indices[0] for r in results] == lowest.tolist() and {r.backend for r in results} == {"ort"}
        expected = torch.softmax(-logits, 1).gather(1, lowest[:, None])[:, 0].tolist()
        assert [r.probabilities[0] for r in results] == pytest.approx(expected, abs=1e-4)
    for r, cam in zip(explain(model, x, top_k=1, backend="ort"), cams, strict=True):
        np.testing.assert_allclose(r.maps[0], cam[0].numpy(), atol=1e-5)  # torch's CAM of the backend's class
    assert [r.indices[0] for r in explain(model, x, top_k=1)] == logits.argmax(1).tolist()  # eager: unchanged


def test_explain_bad_or_missing_backend_is_one_line(run_cli, tmp_path, monkeypatch):
    from googlenet.visualize.cam import explain

    model_file = save_run_model(tmp_path / "m.safetensors", small_googlenet())
    image = write_images(tmp_path / "imgs", 1)[0]
    code, out, err = run_cli("explain", image, "-c", model_file, "--out", tmp_path / "o", "--backend", "tensorrt")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "unknown --backend 'tensorrt'" in err and "ort, ort-fused, int8, openvino" in err
    with pytest.raises(UserError, match="unknown --backend 'tensorrt'"):
        explain(small_googlenet(), torch.zeros(1, 3, 32, 32), backend="tensorrt")
    monkeypatch.setitem(sys.modules, "openvino", None)  # `import openvino` fails; find_spec answers None
    code, out, err = run_cli("explain", image, "-c", model_file, "--out", tmp_path / "o", "--backend", "openvino")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "needs openvino" in err and "Traceback" not in err
    assert not list((tmp_path / "o").glob("*.png"))


def test_filters_in_colour_and_feature_grid(tmp_path):
    from googlenet.visualize.features import feature_maps, save_feature_maps, save_filters

    colour = np.asarray(Image.open(save_filters(small_googlenet(), tmp_path / "rgb.png")).convert("RGB"), float)
    assert np.abs(colour[..., 0] - colour[..., 1]).max() > 50  # RGB kernels drawn as colour
    grey_model = small_googlenet(in_channels=1)
    grey = np.asarray(Image.open(save_filters(grey_model, tmp_path / "grey.png")).convert("RGB"), float)
    assert np.abs(grey[..., 0] - grey[..., 1]).max() < 2
    maps = feature_maps(grey_model, torch.rand(1, 28, 28), "inception3a")
    assert maps.shape == (grey_model.inception3a.out_channels, 14, 14)
    assert save_feature_maps(grey_model, torch.rand(1, 28, 28), "conv1", tmp_path / "f.png").is_file()
    with pytest.raises(UserError, match="no layer"):
        feature_maps(grey_model, torch.rand(1, 28, 28), "nope")


# ------------------------------------------------------------------------------------------- report


def make_run(tmp_path: Path, name: str, epochs: int = 3) -> Path:
    """A run folder like `googlenet train` leaves, on a 3-class image folder dataset."""
    data = tmp_path / "data"
    if not data.exists():
        for split, n in (("train", 2), ("test", 6)):
            for k, cls in enumerate("abc"):
                write_images(data / split / cls, n, size=32, seed=k * 10 + n)
    run = tmp_path / name
    run.mkdir()
    save_run_model(run / "model.safetensors", small_googlenet(), dataset=str(data))
    (run / "config.json").write_text(json.dumps({"model": "googlenet", "dataset": str(data), "lr": 0.1,
                                                 "epochs": epochs, "recipe": "fast", "seed": len(name)}))
    rows = [{"epoch": e, "train_loss": 1.1 - 0.1 * e, "train_top1": 30 + 5 * e, "val_loss": None} for e in
            range(1, epochs + 1)]
    (run / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (run / "summary.json").write_text(json.dumps({"model": "googlenet", "dataset": "folder", "epochs": epochs,
                                                  "test_top1": 33.3, "test_top5": 100.0}))
    return run


def assert_self_contained(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"https?:", page), "the page refers to the network"
    assert "<script" not in page and "<link" not in page
    sources = re.findall(r'<img src="([^"]*)"', page)
    assert sources and all(s.startswith(("data:image/png;base64,", "data:image/svg+xml;base64,")) for s in sources)


def test_run_report_sections_and_no_network(run_cli, tmp_path):
    run = make_run(tmp_path, "run-a")
    code, out, err = run_cli("report", run, "--mistakes", "3")
    assert code == 0, err
    page = (run / "report.html").read_text()
    assert_self_contained(page)
    for section in ("config", "curves", "confusion", "per-class", "mistakes", "model"):
        assert f'<section id="{section}">' in page
    assert "not measured" not in page  # the test split was found and evaluated
    mistakes = page.split('<section id="mistakes">')[1].split("</section>")[0]
    assert mistakes.count('<div class="card">') == 3  # random weights on 3 classes: plenty of mistakes
    assert "inception5b" in page.split('<section id="model">')[1]  # the per-layer summary


def test_report_without_its_dataset_still_renders(tmp_path):
    from googlenet.visualize.report import run_report, write_run_report

    run = make_run(tmp_path, "run-b")
    shutil.rmtree(tmp_path / "data")
    page = run_report(run)
    assert_self_contained(page)
    assert page.count("not measured") == 3
    assert write_run_report(run).name == "report.html"
    with pytest.raises(UserError, match="not a run folder"):
        run_report(tmp_path)


def test_compare_report(run_cli, tmp_path):
    a, b = make_run(tmp_path, "run-a", epochs=2), make_run(tmp_path, "run-b", epochs=4)
    code, _, err = run_cli("report", a, b, "--out", tmp_path / "cmp.html")
    assert code == 0, err
    page = (tmp_path / "cmp.html").read_text()
    assert_self_contained(page)
    assert "<th>run-a</th><th>run-b</th>" in page
    assert "<td>epochs</td>" in page  # a setting that differs is listed


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium not installed")
def test_report_renders_in_headless_chromium(tmp_path):
    from googlenet.visualize.report import write_run_report

    run = make_run(tmp_path, "run-c")
    shutil.rmtree(tmp_path / "data")  # the page without the evaluation sections is enough to render-check
    write_run_report(run)
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "report_screenshot.py"), str(run),
                           "--height", "1500"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ok   no console messages" in proc.stdout and "ok   no network requests" in proc.stdout


# ------------------------------------------------------------------------------------------- TensorBoard


def test_tensorboard_logger(tmp_path):
    pytest.importorskip("tensorboard")
    from googlenet.training.tensorboard import TensorBoardLogger

    with TensorBoardLogger(tmp_path) as tb:
        assert tb.log_scalars(1, {"train_loss": 0.5, "val_top1": 80.0, "val_loss": None, "device": "cpu"}) == 2
    events = list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    assert len(events) == 1
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(events[0]))
    acc.Reload()
    assert sorted(acc.Tags()["scalars"]) == ["train/loss", "val/top1"]


def test_system_packages_script_is_quick_when_installed():
    if shutil.which("dot") is None or shutil.which("chromium") is None:
        pytest.skip("graphviz/chromium not installed")
    proc = subprocess.run(["bash", str(REPO / "scripts" / "system_packages.sh")], capture_output=True, text=True,
                          timeout=10)
    assert proc.returncode == 0 and proc.stdout == "" and proc.stderr == ""
