"""Dynamic batching: images that arrive within ``max_wait`` of each other run as one forward pass.

Each image waits at most ``max_wait`` after it arrived (not after the batch began forming) and a batch holds
at most ``max_batch`` images, so the latency an image can lose to batching is bounded by the setting. The
forward passes run one at a time on a dedicated thread; the event loop keeps reading, decoding and queueing
the next requests meanwhile, so while one batch runs the next one fills. The queue is bounded: an image that
would make more than ``max_queue`` admitted and unanswered ones is refused at once (:class:`Overloaded`),
with an estimate of when to retry, instead of waiting behind a queue it cannot get through in time.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import torch
from torch import Tensor


class Overloaded(Exception):
    def __init__(self, retry_after_s: int, queued: int) -> None:
        super().__init__(f"{queued} images queued")
        self.retry_after_s, self.queued = retry_after_s, queued


@dataclass
class _Item:
    input: Tensor
    future: asyncio.Future
    arrived: float = field(default_factory=time.monotonic)


class Batcher:
    """``await batcher.submit([crop, ...])`` -> ``[(probabilities, batch_size), ...]``, one per crop.

    ``run(batch) -> probabilities`` is called on one worker thread; ``on_batch(size, seconds)`` after each pass,
    ``on_pending(count)`` whenever the count of admitted and unanswered images changes.
    """

    def __init__(self, run: Callable[[Tensor], Tensor], *, max_batch: int, max_wait_s: float, max_queue: int,
                 on_batch: Callable[[int, float], None] | None = None,
                 on_pending: Callable[[int], None] | None = None) -> None:
        self.run, self.max_batch, self.max_wait_s, self.max_queue = run, max_batch, max_wait_s, max_queue
        self.on_batch, self.on_pending = on_batch, on_pending
        self.pending = 0  # admitted and not yet answered
        self._items: deque[_Item] = deque()
        self._arrived = asyncio.Event()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="googlenet-infer")
        self._task: asyncio.Task | None = None
        self._seconds_per_image = 0.05  # refined after each pass; only the Retry-After estimate reads it

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="googlenet-batcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self._executor.shutdown(wait=True)

    def retry_after(self) -> int:
        """Seconds until the queue has room again, at the measured pace (at least 1)."""
        return max(1, math.ceil(self.pending * self._seconds_per_image))

    async def submit(self, inputs: list[Tensor]) -> list[tuple[Tensor, int]]:
        n = len(inputs)
        if self.pending + n > self.max_queue:
            raise Overloaded(self.retry_after(), self.pending)
        loop = asyncio.get_running_loop()
        items = [_Item(x, loop.create_future()) for x in inputs]
        self.pending += n
        if self.on_pending is not None:
            self.on_pending(self.pending)
        try:
            self._items.extend(items)
            self._arrived.set()
            return list(await asyncio.gather(*(item.future for item in items)))
        finally:
            self.pending -= n
            if self.on_pending is not None:
                self.on_pending(self.pending)
            for item in items:  # a client that went away: its images are skipped, not run
                item.future.cancel()

    async def _next(self, deadline: float | None) -> _Item | None:
        """The next live item, waiting until ``deadline`` (monotonic; None: forever)."""
        while True:
            while self._items:
                item = self._items.popleft()
                if not item.future.done():
                    return item
            self._arrived.clear()
            if deadline is None:
                await self._arrived.wait()
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                return None

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            first = await self._next(None)
            batch = [first]
            deadline = first.arrived + self.max_wait_s
            while len(batch) < self.max_batch:
                item = await self._next(deadline)
                if item is None:
                    break
                batch.append(item)
            x = torch.stack([item.input for item in batch])
            t0 = time.perf_counter()
            try:
                probs = await loop.run_in_executor(self._executor, self.run, x)
            except Exception as exc:  # noqa: BLE001 - every waiting request learns of the failure
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(exc)
                continue
            seconds = time.perf_counter() - t0
            self._seconds_per_image = 0.8 * self._seconds_per_image + 0.2 * seconds / len(batch)
            if self.on_batch is not None:
                self.on_batch(len(batch), seconds)
            for item, p in zip(batch, probs, strict=True):
                if not item.future.done():
                    item.future.set_result((p, len(batch)))
