"""The director: issues inspirations under back-pressure, commits results in order, stops.

Results are committed in inspiration order (a reorder buffer), and the stop decision reads
only committed results. So the records on disk depend on the scenario and seed alone, not
on which concurrent task finished first; work beyond the stop point is speculative and
dropped. `--resume` restarts at the first uncommitted inspiration and skips known qa_ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from autogen_core import MessageContext, message_handler

from environment.bus import BusAgent
from environment.dedup import TableIndex
from environment.messages import (
    BudgetReached,
    Cell,
    DraftingFailed,
    DuplicatesDropped,
    InspirationCommitted,
    InspirationFailed,
    InspirationRequested,
    Message,
    QAProposed,
    QARecord,
    QuestioningFailed,
    RunStarted,
    RunStopping,
    TableAbandoned,
    TableDrafted,
    TableRendered,
    VerdictReached,
)
from environment.models.oracle import Oracle
from environment.store import RunStore


@dataclass
class _Table:
    qa_expected: int | None = None
    records: dict[str, QARecord] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return self.qa_expected is not None and len(self.records) >= self.qa_expected


@dataclass
class _Inspiration:
    inspiration_id: str
    tables_expected: int | None = None
    tables: dict[str, _Table] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return (
            self.tables_expected is not None
            and len(self.tables) >= self.tables_expected
            and all(t.complete for t in self.tables.values())
        )


SEED_POOL_SIZE = 64


def prune_seed_pool(pool: list[tuple[int, str]], oldest_eligible: int) -> list[tuple[int, str]]:
    """Keeps what a future inspiration may still pick: the last SEED_POOL_SIZE tables
    eligible now, and every table not yet eligible."""
    eligible = [entry for entry in pool if entry[0] <= oldest_eligible]
    return eligible[-SEED_POOL_SIZE:] + [entry for entry in pool if entry[0] > oldest_eligible]


def inspiration_id(seq: int) -> str:
    return f"i{seq:05d}"


def _order_key(record: QARecord) -> tuple[int, int]:
    table = int(record.table_id.rsplit("-t", 1)[1])
    question = int(record.qa_id.rsplit("-q", 1)[1])
    return table, question


class Director(BusAgent):
    role = "director"
    CONSUMES: tuple[type[Message], ...] = (
        RunStarted,
        InspirationFailed,
        DraftingFailed,
        TableDrafted,
        TableRendered,
        TableAbandoned,
        QuestioningFailed,
        QAProposed,
        VerdictReached,
        BudgetReached,
    )

    def __init__(
        self,
        *,
        store: RunStore,
        target: int,
        inspirers: list[str],
        generators: list[str],
        questioners: list[str],
        max_inflight: int,
        known_qa_ids: set[str],
        oracle: Oracle | None,
        committed: TableIndex | None = None,
        prior_yield: float = 4.0,
        seed_pool: list[tuple[int, str]] | None = None,
        horizon: int | None = None,
        name: str = "director",
    ) -> None:
        super().__init__(name, description="holds the target, back-pressure and stopping")
        self.store = store
        self.target = target
        self.inspirers = inspirers
        self.generators = generators
        self.questioners = questioners
        self.max_inflight = max_inflight
        self.known_qa_ids = set(known_qa_ids)
        self.oracle = oracle
        self.prior_yield = prior_yield  # accepted pairs expected of an inspiration, a priori
        # (seq, LaTeX) of accepted tables, offered to generators as inspiration (None: off).
        self.seed_pool = seed_pool
        # Replaying a run that stopped at its target after inspiration `horizon` (same
        # scenario, seed and cache): issue nothing past it until it is committed, so the
        # replay starts no speculative call the first run had not paid for.
        self.horizon = horizon
        self._latex: dict[str, str] = {}
        self.committed = committed or TableIndex(threshold=1.0)
        self._texts: dict[str, str] = {}
        self.run_id = ""
        self.next_issue = 0
        self.next_commit = 0
        self.session_start = 0
        self.accepted = 0
        self.accepted_at_start = 0
        self.limit = 0
        self.stop_reason: str | None = None
        self._open: dict[int, _Inspiration] = {}
        self._grids: dict[str, tuple[Cell, ...]] = {}

    # ---------- issuing
    @message_handler
    async def on_run_started(self, message: RunStarted, ctx: MessageContext) -> None:
        self.run_id = message.run_id
        self.next_issue = self.next_commit = self.session_start = message.next_seq
        self.accepted = self.accepted_at_start = message.accepted_so_far
        # A run that cannot reach its target (a jury that rejects everything) must end.
        self.limit = message.next_seq + 20 + 4 * max(1, self.target - self.accepted)
        if self.accepted >= self.target:
            await self._finish("target")
            return
        await self._issue()

    def _in_flight_should_suffice(self) -> bool:
        """Whether the inspirations in flight are expected to reach the target, at the
        acceptance rate committed so far this session (smoothed by a prior of half the
        pairs an inspiration can yield): then issuing more buys only work that will be
        dropped — tokens paid for nothing with real models. Reads committed state only, so
        records cannot depend on timing; if the work in flight falls short, the next
        commits issue more."""
        committed = self.next_commit - self.session_start
        prior_weight = 2
        rate = (self.accepted - self.accepted_at_start + prior_weight * self.prior_yield) / (
            committed + prior_weight
        )
        in_flight = self.next_issue - self.next_commit
        return self.accepted + rate * in_flight >= self.target + rate

    def _past_horizon(self) -> bool:
        return (
            self.horizon is not None
            and self.next_issue > self.horizon
            and self.next_commit <= self.horizon
        )

    async def _issue(self) -> None:
        while (
            self.stop_reason is None
            and self.next_issue < self.next_commit + self.max_inflight
            and self.next_issue < self.limit
            and not self._in_flight_should_suffice()
            and not self._past_horizon()
        ):
            seq = self.next_issue
            self.next_issue += 1
            self._open[seq] = _Inspiration(inspiration_id(seq))
            await self.emit(
                InspirationRequested(
                    inspiration_id=inspiration_id(seq),
                    seq=seq,
                    inspirer=self.inspirers[seq % len(self.inspirers)],
                    generator=self.generators[seq % len(self.generators)],
                    questioner=self.questioners[seq % len(self.questioners)],
                    seed_latex=self._seed_for(seq),
                )
            )

    # ---------- tracking
    def _get(self, seq: int) -> _Inspiration | None:
        return self._open.get(seq)

    def _table(self, seq: int, table_id: str) -> _Table | None:
        state = self._get(seq)
        if state is None:
            return None
        return state.tables.setdefault(table_id, _Table())

    @message_handler
    async def on_inspiration_failed(self, message: InspirationFailed, ctx: MessageContext) -> None:
        if (state := self._get(message.seq)) is not None:
            state.tables_expected = 0
        await self._commit_ready()

    @message_handler
    async def on_drafting_failed(self, message: DraftingFailed, ctx: MessageContext) -> None:
        if (state := self._get(message.seq)) is not None:
            state.tables_expected = 0
        await self._commit_ready()

    @message_handler
    async def on_table_drafted(self, message: TableDrafted, ctx: MessageContext) -> None:
        state = self._get(message.seq)
        if state is not None and message.attempt == 1:
            state.tables_expected = message.count
            self._table(message.seq, message.table_id)

    @message_handler
    async def on_table_rendered(self, message: TableRendered, ctx: MessageContext) -> None:
        if self._get(message.seq) is not None:
            self._grids[message.table_id] = message.grid
            self._texts[message.table_id] = message.text
            if self.seed_pool is not None:
                self._latex[message.table_id] = message.latex

    @message_handler
    async def on_table_abandoned(self, message: TableAbandoned, ctx: MessageContext) -> None:
        if (table := self._table(message.seq, message.table_id)) is not None:
            table.qa_expected = 0
        await self._commit_ready()

    @message_handler
    async def on_questioning_failed(self, message: QuestioningFailed, ctx: MessageContext) -> None:
        if (table := self._table(message.seq, message.table_id)) is not None:
            table.qa_expected = 0
        await self._commit_ready()

    @message_handler
    async def on_qa_proposed(self, message: QAProposed, ctx: MessageContext) -> None:
        if (table := self._table(message.seq, message.table_id)) is not None:
            table.qa_expected = message.count
        await self._commit_ready()

    @message_handler
    async def on_verdict_reached(self, message: VerdictReached, ctx: MessageContext) -> None:
        record = message.record
        if (table := self._table(record.seq, record.table_id)) is not None:
            table.records[record.qa_id] = record
        await self._commit_ready()

    # ---------- committing and stopping
    async def _commit_ready(self) -> None:
        while self.stop_reason is None:
            state = self._open.get(self.next_commit)
            if state is None or not state.complete:
                break
            seq = self.next_commit
            del self._open[seq]
            records = await self._without_duplicate_tables(state)
            fresh = [self._with_truth(r) for r in records if r.qa_id not in self.known_qa_ids]
            self.store.append_records(fresh)
            self.known_qa_ids.update(r.qa_id for r in fresh)
            self.accepted += sum(r.accepted for r in fresh)
            self.next_commit += 1
            self._remember_seeds(fresh)
            for table_id in state.tables:
                self._grids.pop(table_id, None)
                self._texts.pop(table_id, None)
                self._latex.pop(table_id, None)
            self.store.update_run_info(
                progress={"committed_inspirations": self.next_commit, "accepted": self.accepted}
            )
            await self.emit(
                InspirationCommitted(
                    inspiration_id=state.inspiration_id,
                    seq=seq,
                    records=tuple(fresh),
                    accepted_total=self.accepted,
                )
            )
            if self.accepted >= self.target:
                await self._finish("target")
            elif self.next_commit >= self.limit:
                await self._finish("exhausted")
        await self._issue()

    def _seeds_for(self, seq: int) -> list[str]:
        """The accepted tables inspiration `seq` may look at: those of inspirations at least
        max_inflight before it. Those are all committed whenever `seq` can be issued, so the
        choice does not depend on when it is issued — nor on a resume in between, and the
        same seed gives the same prompts (and cache hits)."""
        assert self.seed_pool is not None
        return [latex for s, latex in self.seed_pool if s <= seq - self.max_inflight][
            -SEED_POOL_SIZE:
        ]

    def _seed_for(self, seq: int) -> str | None:
        if self.seed_pool is None:
            return None
        seeds = self._seeds_for(seq)
        return seeds[(seq * 7919) % len(seeds)] if seeds else None

    def _remember_seeds(self, records: list[QARecord]) -> None:
        if self.seed_pool is None:
            return
        for table_id in dict.fromkeys(r.table_id for r in records if r.accepted):
            if table_id in self._latex:
                seq = next(r.seq for r in records if r.table_id == table_id)
                self.seed_pool.append((seq, self._latex[table_id]))
        self.seed_pool[:] = prune_seed_pool(self.seed_pool, self.next_issue - self.max_inflight)

    async def _without_duplicate_tables(self, state: _Inspiration) -> list[QARecord]:
        """The inspiration's records in order, less tables too close to committed ones."""
        records = sorted(
            (r for t in state.tables.values() for r in t.records.values()), key=_order_key
        )
        kept: list[QARecord] = []
        for table_id in sorted(
            {r.table_id for r in records}, key=lambda t: int(t.rsplit("-t", 1)[1])
        ):
            text = self._texts.get(table_id, "")
            duplicate = self.committed.duplicate_of(text, table_id)
            if duplicate is not None:
                await self.emit(
                    DuplicatesDropped(
                        kind="table",
                        table_id=table_id,
                        count=1,
                        duplicate_of=duplicate[0],
                        similarity=round(duplicate[1], 3),
                    )
                )
                continue
            self.committed.add(table_id, text)
            kept += [r for r in records if r.table_id == table_id]
        return kept

    def _with_truth(self, record: QARecord) -> QARecord:
        if self.oracle is None:
            return record
        truth = self.oracle.judge(
            record.table_id, self._grids.get(record.table_id, ()), record.question, record.answer
        )
        if truth is None:
            return record
        return record.model_copy(update={"ground_truth": truth.valid})

    @message_handler
    async def on_budget_reached(self, message: BudgetReached, ctx: MessageContext) -> None:
        """No call may start past the cap: stop; what is committed stays."""
        await self._finish("budget")

    async def _finish(self, reason: str) -> None:
        if self.stop_reason is not None:
            return
        self.stop_reason = reason
        await self.emit(RunStopping(reason=reason, accepted=self.accepted))  # type: ignore[arg-type]
        assert self.bus is not None
        self.bus.halt()

    async def interrupt(self) -> None:
        """Ctrl-C: stop issuing; what is committed stays, the rest is redone on resume."""
        if self.stop_reason is None:
            self.stop_reason = "interrupted"
            assert self.bus is not None
            self.bus.halt()
