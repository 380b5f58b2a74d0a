"""Per-layer analysis measured from the real modules, Table 1's layout, and the cost arithmetic."""

from __future__ import annotations

import json

import pytest
import torch

import googlenet
from googlenet.inspect.cost import bottleneck_cost, factorization_costs
from googlenet.inspect.tables import summary, table1


@pytest.fixture(scope="module")
def paper_summary():
    return summary("googlenet")


def test_paper_googlenet_totals(paper_summary):
    assert paper_summary.params == 13_378_280
    assert paper_summary.params_without_aux == 6_998_552
    assert paper_summary.macs == pytest.approx(1.58e9, rel=0.01)  # the inference path; aux heads excluded


def test_torchvision_googlenet_totals():
    result = summary("googlenet_torchvision", aux_logits=False)
    assert result.params == 6_624_904 and result.aux_params == 0
    assert result.macs == pytest.approx(1.50e9, rel=0.01)


def test_rows_are_measured_from_modules(paper_summary):
    rows = {r.name: r for r in paper_summary.rows}
    # conv1: 7x7x3x64 weights + 64 biases; 112x112 outputs x 147 multiply-adds x 64 channels.
    assert rows["conv1"].params == 7 * 7 * 3 * 64 + 64
    assert rows["conv1"].macs == 112 * 112 * 64 * 147
    assert rows["conv1"].kernel == "7x7/2"
    assert rows["inception3a"].output_shape == (256, 28, 28)
    assert rows["inception5b"].output_shape == (1024, 7, 7)
    assert rows["aux1"].auxiliary and rows["aux1"].output_shape == (1000,)
    assert sum(r.params for r in paper_summary.rows) == paper_summary.params


def test_summary_changes_with_the_model():
    half = summary("googlenet", width=0.5, aux_logits=False)
    full = summary("googlenet", aux_logits=False)
    assert half.macs < full.macs / 3  # most convolutions cost width^2
    small = summary("googlenet", 28, small_input=True, in_channels=1, num_classes=10)
    assert {r.name: r for r in small.rows}["inception3a"].output_shape == (256, 14, 14)


def test_table1_layout_marks_rows_that_differ_from_the_print(paper_summary):
    table = table1(paper_summary, googlenet.create_model("googlenet"))
    by_type = {r["type"]: r for r in table}
    three_a = by_type["inception (3a)"]
    assert (three_a["#1x1"], three_a["#3x3 reduce"], three_a["#3x3"], three_a["#5x5 reduce"], three_a["#5x5"],
            three_a["pool proj"]) == (64, 96, 128, 16, 32, 32)
    assert three_a["output size"] == "28x28x256"
    assert not three_a["differs"]
    conv1 = table[0]
    assert conv1["differs"] and conv1["paper params"] == 2.7e3  # the print's 2.7K is not 9,472
    assert table[2]["depth"] == 2 and table[2]["ops"] == pytest.approx(360e6, rel=0.01)


def test_bottleneck_arithmetic_matches_the_seed():
    c = bottleneck_cost()
    assert c.baseline_macs == 112_896_000  # 5x5 conv 480->48 on 14x14
    assert [m for _, m in c.alternative_parts] == [1_505_280, 3_763_200]  # 1.5M + 3.8M
    assert round(c.alternative_macs / 1e6, 1) == 5.3


def test_v3_factorization_savings():
    savings = {c.name: round(100 * c.saving) for c in factorization_costs()}
    assert savings == {"5x5 -> two 3x3": 28, "3x3 -> 1x3 + 3x1": 33, "3x3 -> two 2x2": 11}


def test_summary_rejects_bad_input_size():
    with pytest.raises(ValueError, match="input_size"):
        summary(torch.nn.Conv2d(3, 3, 3), None)
    with pytest.raises(ValueError, match="smaller than the 80x80 this stem needs"):
        summary("googlenet", 16)


def test_cli_summary_prints_table1_beside_the_paper(run_cli):
    code, out, err = run_cli("summary", "googlenet")
    assert code == 0, err
    assert "inception (4e)" in out and "paper params" in out and "840K" in out
    assert "6,998,552" in out


def test_cli_summary_json_and_generic_layers(run_cli):
    code, out, _ = run_cli("summary", "googlenet_torchvision", "--no-aux", "--json")
    data = json.loads(out)
    assert data["params"] == 6_624_904 and len(data["table1"]) == 18
    code, out, _ = run_cli("summary", "googlenet", "--layers", "--small-input", "--input-size", "28",
                           "--in-channels", "1", "--num-classes", "10")
    assert code == 0 and "inception3a" in out and "256x14x14" in out


def test_cli_cost(run_cli):
    code, out, _ = run_cli("cost")
    assert code == 0 and "112.9M" in out and "1.5M + 3.8M = 5.3M" in out and "28% fewer" in out
    code, out, _ = run_cli("cost", "--json", "--in", "256", "--reduce", "32")
    assert json.loads(out)[0]["baseline_macs"] == 14 * 14 * 256 * 25 * 48


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["summary", "googlenett"], "unknown model 'googlenett': did you mean googlenet"),
        (["summary", "googlenet", "--width", "0"], "width multiplier must be positive"),
        (["summary", "googlenet", "--input-size", "0"], "--input-size must be a positive"),
        (["cost", "--reduce", "0"], "--reduce must be a positive integer"),
        (["summary", "googlenet", "--model-arg", "nope"], "--model-arg expects KEY=VALUE"),
    ],
)
def test_cli_bad_input_is_one_line_with_exit_2(run_cli, argv, message):
    code, out, err = run_cli(*argv)
    assert code == 2
    assert err.startswith("googlenet: error: ") and message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_connections_count_one_image():
    # conv1 of the paper's GoogLeNet: (147 multiply-adds + 1 bias) per output element, 112x112x64 outputs.
    rows = {r.name: r for r in summary("googlenet", aux_logits=False).rows}
    assert rows["conv1"].connections == 112 * 112 * 64 * (147 + 1)
