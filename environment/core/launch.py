"""A generation run from the command line's choices: a new run folder (plain or sharded)
or a resumed one, run to its end, and what the user is told then. run.py parses the
arguments into RunOptions and dispatches here; the agents' registry comes in through
RunOptions (the environment does not import the agents)."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from environment.core.eval_run import EvalOptions
from environment.errors import (
    INTERRUPTED_EXIT_STATUS,
    BudgetError,
    RenderError,
    StoreError,
    UserInputError,
)

# What a run needs is imported when it runs: `run.py render` starts without it.
if TYPE_CHECKING:
    from environment.config.eval_scenario import EvalScenario
    from environment.config.personas import Persona
    from environment.config.scenario import LoadedScenario, Scenario
    from environment.core.messages import QARecord
    from environment.core.world import Participant, RunOutcome
    from environment.models.assembly import Keys, ModelShop
    from environment.outputs.console import RunConsole
    from environment.storage.ledger import Ledger
    from environment.storage.store import RunStore

# Builds a scenario's agents on their models (agents.registry.build_participants).
ParticipantsBuilder = Callable[
    ["Scenario", dict[str, "Persona"], "ModelShop", list["QARecord"]], list["Participant"]
]
MAX_TOP_UPS = 5  # merges that may come out short before a sharded run gives up


@dataclass(frozen=True)
class RunOptions:
    """What the command line decides about a generation run, and who builds its agents."""

    build_participants: ParticipantsBuilder
    evaluation: EvalOptions  # for a scenario's difficulty pass
    personas_dir: Path  # the package's personas (for a folder from before snapshots)
    shard_command: tuple[str, ...]  # how a shard's process starts run.py
    out: str | None = None
    target: int | None = None
    seed: int | None = None
    quiet: bool = False
    no_cache: bool = False
    shard_report: bool = False
    shards: int | None = None
    ray: str | None = None


def apply_overrides(scenario: Scenario, options: RunOptions) -> Scenario:
    """--target and --seed, checked against the same bounds as the scenario's own keys."""
    from environment.config.scenario import Scenario

    data = scenario.model_dump(mode="python")
    if options.target is not None:
        data["target"] = {"accepted_qa": options.target}
    if options.seed is not None:
        data["seed"] = options.seed
    if options.target is None and options.seed is None:
        return scenario
    try:
        return Scenario.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        flag = "--target" if first["loc"][:1] == ("target",) else "--seed"
        raise UserInputError(f"{flag}: {first['msg'].lower()}") from None


def read_snapshot(
    info: dict[str, Any], run_json: Path, personas_dir: Path
) -> tuple[Scenario, dict[str, Persona]]:
    """The scenario and personas a run folder was started with (run.json), so a resume or
    a rerun runs the same agents whatever the package or the user's folder hold now. A
    folder from before persona snapshots were kept falls back to the package's personas."""
    from environment.config.persona_book import library_personas
    from environment.config.personas import Persona
    from environment.config.scenario import Scenario

    try:
        scenario = Scenario.model_validate(info["scenario"])
    except (KeyError, ValueError):
        raise UserInputError(f"{run_json}: scenario snapshot is missing or invalid") from None
    saved = info.get("personas")
    if saved is None:
        return scenario, library_personas(personas_dir)
    try:
        assert isinstance(saved, dict)
        return scenario, {name: Persona.model_validate(data) for name, data in saved.items()}
    except (AssertionError, ValueError):
        raise UserInputError(f"{run_json}: personas snapshot is invalid") from None


def snapshot_scenario(run_dir: Path, personas_dir: Path) -> LoadedScenario:
    """A run folder's scenario and personas as run.json keeps them, to run again."""
    from environment.config.persona_book import PersonaBook
    from environment.config.scenario import LoadedScenario, check_scenario
    from environment.storage.store import RunStore

    store = RunStore.existing(run_dir)
    scenario, personas = read_snapshot(store.read_run_info(), store.run_json, personas_dir)
    check_scenario(scenario, personas)
    where = {name: [f"run.json {store.run_json}"] for name in personas}
    return LoadedScenario(scenario, PersonaBook(personas, {}, where))


async def checked_endpoints(scenario: Scenario | EvalScenario) -> Keys:
    """The endpoints' preflight, its warnings on stderr; its errors end the command."""
    from environment.models.assembly import check_endpoints

    keys = await check_endpoints(scenario)
    for warning in keys.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return keys


@dataclass
class PreparedRun:
    """A run folder ready to run: its scenario, personas, keys and where to start."""

    scenario: Scenario
    personas: dict[str, Persona]
    store: RunStore
    keys: Keys
    run_id: str
    known: set[str] = field(default_factory=set)
    accepted: int = 0
    next_seq: int = 0


async def prepare_resume(run_dir: Path, options: RunOptions) -> PreparedRun:
    from environment.config.scenario import check_scenario
    from environment.storage.store import RunStore, refuse_eval_folder

    refuse_eval_folder(run_dir, "run --resume")
    store = await asyncio.to_thread(RunStore.reopen, run_dir)
    info = store.read_run_info()
    scenario, personas = read_snapshot(info, store.run_json, options.personas_dir)
    if options.seed is not None and options.seed != scenario.seed:
        raise UserInputError(
            f"--seed cannot change on --resume: the run's records come from seed {scenario.seed}"
        )
    scenario = apply_overrides(scenario, options)
    check_scenario(scenario, personas)
    keys = await checked_endpoints(scenario)
    records = store.read_records()
    info["scenario"] = scenario.model_dump(mode="json")
    await asyncio.to_thread(store.write_run_info, info)
    return PreparedRun(
        scenario,
        personas,
        store,
        keys,
        run_id=info.get("run_id", store.directory.name),
        known={record.qa_id for record in records},
        accepted=sum(record.accepted for record in records),
        next_seq=int(info.get("progress", {}).get("committed_inspirations", 0)),
    )


async def fresh_folder(
    options: RunOptions, loaded: LoadedScenario, out: str | None
) -> tuple[Scenario, dict[str, Persona], Keys, Path]:
    """What a new run folder holds, checked: the scenario with the flags applied, the
    personas it uses, the endpoints' keys, and where the folder goes."""
    from environment.config.scenario import persona_warnings, scenario_warnings
    from environment.core.world import new_run_directory

    scenario = apply_overrides(loaded.scenario, options)
    used = [agent.persona for agent in scenario.agents]
    if scenario.difficulty is not None:
        used.append(scenario.difficulty.solver.persona)
        used += [grader.persona for grader in scenario.difficulty.graders]
    personas = loaded.personas.used_by(used)
    for warning in scenario_warnings(scenario) + persona_warnings(scenario, loaded.personas):
        print(f"warning: {warning}", file=sys.stderr)
    keys = await checked_endpoints(scenario)  # a missing key, a dead server: before a folder
    directory = Path(out) if out else new_run_directory(Path(scenario.output), scenario.name)
    if directory.exists() and not directory.is_dir():
        raise UserInputError(f"--out {directory} is a file; give a folder for the run")
    return scenario, personas, keys, directory


async def prepare_fresh(
    options: RunOptions, loaded: LoadedScenario, out: str | None
) -> PreparedRun:
    from environment.core.world import run_info
    from environment.storage.store import RunStore

    scenario, personas, keys, directory = await fresh_folder(options, loaded, out)
    store = await asyncio.to_thread(
        RunStore.create, directory, run_info(scenario, directory.name, personas)
    )
    return PreparedRun(scenario, personas, store, keys, run_id=directory.name)


async def prepare_sharded(options: RunOptions, loaded: LoadedScenario) -> Path:
    """A sharded run's folder: run.json with the whole scenario, and one fresh run folder
    per shard under shards/, each with its share of the work."""
    from environment.core.shards import shard_directory, shard_scenarios
    from environment.core.world import run_info
    from environment.storage.store import RunStore

    count = 1 if options.shards is None else options.shards  # 0 is refused, not taken as 1
    shards = shard_scenarios(apply_overrides(loaded.scenario, options), count)
    scenario, personas, _, directory = await fresh_folder(options, loaded, options.out)
    info = {**run_info(scenario, directory.name, personas), "sharded": {"count": len(shards)}}

    def create_folders() -> None:
        RunStore.create(directory, info).close()
        for index, shard in enumerate(shards):
            shard_info = run_info(shard, f"{directory.name}-shard{index:03d}", personas)
            RunStore.create(shard_directory(directory, index), shard_info).close()

    await asyncio.to_thread(create_folders)
    return directory


async def execute_sharded(options: RunOptions, directory: Path) -> int:
    """Runs every shard not yet at its target (as local processes, or Ray actors with
    --ray), merges them into the run folder, and tops the shards up while tables repeated
    across shards left the merge short."""
    from environment.core.eval_run import run_difficulty
    from environment.core.merge import merge_into
    from environment.core.ray_shards import RayShards, start_ray, stop_ray
    from environment.core.shard_run import EXIT_INTERRUPTED, ShardLaunch, ShardProcesses, top_up
    from environment.core.shards import (
        shard_directories,
        shard_finished,
        shard_target,
        sharding,
    )
    from environment.outputs.shard_console import ShardConsole
    from environment.storage.store import RunStore

    parent = await asyncio.to_thread(RunStore.claim, directory)  # one driver at a time
    try:
        info = parent.read_run_info()
        count = sharding(info) or 0
        scenario, personas = read_snapshot(info, parent.run_json, options.personas_dir)
        if options.target is not None:  # a new total; the shards are topped up to it
            scenario = apply_overrides(scenario, options)
            parent.update_run_info(scenario=scenario.model_dump(mode="json"))
        directories = shard_directories(directory, count)
        keys = await checked_endpoints(scenario)
        command = list(options.shard_command)
        console = ShardConsole(count, quiet=options.quiet)
        extra = ["--no-cache"] if options.no_cache else []
        processes: ShardProcesses | RayShards
        if options.ray:
            await asyncio.to_thread(start_ray, options.ray)
            processes = RayShards(command, console, extra, scenario.shard_cpus)
        else:
            processes = ShardProcesses(command, console, extra)
        launches = [
            ShardLaunch(index, folder)
            for index, folder in enumerate(directories)
            if not shard_finished(folder)
        ]
        statuses: dict[int, int] = {}
        with console:
            console.message(f"run folder: {directory} ({count} shards)")
            for _ in range(MAX_TOP_UPS + 1):
                statuses.update(await processes.run(launches))
                outcome = await asyncio.to_thread(merge_into, parent)
                shortfall = scenario.target.accepted_qa - outcome.accepted
                if any(statuses.values()) or shortfall <= 0:
                    break
                console.message(
                    f"{outcome.accepted_dropped} accepted pairs were on tables that repeat "
                    f"another shard's; asking the shards for {shortfall} more"
                )
                targets = top_up([shard_target(folder) for folder in directories], shortfall)
                launches = [ShardLaunch(i, f, targets[i]) for i, f in enumerate(directories)]
    finally:
        parent.close()
        if options.ray:
            await asyncio.to_thread(stop_ray)
    console.message(
        f"merged {count} shards: {outcome.accepted} accepted of {outcome.records} pairs; "
        f"{outcome.tables_dropped} tables repeated another shard's and went with their "
        f"{outcome.pairs_dropped} pairs; spent ${outcome.cost_usd:.4f} in all"
    )
    resume = f"python run.py run --resume {directory}"
    if EXIT_INTERRUPTED in statuses.values():
        console.message(f"stopped; everything accepted so far is saved. Resume with: {resume}")
        return INTERRUPTED_EXIT_STATUS
    if any(statuses.values()):
        worst = max(statuses.values())
        console.message(f"a shard ended with status {worst} (see its lines above); then: {resume}")
        return worst
    if outcome.accepted < scenario.target.accepted_qa:
        console.message(
            f"gave up before the target ({outcome.accepted}/{scenario.target.accepted_qa}): "
            "the shards keep writing tables that repeat each other's"
        )
        return 1
    console.message(f"done: {outcome.accepted} accepted QA pairs in {directory}")
    if scenario.difficulty is not None:
        return await run_difficulty(
            options.evaluation, directory, scenario, personas, keys, outcome.cost_usd
        )
    return 0


async def execute(options: RunOptions, prepared: PreparedRun) -> int:
    from environment.core.bus import AgentFailure
    from environment.core.eval_run import run_difficulty
    from environment.core.messages import StopReason
    from environment.core.world import run_world
    from environment.models.assembly import open_model_shop, replay_key
    from environment.outputs.console import RunConsole
    from environment.outputs.shard_console import ShardReporter
    from renderers.errors import RendererUnavailable

    scenario, personas, store, keys = (
        prepared.scenario,
        prepared.personas,
        prepared.store,
        prepared.keys,
    )
    shop = open_model_shop(scenario, store, options.no_cache, keys)
    # The weighted rule goes on learning from what a resumed run judged before.
    earlier = store.read_records() if scenario.consensus.rule == "weighted" else []
    participants = options.build_participants(scenario, personas, shop, earlier)
    scenario_key = replay_key(scenario)
    horizon = shop.cache.horizon(scenario_key) if shop.cache is not None else None
    ledger = shop.ledger
    spending = lambda: (ledger.total_cost_usd, ledger.cap_usd)  # noqa: E731
    console: RunConsole = (
        ShardReporter(spending=spending)
        if options.shard_report
        else RunConsole(quiet=options.quiet, spending=spending)
    )
    console.message(f"run folder: {store.directory}")
    try:
        with console:
            outcome = await run_world(
                scenario=scenario,
                store=store,
                participants=participants,
                ledger=shop.ledger,
                link=shop.link,
                oracle=shop.oracle,
                listeners=[console.on_event],
                run_id=prepared.run_id,
                next_seq=prepared.next_seq,
                known_qa_ids=prepared.known,
                accepted_so_far=prepared.accepted,
                horizon=horizon,
            )
    except RendererUnavailable as error:
        store.close()
        raise RenderError(str(error)) from None
    except (AgentFailure, OSError) as failure:
        # An agent's write failed (AgentFailure), or the world's own closing write (OSError).
        cause = failure.error if isinstance(failure, AgentFailure) else failure
        if not isinstance(cause, OSError):
            raise
        # A full or failing disk: what is written stays (appends are whole lines, files are
        # renamed into place), nothing more can be; the folder resumes once there is room.
        with contextlib.suppress(OSError):
            store.close()
        reason = cause.strerror or str(cause)
        raise StoreError(
            f"cannot write to {store.directory} ({reason}); everything accepted so far is "
            f"saved. Free some space, then: python run.py run --resume {store.directory}"
        ) from None
    finally:
        await shop.close()
    if shop.endpoints:  # this session's calls, failures, retries and benchings per address
        await asyncio.to_thread(store.update_run_info, endpoints=shop.endpoint_figures())
    if shop.cache is not None and outcome.reason == StopReason.TARGET:
        shop.cache.remember_horizon(scenario_key, outcome.last_committed)
    if shop.cache is not None and shop.cache.hits:
        console.message(f"response cache: {shop.cache.hits} answers reused, not paid again")
    status = await finish(console, store, scenario, outcome, shop.ledger)
    if status == 0 and scenario.difficulty is not None and scenario.shard is None:
        status = await run_difficulty(
            options.evaluation,
            store.directory,
            scenario,
            personas,
            keys,
            shop.ledger.total_cost_usd,
        )
    return status


async def finish(
    console: RunConsole, store: RunStore, scenario: Scenario, outcome: RunOutcome, ledger: Ledger
) -> int:
    from environment.core.messages import StopReason

    render_share = outcome.render_busy_s / outcome.wall_s if outcome.wall_s else 0.0
    costs = ledger.as_dict(outcome.accepted)
    console.summary(
        {
            "wall_s": round(outcome.wall_s, 2),
            "render_busy_share": round(render_share, 3),
            "cost_usd": costs["total_cost_usd"],
            "cost_per_accepted_qa_usd": costs["cost_per_accepted_qa_usd"],
            "run_folder": str(store.directory),
        }
    )
    await asyncio.to_thread(store.update_run_info, summary=console.stats.as_dict(), ledger=costs)
    resume = f"python run.py run --resume {store.directory}"
    if outcome.reason == StopReason.INTERRUPTED:
        console.message(f"stopped; everything accepted so far is saved. Resume with: {resume}")
        return INTERRUPTED_EXIT_STATUS
    if outcome.reason == StopReason.BUDGET:
        cap = scenario.budget.usd if scenario.budget else 0.0
        console.message(
            f"budget reached: ${costs['total_cost_usd']:.4f} of ${cap:.2f} spent, "
            f"{outcome.accepted}/{scenario.target.accepted_qa} accepted and saved. To go on, "
            f"raise budget.usd in {store.run_json}, then: {resume}"
        )
        return BudgetError.exit_status
    if outcome.reason == StopReason.STALLED:
        console.message(
            f"stalled ({outcome.detail}); everything accepted so far is saved. This is a bug "
            f"worth reporting with events.jsonl; to go on: {resume}"
        )
        return 1
    if outcome.reason == StopReason.EXHAUSTED:
        console.message(
            f"gave up before the target ({outcome.accepted}/"
            f"{scenario.target.accepted_qa} accepted): the jury rejects too much "
            "or tables keep failing; see events.jsonl"
        )
        return 1
    console.message(f"done: {outcome.accepted} accepted QA pairs in {store.directory}")
    return 0
