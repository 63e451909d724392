"""An eval's folder and its run: made from a dataset (items and images copied in, the
scenario and personas kept for a resume), reopened, and run to its figures; the difficulty
pass of a generation run is one such eval, in RUN/difficulty."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from environment.errors import INTERRUPTED_EXIT_STATUS, BudgetError, StoreError, UserInputError
from environment.storage.store import is_eval_folder

# What a run needs is imported when it runs: `run.py eval --help` starts without it.
if TYPE_CHECKING:
    from environment.config.eval_scenario import EvalScenario
    from environment.config.personas import Persona
    from environment.config.scenario import Scenario
    from environment.core.messages import EvalItem
    from environment.core.world import Participant
    from environment.models.assembly import Keys, ModelShop
    from environment.storage.store import RunStore


# Builds the solvers and graders on their models: the agents' registry, which run.py
# hands in (the environment does not import the agents).
ParticipantBuilder = Callable[
    ["EvalScenario", dict[str, "Persona"], "ModelShop"], list["Participant"]
]


@dataclass(frozen=True)
class EvalOptions:
    """What the command line decides about running an eval, and who builds its agents."""

    build_participants: ParticipantBuilder
    quiet: bool = False
    no_cache: bool = False


async def create_eval_folder(
    dataset: Path,
    scenario: EvalScenario,
    personas: dict[str, Persona],
    directory: Path,
    skip_bad: bool,
) -> tuple[RunStore, list[EvalItem]]:
    """A new eval folder holding the dataset's items (and their images) and the snapshot
    of scenario and personas a resume runs again; nothing is left when the dataset fails."""
    import shutil

    from environment.core.world import versions
    from environment.storage.eval_dataset import read_dataset, write_items
    from environment.storage.store import RunStore

    info = {
        "run_id": directory.name,
        "kind": "eval",
        "dataset": await asyncio.to_thread(os.path.abspath, dataset),
        "eval_scenario": scenario.model_dump(mode="json"),
        "personas": {name: p.model_dump(mode="json") for name, p in personas.items()},
        "seed": scenario.seed,
        "versions": versions(),
        "progress": {"graded": 0},
    }
    store = await asyncio.to_thread(RunStore.create, directory, info)
    try:
        read = await asyncio.to_thread(read_dataset, dataset, directory, skip_bad, scenario.limit)
    except UserInputError:
        store.close()
        shutil.rmtree(directory, ignore_errors=True)  # nothing in it but copied images
        raise
    if not read.has_latex and any("latex" in s.views for s in scenario.solvers):
        print(
            f"warning: {dataset} has no table LaTeX (column table_latex): latex views are "
            "counted as failed; use view: image",
            file=sys.stderr,
        )
    for skipped in read.skipped:
        print(f"skipped {skipped}", file=sys.stderr)
    if read.skipped:
        print(f"skipped {len(read.skipped)} bad rows (--skip-bad)", file=sys.stderr)
    await asyncio.to_thread(write_items, directory, read.items)
    await asyncio.to_thread(store.update_run_info, skipped_rows=len(read.skipped))
    return store, read.items


async def reopen_eval_folder(
    directory: Path,
) -> tuple[RunStore, EvalScenario, dict[str, Persona], list[EvalItem]]:
    from environment.config.eval_scenario import check_eval_scenario
    from environment.storage.eval_dataset import read_items
    from environment.storage.store import RunStore

    if await asyncio.to_thread((directory / "run.json").is_file) and not is_eval_folder(directory):
        raise UserInputError(
            f"{directory} is not an eval folder but a generation run's; it resumes with "
            f"python run.py run --resume {directory}"
        )
    store = await asyncio.to_thread(RunStore.reopen, directory)
    scenario, personas = read_eval_snapshot(store.read_run_info(), store.run_json)
    check_eval_scenario(scenario, personas)
    return store, scenario, personas, read_items(store.directory)


async def run_difficulty(
    options: EvalOptions,
    run_dir: Path,
    scenario: Scenario,
    personas: dict[str, Persona],
    keys: Keys,
    spent_usd: float,
) -> int:
    """The difficulty pass of a run that reached its target: its own eval, in
    RUN_DIR/difficulty, over the accepted pairs (resumed where an earlier session left it)."""
    from environment.config.eval_scenario import difficulty_eval

    folder = run_dir / "difficulty"
    if await asyncio.to_thread((folder / "run.json").is_file):
        store, checking, chosen, items = await reopen_eval_folder(folder)
    else:
        checking = difficulty_eval(scenario, spent_usd)
        used = [s.persona for s in checking.solvers] + [g.persona for g in checking.graders]
        chosen = {name: personas[name] for name in sorted(set(used))}
        store, items = await create_eval_folder(run_dir, checking, chosen, folder, False)
    print(f"difficulty: answering the {len(items)} accepted pairs from LaTeX and image")
    return await execute_eval(
        options, checking, chosen, store, keys, items, f"python run.py run --resume {run_dir}"
    )


def read_eval_snapshot(
    info: dict[str, Any], run_json: Path
) -> tuple[EvalScenario, dict[str, Persona]]:
    from environment.config.eval_scenario import EvalScenario
    from environment.config.personas import Persona

    try:
        scenario = EvalScenario.model_validate(info["eval_scenario"])
        personas = {n: Persona.model_validate(p) for n, p in info["personas"].items()}
    except (KeyError, ValueError, AttributeError):
        raise UserInputError(
            f"{run_json}: not an eval folder's run.json (no valid eval_scenario); a generation "
            "run resumes with python run.py run --resume"
        ) from None
    return scenario, personas


async def execute_eval(
    options: EvalOptions,
    scenario: EvalScenario,
    personas: dict[str, Persona],
    store: RunStore,
    keys: Keys,
    items: list[EvalItem],
    resume: str | None = None,
) -> int:
    from environment.core.eval_world import run_eval_world
    from environment.core.messages import StopReason
    from environment.models.assembly import open_model_shop
    from environment.outputs.console import EVAL_BARS, RunConsole
    from environment.outputs.eval_figures import summary_text
    from environment.outputs.eval_report import write_eval_report
    from environment.storage.eval_dataset import read_eval_records

    done = {record.item_id for record in read_eval_records(store.directory)}
    shop = open_model_shop(scenario, store, options.no_cache, keys)
    participants = options.build_participants(scenario, personas, shop)
    ledger = shop.ledger
    console = RunConsole(
        quiet=options.quiet,
        spending=lambda: (ledger.total_cost_usd, ledger.cap_usd),
        bars=EVAL_BARS,
    )
    console.message(
        f"eval folder: {store.directory} ({len(items)} items, {len(done)} graded before)"
    )
    try:
        with console:
            outcome = await run_eval_world(
                scenario=scenario,
                store=store,
                items=items,
                done=done,
                participants=participants,
                ledger=ledger,
                oracle=shop.oracle,
                link=shop.link,
                listeners=[console.on_event],
                run_id=store.directory.name,
            )
    finally:
        await shop.close()
    try:
        report, summary = await asyncio.to_thread(write_eval_report, store.directory)
    except OSError as error:  # the graded items are on disk; the figures can be redone
        raise StoreError(
            f"cannot write the figures to {store.directory} ({error.strerror or error}); the "
            f"graded items are saved: python run.py report {store.directory} redoes them"
        ) from None
    print(summary_text(summary))
    print(f"report: {report}")
    resume = resume or f"python run.py eval --resume {store.directory}"
    if outcome.reason == StopReason.INTERRUPTED:
        console.message(f"stopped at {outcome.graded}/{outcome.total}; resume with: {resume}")
        return INTERRUPTED_EXIT_STATUS
    if outcome.reason == StopReason.BUDGET:
        console.message(
            f"budget reached at {outcome.graded}/{outcome.total} items graded; raise "
            f"budget.usd under eval_scenario in {store.run_json}, then: {resume}"
        )
        return BudgetError.exit_status
    if outcome.reason == StopReason.STALLED:
        console.message(f"stalled ({outcome.detail}); to go on: {resume}")
        return 1
    console.message(
        f"done: {outcome.graded} items graded; figures in {store.directory / 'summary.json'}"
    )
    return 0
