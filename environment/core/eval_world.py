"""An evaluation on the bus: the eval director, the solvers and graders, the event log and
the store — the engine of a generation run (ledger, cache, retries, stall watch, Ctrl-C)
with the dataset's items in place of inspirations."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from environment.config.eval_scenario import EvalScenario
from environment.core.bus import AgentFailure, Bus
from environment.core.eval_director import EvalDirector
from environment.core.event_log import Event, EventLog
from environment.core.messages import EvalItem, RunStarted, StopReason
from environment.core.world import Participant, watch_for_stalls
from environment.models.endpoint import RunLink
from environment.simulation.oracle import Oracle
from environment.storage.ledger import Ledger
from environment.storage.store import RunStore


@dataclass
class EvalOutcome:
    reason: StopReason
    graded: int
    total: int
    wall_s: float
    detail: str = ""


async def run_eval_world(
    *,
    scenario: EvalScenario,
    store: RunStore,
    items: list[EvalItem],
    done: set[str],
    participants: list[Participant],
    ledger: Ledger,
    oracle: Oracle | None,
    link: RunLink | None,
    listeners: list[Callable[[Event], None]],
    run_id: str,
) -> EvalOutcome:
    """Grades every item not in `done`, until all are, the budget, a Ctrl-C or a failure."""
    bus = Bus()
    roster = {p.agent.name: (p.role, p.persona) for p in participants}
    roster["director"] = ("director", "director")
    solvers = [p.agent.name for p in participants if p.role == "solver"]
    graders = {p.agent.name: p.persona for p in participants if p.role == "grader"}
    tap = EventLog(store, roster, listeners, bus)
    bus.interventions.append(tap)
    if link is not None:
        link.publish = bus.publish
        bus.halt_hooks.append(link.stop)
    director = EvalDirector(
        store=store,
        items=items,
        done=done,
        solvers=solvers,
        graders=graders,
        consensus=scenario.consensus,
        max_inflight=scenario.max_inflight,
        oracle=oracle,
    )
    await bus.add(director)
    for participant in participants:
        await bus.add(participant.agent)
    loop = asyncio.get_running_loop()
    interrupted = False
    pending: set[asyncio.Task[None]] = set()

    def on_sigint() -> None:
        nonlocal interrupted
        if interrupted:
            bus.done.set()
            raise KeyboardInterrupt
        interrupted = True
        print(
            "stopping: graded items are saved; the rest is asked again on --resume "
            "(Ctrl-C again to stop at once)",
            file=sys.stderr,
            flush=True,
        )
        pending.add(loop.create_task(director.interrupt()))

    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGINT, on_sigint)
    started = time.perf_counter()
    store.start_writer(lambda error: bus.fail(AgentFailure("run-writer", "a write", error)))
    watchdog = loop.create_task(watch_for_stalls(bus, tap, director, scenario.stall_after_s()))
    try:
        bus.start()
        await bus.publish(
            RunStarted(
                run_id=run_id,
                target=len(items),
                next_seq=len(done),
                accepted_so_far=len(done),
            )
        )
        await bus.run_until_done()
    finally:
        watchdog.cancel()
        wall = time.perf_counter() - started
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(signal.SIGINT)
        await store.stop_writer()
        await asyncio.to_thread(
            store.update_run_info,
            ledger=ledger.as_dict(director.graded),
            last_session={
                "stop_reason": director.stop_reason or StopReason.FAILED,
                "wall_s": round(wall, 3),
            },
        )
        await asyncio.to_thread(store.close)
    return EvalOutcome(
        reason=director.stop_reason or StopReason.FAILED,
        graded=director.graded,
        total=len(items),
        wall_s=wall,
        detail=director.stall_detail,
    )
