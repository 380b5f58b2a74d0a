"""TensorBoard logging for training runs: ``TensorBoardLogger(run_dir).log_scalars(step, {...})``.

TensorBoard is where PyTorch users look at curves; the run folder's own ``log.jsonl`` / ``report.html``
stay the record. ``tensorboard`` is optional: it is imported only when a logger is made, and a missing
package is a one-line error naming the fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import UserError


class TensorBoardLogger:
    """Scalars (and optionally images / the graph) to ``log_dir`` (default ``run_dir/tensorboard``).

    View with ``tensorboard --logdir RUN/tensorboard``. Values that are ``None`` or not numbers are skipped,
    so a trainer can pass its whole per-epoch row.
    """

    def __init__(self, run_dir: str | Path, *, log_dir: str | Path | None = None, flush_secs: int = 30) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise UserError("--tensorboard needs the tensorboard package; install it with "
                            "`pip install tensorboard` or drop --tensorboard") from None
        self.log_dir = Path(log_dir) if log_dir else Path(run_dir) / "tensorboard"
        self.writer = SummaryWriter(log_dir=str(self.log_dir), flush_secs=flush_secs)

    def log_scalars(self, step: int, values: dict[str, Any], *, prefix: str = "") -> int:
        """Write every numeric value as scalar ``prefix + key`` at ``step``; returns how many were written.

        Keys such as ``train_loss`` / ``val_top1`` are grouped as ``train/loss``, ``val/top1`` so TensorBoard
        draws train and val side by side."""
        written = 0
        for key, value in values.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
                continue
            tag = prefix + (key.replace("_", "/", 1) if key.startswith(("train_", "val_", "test_")) else key)
            self.writer.add_scalar(tag, float(value), global_step=int(step))
            written += 1
        return written

    def log_image(self, step: int, tag: str, image: Any) -> None:
        """An image (C, H, W) tensor in [0, 1], e.g. a CAM overlay."""
        self.writer.add_image(tag, image, global_step=int(step))

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()

    def __enter__(self) -> TensorBoardLogger:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
