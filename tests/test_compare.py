"""``googlenet compare``: measured parameters and multiply-adds for every registered model, published
accuracy, the bubble chart, JSON, and models other branches register."""

from __future__ import annotations

import json

import pytest
from torch import nn

import googlenet
from googlenet.inspect.compare import compare, measure, plot, throughput
from googlenet.models import registry


def test_measured_counts_of_known_models():
    rows = {r.name: r for r in compare(["lenet5", "resnet50", "vgg16", "alexnet", "squeezenet1_1", "googlenet"])}
    assert rows["resnet50"].params == 25_557_032 and rows["resnet50"].macs == pytest.approx(4.09e9, rel=0.01)
    assert rows["vgg16"].params == 138_357_544 and rows["vgg16"].macs == pytest.approx(15.47e9, rel=0.01)
    assert rows["alexnet"].macs == pytest.approx(0.724e9, rel=0.01)  # Sze et al.'s 724M (groups=2 halve it)
    assert rows["squeezenet1_1"].macs == pytest.approx(0.35e9, rel=0.02)
    # LeNet-5: C1 117,600 + C3 150,000 (Table I, not 240,000) + C5 48,000 + F6 10,080
    assert rows["lenet5"].macs == 325_680 and rows["lenet5"].in_channels == 1
    # GoogLeNet's auxiliary classifiers do not run in eval mode: the paper's 7.0M, not 13.4M
    assert rows["googlenet"].params == 6_998_552 and rows["googlenet"].params_total == 13_378_280
    assert all(r.measured_on == "meta" and not r.error for r in rows.values())


def test_every_registered_model_is_measured(extra_model):
    rows = compare()
    assert {r.name for r in rows} == set(googlenet.list_models()) and extra_model in {r.name for r in rows}
    for r in rows:
        assert not r.error, (r.name, r.error)
        assert r.params and r.macs and r.macs > 0
        # our families: the registry's published count is what we build
        if r.ref_params and r.family in ("lenet", "alexnet", "vgg", "nin", "resnet", "squeezenet"):
            assert r.params == pytest.approx(r.ref_params, rel=0.01), r.name


@pytest.fixture
def extra_model():
    """A model registered from elsewhere (as the Inception v2-v4 branch does), removed afterwards."""

    class Tiny(nn.Module):
        def __init__(self, num_classes: int = 5, in_channels: int = 2) -> None:
            super().__init__()
            self.conv = nn.Conv2d(in_channels, 4, 3)
            self.fc = nn.Linear(4, num_classes)

        def forward(self, x):
            return self.fc(self.conv(x).mean((2, 3)))

    registry.register_model("tiny_from_elsewhere", family="test", paper="none", year=2024, input_size=10,
                            params=137, top1=50.0, top5=90.0, accuracy_source="made up for the test")(Tiny)
    yield "tiny_from_elsewhere"
    registry._REGISTRY.pop("tiny_from_elsewhere")


def test_models_registered_elsewhere_are_compared(extra_model):
    (row,) = compare([extra_model])
    # conv 2->4 3x3 on 10x10 -> 8x8: 4*2*9*64 = 4608 multiply-adds; fc 4->5: 20; params 76 + 25
    assert row.params == 4 * 2 * 9 + 4 + 4 * 5 + 5 and row.macs == 4608 + 20 and row.in_channels == 2


def test_a_model_that_fails_gets_an_error_row(extra_model):
    registry._REGISTRY["broken_model"] = registry.ModelInfo(
        name="broken_model", builder=lambda: (_ for _ in ()).throw(RuntimeError("no such layer")),
        family="test", paper="none", year=2024, input_size=8)
    try:
        rows = {r.name: r for r in compare(["broken_model", extra_model])}
    finally:
        registry._REGISTRY.pop("broken_model")
    assert "no such layer" in rows["broken_model"].error and rows["broken_model"].params is None
    assert not rows[extra_model].error


def test_unknown_model_names_the_fix():
    with pytest.raises(googlenet.UserError, match="did you mean resnet50"):
        compare(["resnet5O"])


def test_throughput_is_measured(extra_model):
    speed = throughput(extra_model, batch_size=4, seconds=0.05)
    assert speed > 0
    with pytest.raises(googlenet.UserError, match="batch size"):
        throughput(extra_model, batch_size=0)


def test_measure_falls_back_to_cpu_when_meta_cannot_run():
    class ValueDependent(nn.Module):  # reads a tensor's value: impossible on the meta device
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(3, 2)

        def forward(self, x):
            return self.fc(x.mean((2, 3))) * (1.0 + 0.0 * x.sum().item())

    registry._REGISTRY["value_dependent"] = registry.ModelInfo(
        name="value_dependent", builder=ValueDependent, family="test", paper="none", year=2024, input_size=4)
    try:
        with pytest.raises(Exception, match="meta"):
            measure("value_dependent")
        (row,) = compare(["value_dependent"])
    finally:
        registry._REGISTRY.pop("value_dependent")
    assert row.measured_on == "cpu" and row.params == 8 and row.macs == 6 and not row.error


def test_plot_writes_png_and_svg(tmp_path):
    rows = compare(["resnet18", "resnet50", "squeezenet1_1", "alexnet", "lenet5"])
    paths = plot(rows, tmp_path / "zoo.png")
    assert [p.name for p in paths] == ["zoo.png", "zoo.svg"]
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = paths[1].read_text()
    assert "<svg" in svg and "resnet50" in svg and "lenet5" not in svg  # MNIST accuracy is not plotted
    with pytest.raises(googlenet.UserError, match="does not exist"):
        plot(rows, tmp_path / "missing" / "zoo")
    with pytest.raises(googlenet.UserError, match="no model with a published ImageNet accuracy"):
        plot([r for r in rows if r.name == "lenet5"], tmp_path / "none")


def test_cli_table_json_and_plot(run_cli, tmp_path):
    code, out, err = run_cli("compare", "resnet18", "vgg11", "lenet5", "--sort", "macs")
    assert code == 0, err
    lines = out.splitlines()
    assert "mult-adds" in lines[1]
    order = [line.split()[0] for line in lines[3:]]
    assert order == ["vgg11", "resnet18", "lenet5"]
    assert "mult-adds (G)" in lines[1] and "params (M)" in lines[1]  # one unit per column, in its header
    resnet = next(line for line in lines if line.startswith("resnet18")).split()
    assert resnet[5] == "1.814" and "paper Table 3" in out  # measured G mult-adds; the source's citation only

    code, out, _ = run_cli("compare", "--family", "squeezenet", "--json", "--plot", tmp_path / "sq")
    data = json.loads(out)
    assert [m["name"] for m in data["models"]] == googlenet.list_models(family="squeezenet")
    assert data["models"][1]["params"] == 1_235_496 and data["models"][1]["top1"] == 58.178
    assert (tmp_path / "sq.png").is_file() and (tmp_path / "sq.svg").is_file()

    code, out, err = run_cli("compare", "resnet18", "--measure", "--seconds", "0.05", "--batch-size", "1")
    assert code == 0 and "img/s" in out

    code, out, err = run_cli("compare", "resnet5O")
    assert code == 2 and "did you mean resnet50" in err and "\n" == err[-1] and err.count("\n") == 1
