"""What a run leaves in its folder: the per-epoch log (JSONL), a PNG of the curves, the summary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..system.files import atomic_write

LOG = "log.jsonl"
CURVES = "curves.png"
SUMMARY = "summary.json"
CONFIG = "config.json"


def append_log(run_dir: Path, row: dict[str, Any]) -> None:
    """Append one epoch's row; rewrites the file atomically so a kill never leaves half a line."""
    path = run_dir / LOG
    old = path.read_text() if path.exists() else ""
    atomic_write(path, lambda tmp: tmp.write_text(old + json.dumps(row) + "\n"))


def read_log(run_dir: str | Path) -> list[dict[str, Any]]:
    path = Path(run_dir) / LOG
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


#: What each file of a run folder is for, as `googlenet train` says at the end of a run.
ROLES = {
    "model.safetensors": "the weights (predict, eval, export, --init-from)",
    "last.safetensors": "the last iterate beside the averaged weights, to train on",
    "train_state.pt": "optimizer and schedule state, to train on with --resume; delete it to keep only the model",
    "report.html": "the report", "curves.png": "the curves", LOG: "per-epoch figures", SUMMARY: "the results",
    CONFIG: "the settings", "tensorboard": "TensorBoard events",
}


def describe_run_dir(run_dir: str | Path) -> str:
    """``runs/x holds 1.2 MB: model.safetensors 0.4 MB (the weights ...), ...``: the folder's files, their sizes
    and what each is for, the largest first."""
    run_dir = Path(run_dir)

    def size(p: Path) -> int:
        return sum(f.stat().st_size for f in p.rglob("*") if f.is_file()) if p.is_dir() else p.stat().st_size

    entries = sorted(((p.name, size(p)) for p in run_dir.iterdir() if not p.name.startswith(".")),
                     key=lambda e: -e[1])
    parts = [f"{name} {_mb(n)}{f' ({ROLES[name]})' if name in ROLES else ''}" for name, n in entries]
    return f"run folder {run_dir} holds {_mb(sum(n for _, n in entries))}: " + ", ".join(parts)


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.0f} kB"


def write_json(path: Path, data: Any) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(data, indent=2) + "\n"))


def plot_curves(run_dir: Path, rows: list[dict[str, Any]], title: str = "") -> Path | None:
    """Loss and top-1 against epoch, train and val, as ``curves.png``."""
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in rows]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    aux = sorted({k for r in rows for k in r if k.startswith("train_aux") and k.endswith("_loss")})
    for key, label, style in (("train_loss", "train (main)", "-"),
                              *((k, f"train {k[len('train_'):-len('_loss')]}", ":") for k in aux),
                              ("val_loss", "val", "--")):
        ys = [r.get(key) for r in rows]
        if any(y is not None for y in ys):
            ax_loss.plot(epochs, ys, style, marker="o", label=label)
    for key, label, style in (("train_top1", "train top-1", "-"), ("val_top1", "val top-1", "--"),
                              ("val_top5", "val top-5", ":")):
        ys = [r.get(key) for r in rows]
        if any(y is not None for y in ys):
            ax_acc.plot(epochs, ys, style, marker="o", label=label)
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    from matplotlib.ticker import MaxNLocator

    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    if title:
        fig.suptitle(title)
    path = run_dir / CURVES
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    plt.close(fig)
    return path
