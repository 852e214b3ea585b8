"""Group commit: one writer task turns many concurrent writes into few transactions.

Callers :meth:`GroupCommit.submit` an item and await its result. The writer takes everything
queued (up to ``max_batch``), hands the batch to ``write_batch`` (one transaction, one commit),
and only then resolves each caller's future: a result is never seen before its commit. Items are
written in the order they were submitted, so a socket that awaits each of its writes keeps its
order, and ``write_batch`` sees earlier items of the batch before later ones (it dedupes across
them).

When a batch fails as a whole (its transaction rolled back), each of its items is written again
alone: one bad item gets its own exception and loses none of the others. The component does no
I/O itself; ``write_batch`` is the adapter (see :class:`porch_server.storage.writer`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

_Item = TypeVar("_Item")
_Result = TypeVar("_Result")

#: Writes a batch in one transaction and returns a result per item, in order; raises (having
#: rolled back) when the transaction fails.
WriteBatch = Callable[[Sequence[_Item]], Awaitable[list[_Result]]]


class WriterClosed(RuntimeError):
    """The writer is shutting down and takes no more items."""


class GroupCommit(Generic[_Item, _Result]):
    def __init__(self, write_batch: WriteBatch[_Item, _Result], max_batch: int = 256) -> None:
        self._write_batch = write_batch
        self._max_batch = max_batch
        self._queue: asyncio.Queue[tuple[_Item, asyncio.Future[_Result]] | None] = asyncio.Queue()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        #: Items whose write committed with a result (not ``None``), and the transactions
        #: written (``GET /metrics``).
        self.committed = 0
        self.batches = 0

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="group-commit")

    async def submit(self, item: _Item) -> _Result:
        """Queue ``item`` and return its result once its transaction has committed."""
        if self._closing:
            raise WriterClosed("the server is shutting down")
        done: asyncio.Future[_Result] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((item, done))
        # Shielded: a caller cancelled while waiting still leaves its item written exactly once.
        return await asyncio.shield(done)

    async def aclose(self) -> None:
        """Take no more items, write those already queued, and stop the writer."""
        self._closing = True
        self._queue.put_nowait(None)
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < self._max_batch and not self._queue.empty():
                queued = self._queue.get_nowait()
                if queued is None:
                    stop = True
                    break
                batch.append(queued)
            await self._write(batch)
            if stop:
                return

    async def _write(self, batch: list[tuple[_Item, asyncio.Future[_Result]]]) -> None:
        try:
            results = await self._write_batch([item for item, _ in batch])
        except Exception as error:
            if len(batch) == 1:
                if not batch[0][1].done():
                    batch[0][1].set_exception(error)
                return
            log.warning("a batch of %d writes failed; writing them one by one", len(batch))
            for one in batch:
                await self._write([one])
            return
        self.batches += 1
        self.committed += sum(result is not None for result in results)
        for (_, done), result in zip(batch, results, strict=True):
            if not done.done():
                done.set_result(result)
