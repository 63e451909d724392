"""An evaluation on the bus: the eval director, the solvers and graders, the event log and
the store — the engine of a generation run (ledger, cache, retries, stall watch, Ctrl-C)
with the dataset's items in place of inspirations."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from environment.config.eval_scenario import EvalScenario
from environment.core.bus import Bus
from environment.core.eval_director import EvalDirector
from environment.core.event_log import Event
from environment.core.messages import EvalItem, RunStarted, StopReason
from environment.core.world import Participant, drive, tap_bus
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
    tap = tap_bus(bus, store, roster, listeners, link)
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
                target=len(items),
                next_seq=len(done),
                accepted_so_far=len(done),
                goal="graded items",
            ),
            "graded items are saved; the rest is asked again on --resume",
        )
    finally:
        wall = time.perf_counter() - started
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
