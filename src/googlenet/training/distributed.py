"""Multi-process data parallelism with torch.distributed, set up from torchrun's environment.

``torchrun --nproc_per_node N -m googlenet train ...`` starts N processes with ``RANK``,
``LOCAL_RANK`` and ``WORLD_SIZE`` set; :func:`setup` joins them into one process group (NCCL when
each process has a GPU, gloo on CPU). Rank 0 writes logs and checkpoints; the others only train.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup(device_kind: str) -> DistInfo:
    """Join the process group torchrun described in the environment (no-op for a single process)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    info = DistInfo(int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", 0)), world)
    if not dist.is_initialized():
        backend = "nccl" if device_kind == "cuda" and dist.is_nccl_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(info.local_rank)
        dist.init_process_group(backend=backend)
    return info


def teardown(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()


def all_sum(values: list[float], info: DistInfo, device: torch.device) -> list[float]:
    """Element-wise sum of ``values`` over all processes."""
    if not info.enabled:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def all_max(values: list[float], info: DistInfo, device: torch.device) -> list[float]:
    """Element-wise maximum of ``values`` over all processes: the slowest process's figures, so that every
    process makes the same plan (--time-budget) and none waits in a collective for one that stopped."""
    if not info.enabled:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return t.tolist()


def any_flag(flag: bool, info: DistInfo, device: torch.device) -> bool:
    """True on every process when ``flag`` is true on any (so all stop at the same step)."""
    if not info.enabled:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t)
    return bool(t.item() > 0)


def resume_command(run_dir: str | Path, info: DistInfo) -> str:
    """The command that continues the run in ``run_dir``: under torchrun, torchrun again with as many processes."""
    if info.enabled:
        return f"torchrun --nproc_per_node {info.world_size} -m googlenet train --resume {run_dir}"
    return f"googlenet train --resume {run_dir}"


def is_lost_peer(exc: BaseException) -> bool:
    """Whether ``exc`` is a collective failing because another torchrun process died (gloo or NCCL)."""
    text = str(exc)
    return isinstance(exc, RuntimeError) and any(
        sign in text for sign in ("Connection reset by peer", "Connection closed by peer", "gloo", "NCCL",
                                  "Broken pipe", "Socket Timeout", "connection refused"))


def lost_peer_message(info: DistInfo, run_dir: str | Path) -> str:
    others = [r for r in range(info.world_size) if r != info.rank]
    who = f"rank {others[0]}" if len(others) == 1 else f"one of ranks {', '.join(map(str, others))}"
    return (f"torchrun process {who} was lost (this is rank {info.rank} of {info.world_size}); the last checkpoint "
            f"is in {run_dir}; continue with: {resume_command(run_dir, info)}")
