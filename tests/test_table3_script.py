"""benchmarks/table3.py on given model files (the photos path of issue 16): each cell of its table is the
error `googlenet.evaluation.evaluate` gives for the first k models at that crop setting."""

from __future__ import annotations

import pytest
import torch

import googlenet
from googlenet.bench.inputs import settle_batch_norm
from googlenet.evaluation import evaluate
from googlenet.weights.checkpoint import save_model

CLASSES = ["ant", "bee", "cat"]
KWARGS = dict(num_classes=3, small_input=True, width=0.125, batch_norm=True, lrn=False, aux_logits=False)
PRE = {"input_size": 32, "resize": 36, "mean": [0.5, 0.45, 0.4], "std": [0.25, 0.24, 0.26], "channels": 3}


@pytest.fixture(scope="module")
def members(tmp_path_factory):
    """Two models that differ in their seed, with spread logits so that crops and ensembles change answers."""
    folder = tmp_path_factory.mktemp("members")
    paths = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        model = googlenet.create_model("googlenet", **KWARGS)
        settle_batch_norm(model, torch.rand(16, 3, 32, 32) * 2 - 1)
        with torch.no_grad():
            model.fc.weight.normal_(0, 0.05)
        paths.append(save_model(folder / f"seed{seed}.safetensors", model, model_name="googlenet",
                                model_kwargs=KWARGS, class_names=CLASSES, preprocessing=PRE))
    return paths


@pytest.fixture(scope="module")
def photos(tmp_path_factory, class_folders):
    """A class-folder dataset of 3 classes x 5 square photos (square, as Imagenette's: 144 crops = 48 passes)."""
    return class_folders(tmp_path_factory.mktemp("photos"), CLASSES, per_class=5, size=(48, 48), level=180, noise=60)


def table_rows(markdown: str) -> dict[tuple[int, int], dict[str, str]]:
    lines = [line for line in markdown.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = [dict(zip(header, (c.strip() for c in line.strip("|").split("|")), strict=True)) for line in lines[2:]]
    return {(int(r["models"]), int(r["crops"])): r for r in rows}


def test_every_cell_is_what_evaluate_gives(members, photos, tmp_path, benchmark_script):
    table3 = benchmark_script("table3")
    report = tmp_path / "table3.md"
    table3.main(["--dataset", str(photos), "--split", "test", "--test-limit", "0", "--backend", "torch",
                 "--checkpoints", *map(str, members), "--report", str(report)])
    text = report.read_text()
    assert "backend torch" in text and "15 images" in text
    rows = table_rows(text)
    assert sorted(rows) == [(k, c) for k in (1, 2) for c in (1, 10, 144)]
    for (k, crops), row in rows.items():
        result = evaluate(members[:k], str(photos), split="test", crops=crops)
        assert float(row["top-1 error %"]) == pytest.approx(result.metrics.top1_error, abs=0.01), (k, crops)
        assert float(row["top-5 error %"]) == pytest.approx(result.metrics.top5_error, abs=0.01), (k, crops)
        assert int(row["cost"]) == k * crops
    base = float(rows[1, 1]["top-1 error %"])
    assert float(rows[2, 144]["top-1 vs base"]) == pytest.approx(float(rows[2, 144]["top-1 error %"]) - base, abs=0.02)
    assert "144 crops of 32px at scales 37, 41, 46, 50" in text
