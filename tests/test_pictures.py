"""The pictures read as finished (issue 25): zoo labels apart, the expanded diagram in Figure 2(b)'s order,
the report readable at 100%, CAMs with a colour bar."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

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
