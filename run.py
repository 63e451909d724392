#!/usr/bin/env python3
"""modswap: run a scenario's agent society, replay a run, or render LaTeX files.

    python run.py SCENARIO [--out DIR] [--target N] [--seed N] [--set KEY=VALUE] [--quiet]
    python run.py run SCENARIO ...            (same as above)
    python run.py run --resume RUN_DIR        (finish a run that was stopped or killed)
    python run.py SCENARIO --shards K         (K processes over parts of the work, merged)
    python run.py SCENARIO --shards K --ray ADDRESS|local  (the shards as Ray actors)
    python run.py merge RUN_DIR               (a sharded run's shards into its folder again)
    python run.py push RUN_OR_EXPORT --repo OWNER/NAME [--private] [--revision BRANCH]
    python run.py replay RUN_DIR [--quiet]
    python run.py render FILE.tex... --out DIR [--json] [--scale 2]
    python run.py validate SCENARIO...        (check files; list the API keys they need)
    python run.py personas [NAME] [--scenario FILE]  (personas, every knob and its source)
    python run.py report RUN_DIR [--out FILE]  (one self-contained HTML file)
    python run.py show RUN_DIR ITEM_ID         (one item's story: drafts, renders, votes)
    python run.py compare RUN_DIR... [--out FILE]  (runs side by side, with significance)
    python run.py jury-study RUN_DIR          (its votes under every rule and jury subset)
    python run.py eval DATASET SCENARIO [--out DIR] [--skip-bad]  (solvers answer, a jury grades)
    python run.py eval --resume EVAL_DIR
    python run.py export RUN_DIR --format llava|sharegpt|internvl|swift --out DIR

Arguments and dispatch; the models are built in environment/models/assembly.py, the
agents in agents/registry.py, and the world runs them (environment/core/world.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from environment.errors import (
    INTERRUPTED_EXIT_STATUS,
    BudgetError,
    ModswapError,
    RenderError,
    StoreError,
    UserInputError,
)

# Each command imports what it needs when it runs: `render` starts without the agents.
if TYPE_CHECKING:
    from environment.config.eval_scenario import EvalScenario
    from environment.config.personas import Persona
    from environment.config.scenario import LoadedScenario, Scenario
    from environment.core.eval_run import EvalOptions
    from environment.core.world import RunOutcome
    from environment.models.assembly import Keys
    from environment.outputs.console import RunConsole
    from environment.storage.ledger import Ledger
    from environment.storage.store import RunStore

ROOT = Path(__file__).resolve().parent
PERSONAS_DIR = ROOT / "agents" / "personas"
EXIT_USER_ERROR = UserInputError.exit_status
EXIT_INTERRUPTED = INTERRUPTED_EXIT_STATUS
EXIT_BUDGET = BudgetError.exit_status  # a run that stopped at its cap, everything saved


def apply_overrides(scenario: Scenario, args: argparse.Namespace) -> Scenario:
    """--target and --seed, checked against the same bounds as the scenario's own keys."""
    from environment.config.scenario import Scenario

    data = scenario.model_dump(mode="python")
    if args.target is not None:
        data["target"] = {"accepted_qa": args.target}
    if args.seed is not None:
        data["seed"] = args.seed
    if args.target is None and args.seed is None:
        return scenario
    try:
        return Scenario.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        flag = "--target" if first["loc"][:1] == ("target",) else "--seed"
        raise UserInputError(f"{flag}: {first['msg'].lower()}") from None


def read_snapshot(info: dict[str, Any], run_json: Path) -> tuple[Scenario, dict[str, Persona]]:
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
        return scenario, library_personas(PERSONAS_DIR)
    try:
        assert isinstance(saved, dict)
        return scenario, {name: Persona.model_validate(data) for name, data in saved.items()}
    except (AssertionError, ValueError):
        raise UserInputError(f"{run_json}: personas snapshot is invalid") from None


def snapshot_scenario(run_dir: Path) -> LoadedScenario:
    """A run folder's scenario and personas as run.json keeps them, to run again."""
    from environment.config.persona_book import PersonaBook
    from environment.config.scenario import LoadedScenario, check_scenario
    from environment.storage.store import RunStore

    store = RunStore.existing(run_dir)
    scenario, personas = read_snapshot(store.read_run_info(), store.run_json)
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


async def run_command(args: argparse.Namespace) -> int:
    from environment.config.scenario import load_scenario
    from environment.core.shards import is_sharded_folder
    from renderers.chromium import check_assets, chromium_path

    chromium_path()  # set-up problems first, before a run folder is made
    check_assets()
    if args.resume is not None and is_sharded_folder(Path(args.resume)):
        if args.out or args.scenario or args.set or args.shards is not None or args.seed:
            raise UserInputError(
                "--resume continues a sharded run with its own scenario and shards; drop "
                "the scenario file, --out, --set, --seed and --shards"
            )
        return await execute_sharded(args, Path(args.resume))
    if args.resume is not None:
        if args.shards is not None or args.ray:
            raise UserInputError(
                f"{args.resume} is not a sharded run: --shards and --ray do not apply"
            )
        return await execute(args, await prepare_resume(args))
    if args.scenario is None:
        raise UserInputError(
            "give a scenario file, e.g. python run.py "
            "scenarios/quickstart.yaml (or --resume RUN_DIR)"
        )
    path = Path(args.scenario)
    if await asyncio.to_thread(path.is_dir):  # a run folder: its scenario and personas, again
        if args.set:
            raise UserInputError(
                f"{path} is a run folder: it runs again as it ran; --set changes scenario files"
            )
        loaded = snapshot_scenario(path)
    else:
        loaded = load_scenario(path, PERSONAS_DIR, args.set)
    if args.shards is not None:
        if args.ray:
            from environment.core.ray_shards import check_head

            await asyncio.to_thread(check_head, args.ray)  # before a folder is made
        return await execute_sharded(args, await prepare_sharded(args, loaded))
    if args.ray:
        raise UserInputError("--ray runs a sharded run's shards; give --shards K as well")
    if loaded.scenario.variants:
        return await run_variants(args, path, list(loaded.scenario.variants))
    return await execute(args, await prepare_fresh(args, loaded, args.out))


async def prepare_resume(args: argparse.Namespace) -> PreparedRun:
    from environment.config.scenario import check_scenario
    from environment.storage.store import RunStore, refuse_eval_folder

    if args.out or args.scenario or args.set:
        raise UserInputError(
            "--resume continues a run folder with its own scenario and personas; drop "
            "the scenario file, --out and --set"
        )
    refuse_eval_folder(Path(args.resume), "run --resume")
    store = await asyncio.to_thread(RunStore.reopen, Path(args.resume))
    info = store.read_run_info()
    scenario, personas = read_snapshot(info, store.run_json)
    if args.seed is not None and args.seed != scenario.seed:
        raise UserInputError(
            f"--seed cannot change on --resume: the run's records come from seed {scenario.seed}"
        )
    scenario = apply_overrides(scenario, args)
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
    args: argparse.Namespace, loaded: LoadedScenario, out: str | None
) -> tuple[Scenario, dict[str, Persona], Keys, Path]:
    """What a new run folder holds, checked: the scenario with the flags applied, the
    personas it uses, the endpoints' keys, and where the folder goes."""
    from environment.config.scenario import persona_warnings, scenario_warnings
    from environment.core.world import new_run_directory

    scenario = apply_overrides(loaded.scenario, args)
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
    args: argparse.Namespace, loaded: LoadedScenario, out: str | None
) -> PreparedRun:
    from environment.core.world import run_info
    from environment.storage.store import RunStore

    scenario, personas, keys, directory = await fresh_folder(args, loaded, out)
    store = await asyncio.to_thread(
        RunStore.create, directory, run_info(scenario, directory.name, personas)
    )
    return PreparedRun(scenario, personas, store, keys, run_id=directory.name)


async def prepare_sharded(args: argparse.Namespace, loaded: LoadedScenario) -> Path:
    """A sharded run's folder: run.json with the whole scenario, and one fresh run folder
    per shard under shards/, each with its share of the work."""
    from environment.core.shards import shard_directory, shard_scenarios
    from environment.core.world import run_info
    from environment.storage.store import RunStore

    shards = shard_scenarios(apply_overrides(loaded.scenario, args), args.shards)
    scenario, personas, _, directory = await fresh_folder(args, loaded, args.out)
    info = {**run_info(scenario, directory.name, personas), "sharded": {"count": len(shards)}}

    def create_folders() -> None:
        RunStore.create(directory, info).close()
        for index, shard in enumerate(shards):
            shard_info = run_info(shard, f"{directory.name}-shard{index:03d}", personas)
            RunStore.create(shard_directory(directory, index), shard_info).close()

    await asyncio.to_thread(create_folders)
    return directory


async def execute_sharded(args: argparse.Namespace, directory: Path) -> int:
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
        scenario, personas = read_snapshot(info, parent.run_json)
        if args.target is not None:  # a new total; the shards are topped up to it
            scenario = apply_overrides(scenario, args)
            parent.update_run_info(scenario=scenario.model_dump(mode="json"))
        directories = shard_directories(directory, count)
        keys = await checked_endpoints(scenario)
        command = [sys.executable, str(ROOT / "run.py")]
        console = ShardConsole(count, quiet=args.quiet)
        extra = ["--no-cache"] if args.no_cache else []
        processes: ShardProcesses | RayShards
        if args.ray:
            await asyncio.to_thread(start_ray, args.ray)
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
        if args.ray:
            await asyncio.to_thread(stop_ray)
    console.message(
        f"merged {count} shards: {outcome.accepted} accepted of {outcome.records} pairs; "
        f"{outcome.tables_dropped} tables repeated another shard's and went with their "
        f"{outcome.pairs_dropped} pairs; spent ${outcome.cost_usd:.4f} in all"
    )
    resume = f"python run.py run --resume {directory}"
    if EXIT_INTERRUPTED in statuses.values():
        console.message(f"stopped; everything accepted so far is saved. Resume with: {resume}")
        return EXIT_INTERRUPTED
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
            eval_options(args), directory, scenario, personas, keys, outcome.cost_usd
        )
    return 0


MAX_TOP_UPS = 5  # merges that may come out short before a sharded run gives up


async def run_variants(args: argparse.Namespace, path: Path, names: list[str]) -> int:
    """Each variant on the same seed, one after the other, into sibling folders; then
    their comparison beside them (the first variant is the reference)."""
    from environment.config.scenario import load_scenario
    from environment.core.world import new_run_directory

    # Every variant is checked before the first one runs (and spends).
    loaded = {name: load_scenario(path, PERSONAS_DIR, args.set, variant=name) for name in names}
    first = loaded[names[0]].scenario
    parent = Path(args.out) if args.out else new_run_directory(Path(first.output), first.name)
    for name in names:
        print(f"variant {name}: {parent / name}")
        status = await execute(args, await prepare_fresh(args, loaded[name], str(parent / name)))
        if status != 0:
            print(f"variant {name} ended with status {status}; the rest were not run")
            return status
    return compare_command([parent / name for name in names], str(parent / "compare.html"))


async def execute(args: argparse.Namespace, prepared: PreparedRun) -> int:
    from agents.registry import build_participants
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
    shop = open_model_shop(scenario, store, args.no_cache, keys)
    # The weighted rule goes on learning from what a resumed run judged before.
    earlier = store.read_records() if scenario.consensus.rule == "weighted" else []
    participants = build_participants(scenario, personas, shop, earlier)
    scenario_key = replay_key(scenario)
    horizon = shop.cache.horizon(scenario_key) if shop.cache is not None else None
    ledger = shop.ledger
    spending = lambda: (ledger.total_cost_usd, ledger.cap_usd)  # noqa: E731
    console: RunConsole = (
        ShardReporter(spending=spending)
        if args.shard_report
        else RunConsole(quiet=args.quiet, spending=spending)
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
            eval_options(args),
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
        return EXIT_INTERRUPTED
    if outcome.reason == StopReason.BUDGET:
        cap = scenario.budget.usd if scenario.budget else 0.0
        console.message(
            f"budget reached: ${costs['total_cost_usd']:.4f} of ${cap:.2f} spent, "
            f"{outcome.accepted}/{scenario.target.accepted_qa} accepted and saved. To go on, "
            f"raise budget.usd in {store.run_json}, then: {resume}"
        )
        return EXIT_BUDGET
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


async def eval_command(args: argparse.Namespace) -> int:
    """Solvers answer a dataset's questions, the pre-grader and a jury grade them, and the
    figures (accuracy per view, the modality gap) go to summary.json and the console."""
    from environment.config.eval_scenario import load_eval_scenario
    from environment.config.scenario import persona_warnings
    from environment.core.eval_run import create_eval_folder, execute_eval, reopen_eval_folder
    from environment.core.world import new_run_directory

    if args.resume is not None:
        if args.dataset or args.scenario or args.out or args.set:
            raise UserInputError(
                "--resume continues an eval folder with its own items and scenario; drop "
                "the dataset, the scenario file, --out and --set"
            )
        store, scenario, personas, items = await reopen_eval_folder(Path(args.resume))
        keys = await checked_endpoints(scenario)
    else:
        if args.dataset is None or args.scenario is None:
            raise UserInputError(
                "give a dataset and an eval scenario: python run.py eval "
                "DATASET scenarios/eval-quickstart.yaml"
            )
        loaded = load_eval_scenario(Path(args.scenario), PERSONAS_DIR, args.set)
        scenario = loaded.scenario
        for warning in persona_warnings(scenario, loaded.personas):
            print(f"warning: {warning}", file=sys.stderr)
        used = [s.persona for s in scenario.solvers] + [g.persona for g in scenario.graders]
        personas = loaded.personas.used_by(used)
        keys = await checked_endpoints(scenario)
        directory = (
            Path(args.out)
            if args.out
            else new_run_directory(Path(scenario.output), "eval-" + scenario.name)
        )
        if directory.exists() and not directory.is_dir():
            raise UserInputError(f"--out {directory} is a file; give a folder for the eval")
        store, items = await create_eval_folder(
            Path(args.dataset), scenario, personas, directory, args.skip_bad
        )
    return await execute_eval(eval_options(args), scenario, personas, store, keys, items)


def eval_options(args: argparse.Namespace) -> EvalOptions:
    from environment.core.eval_run import EvalOptions

    return EvalOptions(quiet=args.quiet, no_cache=args.no_cache)


def validate_command(args: argparse.Namespace) -> int:
    """Checks each scenario (schema, names, roles); says which keys the run will need."""
    from environment.config.eval_scenario import is_eval_scenario
    from environment.config.scenario import load_scenario, persona_warnings, scenario_warnings
    from environment.models.assembly import endpoint_key_envs

    for name in args.scenarios:
        if is_eval_scenario(Path(name)):
            validate_eval(name, args.set)
            continue
        loaded = load_scenario(Path(name), PERSONAS_DIR, args.set)
        scenario = loaded.scenario
        warnings = scenario_warnings(scenario) + persona_warnings(scenario, loaded.personas)
        for variant in scenario.variants:  # each variant's changes, checked like the file
            changed = load_scenario(Path(name), PERSONAS_DIR, args.set, variant=variant)
            warnings += [
                f"variant {variant}: {warning}"
                for warning in persona_warnings(changed.scenario, changed.personas)
            ]
        for warning in warnings:
            print(f"{name}: warning: {warning}")
        endpoints = endpoint_key_envs(scenario)
        needs = sorted({env for env in endpoints.values() if env})
        missing = [env for env in needs if not os.environ.get(env)]
        line = f"{name}: ok — {len(scenario.models)} models ({len(endpoints)} endpoints), "
        line += f"{sum(a.count for a in scenario.agents)} agents"
        if scenario.variants:
            line += f", variants {', '.join(scenario.variants)}"
        if scenario.budget:
            line += f", budget ${scenario.budget.usd:g}"
        if missing:
            line += f"; set {', '.join(missing)} before running"
        print(line)
    return 0


def validate_eval(name: str, overrides: list[str]) -> None:
    from environment.config.eval_scenario import load_eval_scenario
    from environment.config.scenario import persona_warnings
    from environment.models.assembly import endpoint_key_envs

    loaded = load_eval_scenario(Path(name), PERSONAS_DIR, overrides)
    scenario = loaded.scenario
    for warning in persona_warnings(scenario, loaded.personas):
        print(f"{name}: warning: {warning}")
    needs = sorted({env for env in endpoint_key_envs(scenario).values() if env})
    missing = [env for env in needs if not os.environ.get(env)]
    views = sum(len(solver.views) for solver in scenario.solvers)
    line = (
        f"{name}: ok (eval) — {len(scenario.models)} models, {len(scenario.solvers)} solvers "
        f"({views} views), {sum(g.count for g in scenario.graders)} graders"
    )
    if scenario.budget:
        line += f", budget ${scenario.budget.usd:g}"
    if missing:
        line += f"; set {', '.join(missing)} before running"
    print(line)


def personas_command(args: argparse.Namespace) -> int:
    """The personas a scenario can use (or the package's), or one persona's every knob
    with where its value comes from."""
    from environment.config.persona_book import build_persona_book, read_persona_folder
    from environment.config.scenario import load_scenario
    from environment.outputs.persona_listing import describe_persona, list_personas

    if args.scenario:
        book = load_scenario(Path(args.scenario), PERSONAS_DIR, args.set).personas
    elif args.set:
        raise UserInputError("--set changes a scenario: give it with --scenario FILE")
    else:
        book = build_persona_book([read_persona_folder(PERSONAS_DIR, "package")])
    print(describe_persona(book, args.name) if args.name else list_personas(book))
    return 0


def compare_command(run_dirs: list[Path], out: str | None) -> int:
    """Prints the comparison and writes its HTML page (default: beside the runs)."""
    from environment.outputs.compare import write_comparison

    target = Path(out) if out else Path(os.path.commonpath([d.resolve() for d in run_dirs]))
    if target.is_dir():
        target = target / "compare.html"
    try:
        comparison = write_comparison(run_dirs, target)
    except OSError as error:
        raise StoreError(f"cannot write {target} ({error.strerror or error})") from None
    print(comparison.text())
    print(f"comparison page: {target}")
    return 0


def merge_command(run_dir: Path) -> int:
    from environment.core.merge import merge_shards

    outcome = merge_shards(run_dir)
    print(
        f"merged {len(outcome.shards)} shards into {run_dir}: {outcome.accepted} accepted of "
        f"{outcome.records} pairs; {outcome.tables_dropped} tables repeated another shard's "
        f"and went with their {outcome.pairs_dropped} pairs"
    )
    return 0


def push_command(args: argparse.Namespace) -> int:
    from environment.outputs.push import push
    from environment.storage.store import refuse_eval_folder

    source = Path(args.source)
    refuse_eval_folder(source, "push")
    pushed = push(source, args.repo, private=args.private, revision=args.revision)
    if pushed.changed:
        print(
            f"pushed {pushed.files} files to {pushed.repo} ({pushed.revision}): {pushed.commit_url}"
        )
    else:
        print(f"{pushed.repo} ({pushed.revision}) already holds this data: nothing pushed")
    return 0


def replay_command(args: argparse.Namespace) -> int:
    from environment.outputs.console import RunConsole
    from environment.storage.store import iter_events

    directory = Path(args.run_dir)
    console = RunConsole(quiet=args.quiet)
    with console:
        for event in iter_events(directory / "events.jsonl"):
            console.on_event(event)
    console.summary({"run_folder": str(directory)})
    return 0


async def render_command(args: argparse.Namespace) -> int:
    from renderers.chromium import ChromiumRenderer, RenderResult
    from renderers.errors import LatexRenderError
    from renderers.limits import RenderLimits

    if not 0.25 <= args.scale <= 4:
        raise UserInputError(f"--scale must be between 0.25 and 4, got {args.scale}")
    if args.max_rows is not None and args.max_rows < 1:
        raise UserInputError(f"--max-rows must be at least 1, got {args.max_rows}")
    out = Path(args.out)
    if await asyncio.to_thread(lambda: out.exists() and not out.is_dir()):
        raise UserInputError(f"--out {out} is a file; give a folder for the images")
    await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
    names = output_names(args.files)
    pages = min(2, len(set(args.files)))  # one file: one page, one TeX engine

    # A few documents ahead of the pages, not the whole folder translated and held at once.
    ahead = asyncio.Semaphore(2 * pages)

    async def render_one(renderer: ChromiumRenderer, name: str) -> dict[str, object]:
        async with ahead:
            return await render_file(renderer, name)

    async def render_file(renderer: ChromiumRenderer, name: str) -> dict[str, object]:
        entry: dict[str, object] = {
            "file": name,
            "ok": False,
            "partial": False,
            "png": None,
            "width": None,
            "height": None,
            "text": None,
            "warnings": [],
            "error": None,
        }
        source = sources[name]
        if isinstance(source, Exception):
            entry["error"] = {
                "message": f"cannot read file: {source}",
                "line": None,
                "construct": "file",
            }
            return entry
        try:
            result: RenderResult = await renderer.render(source)
        except LatexRenderError as error:
            entry["error"] = {
                "message": error.problem.message,
                "line": error.problem.line,
                "construct": error.problem.construct,
            }
        else:
            png = out / names[name]
            await asyncio.to_thread(png.write_bytes, result.png)
            entry.update(
                ok=True,
                partial=result.partial,
                png=str(png),
                width=result.width,
                height=result.height,
                text=result.text,
                warnings=[asdict(warning) for warning in result.warnings],
            )
        return entry

    def read(name: str) -> str | Exception:
        try:
            return Path(name).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            return error

    # Each file read once: for the render, and to know whether TeX engines must start too.
    texts = await asyncio.gather(*(asyncio.to_thread(read, name) for name in args.files))
    sources = dict(zip(args.files, texts, strict=True))
    pictures = any(isinstance(text, str) and "tikz" in text for text in texts)
    failures = 0
    renderer = ChromiumRenderer(
        pages=pages,
        scale=args.scale,
        allow_partial=not args.strict,
        limits=RenderLimits(max_rows=args.max_rows),
    )
    await renderer.start(warm_tikz=pictures)  # the browser and TeX engines start together
    try:
        # Documents render `pages` at a time; results print in the order given.
        pending = [asyncio.ensure_future(render_one(renderer, name)) for name in args.files]
        for task in pending:
            entry = await task
            failures += not entry["ok"]
            if args.json:
                print(json.dumps(entry, ensure_ascii=False), flush=True)
            elif entry["ok"]:
                mark = " partial" if entry["partial"] else ""
                print(f"{entry['file']}: {entry['png']} ({entry['width']}×{entry['height']}){mark}")
            else:
                error_info = entry["error"]
                assert isinstance(error_info, dict)
                line = f":{error_info['line']}" if error_info["line"] else ""
                print(f"{entry['file']}{line}: {error_info['message']} ({error_info['construct']})")
    finally:
        await renderer.close()
    return 1 if failures else 0


def output_names(files: list[str]) -> dict[str, str]:
    """One PNG name per input: its stem, or its path's parts where stems collide."""
    stems: dict[str, int] = {}
    for name in dict.fromkeys(files):
        stems[Path(name).stem] = stems.get(Path(name).stem, 0) + 1
    names: dict[str, str] = {}
    taken: set[str] = set()
    for name in files:
        if name in names:
            continue
        path = Path(name)
        if stems[path.stem] == 1:
            base = path.stem
        else:
            parts = [part for part in path.with_suffix("").parts if part not in ("/", "..", ".")]
            base = "_".join(parts)
        candidate, number = base, 1
        while candidate in taken:
            number += 1
            candidate = f"{base}-{number}"
        taken.add(candidate)
        names[name] = candidate + ".png"
    return names


def parser() -> argparse.ArgumentParser:

    main = argparse.ArgumentParser(
        prog="run.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = main.add_subparsers(dest="command")
    run = commands.add_parser("run", help="run a scenario (the default)")
    run.add_argument(
        "scenario", nargs="?", help="scenario YAML file, or a run folder to run its scenario again"
    )
    run.add_argument("--out", help="run folder (default: <output>/<name>-<timestamp>)")
    run.add_argument("--target", type=int, help="accepted QA pairs to reach")
    run.add_argument("--seed", type=int, help="override the scenario seed")
    run.add_argument("--quiet", action="store_true", help="plain log lines, no live view")
    run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change a scenario key, persona knobs included (personas.NAME.behaviour."
        "false_accept=0.2); repeatable",
    )
    run.add_argument("--resume", metavar="RUN_DIR", help="finish a stopped or killed run")
    run.add_argument(
        "--no-cache", action="store_true", help="ask real models again instead of reusing answers"
    )
    run.add_argument(
        "--shards",
        type=int,
        metavar="K",
        help="split the run into K shards, each a process over its own part of the work, "
        "merged into the run folder at the end",
    )
    run.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="run the shards as Ray actors: the head's HOST:PORT, 'auto', or 'local' (a "
        "cluster on this machine); needs modswap[ray]",
    )
    run.add_argument("--shard-report", action="store_true", help=argparse.SUPPRESS)
    merge = commands.add_parser("merge", help="merge a sharded run's shards into its folder")
    merge.add_argument("run_dir")
    pusher = commands.add_parser(
        "push", help="upload a run (as its hf export) or an hf export to the Hugging Face Hub"
    )
    pusher.add_argument("source", metavar="RUN_OR_EXPORT")
    pusher.add_argument("--repo", required=True, metavar="OWNER/NAME", help="dataset repo")
    pusher.add_argument("--private", action="store_true", help="create the repo private")
    pusher.add_argument("--revision", help="branch to push to (default: main)")
    validate = commands.add_parser("validate", help="check scenario files without running")
    validate.add_argument("scenarios", nargs="+")
    validate.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    personas = commands.add_parser(
        "personas", help="list personas, or show one's knobs and where each value comes from"
    )
    personas.add_argument("name", nargs="?")
    personas.add_argument("--scenario", help="include the personas this scenario adds")
    personas.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    replay = commands.add_parser("replay", help="replay a run's events in the console")
    replay.add_argument("run_dir")
    replay.add_argument("--quiet", action="store_true")
    exporter = commands.add_parser("export", help="write fine-tuning files from a run")
    exporter.add_argument("run_dir")
    # export() names the formats when this is wrong: the parser stays free of the exporter.
    exporter.add_argument("--format", required=True, help="hf, llava, sharegpt, internvl or swift")
    exporter.add_argument("--out", required=True)
    exporter.add_argument(
        "--split", default="train=1.0", help="by table, e.g. train=0.8,validation=0.1,test=0.1"
    )
    exporter.add_argument("--include-rejected", action="store_true")
    exporter.add_argument("--skip-corrupt", action="store_true")
    exporter.add_argument("--force", action="store_true", help="write into a non-empty folder")
    exporter.add_argument("--seed", type=int, help="split seed (default: the run's)")
    exporter.add_argument(
        "--difficulty",
        metavar="LABELS",
        help="only pairs with these labels, e.g. modality_hard,hard (scenario key difficulty)",
    )
    report = commands.add_parser("report", help="write a run's HTML report (gallery, figures)")
    report.add_argument("run_dir")
    report.add_argument("--out", help="HTML file (default: RUN_DIR/report.html)")
    report.add_argument(
        "--skip-corrupt", action="store_true", help="leave out lines that do not read"
    )
    compare = commands.add_parser(
        "compare", help="runs side by side: what a change did, and whether it is chance"
    )
    compare.add_argument(
        "run_dirs", nargs="+", metavar="RUN_DIR", help="the first is the reference"
    )
    compare.add_argument("--out", help="HTML file (default: compare.html beside the runs)")
    study = commands.add_parser(
        "jury-study", help="a run's votes decided again under every rule and jury subset"
    )
    study.add_argument("run_dir")
    show = commands.add_parser("show", help="one item's story: drafts, renders, votes")
    show.add_argument("run_dir")
    show.add_argument("item_id", help="i00001 (inspiration), i00001-t0 (table), i00001-t0-q0")
    show.add_argument(
        "--skip-corrupt", action="store_true", help="leave out lines that do not read"
    )
    evaluation = commands.add_parser(
        "eval", help="solvers answer a dataset from the table's image and LaTeX; a jury grades"
    )
    evaluation.add_argument(
        "dataset", nargs="?", help="a run folder, an export folder, or parquet (HF layout)"
    )
    evaluation.add_argument("scenario", nargs="?", help="eval scenario YAML (solvers, graders)")
    evaluation.add_argument("--out", help="eval folder (default: <output>/eval-<name>-<time>)")
    evaluation.add_argument("--resume", metavar="EVAL_DIR", help="finish a stopped or killed eval")
    evaluation.add_argument(
        "--skip-bad", action="store_true", help="leave out rows that cannot be used, counted"
    )
    evaluation.add_argument("--quiet", action="store_true", help="plain log lines, no live view")
    evaluation.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    evaluation.add_argument("--no-cache", action="store_true")
    render = commands.add_parser("render", help="render LaTeX files to PNG")
    render.add_argument("files", nargs="+")
    render.add_argument("--out", required=True)
    render.add_argument("--json", action="store_true")
    render.add_argument("--scale", type=float, default=2.0)
    render.add_argument(
        "--strict",
        action="store_true",
        help="refuse partial renders (content dropped, a picture not drawn) instead of "
        "writing them with their warnings",
    )
    render.add_argument(
        "--max-rows", type=int, default=None, help="refuse tables longer than this (default: any)"
    )
    return main


def main(argv: list[str] | None = None) -> int:
    from renderers.errors import RendererUnavailable

    def refuse_eval_folder(directory: Path, command: str) -> None:
        from environment.storage.store import refuse_eval_folder as refuse

        refuse(directory, command)

    def is_eval_folder(directory: Path) -> bool:
        from environment.storage.store import is_eval_folder as is_eval

        return is_eval(directory)

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] not in (
        "run",
        "replay",
        "render",
        "report",
        "export",
        "validate",
        "personas",
        "show",
        "compare",
        "jury-study",
        "eval",
        "merge",
        "push",
        "-h",
        "--help",
    ):
        argv.insert(0, "run")
    args = parser().parse_args(argv)
    try:
        if args.command == "replay":
            return replay_command(args)
        if args.command == "validate":
            return validate_command(args)
        if args.command == "personas":
            return personas_command(args)
        if args.command == "render":
            return asyncio.run(render_command(args))
        if args.command == "export":
            from environment.outputs.export import export

            refuse_eval_folder(Path(args.run_dir), "export")
            try:
                summary = export(
                    Path(args.run_dir),
                    args.format,
                    Path(args.out),
                    split=args.split,
                    include_rejected=args.include_rejected,
                    skip_corrupt=args.skip_corrupt,
                    force=args.force,
                    seed=args.seed,
                    difficulty=args.difficulty,
                )
            except OSError as error:  # a full or failing disk: files already written are whole
                raise StoreError(
                    f"cannot write the export to {args.out} ({error.strerror or error})"
                ) from None
            counts = ", ".join(f"{name} {count}" for name, count in summary.written.items())
            print(f"export ({args.format}) to {summary.out}: {counts} pairs")
            if summary.skipped_lines:
                print(f"skipped corrupt lines of records.jsonl: {summary.skipped_lines}")
            return 0
        if args.command == "report":
            from environment.outputs.report import write_report

            if args.out and Path(args.out).is_dir():
                raise UserInputError(f"--out {args.out} is a folder; give the report's file name")
            try:
                if is_eval_folder(Path(args.run_dir)):
                    from environment.outputs.eval_report import write_eval_report

                    lines: list[int] = []
                    target, _ = write_eval_report(
                        Path(args.run_dir),
                        Path(args.out) if args.out else None,
                        lines if args.skip_corrupt else None,
                    )
                    skipped = len(lines)
                else:
                    target, skipped = write_report(
                        Path(args.run_dir), Path(args.out) if args.out else None, args.skip_corrupt
                    )
            except OSError as error:  # nothing was renamed into place: no partial report
                raise StoreError(f"cannot write the report ({error.strerror or error})") from None
            print(f"report: {target}")
            if skipped:
                print(f"skipped corrupt lines: {skipped}")
            return 0
        if args.command == "show":
            from environment.outputs.story import item_story

            refuse_eval_folder(Path(args.run_dir), "show")
            print(item_story(Path(args.run_dir), args.item_id, args.skip_corrupt))
            return 0
        if args.command == "jury-study":
            from environment.outputs.jury_study import study_run

            refuse_eval_folder(Path(args.run_dir), "jury-study")
            print(study_run(Path(args.run_dir)).text())
            return 0
        if args.command == "compare":
            for directory in args.run_dirs:
                refuse_eval_folder(Path(directory), "compare")
            return compare_command([Path(d) for d in args.run_dirs], args.out)
        if args.command == "run":
            return asyncio.run(run_command(args))
        if args.command == "eval":
            return asyncio.run(eval_command(args))
        if args.command == "merge":
            return merge_command(Path(args.run_dir))
        if args.command == "push":
            return push_command(args)
        parser().print_help()
        return EXIT_USER_ERROR
    except RendererUnavailable as error:  # the renderer's own set-up error, outside a run
        print(f"error: {error}", file=sys.stderr)
        return RenderError.exit_status
    except ModswapError as error:  # the one place an error becomes a line and a status
        print(f"error: {error}", file=sys.stderr)
        return error.exit_status
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
