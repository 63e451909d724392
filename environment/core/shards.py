"""A sharded run: K complete runs over disjoint parts of one run's work, and their layout.

Shard i works on inspirations i, i + K, i + 2K… of the whole run's sequence (ShardPlace), so
its ids, and every random draw keyed by them, are its own; its target, budget and models'
rpm and tpm quotas are its share of the run's. Each shard is an ordinary resumable run
folder, RUN/shards/<i>/, which is what makes a restarted shard correct; RUN/run.json says
the folder is sharded, and once the shards are merged RUN/ is one run folder that export,
report and compare read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from environment.config.scenario import (
    BudgetSettings,
    ModelSettings,
    OpenAIModelSettings,
    Scenario,
    ShardPlace,
    Target,
)
from environment.errors import UserInputError
from environment.storage.store import RunStore

SHARDS_FOLDER = "shards"
MAX_SHARDS = 1024


def shard_scenarios(scenario: Scenario, count: int) -> list[Scenario]:
    """Each shard's scenario: its place, its share of the target (the first ones take the
    remainder) and of the budget; the rest as the run's."""
    if count < 1:
        raise UserInputError(f"--shards {count}: give at least 1 shard")
    if count > MAX_SHARDS:
        raise UserInputError(f"--shards {count}: at most {MAX_SHARDS} shards")
    target = scenario.target.accepted_qa
    if count > target:
        raise UserInputError(
            f"--shards {count} is more than the target of {target} accepted pairs: each shard "
            "needs at least one; use fewer shards or raise --target"
        )
    if scenario.variants:
        raise UserInputError(
            "--shards runs one scenario; a scenario with variants runs each variant in turn "
            "(drop --shards, or run one variant's scenario sharded)"
        )
    if scenario.shard is not None:
        raise UserInputError("this scenario is already one shard of a run; resume that run")
    shards = []
    models = {name: _model_share(model, count) for name, model in scenario.models.items()}
    for index in range(count):
        share = target // count + (1 if index < target % count else 0)
        budget = BudgetSettings(usd=scenario.budget.usd / count) if scenario.budget else None
        shards.append(
            scenario.model_copy(
                update={
                    "target": Target(accepted_qa=share),
                    "budget": budget,
                    "models": models,
                    "shard": ShardPlace(index=index, count=count),
                }
            )
        )
    return shards


def _model_share(model: ModelSettings, count: int) -> ModelSettings:
    """A provider's quotas (requests and tokens per minute) are the account's, whatever
    the number of processes: each shard keeps to its share. Concurrency stays per shard."""
    if not isinstance(model, OpenAIModelSettings):
        return model
    return model.model_copy(
        update={
            "rpm": -(-model.rpm // count) if model.rpm else None,
            "tpm": -(-model.tpm // count) if model.tpm else None,
        }
    )


def shard_directory(run_dir: Path, index: int) -> Path:
    return run_dir / SHARDS_FOLDER / f"{index:03d}"


def sharding(info: dict[str, Any]) -> int | None:
    """The shard count of a sharded run's run.json; None for any other run folder."""
    sharded = info.get("sharded")
    if not isinstance(sharded, dict):
        return None
    count = sharded.get("count")
    return count if isinstance(count, int) and count >= 1 else None


def shard_directories(run_dir: Path, count: int) -> list[Path]:
    """The shard folders of a sharded run, each checked to exist."""
    directories = [shard_directory(run_dir, index) for index in range(count)]
    for directory in directories:
        if not (directory / "run.json").is_file():
            raise UserInputError(
                f"{run_dir}: shard folder {directory} is missing (run.json says {count} "
                "shards); a sharded run needs all of its shard folders"
            )
    return directories


def is_sharded_folder(directory: Path) -> bool:
    """A sharded run's folder (its run.json says how many shards), merged or not."""
    try:
        info = json.loads((directory / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False  # not a run folder at all: the resume itself says so
    return isinstance(info, dict) and sharding(info) is not None


def shard_finished(directory: Path) -> bool:
    """A shard that reached its target (starting it again would only end it again)."""
    info = RunStore.existing(directory).read_run_info()
    target = int(info.get("scenario", {}).get("target", {}).get("accepted_qa", 0))
    accepted = int(info.get("progress", {}).get("accepted", 0))
    return info.get("last_session", {}).get("stop_reason") == "target" and accepted >= target


def shard_target(directory: Path) -> int:
    info = RunStore.existing(directory).read_run_info()
    return int(info["scenario"]["target"]["accepted_qa"])
