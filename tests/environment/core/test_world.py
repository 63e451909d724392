"""The world on the real bus, renderer and run folder: a run that stops moving ends, naming
what it waits for."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from autogen_core import MessageContext, message_handler

from agents.juror import Juror
from agents.registry import build_participants
from environment.config.personas import Persona
from environment.config.scenario import Scenario
from environment.core.bus import BusAgent
from environment.core.messages import StopReason, TableRendered
from environment.core.world import Participant, RunOutcome, run_info, run_world
from environment.models.assembly import Keys, open_model_shop
from environment.models.secrets import Redactor
from environment.storage.store import RunStore, iter_events
from renderers.chromium import ChromiumRenderer


class LosesEveryTable(BusAgent):
    """A questioner with a bug: it takes each table and never answers."""

    @message_handler
    async def on_table(self, message: TableRendered, ctx: MessageContext) -> None:
        return None


def tiny_scenario(output: Path, stall_s: float) -> Scenario:
    return Scenario.model_validate(
        {
            "name": "stall",
            "seed": 3,
            "target": {"accepted_qa": 5},
            "output": str(output),
            "models": {"sim": {"kind": "simulated"}},
            "agents": [
                {"role": "inspirer", "persona": "cartographer", "model": "sim"},
                {"role": "generator", "persona": "analyst", "model": "sim"},
                {"role": "questioner", "persona": "puzzle-setter", "model": "sim"},
                {"role": "juror", "persona": "auditor", "model": "sim"},
            ],
            "tables_per_call": 1,
            "max_inflight": 1,
            "stall_timeout_s": stall_s,
        }
    )


async def run_tiny(
    scenario: Scenario,
    tmp_path: Path,
    personas: dict[str, Persona],
    renderer: ChromiumRenderer,
    questioner: Callable[[str], BusAgent] | None = None,
) -> tuple[RunOutcome, RunStore, list[Participant]]:
    """The scenario run in this process, on the shared renderer; `questioner` replaces the
    questioner agent when given."""
    store = RunStore.create(tmp_path / "run", run_info(scenario, "run", personas))
    shop = open_model_shop(scenario, store, no_cache=True, keys=Keys({}, Redactor()))
    participants = [
        Participant(questioner(p.agent.name), p.role, p.persona)
        if questioner is not None and p.role == "questioner"
        else p
        for p in build_participants(scenario, personas, shop)
    ]
    outcome = await run_world(
        scenario=scenario,
        store=store,
        participants=participants,
        ledger=shop.ledger,
        oracle=shop.oracle,
        listeners=[],
        run_id="run",
        next_seq=0,
        known_qa_ids=set(),
        accepted_so_far=0,
        renderer=renderer,
    )
    await shop.close()
    return outcome, store, participants


async def test_a_run_that_stops_moving_ends_as_stalled_naming_what_it_waits_for(
    tmp_path: Path, personas: dict[str, Persona], renderer: ChromiumRenderer
) -> None:
    outcome, store, _ = await run_tiny(
        tiny_scenario(tmp_path, stall_s=2), tmp_path, personas, renderer, LosesEveryTable
    )
    assert outcome.reason is StopReason.STALLED
    # Only inspiration 0 may be open (max_inflight 1), and its table never gets questions.
    assert outcome.detail.startswith("nothing moved for 2 s; i00000"), outcome.detail
    events = iter_events(store.directory / "events.jsonl")
    stops = [e for e in events if e["kind"] == "RunStopping"]
    assert [(e["data"]["reason"], e["data"]["detail"]) for e in stops] == [
        ("stalled", outcome.detail)
    ]
    assert store.read_run_info()["last_session"]["stop_reason"] == "stalled"


async def test_jurors_let_go_of_the_tables_of_committed_inspirations(
    tmp_path: Path, personas: dict[str, Persona], renderer: ChromiumRenderer
) -> None:
    outcome, _, participants = await run_tiny(
        tiny_scenario(tmp_path, stall_s=600), tmp_path, personas, renderer
    )
    assert outcome.reason is StopReason.TARGET and outcome.last_committed >= 1
    (juror,) = [p.agent for p in participants if isinstance(p.agent, Juror)]
    held = {int(table_id[1:6]) for table_id in juror._tables}
    # The last commit stops the run before jurors hear of it; every earlier one is let go.
    assert all(seq >= outcome.last_committed for seq in held), held


def test_the_default_stall_time_outlasts_the_slowest_call_or_render(tmp_path: Path) -> None:
    scenario = tiny_scenario(tmp_path, stall_s=2).model_copy(update={"stall_timeout_s": None})
    assert scenario.stall_after_s() == 2 * scenario.render.timeout_s + 300
