"""``report.html``: one self-contained page per run folder, and one page comparing runs.

A run folder (``googlenet train``) holds ``config.json``, ``log.jsonl`` (one row per epoch),
``summary.json`` and ``model.safetensors``. The page gathers, with every picture embedded as a
``data:`` URI and no script, stylesheet or font from the network (it opens offline, from a mail
attachment, years later):

* the configuration and the final figures;
* the curves (loss and accuracy per epoch, from ``log.jsonl``);
* the confusion matrix and the per-class accuracy, measured here on the test split (or the
  validation split) -- the run folder keeps only the totals;
* the most confident mistakes: the image the model read, with the class activation map (Zhou et al.
  2016; Grad-CAM for heads that are not global-average-pool + linear) of the wrong class it chose
  and of the true class;
* the model's per-layer summary (``googlenet.analysis.summary``) and its architecture diagram when
  Graphviz is installed.

Sections that cannot be made (a dataset that is not on this machine) say why instead of failing the page.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ..errors import DataError, UserError

REPORT = "report.html"
SECTIONS = ("config", "curves", "confusion", "per-class", "mistakes", "model")

# Every text at least 11 px at 100% zoom (16 px base): tables 14 px, cards 13 px. Pictures are SVG shown at
# their own size (no downscaling on a 1280-px window: content is at most 1068 px wide), so their fonts
# (matplotlib's 9-10 pt, i.e. 12-13 px) stay readable too.
_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;margin:24px auto;max-width:1100px;
color:#222;line-height:1.4;padding:0 16px;font-size:16px}
h1{font-size:1.5em;margin-bottom:0}h2{font-size:1.2em;border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:2em}
.sub{color:#666;margin-top:2px}table{border-collapse:collapse;font-size:14px;margin:8px 0}
td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}th{background:#f4f4f4}
td.num{text-align:right;font-variant-numeric:tabular-nums}img{max-width:100%;height:auto}
.note{color:#8a6d3b;background:#fcf8e3;padding:6px 10px;border-radius:4px}
.grid{display:flex;flex-wrap:wrap;gap:12px}.card{border:1px solid #ddd;border-radius:6px;padding:6px;font-size:13px}
.bar{background:#6d9eeb;height:10px;display:inline-block}
details summary{cursor:pointer;color:#555}
"""

#: The narrowest a page's content gets on a 1280-px window (max-width 1100 less 2 x 16 px padding).
CONTENT_WIDTH_PX = 1068


# ------------------------------------------------------------------------------------------- helpers


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _figure_svg(fig: Any) -> bytes:
    """``fig`` as SVG with real text (``svg.fonttype: none``): sharp at any zoom, and its font sizes are
    the page's to check."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    try:
        with plt.rc_context({"svg.fonttype": "none"}):
            fig.savefig(buffer, format="svg")
    finally:
        plt.close(fig)
    return buffer.getvalue()


def _img(data: bytes, alt: str, mime: str = "image/png") -> str:
    return f'<img src="{data_uri(data, mime)}" alt="{_esc(alt)}">'


def _table(rows: Sequence[dict[str, Any]], numeric: Sequence[str] = ()) -> str:
    if not rows:
        return "<p>(none)</p>"
    keys = list(rows[0])
    head = "".join(f"<th>{_esc(k)}</th>" for k in keys)
    def cell(row: dict[str, Any], key: str) -> str:
        css = ' class="num"' if key in numeric else ""
        return f"<td{css}>{_esc(row.get(key, ''))}</td>"

    body = "".join("<tr>" + "".join(cell(r, k) for k in keys) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _note(text: str) -> str:
    return f'<p class="note">{_esc(text)}</p>'


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"cannot read {str(path)!r} ({exc}); the run folder is damaged") from None


def _load_run(run_dir: str | Path) -> dict[str, Any]:
    from ..training.records import read_log

    run = Path(run_dir)
    if not run.is_dir():
        raise UserError(f"run folder {str(run)!r} not found; pass a folder written by `googlenet train`")
    config, summary = _read_json(run / "config.json"), _read_json(run / "summary.json")
    if not config and not summary and not (run / "model.safetensors").is_file():
        raise UserError(f"{str(run)!r} is not a run folder (no config.json, summary.json or model.safetensors); "
                        "pass a folder written by `googlenet train`")
    try:
        log = read_log(run)
    except json.JSONDecodeError as exc:
        raise DataError(f"{str(run / 'log.jsonl')!r} has a broken line ({exc}); the run folder is damaged") from None
    return {"dir": run, "name": run.name, "config": config, "summary": summary, "log": log}


# ------------------------------------------------------------------------------------------- curves


_CURVES = (("train_loss", "train loss", "-"), ("val_loss", "val loss", "--"))
_ACCURACY = (("train_top1", "train top-1", "-"), ("val_top1", "val top-1", "--"), ("val_top5", "val top-5", ":"))
#: One colour per series of a run (train blue, val orange, val top-5 green: matplotlib's first three);
#: with several runs, tab20's dark and light shade of one hue per run (train dark, val light).
SERIES_COLOURS = {"train": "#1f77b4", "val": "#ff7f0e", "val_top5": "#2ca02c"}


def _series_colour(key: str, run_index: int, runs: int) -> str:
    import matplotlib

    if runs == 1:
        return SERIES_COLOURS["val_top5" if key == "val_top5" else key.split("_")[0]]
    pair = matplotlib.colormaps["tab20"].colors[2 * (run_index % 10): 2 * (run_index % 10) + 2]
    return matplotlib.colors.to_hex(pair[0] if key.startswith("train") else pair[1])


def epochs_seen(runs: Sequence[dict[str, Any]]) -> list[int]:
    return sorted({r.get("epoch") for run in runs for r in run["log"] if r.get("epoch") is not None})


def curves_svg(runs: Sequence[dict[str, Any]]) -> bytes | None:
    """Loss and top-1 against epoch (SVG): train and val in distinct colours, with a legend; several runs
    overlaid, a hue per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    if not any(r["log"] for r in runs):
        return None
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
    for i, run in enumerate(runs):
        rows = run["log"]
        epochs = [r.get("epoch") for r in rows]
        prefix = f"{run['name']}: " if len(runs) > 1 else ""
        for ax, series in ((ax_loss, _CURVES), (ax_acc, _ACCURACY)):
            for key, label, style in series:
                ys = [r.get(key) for r in rows]
                if any(y is not None for y in ys):
                    ax.plot(epochs, [math.nan if y is None else y for y in ys], style, marker="o", markersize=5,
                            lw=2, color=_series_colour(key, i, len(runs)), label=prefix + label)
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    seen = epochs_seen(runs)
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=10)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if len(seen) == 1:  # one point: the locator would invent fractional epochs around it
            ax.set_xticks(seen)
    return _figure_svg(fig)


_EPOCH_COLUMNS = (("train_loss", "train loss"), ("val_loss", "val loss"), ("train_top1", "train top-1 (%)"),
                  ("val_top1", "val top-1 (%)"), ("val_top5", "val top-5 (%)"), ("lr", "learning rate"),
                  ("images_per_s", "images/s"))


def epochs_html(runs: Sequence[dict[str, Any]]) -> str:
    """The log as a table, one row per run and epoch: what a run of one epoch shows instead of curves of
    single dots."""
    rows = []
    for run in runs:
        for r in run["log"]:
            row = {"run": run["name"]} if len(runs) > 1 else {}
            row["epoch"] = _fmt(r.get("epoch"))
            row.update({label: _fmt(r.get(key)) for key, label in _EPOCH_COLUMNS if r.get(key) is not None})
            rows.append(row)
    return _table(rows, numeric=("epoch",) + tuple(label for _, label in _EPOCH_COLUMNS))


def curves_html(runs: Sequence[dict[str, Any]], alt: str) -> str:
    """The curves; a table of the epochs instead when there is one epoch (a curve needs two points)."""
    if not any(r["log"] for r in runs):
        return _note("log.jsonl has no epochs yet")
    if len(epochs_seen(runs)) == 1:
        return ("<p>One epoch was trained, so there is no curve to draw: its figures are in the table.</p>"
                + epochs_html(runs))
    return _img(curves_svg(runs), alt, "image/svg+xml")


# ------------------------------------------------------------------------------------------- evaluation


def _evaluate(run: dict[str, Any], *, max_images: int, data_dir: str | Path | None, batch_size: int = 128):
    """Probabilities on the test split (else the validation split) of the run's dataset, and the data."""
    from ..evaluation.ensemble import Ensemble
    from ..evaluation.runner import dataset_probabilities, load_eval_dataset
    from ..weights.checkpoint import load_model

    loaded = load_model(run["dir"])
    ensemble = Ensemble([loaded])
    dataset = run["config"].get("dataset") or None
    data_dir = data_dir or run["config"].get("data_dir")
    errors = []
    for split in ("test", "val"):
        try:
            data = load_eval_dataset(ensemble, dataset, split, data_dir)
        except (UserError, DataError, OSError) as exc:
            errors.append(f"{split}: {str(exc).splitlines()[0]}")
            continue
        if len(data) == 0:
            continue
        probs, targets = dataset_probabilities(ensemble, data, 1, batch_size=batch_size, limit=max_images)
        return loaded, data, split, probs.mean(0), targets
    raise DataError("; ".join(errors) or "no test or validation images")


def confusion_svg(metrics: Any) -> bytes:
    """The evaluation's confusion matrix (``Metrics.save_confusion_png``) as SVG with real text."""
    import tempfile

    import matplotlib.pyplot as plt

    with tempfile.TemporaryDirectory() as tmp, plt.rc_context({"svg.fonttype": "none"}):
        return metrics.save_confusion_png(Path(tmp) / "confusion.svg").read_bytes()


def per_class_html(metrics: Any) -> str:
    rows = []
    order = sorted(range(len(metrics.class_names)), key=lambda i: (math.isnan(metrics.per_class[i]),
                                                                      metrics.per_class[i]))
    for i in order:
        acc = metrics.per_class[i]
        bar = "" if math.isnan(acc) else f'<span class="bar" style="width:{acc * 1.5:.0f}px"></span> '
        rows.append(f"<tr><td>{_esc(metrics.class_names[i])}</td><td class=\"num\">{metrics.class_counts[i]}</td>"
                    f"<td>{bar}{_fmt(acc)}%</td></tr>")
    return ("<table><thead><tr><th>class (worst first)</th><th>images</th><th>top-1 accuracy</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


#: Inches per picture in a mistake's card: two cards a row within CONTENT_WIDTH_PX, fonts kept at 9 pt.
MISTAKE_PANEL = 1.4


def mistakes_html(loaded: Any, data: Any, probs: torch.Tensor, targets: torch.Tensor, count: int) -> str:
    """The ``count`` wrong predictions made with the highest confidence, each with CAMs of both classes."""
    from .cam import Explanation, class_activation_map, gradcam_map, model_views, overlay_figure

    predicted = probs.argmax(1)
    wrong = torch.nonzero(predicted != targets).flatten()
    if len(wrong) == 0:
        return "<p>No mistakes on these images.</p>"
    confidence = probs[wrong, predicted[wrong]]
    chosen = wrong[confidence.argsort(descending=True)[:count]].tolist()
    images = [data[i][0] for i in chosen]
    shown, inputs = model_views(loaded, images)
    x = torch.stack(inputs)
    classes = torch.stack([predicted[chosen], targets[chosen]], dim=1)
    model = loaded.model.eval()
    try:
        maps, _, _ = class_activation_map(model, x, classes)
        method, layer = "cam", None
    except UserError:  # no GAP + linear head: Grad-CAM of the last spatial block
        maps, _, _, layer = gradcam_map(model, x, classes)
        method = "gradcam"
    names = list(data.classes)
    cards = []
    for j, i in enumerate(chosen):
        p, t = int(predicted[i]), int(targets[i])
        e = Explanation(f"image {i}", shown[j], [f"said {names[p]}", f"true {names[t]}"], [p, t],
                        [float(probs[i, p]), float(probs[i, t])], [m.cpu().numpy() for m in maps[j]],
                        method, layer)
        svg = _figure_svg(overlay_figure(e, panel=MISTAKE_PANEL))
        alt = f"image {i}: predicted {names[p]}, true {names[t]}"
        cards.append(f'<div class="card">{_img(svg, alt, "image/svg+xml")}'
                     f"<br>#{i}: <b>{_esc(names[p])}</b> ({probs[i, p]:.1%}), true {_esc(names[t])} "
                     f"({probs[i, t]:.1%})</div>")
    what = "CAM" if method == "cam" else f"Grad-CAM of {layer}"
    return (f"<p>The {len(chosen)} most confident of {len(wrong)} mistakes. Each shows the image the model read, "
            f"the {what} of the class it chose and of the true class (red = most evidence).</p>"
            f'<div class="grid">{"".join(cards)}</div>')


def model_html(run: dict[str, Any], loaded: Any | None) -> str:
    from ..inspect.tables import summary
    from ..system.text import shape_text

    if loaded is None:
        from ..weights.checkpoint import load_model

        loaded = load_model(run["dir"])
    size = int(loaded.preprocessing.input_size or 224)
    result = summary(loaded.model, size, name=loaded.model_name)
    rows = [{"layer": r.name + (" (aux)" if r.auxiliary else ""), "type": r.type, "patch/stride": r.kernel,
             "output": shape_text(r.output_shape),
             "params": f"{r.params:,}", "mult-adds": f"{r.macs:,}"} for r in result.rows]
    head = (f"<p>{_esc(loaded.model_name)} {_esc(json.dumps(loaded.model_kwargs))}: {result.params:,} parameters, "
            f"{result.macs / 1e6:,.1f} M multiply-adds per {size}x{size} image.</p>")
    diagram = ""
    try:
        from .diagram import build_diagram

        svg = build_diagram(loaded, input_size=size).dot.pipe(format="svg")
        diagram = (f"<details><summary>architecture diagram (Figure 3 style)</summary>"
                   f"{_img(svg, 'architecture diagram', 'image/svg+xml')}</details>")
    except Exception as exc:  # Graphviz missing: the table still stands
        diagram = _note(f"no architecture diagram: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
    return head + _table(rows, numeric=("params", "mult-adds")) + diagram


# ------------------------------------------------------------------------------------------- pages


def _page(title: str, subtitle: str, sections: Sequence[tuple[str, str, str]]) -> str:
    body = "".join(f'<section id="{sid}"><h2>{_esc(head)}</h2>{content}</section>' for sid, head, content in sections)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{_esc(title)}</title>"
            f"<style>{_CSS}</style></head><body><h1>{_esc(title)}</h1><p class=\"sub\">{_esc(subtitle)}</p>"
            f"{body}</body></html>\n")


#: What a person reads for each key of summary.json (and config.json) in the report's tables.
LABELS = {
    "test_top1": "test top-1 (%)", "test_top5": "test top-5 (%)", "test_images": "test images",
    "val_top1": "val top-1 (%)", "val_top5": "val top-5 (%)", "train_top1": "train top-1 (%)",
    "epochs": "epochs", "global_step": "optimizer steps", "device": "device", "world_size": "processes",
    "wall_time_s": "wall time", "model": "model", "dataset": "dataset", "recipe": "recipe",
    "model_kwargs": "model arguments",
}


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)) or math.isnan(seconds):
        return _fmt(seconds)
    minutes, rest = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else (f"{minutes} min {rest:02d} s" if minutes else f"{rest} s")


def _value(key: str, value: Any) -> str:
    return _duration(value) if key.endswith("_time_s") else _fmt(value)


def _result_rows(summary: dict[str, Any]) -> list[dict[str, str]]:
    keys = ("test_top1", "test_top5", "test_images", "val_top1", "val_top5", "train_top1", "epochs", "global_step",
            "device", "world_size", "wall_time_s")
    return [{"figure": LABELS[k], "value": _value(k, summary[k])} for k in keys if k in summary]


def run_report(
    run_dir: str | Path, *, max_images: int = 2000, mistakes: int = 8, data_dir: str | Path | None = None,
) -> str:
    """The HTML page of one run folder (see the module docstring). ``max_images``: how many test images
    the confusion matrix, per-class accuracy and mistakes are measured on (the first of the split)."""
    from ..evaluation.metrics import Metrics

    run = _load_run(run_dir)
    config, summary = run["config"], run["summary"]
    sections: list[tuple[str, str, str]] = []
    config_rows = [{"setting": k, "value": _fmt(v)} for k, v in config.items()]
    sections.append(("config", "Configuration and results",
                     _table(_result_rows(summary), numeric=("value",)) + "<details><summary>config.json"
                     "</summary>" + _table(config_rows) + "</details>"))
    sections.append(("curves", "Training curves", curves_html([run], "training curves")))
    loaded = None
    try:
        loaded, data, split, probs, targets = _evaluate(run, max_images=max_images, data_dir=data_dir)
        metrics = Metrics.from_probabilities(probs, targets, list(data.classes))
        top5 = f", top-5 {metrics.top5:.2f}%" if len(data.classes) > 5 else ""  # else 100% by construction
        note = (f"<p>{split} split of {_esc(data.name)}, first {metrics.num_images} images, 1 crop: top-1 "
                f"{metrics.top1:.2f}%{top5}.</p>")
        matrix = _img(confusion_svg(metrics), "confusion matrix", "image/svg+xml")
        sections.append(("confusion", "Confusion matrix", note + matrix))
        sections.append(("per-class", "Per-class accuracy", per_class_html(metrics)))
        sections.append(("mistakes", "Most confident mistakes", mistakes_html(loaded, data, probs, targets, mistakes)))
    except (UserError, DataError, OSError) as exc:
        message = _note(f"not measured: {str(exc).splitlines()[0]}")
        for sid, head in (("confusion", "Confusion matrix"), ("per-class", "Per-class accuracy"),
                          ("mistakes", "Most confident mistakes")):
            sections.append((sid, head, message))
    try:
        sections.append(("model", "Model", model_html(run, loaded)))
    except (UserError, DataError, OSError) as exc:
        sections.append(("model", "Model", _note(f"no model summary: {str(exc).splitlines()[0]}")))
    model = summary.get("model") or config.get("model", "run")
    title = f"{model} on {summary.get('dataset') or config.get('dataset', '?')}"
    subtitle = f"run folder {run['dir'].name} - report written {time.strftime('%Y-%m-%d %H:%M')}"
    return _page(title, subtitle, sections)


def write_run_report(run_dir: str | Path, out: str | Path | None = None, **kwargs: Any) -> Path:
    """Write :func:`run_report` to ``run_dir/report.html`` (or ``out``), atomically. For the trainer's end."""
    from ..system.files import atomic_write

    page = run_report(run_dir, **kwargs)
    path = Path(out) if out else Path(run_dir) / REPORT
    return atomic_write(path, lambda tmp: tmp.write_text(page, encoding="utf-8"))


_COMPARE_KEYS = ("model", "dataset", "recipe", "epochs", "global_step", "test_top1", "test_top5", "val_top1",
                 "train_top1", "wall_time_s", "device")


def compare_report(run_dirs: Sequence[str | Path]) -> str:
    """One page comparing runs: their figures side by side (one column per run) and the curves overlaid."""
    if not run_dirs:
        raise UserError("no run folders given; pass one or more folders written by `googlenet train`")
    runs = [_load_run(r) for r in run_dirs]
    rows = []
    for key in _COMPARE_KEYS:
        values = [r["summary"].get(key, r["config"].get(key)) for r in runs]
        if any(v is not None for v in values):
            rows.append({"": LABELS[key], **{r["name"]: _value(key, v) for r, v in zip(runs, values, strict=True)}})
    kw_row = {"": LABELS["model_kwargs"],
              **{r["name"]: _fmt(r["summary"].get("model_kwargs", r["config"].get("model_kwargs"))) for r in runs}}
    differing = [k for k in sorted({k for r in runs for k in r["config"]})
                 if k != "out" and len({json.dumps(r["config"].get(k), sort_keys=True) for r in runs}) > 1]
    diff_rows = [{"setting": k, **{r["name"]: _fmt(r["config"].get(k)) for r in runs}} for k in differing]
    sections = [
        ("config", "Runs side by side", _table(rows + [kw_row], numeric=tuple(r["name"] for r in runs))
         + "<h3>Settings that differ</h3>" + _table(diff_rows)),
        ("curves", "Curves overlaid", curves_html(runs, "training curves of all runs")),
    ]
    return _page(f"{len(runs)} runs compared", ", ".join(r["name"] for r in runs), sections)


def write_compare_report(run_dirs: Sequence[str | Path], out: str | Path) -> Path:
    from ..system.files import atomic_write

    page = compare_report(run_dirs)
    return atomic_write(out, lambda tmp: tmp.write_text(page, encoding="utf-8"))
