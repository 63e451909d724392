"""The render service on the bus: TableDrafted → files + TableRendered, or RenderFailed."""

from __future__ import annotations

import time
from typing import Protocol

from autogen_core import MessageContext, message_handler

from environment.bus import BusAgent
from environment.messages import Cell, RenderFailed, RenderProblem, TableDrafted, TableRendered
from environment.store import RunStore
from renderers.chromium import RenderResult
from renderers.errors import LatexRenderError


class Renderer(Protocol):
    async def render(self, latex: str) -> RenderResult: ...


class RenderClock:
    """Wall time during which at least one render was in flight (for the benchmark)."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.busy_s = 0.0
        self.renders = 0
        self.failures = 0
        self._since = 0.0

    def begin(self) -> None:
        if self.in_flight == 0:
            self._since = time.perf_counter()
        self.in_flight += 1

    def end(self) -> None:
        self.in_flight -= 1
        if self.in_flight == 0:
            self.busy_s += time.perf_counter() - self._since


class RenderService(BusAgent):
    role = "renderer"

    def __init__(self, renderer: Renderer, store: RunStore, name: str = "renderer") -> None:
        super().__init__(name, description="LaTeX → PNG in headless Chromium")
        self.renderer = renderer
        self.store = store
        self.clock = RenderClock()

    @message_handler
    async def on_table_drafted(self, message: TableDrafted, ctx: MessageContext) -> None:
        self.clock.begin()
        try:
            result = await self.renderer.render(message.latex)
        except LatexRenderError as error:
            self.clock.failures += 1
            self.store.save_table(message.table_id, message.latex, None, None)
            problem = error.problem
            await self.emit(
                RenderFailed(
                    table_id=message.table_id,
                    inspiration_id=message.inspiration_id,
                    seq=message.seq,
                    topic=message.topic,
                    latex=message.latex,
                    generator=message.generator,
                    questioner=message.questioner,
                    attempt=message.attempt,
                    problem=RenderProblem(
                        message=problem.message, line=problem.line, construct_name=problem.construct
                    ),
                )
            )
            return
        finally:
            self.clock.end()
        self.clock.renders += 1
        image = self.store.save_table(message.table_id, message.latex, result.html, result.png)
        await self.emit(
            TableRendered(
                table_id=message.table_id,
                inspiration_id=message.inspiration_id,
                seq=message.seq,
                topic=message.topic,
                generator=message.generator,
                questioner=message.questioner,
                attempt=message.attempt,
                image=image,
                width=result.width,
                height=result.height,
                grid=tuple(
                    Cell(
                        row=c.row,
                        col=c.col,
                        rowspan=c.rowspan,
                        colspan=c.colspan,
                        text=c.text,
                        background=c.background,
                        bold=c.bold,
                        italic=c.italic,
                    )
                    for c in result.grid
                ),
                text=result.text,
                warnings=result.warnings,
            )
        )
