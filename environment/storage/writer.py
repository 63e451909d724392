"""The one task that writes a running run's folder, so the event loop never waits on a disk.

Agents publish hundreds of events a second; each used to be a write and a flush on the
event loop, and every commit two fsyncs and an atomic run.json there too. Now lines queue
up in memory in the order things happened and one task hands each batch whole to a thread
(through aiofiles): one hop per batch, not one per write, flush and fsync — each hop costs
the event loop a wake-up and a GIL hand-over. A commit is a barrier: it returns once its
records, and every line queued before them, are fsync'd and run.json is replaced — the
director counts nothing that is not on disk.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO

import aiofiles.os


@dataclass(frozen=True)
class _Line:
    stream: str
    text: str


@dataclass(frozen=True)
class _Barrier:
    """Write `text` to `stream`, fsync every stream in `durable`, then call `after` in a
    thread; `done` tells the caller."""

    stream: str
    text: str
    durable: tuple[str, ...]
    after: Callable[[], None] | None
    done: asyncio.Future[None]


_Op = _Line | _Barrier | None  # None: write what is queued, then end


class RunWriter:
    """Appends lines to the run folder's open files from one task, in queue order."""

    def __init__(
        self, files: dict[str, IO[str]], on_failure: Callable[[BaseException], None]
    ) -> None:
        loop = asyncio.get_running_loop()
        self._files = files  # touched only by the batch in its thread
        # One thread of its own, not the loop's shared pool: batches run one after another
        # on it, in one malloc arena (with the pool, bench/soak.py measured +19 to +30 MiB
        # per 1,000 pairs; with its own thread +4 to +7, the session's start -5, all within
        # the spread of where Chromium's page recycling falls among the samples).
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="run-writer")
        self._write_in_thread = aiofiles.os.wrap(self._write_batch)
        self._on_failure = on_failure
        self._queue: asyncio.Queue[_Op] = asyncio.Queue()
        self.failure: BaseException | None = None
        self._closing = False
        self._task = loop.create_task(self._work(), name="run-writer")

    def append(self, stream: str, text: str) -> None:
        """Queues `text` (whole lines) for `stream`; never waits. After a failure the run
        is stopping and its lines have nowhere to go: they are dropped."""
        if self.failure is None and not self._closing:
            self._queue.put_nowait(_Line(stream, text))

    async def commit(
        self, stream: str, text: str, durable: tuple[str, ...], after: Callable[[], None] | None
    ) -> None:
        """Appends `text` to `stream` and returns when it and everything queued before it
        are written, the `durable` streams fsync'd, and `after` (run in a thread) is done."""
        if self.failure is not None:
            raise self.failure
        if self._closing:
            raise RuntimeError("the run writer is closed")
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Barrier(stream, text, durable, after, done))
        await done

    async def close(self) -> None:
        """Writes what is queued, then stops; a write failure is raised here too."""
        if not self._closing:
            self._closing = True
            self._queue.put_nowait(None)
        await asyncio.shield(self._task)
        if self.failure is not None:
            raise self.failure

    async def _work(self) -> None:
        batch: list[_Op] = []
        try:
            while True:
                batch = [await self._queue.get()]
                while not self._queue.empty():
                    batch.append(self._queue.get_nowait())
                await self._write_in_thread(batch, executor=self._thread)
                for op in batch:
                    if isinstance(op, _Barrier):
                        op.done.set_result(None)
                if batch[-1] is None:
                    return
        except asyncio.CancelledError as error:
            self._closing = True
            self._fail_waiting(batch, error)
            raise
        except Exception as error:  # a full or failing disk
            self.failure = error
            self._closing = True
            self._fail_waiting(batch, error)
            self._on_failure(error)  # the run stops; close() raises it again
        finally:
            self._thread.shutdown(wait=False)

    def _write_batch(self, batch: list[_Op]) -> None:
        """Writes a batch in queue order: lines per stream joined, each barrier's text, its
        fsyncs and its `after` at its place. Runs in the writer's thread."""
        pending: dict[str, list[str]] = {}
        for op in batch:
            if isinstance(op, _Line):
                pending.setdefault(op.stream, []).append(op.text)
                continue
            self._write(pending)
            pending = {}
            if op is None:
                return
            self._write({op.stream: [op.text]})
            for name in op.durable:
                os.fsync(self._files[name].fileno())
            if op.after is not None:
                op.after()
        self._write(pending)

    def _write(self, pending: dict[str, list[str]]) -> None:
        for stream, texts in pending.items():
            handle = self._files[stream]
            handle.write("".join(texts))
            handle.flush()

    def _fail_waiting(self, batch: list[_Op], error: BaseException) -> None:
        waiting = list(batch)
        while not self._queue.empty():
            waiting.append(self._queue.get_nowait())
        for op in waiting:
            if isinstance(op, _Barrier) and not op.done.done():
                op.done.set_exception(error)
