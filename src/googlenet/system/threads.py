"""CPU threads for torch: one check of a user's thread count, and a way to set it that puts it back."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import UserError


def check_threads(threads: int | None, flag: str = "--threads") -> int | None:
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise UserError(f"{flag} must be a whole number >= 1, got {threads!r}; e.g. {flag} 2")
    return threads


@contextmanager
def torch_threads(threads: int | None) -> Iterator[int]:
    """Run the block with ``threads`` intra-op threads (None: as they are), then restore the old count."""
    import torch  # here, so that check_threads stays free of torch for the CLI's parser

    check_threads(threads)
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
