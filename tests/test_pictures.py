"""The pictures read as finished (issue 25): zoo labels apart, the expanded diagram in Figure 2(b)'s order,
the report readable at 100%, CAMs with a colour bar."""

from __future__ import annotations

import itertools
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from googlenet.inspect.compare import Comparison, draw_zoo
from googlenet.models.registry import list_models, model_info

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(autouse=True)
def one_thread():
    from googlenet.system.threads import torch_threads

    with torch_threads(1):
        yield


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


# ------------------------------------------------------------------------------------------- report

def _svg_font_sizes(svg: str) -> tuple[list[float], float]:
    """Font sizes (in the SVG's user units) and the width it is displayed at (px) when shown at its own size."""
    root = re.search(r"<svg\b[^>]*>", svg).group(0)
    width = re.search(r'\bwidth="([\d.]+)(pt|px)?"', root)
    view = re.search(r'viewBox="[\d.\-]+ [\d.\-]+ ([\d.]+) [\d.]+"', root)
    px = float(width.group(1)) * (4 / 3 if width.group(2) == "pt" else 1)
    sizes = [float(v) for v in re.findall(r'font-size[=:]\s*"?([\d.]+)', svg)]
    sizes += [float(v) for v in re.findall(r"font:\s*(?:[a-z]+\s+)*([\d.]+)px", svg)]
    return [v * px / float(view.group(1)) for v in sizes], px


def page_font_sizes(page: str, content_px: float) -> dict[str, float]:
    """The smallest text (px at 100% zoom) of the page's CSS and of each embedded SVG, as shown on a page whose
    content is ``content_px`` wide (a picture wider than that is scaled down by max-width:100%)."""
    import base64

    css = [float(v) * (16 if unit == "em" else 1) for v, unit in re.findall(r"font-size:\s*([\d.]+)(px|em)", page)]
    smallest = {"css": min(css)}
    for i, data in enumerate(re.findall(r'src="data:image/svg\+xml;base64,([^"]+)"', page)):
        sizes, px = _svg_font_sizes(base64.b64decode(data).decode())
        smallest[f"svg{i}"] = min(sizes) * min(1.0, content_px / px)
    return smallest


def test_report_readable_at_100_percent_with_coloured_curves(tmp_path):
    import base64

    from googlenet.visualize.report import CONTENT_WIDTH_PX, SERIES_COLOURS, run_report
    from test_visualize import make_run

    run = make_run(tmp_path, "a", epochs=3)
    rows = [{"epoch": e, "train_loss": 1.2 - 0.2 * e, "val_loss": 1.3 - 0.15 * e, "train_top1": 30 + 9 * e,
             "val_top1": 28 + 8 * e, "val_top5": 90 + e} for e in (1, 2, 3)]
    (run / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    page = run_report(run, max_images=18, mistakes=2)
    assert "data:image/png" not in page  # every picture is SVG with real text, so its fonts can be read
    smallest = page_font_sizes(page, CONTENT_WIDTH_PX)
    assert len(smallest) >= 4, smallest  # CSS, curves, confusion matrix, a mistake (and the diagram)
    assert min(smallest.values()) >= 11, smallest
    curves = re.search(r'src="data:image/svg\+xml;base64,([^"]+)" alt="training curves"', page).group(1)
    curves = base64.b64decode(curves).decode()
    strokes = set(re.findall(r"stroke:\s*(#[0-9a-f]{6})", curves))
    assert {SERIES_COLOURS["train"], SERIES_COLOURS["val"]} <= strokes  # train and val in their own colours
    assert SERIES_COLOURS["train"] != SERIES_COLOURS["val"]
    legend = re.findall(r"<text[^>]*>([^<]+)</text>", curves)
    assert {"train loss", "val loss", "train top-1", "val top-1"} <= {t.strip() for t in legend}
    for raw in ("test_top1", "wall_time_s", "global_step"):
        assert f"<td>{raw}</td>" not in page
    assert "<td>test top-1 (%)</td>" in page
    assert "14x14x" in page or "16x16x" in page  # shapes H x W x C as summary and diagram write them


def test_one_epoch_run_reads_as_a_result(tmp_path):
    from googlenet.visualize.report import _load_run, curves_html
    from test_visualize import make_run

    run = make_run(tmp_path, "one", epochs=1)
    html = curves_html([_load_run(run)], "training curves")
    assert "One epoch" in html and "<table>" in html and "image/svg" not in html
    assert re.search(r"<td>train loss</td>|<th>train loss</th>", html)
    assert re.search(r'<td class="num">1</td>', html)  # epoch 1's row


# ------------------------------------------------------------------------------------------- CAM

def test_cam_figure_has_a_colour_bar_a_whole_title_and_a_photo_row():
    import matplotlib.pyplot as plt

    from googlenet.visualize.cam import Explanation, overlay_figure

    heat = np.zeros((32, 32))
    heat[0, 31] = 1.0  # the maximum in a corner: its cross must still lie inside the picture
    name = "n03888257_ILSVRC2012_val_00001440_a_long_photo_name.JPEG"
    e = Explanation(name, torch.rand(3, 32, 32), ["parachute", "tench"], [0, 1], [0.6, 0.3], [heat, heat.T],
                    photo=torch.rand(3, 120, 160), view_box=(20.0, 0.0, 120.0, 120.0))
    fig = overlay_figure(e)
    try:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        bars = [ax for ax in fig.axes if hasattr(ax, "_colorbar")]
        assert len(bars) == 1 and "class evidence" in bars[0].get_ylabel() and "1 = most" in bars[0].get_ylabel()
        title = fig._suptitle
        assert name in title.get_text().replace("\n", "")
        assert fig.bbox.contains(*title.get_window_extent(renderer).min)
        assert fig.bbox.contains(*title.get_window_extent(renderer).max)
        pictures = [ax for ax in fig.axes if ax.images]
        assert len(pictures) == 6  # two rows: the model's view and the photo, each alone and under two maps
        for ax in pictures:
            for line in ax.lines:  # the maximum's cross, wholly inside its picture
                cross = line.get_window_extent(renderer)
                picture = ax.images[0].get_window_extent(renderer)
                assert picture.x0 <= cross.x0 and cross.x1 <= picture.x1, (cross, picture)
                assert picture.y0 <= cross.y0 and cross.y1 <= picture.y1, (cross, picture)
        photo_row = [ax for ax in pictures if ax.images[0].get_array().shape[:2] == (120, 160)]
        assert len(photo_row) == 3 and "160x120" in photo_row[0].get_title()
    finally:
        plt.close(fig)


def test_feature_maps_show_the_most_active_channels(tmp_path):
    from PIL import Image

    from googlenet.visualize.features import choose_channels, save_feature_maps
    from test_visualize import small_googlenet

    maps = torch.zeros(6, 4, 4)
    maps[4] += 3.0
    maps[1] += 2.0
    assert choose_channels(maps, 2) == [4, 1]
    assert choose_channels(maps, 2, "index") == [0, 1]
    model = small_googlenet().eval()
    png = save_feature_maps(model, torch.rand(3, 32, 32), "inception3a", tmp_path / "f.png", max_channels=16)
    assert min(Image.open(png).size) >= 400  # 16 tiles of 115 px, not a 256-px thumbnail
