"""The world the agents live in: bus, render service, director, event log, store — and a run.

`run.py` builds the agents from the registry and hands them here; the world wires the
environment's own services around them and runs until the director says stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import platform
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

from environment.config.personas import Persona
from environment.config.scenario import Scenario
from environment.core.bus import AgentFailure, Bus, BusAgent
from environment.core.dedup import TableIndex
from environment.core.director import Director, prune_seed_pool
from environment.core.event_log import Event, EventLog
from environment.core.messages import Message, RunStarted, StopReason
from environment.core.rendering import DRAFTS_AHEAD, RenderService
from environment.models.endpoint import RunLink
from environment.simulation.oracle import Oracle
from environment.storage.ledger import Ledger
from environment.storage.store import RunStore
from renderers.chromium import ChromiumRenderer


class Stoppable(Protocol):
    async def stalled(self, seconds: float) -> None: ...


@dataclass
class Participant:
    agent: BusAgent
    role: str
    persona: str


@dataclass
class RunOutcome:
    last_committed: int  # seq of the last inspiration on disk (-1: none)
    reason: StopReason
    accepted: int
    wall_s: float
    render_busy_s: float
    renders: int
    render_failures: int
    events: int
    detail: str = ""  # for a stall: what the run was waiting for


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for package in ("autogen-core", "playwright", "pylatexenc", "pydantic", "rich"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[package] = metadata.version(package)
    return found


def run_info(scenario: Scenario, run_id: str, personas: dict[str, Persona]) -> dict[str, Any]:
    """run.json at the start: the effective scenario and every persona its agents use, as
    resolved, so the folder alone reproduces (and resumes) the run."""
    return {
        "run_id": run_id,
        "scenario": scenario.model_dump(mode="json"),
        "personas": {name: persona.model_dump(mode="json") for name, persona in personas.items()},
        "seed": scenario.seed,
        "versions": versions(),
        "progress": {"committed_inspirations": 0, "accepted": 0},
    }


async def run_world(
    *,
    scenario: Scenario,
    store: RunStore,
    participants: list[Participant],
    ledger: Ledger,
    oracle: Oracle | None,
    link: RunLink | None = None,
    listeners: list[Callable[[Event], None]],
    run_id: str,
    next_seq: int,
    known_qa_ids: set[str],
    accepted_so_far: int,
    renderer: ChromiumRenderer | None = None,
    horizon: int | None = None,
) -> RunOutcome:
    """Runs the society until the target, an interrupt (SIGINT) or a failure."""
    bus = Bus()
    roster = {p.agent.name: (p.role, p.persona) for p in participants}
    roster.update({"director": ("director", "director"), "renderer": ("renderer", "renderer")})
    by_role = {
        role: [p.agent.name for p in participants if p.role == role]
        for role in ("inspirer", "generator", "questioner")
    }
    owned_renderer = renderer is None
    renderer = renderer or ChromiumRenderer(
        pages=scenario.render.pages,
        scale=scenario.render.scale,
        timeout_s=scenario.render.timeout_s,
        allow_partial=scenario.render.allow_partial,
        limits=scenario.render.limits(),
    )
    if owned_renderer:
        await renderer.start()
    tap = tap_bus(bus, store, roster, listeners, link)
    committed = TableIndex(scenario.dedup.table_similarity)
    records = store.read_records()
    for table_id in sorted({record.table_id for record in records}):
        committed.add(table_id, store.table_text(table_id))  # a resumed run's tables
    seed_pool = None
    real_generators = any(
        scenario.models[agent.model].kind != "simulated"
        for agent in scenario.agents
        if agent.role == "generator"
    )
    if scenario.seed_tables and real_generators:  # simulated ones do not read prompts
        accepted = {record.table_id: record.seq for record in records if record.accepted}
        kept = prune_seed_pool(
            [(seq, table_id) for table_id, seq in accepted.items()],
            next_seq - scenario.max_inflight,
        )  # read only the tables a future inspiration may still pick
        seed_pool = [(seq, store.table_latex(table_id)) for seq, table_id in kept]
    director = Director(
        committed=committed,
        store=store,
        target=scenario.target.accepted_qa,
        inspirers=by_role["inspirer"],
        generators=by_role["generator"],
        questioners=by_role["questioner"],
        max_inflight=scenario.max_inflight,
        known_qa_ids=known_qa_ids,
        oracle=oracle,
        prior_yield=0.5 * scenario.tables_per_call * scenario.qa_per_table,
        seed_pool=seed_pool,
        horizon=horizon,
        shard=scenario.shard,
    )
    render_service = RenderService(
        renderer, store, slots=scenario.render.pages + DRAFTS_AHEAD, committed=committed
    )
    await bus.add(director)
    await bus.add(render_service)
    for participant in participants:
        await bus.add(participant.agent)
    started = time.perf_counter()
    try:
        await drive(
            bus,
            tap,
            store,
            director,
            scenario.stall_after_s(),
            RunStarted(
                run_id=run_id,
                target=scenario.target.accepted_qa,
                next_seq=next_seq,
                accepted_so_far=accepted_so_far,
            ),
            "work in flight finishes first (model answers are kept for --resume)",
        )
    finally:
        wall = time.perf_counter() - started  # the society's time, without browser teardown
        if owned_renderer:
            await renderer.close()
        await store.stop_writer()  # a write failure is raised here, as an OSError
        await asyncio.to_thread(
            store.update_run_info,
            ledger=ledger.as_dict(director.accepted),
            last_session={
                "stop_reason": director.stop_reason or StopReason.FAILED,
                "wall_s": round(wall, 3),
                "render_busy_s": round(render_service.clock.busy_s, 3),
                "render_page_s": round(render_service.clock.page_seconds, 3),
                "renders": render_service.clock.renders,
                "render_failures": render_service.clock.failures,
            },
        )
        await asyncio.to_thread(store.close)
    return RunOutcome(
        last_committed=director.next_commit - 1,
        reason=director.stop_reason or StopReason.FAILED,
        accepted=director.accepted,
        wall_s=wall,
        render_busy_s=render_service.clock.busy_s,
        renders=render_service.clock.renders,
        render_failures=render_service.clock.failures,
        events=tap.count,
        detail=director.stall_detail,
    )


def tap_bus(
    bus: Bus,
    store: RunStore,
    roster: dict[str, tuple[str, str]],
    listeners: list[Callable[[Event], None]],
    link: RunLink | None,
) -> EventLog:
    """Every message to the event log and the listeners; endpoint incidents onto the bus,
    and no new retries once it halts."""
    tap = EventLog(store, roster, listeners, bus)
    bus.interventions.append(tap)
    if link is not None:
        link.publish = bus.publish
        bus.halt_hooks.append(link.stop)
    return tap


class Interruptible(Stoppable, Protocol):
    async def interrupt(self) -> None: ...


async def drive(
    bus: Bus,
    tap: EventLog,
    store: RunStore,
    director: Interruptible,
    stall_s: float,
    kick_off: Message,
    on_ctrl_c: str,
) -> None:
    """Runs a bus whose agents are added until its director ends it: the store's writer
    and the stall watch around it, Ctrl-C asking the director to stop (`on_ctrl_c` says
    what happens then; a second Ctrl-C stops at once)."""
    loop = asyncio.get_running_loop()
    interrupted = False
    pending: set[asyncio.Task[None]] = set()

    def on_sigint() -> None:
        nonlocal interrupted
        if interrupted:  # a second Ctrl-C: stop waiting for in-flight work
            bus.done.set()
            raise KeyboardInterrupt
        interrupted = True
        print(f"stopping: {on_ctrl_c}; Ctrl-C again to stop at once", file=sys.stderr, flush=True)
        pending.add(loop.create_task(director.interrupt()))

    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGINT, on_sigint)
    store.start_writer(lambda error: bus.fail(AgentFailure("run-writer", "a write", error)))
    watchdog = loop.create_task(watch_for_stalls(bus, tap, director, stall_s))
    try:
        bus.start()
        await bus.publish(kick_off)
        await bus.run_until_done()
    finally:
        watchdog.cancel()
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(signal.SIGINT)


async def watch_for_stalls(bus: Bus, tap: EventLog, director: Stoppable, stall_s: float) -> None:
    """Ends a run in which no message has crossed the bus for `stall_s`: a lost message or
    a hung part would otherwise leave it waiting silently for ever. Every model retry and
    incident is a message, so only a call or render longer than its own timeout is
    mistaken for a stall, and the default leaves twice that."""
    seen, since = tap.count, time.monotonic()
    while not bus.done.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(bus.done.wait(), timeout=min(stall_s / 4, 30.0))
        if tap.count != seen:
            seen, since = tap.count, time.monotonic()
        elif not bus.done.is_set() and time.monotonic() - since >= stall_s:
            await director.stalled(stall_s)
            return


def new_run_directory(output: Path, name: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    candidate = output / f"{name}-{stamp}"
    suffix = 1
    while candidate.exists():
        suffix += 1
        candidate = output / f"{name}-{stamp}-{suffix}"
    return candidate
