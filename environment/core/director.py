"""The director: issues inspirations under back-pressure, commits results in order, stops.

Results are committed in inspiration order (a reorder buffer), and the stop decision reads
only committed results. So the records on disk depend on the scenario and seed alone, not
on which concurrent task finished first; work beyond the stop point is speculative and
dropped. `--resume` restarts at the first uncommitted inspiration and skips known qa_ids.
"""

from __future__ import annotations

from autogen_core import MessageContext, message_handler

from environment.config.scenario import ShardPlace
from environment.core.bus import BusAgent
from environment.core.dedup import TableIndex
from environment.core.messages import (
    BudgetReached,
    DraftingFailed,
    DuplicatesDropped,
    InspirationCommitted,
    InspirationFailed,
    InspirationRequested,
    QARecord,
    QuestioningFailed,
    QuestionsProposed,
    RunStarted,
    RunStopping,
    StopReason,
    TableAbandoned,
    TableDrafted,
    TableRendered,
    VerdictsReached,
)
from environment.core.schedule import OpenInspiration, Schedule
from environment.simulation.oracle import Oracle
from environment.storage.store import RunStore
from renderers.grid import GridCell

SEED_POOL_SIZE = 64


def prune_seed_pool(pool: list[tuple[int, str]], oldest_eligible: int) -> list[tuple[int, str]]:
    """Keeps what a future inspiration may still pick: the last SEED_POOL_SIZE tables
    eligible now, and every table not yet eligible."""
    eligible = [entry for entry in pool if entry[0] <= oldest_eligible]
    return eligible[-SEED_POOL_SIZE:] + [entry for entry in pool if entry[0] > oldest_eligible]


def inspiration_id(seq: int) -> str:
    return f"i{seq:05d}"


class Director(BusAgent):
    role = "director"

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
        shard: ShardPlace | None = None,
        name: str = "director",
    ) -> None:
        super().__init__(name, description="holds the target, back-pressure and stopping")
        self.store = store
        self.inspirers = inspirers
        self.generators = generators
        self.questioners = questioners
        self.max_inflight = max_inflight
        self.schedule = Schedule(
            target=target, max_inflight=max_inflight, prior_yield=prior_yield, horizon=horizon
        )
        self.known_qa_ids = set(known_qa_ids)
        self.oracle = oracle
        # (seq, LaTeX) of accepted tables, offered to generators as inspiration (None: off).
        self.seed_pool = seed_pool
        self.committed = committed or TableIndex(threshold=1.0)
        self.shard = shard  # a shard numbers its inspirations within the whole run's sequence
        self.run_id = ""
        self.stall_detail = ""
        # What a table's commit needs, kept from its render until then.
        self._latex: dict[str, str] = {}
        self._texts: dict[str, str] = {}
        self._grids: dict[str, tuple[GridCell, ...]] = {}

    def _inspiration_id(self, seq: int) -> str:
        return inspiration_id(self.shard.global_seq(seq) if self.shard else seq)

    @property
    def accepted(self) -> int:
        return self.schedule.accepted

    @property
    def next_commit(self) -> int:
        return self.schedule.next_commit

    @property
    def stop_reason(self) -> StopReason | None:
        return self.schedule.stop_reason

    # ---------- issuing
    @message_handler
    async def on_run_started(self, message: RunStarted, ctx: MessageContext) -> None:
        self.run_id = message.run_id
        self.schedule.start(message.next_seq, message.accepted_so_far)
        if self.schedule.stop_reason is not None:
            await self._halt()
            return
        await self._issue()

    async def _issue(self) -> None:
        for seq in self.schedule.to_issue():
            await self.emit(
                InspirationRequested(
                    inspiration_id=self._inspiration_id(seq),
                    seq=seq,
                    inspirer=self.inspirers[seq % len(self.inspirers)],
                    generator=self.generators[seq % len(self.generators)],
                    questioner=self.questioners[seq % len(self.questioners)],
                    seed_latex=self._seed_for(seq),
                )
            )

    # ---------- tracking
    @message_handler
    async def on_inspiration_failed(self, message: InspirationFailed, ctx: MessageContext) -> None:
        self.schedule.no_tables(message.seq)
        await self._commit_ready()

    @message_handler
    async def on_drafting_failed(self, message: DraftingFailed, ctx: MessageContext) -> None:
        self.schedule.no_tables(message.seq)
        await self._commit_ready()

    @message_handler
    async def on_table_drafted(self, message: TableDrafted, ctx: MessageContext) -> None:
        if message.attempt == 1:
            self.schedule.table_drafted(message.seq, message.table_id, message.count)

    @message_handler
    async def on_table_rendered(self, message: TableRendered, ctx: MessageContext) -> None:
        if self.schedule.is_open(message.seq):
            self._grids[message.table_id] = message.grid
            self._texts[message.table_id] = message.text
            if self.seed_pool is not None:
                self._latex[message.table_id] = message.latex

    @message_handler
    async def on_table_abandoned(self, message: TableAbandoned, ctx: MessageContext) -> None:
        self.schedule.no_questions(message.seq, message.table_id)
        await self._commit_ready()

    @message_handler
    async def on_questioning_failed(self, message: QuestioningFailed, ctx: MessageContext) -> None:
        self.schedule.no_questions(message.seq, message.table_id)
        await self._commit_ready()

    @message_handler
    async def on_questions_proposed(self, message: QuestionsProposed, ctx: MessageContext) -> None:
        self.schedule.questions_proposed(message.seq, message.table_id, len(message.pairs))
        await self._commit_ready()

    @message_handler
    async def on_verdicts_reached(self, message: VerdictsReached, ctx: MessageContext) -> None:
        for record in message.records:
            self.schedule.verdict(record)
        await self._commit_ready()

    # ---------- committing and stopping
    async def _commit_ready(self) -> None:
        while (state := self.schedule.next_ready()) is not None:
            records = await self._without_duplicate_tables(state)
            fresh = [self._with_truth(r) for r in records if r.qa_id not in self.known_qa_ids]
            accepted = sum(r.accepted for r in fresh)
            # run.json's progress as it will be once this commit counts (seq is next_commit).
            await self.store.commit(
                fresh,
                progress={
                    "committed_inspirations": state.seq + 1,
                    "accepted": self.accepted + accepted,
                },
            )
            self.known_qa_ids.update(r.qa_id for r in fresh)
            stop = self.schedule.committed(accepted)
            self._remember_seeds(fresh)
            if self.oracle is not None:
                self.oracle.forget(state.tables)
            for table_id in state.tables:
                self._grids.pop(table_id, None)
                self._texts.pop(table_id, None)
                self._latex.pop(table_id, None)
            await self.emit(
                InspirationCommitted(
                    inspiration_id=self._inspiration_id(state.seq),
                    seq=state.seq,
                    records=tuple(fresh),
                    accepted_total=self.accepted,
                )
            )
            if stop is not None:
                await self._halt()
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
        self.seed_pool[:] = prune_seed_pool(
            self.seed_pool, self.schedule.next_issue - self.max_inflight
        )

    async def _without_duplicate_tables(self, state: OpenInspiration) -> list[QARecord]:
        """The inspiration's records in order, less tables too close to committed ones."""
        records = state.records_in_order()
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
        if self.schedule.stop(StopReason.BUDGET):
            await self._halt()

    async def stalled(self, seconds: float) -> None:
        """The watchdog saw nothing move for `seconds`: end the run, naming what waits."""
        waiting = self.schedule.waiting_for()
        if self.schedule.stop(StopReason.STALLED):
            self.stall_detail = f"nothing moved for {seconds:g} s; {waiting}"
            await self._halt()

    async def _halt(self) -> None:
        assert self.schedule.stop_reason is not None
        await self.emit(
            RunStopping(
                reason=self.schedule.stop_reason, accepted=self.accepted, detail=self.stall_detail
            )
        )
        assert self.bus is not None
        self.bus.halt()

    async def interrupt(self) -> None:
        """Ctrl-C: stop issuing; what is committed stays, the rest is redone on resume."""
        if self.schedule.stop(StopReason.INTERRUPTED):
            assert self.bus is not None
            self.bus.halt()
