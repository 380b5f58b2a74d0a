"""The pictures read as finished (issue 25): zoo labels apart, the expanded diagram in Figure 2(b)'s order,
the report readable at 100%, CAMs with a colour bar."""

from __future__ import annotations

import itertools
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from googlenet.inspect.compare import Comparison, draw_zoo
from googlenet.models.registry import list_models, model_info

sys.path.insert(0, str(Path(__file__).parent))


def registry_rows() -> list[Comparison]:
    """Every model's row from the registry's published figures (no measurement: the chart's input)."""
    rows = []
    for name in list_models():
        i = model_info(name)
        rows.append(Comparison(
            name=name, family=i.family, task=i.task, year=i.year, input_size=i.input_size, in_channels=3,
            params=i.params, params_total=i.params, macs=int(i.macs * 1e9) if i.macs else None, ref_params=i.params,
            ref_macs=i.macs, top1=i.top1, top5=i.top5, dataset=i.dataset, accuracy_source=i.accuracy_source))
    return rows


def test_zoo_labels_do_not_overlap():
    import matplotlib.pyplot as plt

    fig = draw_zoo(registry_rows())
    try:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        for ax in fig.axes:
            boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in ax.texts]
            assert len(boxes) >= 20
            overlapping = [(a, b) for (a, ba), (b, bb) in itertools.combinations(boxes, 2) if ba.overlaps(bb)]
            assert not overlapping, overlapping
            inside = ax.get_window_extent(renderer)
            assert all(inside.contains(*box.min) and inside.contains(*box.max) for _, box in boxes)
            ticks = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
            assert len(ticks) >= 4, ticks  # more than 10^0 and 10^1
        assert fig.legends, "no legend"
        assert len(fig.legends[0].get_texts()) >= 6  # families and bubble sizes
    finally:
        plt.close(fig)


def test_expanded_diagram_branches_in_figure_2b_order():
    from googlenet.visualize.diagram import build_diagram

    d = build_diagram("googlenet", mode="expanded")
    src = d.source
    for module in ("inception3a", "inception4e", "inception5b"):
        label = {m[0]: m[1] for m in re.findall(rf'"({module}/b\d+s\d+)" \[label="([^"]+)"', src)}
        # Figure 2(b), left to right: 1x1 | 1x1 -> 3x3 | 1x1 -> 5x5 | 3x3 max pool -> 1x1 pool proj
        assert label[f"{module}/b0s0"].startswith("Conv 1x1")
        assert label[f"{module}/b1s0"].startswith("Conv 1x1") and label[f"{module}/b1s1"].startswith("Conv 3x3")
        assert label[f"{module}/b2s0"].startswith("Conv 1x1") and label[f"{module}/b2s1"].startswith("Conv 5x5")
        assert label[f"{module}/b3s0"].startswith("MaxPool 3x3") and label[f"{module}/b3s1"].startswith("Conv 1x1")
        # the last layers of the four branches share one rank, in that order (invisible edges keep it)
        rows = re.findall(r"\{\s*rank=same\s*((?:\"[^\"]+\" -> \"[^\"]+\" \[style=invis\]\s*)+)\}", src)
        chains = [re.findall(r'"([^"]+)" -> "([^"]+)"', r) for r in rows]
        last = [f"{module}/b0s0", f"{module}/b1s1", f"{module}/b2s1", f"{module}/b3s1"]
        assert list(zip(last, last[1:], strict=False)) in chains
        assert re.search(rf'"{module}/concat" \[label=<.*DepthConcat \({module}\)', src)
    assert "label=inception" not in src  # no cluster label for edges to cross
    if shutil.which("dot"):  # and Graphviz's layout keeps it: same row, left to right
        plain = subprocess.run(["dot", "-Tplain"], input=src, capture_output=True, text=True, check=True).stdout
        pos = {p[1].strip('"'): (float(p[2]), float(p[3])) for p in (line.split() for line in plain.splitlines())
               if p[0] == "node"}
        for module in ("inception3a", "inception4d"):
            xy = [pos[f"{module}/b0s0"], pos[f"{module}/b1s1"], pos[f"{module}/b2s1"], pos[f"{module}/b3s1"]]
            assert len({y for _, y in xy}) == 1, xy
            assert [x for x, _ in xy] == sorted(x for x, _ in xy), xy


def test_compact_diagram_trunk_is_straight():
    from googlenet.visualize.diagram import build_diagram

    if not shutil.which("dot"):
        pytest.skip("needs Graphviz's dot")
    src = build_diagram("googlenet").source
    plain = subprocess.run(["dot", "-Tplain"], input=src, capture_output=True, text=True, check=True).stdout
    xs = {p[1].strip('"'): float(p[2]) for p in (line.split() for line in plain.splitlines()) if p[0] == "node"}
    trunk = ["conv1", "inception3a", "inception4a", "inception4b", "inception4e", "inception5b", "fc"]
    assert max(xs[n] for n in trunk) - min(xs[n] for n in trunk) < 0.05, {n: xs[n] for n in trunk}
    assert xs["aux1"] > xs["inception4b"] and xs["aux2"] > xs["inception4e"]  # the heads to the right
