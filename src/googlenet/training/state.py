"""The training state beside a run's model file: optimizer, schedule, RNG and epoch (``train_state.pt``).

Only tensors and plain containers go in, and the file is read back with ``weights_only=True``: nothing
in it can run code, whoever wrote it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..errors import DataError
from ..system.files import atomic_write
from ..weights.checkpoint import existing_file


def save_training_state(path: str | Path, state: dict[str, Any]) -> Path:
    """Write optimizer/scheduler/RNG/epoch state atomically (tensors and plain containers only)."""
    return atomic_write(path, lambda tmp: torch.save(state, tmp))


def load_training_state(path: str | Path) -> dict[str, Any]:
    """Read a training state with ``weights_only=True``: no code in the file can run."""
    path = existing_file(path, "training state")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        # torch's own message for a pickle that holds code advises loading it unsafely: never repeat it.
        why = "it holds more than tensors (code or objects)" if "weights_only" in str(exc) else "it is damaged"
        raise DataError(f"cannot read training state {str(path)!r}: {why}; delete the run folder's "
                        "train_state.pt to keep only the model file, or start a fresh run") from None
