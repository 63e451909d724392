"""The render service on the bus: TableDrafted → files + TableRendered, or RenderFailed."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import heapq
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

from autogen_core import MessageContext, message_handler

from environment.core.bus import BusAgent
from environment.core.dedup import TableIndex
from environment.core.messages import (
    DuplicatesDropped,
    RenderFailed,
    RenderProblem,
    TableAbandoned,
    TableDrafted,
    TableRendered,
)
from environment.storage.store import RunStore, iter_events
from renderers.chromium import RenderResult
from renderers.errors import LatexProblem, LatexRenderError, RendererUnavailable
from renderers.latex_vocabulary import supported_constructs

__all__ = ["DRAFTS_AHEAD", "RenderService", "supported_constructs"]


class Renderer(Protocol):
    async def render(self, latex: str) -> RenderResult: ...


class RenderClock:
    """Wall time during which at least one render was in flight (for the benchmark)."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.busy_s = 0.0
        self.page_seconds = 0.0  # integral of renders in flight over time (admitted ones)
        self.renders = 0
        self.failures = 0
        self._since = 0.0
        self._last = 0.0

    def _advance(self) -> None:
        now = time.perf_counter()
        if self.in_flight:
            self.page_seconds += self.in_flight * (now - self._last)
        self._last = now

    def begin(self) -> None:
        self._advance()
        if self.in_flight == 0:
            self._since = self._last
        self.in_flight += 1

    def end(self) -> None:
        self._advance()
        self.in_flight -= 1
        if self.in_flight == 0:
            self.busy_s += self._last - self._since


class PrioritySlots:
    """A semaphore whose waiters are woken smallest priority first."""

    def __init__(self, slots: int) -> None:
        self.free = slots
        self._waiting: list[tuple[tuple[int, int, int], int, asyncio.Future[None]]] = []
        self._tiebreak = 0

    @contextlib.asynccontextmanager
    async def slot(self, priority: tuple[int, int, int]) -> AsyncIterator[None]:
        if self.free > 0 and not self._waiting:
            self.free -= 1
        else:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._tiebreak += 1
            heapq.heappush(self._waiting, (priority, self._tiebreak, future))
            await future  # the releasing task handed its slot over to us
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        while self._waiting:
            _, _, future = heapq.heappop(self._waiting)
            if not future.done():
                future.set_result(None)
                return
        self.free += 1


# Drafts handed to the renderer beyond one per page: while the pages draw, the next drafts
# are translated (or their pictures drawn by TeX), so a page that frees finds work ready.
# With one draft per page, each page sat idle through every translation (bench/pipeline.py:
# agents + bus overhead ~27% -> ~20%).
DRAFTS_AHEAD = 2
POISONING = {"crash", "timeout"}  # refusals that cost the renderer a process or a deadline


def _draft_key(table_id: str, attempt: int, latex: str) -> tuple[str, int, str]:
    return table_id, attempt, hashlib.sha256(latex.encode("utf-8")).hexdigest()


def recorded_render_crashes(events_path: Path) -> dict[tuple[str, int, str], LatexProblem]:
    """The drafts an earlier session of this run failed to draw because they crashed or hung
    the renderer, read back from its event log (lines that do not read are skipped here)."""
    crashes: dict[tuple[str, int, str], LatexProblem] = {}
    if not events_path.is_file():
        return crashes
    skipped: list[int] = []
    for event in iter_events(events_path, skipped):
        data = event.get("data", {})
        problem = data.get("problem") or {}
        if event.get("kind") != "RenderFailed" or problem.get("construct_name") not in POISONING:
            continue
        key = _draft_key(data["table_id"], data["attempt"], data["latex"])
        crashes[key] = LatexProblem(
            f"{problem['message']} (recorded earlier in this run; not drawn again)",
            problem.get("line"),
            problem["construct_name"],
        )
    return crashes


class RenderService(BusAgent):
    role = "renderer"

    def __init__(
        self,
        renderer: Renderer,
        store: RunStore,
        slots: int,
        committed: TableIndex | None = None,
        name: str = "renderer",
    ) -> None:
        super().__init__(name, description="LaTeX → PNG in headless Chromium")
        self.renderer = renderer
        self.store = store
        self.committed = committed  # the director's index of committed tables
        self.clock = RenderClock()
        self._slots = PrioritySlots(slots)
        # Drafts that crashed or hung the renderer in an earlier session of this run: a resume
        # replays the same reply, and must not draw it into the same crash again.
        self._poisoned = recorded_render_crashes(store.events_path)

    @message_handler
    async def on_table_drafted(self, message: TableDrafted, ctx: MessageContext) -> None:
        # Oldest inspiration first: the director commits in order, so a repair of the oldest
        # table must not wait behind drafts of newer ones.
        priority = (message.seq, message.index, -message.attempt)
        async with self._slots.slot(priority):
            if self.bus is not None and self.bus.halted:
                return  # the run stopped while this draft waited: speculative work
            await self._render(message)

    async def _render(self, message: TableDrafted) -> None:
        self.clock.begin()
        try:
            recorded = self._poisoned.get(
                _draft_key(message.table_id, message.attempt, message.latex)
            )
            if recorded is not None:
                raise LatexRenderError(recorded)
            result = await self.renderer.render(message.latex)
        except RendererUnavailable:
            raise  # the machine lost its browser: no document is to blame
        except Exception as error:  # a render can fail; it can never stop the run
            self.clock.failures += 1
            await asyncio.to_thread(
                self.store.save_table, message.table_id, message.latex, None, None
            )
            problem = (
                error.problem
                if isinstance(error, LatexRenderError)
                else LatexProblem(
                    f"the renderer failed: {type(error).__name__}: {str(error)[:200]}",
                    None,
                    "crash",
                )
            )
            await self.emit(
                RenderFailed(
                    **message.provenance(),
                    index=message.index,
                    latex=message.latex,
                    problem=RenderProblem(
                        message=problem.message, line=problem.line, construct_name=problem.construct
                    ),
                )
            )
            return
        finally:
            self.clock.end()
        self.clock.renders += 1
        # fsync'd writes in a thread: the loop keeps feeding the render pages meanwhile.
        image = await asyncio.to_thread(
            self.store.save_table,
            message.table_id,
            message.latex,
            result.html,
            result.png,
            result.text,
        )
        duplicate = (
            self.committed.duplicate_of(result.text, message.table_id) if self.committed else None
        )
        if duplicate is not None:  # nobody should write questions or votes for it
            await self.emit(
                DuplicatesDropped(
                    kind="table",
                    table_id=message.table_id,
                    count=1,
                    duplicate_of=duplicate[0],
                    similarity=round(duplicate[1], 3),
                )
            )
            await self.emit(
                TableAbandoned(
                    table_id=message.table_id,
                    inspiration_id=message.inspiration_id,
                    seq=message.seq,
                    generator=message.generator,
                    reason=f"near-duplicate of {duplicate[0]} ({duplicate[1]:.2f})",
                )
            )
            return
        await self.emit(
            TableRendered(
                **message.provenance(),
                latex=message.latex,
                image=image,
                width=result.width,
                height=result.height,
                grid=result.grid,
                text=result.text,
                warnings=tuple(warning.describe() for warning in result.warnings),
            )
        )
