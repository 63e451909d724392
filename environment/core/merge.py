"""Merging a sharded run's shards into one run folder that export, report and compare read.

Records come out in the whole run's inspiration order (shard numbering undone), so the same
shards always merge to the same bytes; each shard's file is already in that order, so they
are merged as streams, never held in memory. Each shard's near-duplicate index saw only its own
tables; here every table is checked against those kept before it in that order, and a
table too close to one of another shard goes, with its questions. Questions are compared
within their table, so they cannot repeat across shards except through a repeated table.
Merging again (after a resume) rebuilds the folder from the shards: it only ever reads them.
"""

from __future__ import annotations

import contextlib
import heapq
import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import pydantic_core

from environment.config.scenario import Scenario, ShardPlace
from environment.core.dedup import TableIndex
from environment.core.director import inspiration_id
from environment.core.event_log import make_event
from environment.core.messages import DuplicatesDropped, QARecord
from environment.core.shards import shard_directories, shard_scenarios, sharding
from environment.errors import UserInputError
from environment.storage.ledger import Ledger
from environment.storage.store import RunStore, iter_records, write_atomic_with


@dataclass
class ShardSummary:
    index: int
    accepted: int
    committed_inspirations: int
    stop_reason: str | None


@dataclass
class MergeOutcome:
    records: int = 0
    accepted: int = 0
    tables_dropped: int = 0
    pairs_dropped: int = 0
    accepted_dropped: int = 0
    cost_usd: float = 0.0
    shards: list[ShardSummary] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "shards": len(self.shards),
            "records": self.records,
            "accepted": self.accepted,
            "duplicate_tables_dropped": self.tables_dropped,
            "pairs_dropped_with_them": self.pairs_dropped,
            "accepted_dropped_with_them": self.accepted_dropped,
            "cost_usd": round(self.cost_usd, 6),
            "by_shard": [vars(shard) for shard in self.shards],
        }


@dataclass(frozen=True)
class _Placed:
    """A shard's record at its place in the whole run."""

    order: tuple[int, int, int]  # (whole-run seq, table number, question number)
    shard: int
    record: QARecord


def merge_shards(run_dir: Path) -> MergeOutcome:
    """Writes RUN/'s records, tables, images, logs and run.json from RUN/shards/*."""
    parent = RunStore.claim(run_dir)
    try:
        return merge_into(parent)
    finally:
        parent.close()


def merge_into(parent: RunStore) -> MergeOutcome:
    """The merge, into a run folder this process has claimed."""
    info = parent.read_run_info()
    count = sharding(info)
    if count is None:
        raise UserInputError(
            f"{parent.directory}: not a sharded run (run.json has no 'sharded'); merge "
            "reads the folder that run.py --shards made"
        )
    shards = [RunStore.existing(d) for d in shard_directories(parent.directory, count)]
    infos = [shard.read_run_info() for shard in shards]
    for index, (shard, shard_info) in enumerate(zip(shards, infos, strict=True)):
        _check_shard(info, shard_info, shard.run_json, index, count)
    scenario = Scenario.model_validate(info["scenario"])
    outcome = MergeOutcome()
    tables = _TableChoice(shards, scenario.dedup.table_similarity)

    def write_records(out: BinaryIO) -> None:
        # Each shard's file is in its own commit order, which is the whole run's order
        # restricted to it: a k-way merge streams them, never holding a run in memory.
        streams = [_placed_records(shard, index, count) for index, shard in enumerate(shards)]
        for item in heapq.merge(*streams, key=lambda p: (p.order, p.shard)):
            if not tables.keep(item):
                outcome.pairs_dropped += 1
                outcome.accepted_dropped += item.record.accepted
                continue
            record = item.record.model_copy(update={"seq": item.order[0]})
            out.write((record.model_dump_json() + "\n").encode("utf-8"))
            outcome.records += 1
            outcome.accepted += record.accepted

    write_atomic_with(parent.records_path, write_records)
    kept, dropped = tables.kept, tables.dropped
    outcome.tables_dropped = len(dropped)
    _place_files(parent.tables, {s.tables: ids for s, ids in _by_shard(shards, kept)})
    _place_files(parent.images, {s.images: ids for s, ids in _by_shard(shards, kept)})
    merge_events = [
        make_event(
            0,
            0.0,
            DuplicatesDropped(
                kind="table",
                table_id=table_id,
                count=1,
                duplicate_of=duplicate_of,
                similarity=round(similarity, 4),
            ),
            "merge",
            {"merge": ("merge", "merge")},
        )
        for table_id, (duplicate_of, similarity) in sorted(dropped.items())
    ]
    _concatenate(
        parent.events_path,
        [s.events_path for s in shards],
        [pydantic_core.to_json(event).decode() + "\n" for event in merge_events],
    )
    _concatenate(parent.rejects_path, [s.rejects_path for s in shards])
    _concatenate(parent.ledger_path, [s.ledger_path for s in shards])
    ledger = Ledger.open(parent.ledger_path, None, append=lambda _line: None)
    costs = ledger.as_dict(outcome.accepted)
    costs["budget_usd"] = scenario.budget.usd if scenario.budget else None
    outcome.cost_usd = ledger.total_cost_usd
    for index, shard_info in enumerate(infos):
        progress = shard_info.get("progress", {})
        outcome.shards.append(
            ShardSummary(
                index=index,
                accepted=int(progress.get("accepted", 0)),
                committed_inspirations=int(progress.get("committed_inspirations", 0)),
                stop_reason=shard_info.get("last_session", {}).get("stop_reason"),
            )
        )
    walls = [float(i.get("last_session", {}).get("wall_s", 0.0)) for i in infos]
    parent.update_run_info(
        progress={
            "committed_inspirations": sum(s.committed_inspirations for s in outcome.shards),
            "accepted": outcome.accepted,
        },
        ledger=costs,
        last_session={"wall_s": max(walls, default=0.0), "stop_reason": _stop_reason(outcome)},
        merge=outcome.as_dict(),
        sharded={"count": count, "merged": True},
    )
    return outcome


def _check_shard(
    info: dict[str, Any], shard_info: dict[str, Any], where: Path, index: int, count: int
) -> None:
    """A shard folder belongs to this run: the scenario --shards gave it (its target
    aside: top-ups raise it), the same seed, this place. Anything else (a folder copied
    in from another run) is refused."""
    try:
        place = ShardPlace.model_validate(shard_info["scenario"]["shard"])
    except (KeyError, TypeError, ValueError):
        raise UserInputError(f"{where}: not a shard of a sharded run (no scenario.shard)") from None
    if (place.index, place.count) != (index, count):
        raise UserInputError(
            f"{where}: this folder is shard {place.index} of {place.count}; the run expects "
            f"shard {index} of {count} here"
        )
    if shard_info.get("seed") != info.get("seed"):
        raise UserInputError(
            f"{where}: seed {shard_info.get('seed')} differs from the run's {info.get('seed')}; "
            "shards of different seeds do not merge"
        )
    expected = shard_scenarios(Scenario.model_validate(info["scenario"]), count)[index]
    ours = {k: v for k, v in expected.model_dump(mode="json").items() if k != "target"}
    theirs = {k: v for k, v in shard_info["scenario"].items() if k != "target"}
    if ours != theirs:
        differing = sorted(k for k in ours.keys() | theirs.keys() if ours.get(k) != theirs.get(k))
        raise UserInputError(
            f"{where}: its scenario differs from the run's in {', '.join(differing)}; "
            "shards of different scenarios do not merge"
        )


def _placed_records(shard: RunStore, index: int, count: int) -> Iterator[_Placed]:
    """A shard's records at their places in the whole run, checked to come in order."""
    place = ShardPlace(index=index, count=count)
    last: tuple[int, int, int] | None = None
    for record in iter_records(shard.records_path):
        table = int(record.table_id.rsplit("-t", 1)[1])
        question = int(record.qa_id.rsplit("-q", 1)[1])
        order = (place.global_seq(record.seq), table, question)
        if record.inspiration_id != inspiration_id(order[0]):
            raise UserInputError(
                f"{shard.records_path}: {record.qa_id} is not shard {index}'s inspiration "
                f"{record.seq}; this file was not written by a shard of this run"
            )
        if last is not None and order <= last:
            raise UserInputError(
                f"{shard.records_path}: {record.qa_id} is out of order or twice; this "
                "file was not written by a shard of this run"
            )
        last = order
        yield _Placed(order, index, record)


class _TableChoice:
    """Which tables stay, decided in the whole run's order: a table too close to one kept
    before it (of another shard: each shard already kept its own apart) goes."""

    def __init__(self, shards: list[RunStore], threshold: float) -> None:
        self.shards = shards
        self.index = TableIndex(threshold)
        self.kept: dict[str, int] = {}  # table id → its shard
        self.dropped: dict[str, tuple[str, float]] = {}  # table id → (kept one, similarity)

    def keep(self, item: _Placed) -> bool:
        table_id = item.record.table_id
        if table_id in self.kept:
            return True
        if table_id in self.dropped:
            return False
        text = self.shards[item.shard].table_text(table_id)
        duplicate = self.index.duplicate_of(text, table_id)
        if duplicate is not None:
            self.dropped[table_id] = duplicate
            return False
        self.index.add(table_id, text)
        self.kept[table_id] = item.shard
        return True


def _by_shard(shards: list[RunStore], kept: dict[str, int]) -> list[tuple[RunStore, set[str]]]:
    return [
        (shard, {t for t, s in kept.items() if s == index}) for index, shard in enumerate(shards)
    ]


def _place_files(target: Path, sources: dict[Path, set[str]]) -> None:
    """`target` holds the files of the kept tables (any suffix), linked (or copied, across
    file systems) from their shard; what an earlier merge left there and is no longer kept
    goes."""
    target.mkdir(parents=True, exist_ok=True)
    wanted: set[str] = set()
    for folder, table_ids in sources.items():
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if path.name.split(".", 1)[0] not in table_ids or path.name.startswith("."):
                continue
            wanted.add(path.name)
            _link(path, target / path.name)
    for path in target.iterdir():
        if path.name not in wanted:
            path.unlink()


def _link(source: Path, destination: Path) -> None:
    """`destination` becomes `source`'s content, atomically (a hard link where it can)."""
    with contextlib.suppress(FileNotFoundError):
        if destination.samefile(source):
            return
    temp = destination.with_name(f".{destination.name}.merge")
    with contextlib.suppress(FileNotFoundError):
        temp.unlink()
    try:
        os.link(source, temp)
    except OSError:
        shutil.copyfile(source, temp)
    os.replace(temp, destination)


def _concatenate(target: Path, sources: list[Path], tail: Sequence[str] = ()) -> None:
    """`target` becomes the sources' whole lines one after the other (a line a killed shard
    left torn is not one), then `tail`; replaced at once."""

    def fill(out: BinaryIO) -> None:
        for source in sources:
            if source.exists():
                with source.open("rb") as part:
                    _copy_whole_lines(part, out)
        for line in tail:
            out.write(line.encode("utf-8"))

    write_atomic_with(target, fill)


def _copy_whole_lines(source: BinaryIO, out: BinaryIO, chunk: int = 1 << 20) -> None:
    pending = b""
    while block := source.read(chunk):
        block = pending + block
        cut = block.rfind(b"\n") + 1
        out.write(block[:cut])
        pending = block[cut:]


def _stop_reason(outcome: MergeOutcome) -> str | None:
    """The run's reason to have stopped: the target only if every shard reached its own."""
    reasons = {shard.stop_reason for shard in outcome.shards}
    if reasons == {"target"}:
        return "target"
    for reason in ("failed", "stalled", "budget", "interrupted", "exhausted"):
        if reason in reasons:
            return reason
    return None
