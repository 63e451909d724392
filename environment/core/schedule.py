"""The director's decisions, without the bus: what to issue, when an inspiration is ready to
commit, and when to stop. Pure state; the director performs what it decides.

Inspirations are numbered (seq) and committed strictly in that order; an inspiration is
ready when it knows how many tables it has, each table how many questions, and every
question has its verdict. Issuing is bounded three ways — at most `max_inflight` past the
oldest uncommitted, never past `limit` (a run that cannot reach its target ends), and not
while the work in flight is already expected to reach the target — and reads only
committed figures, so what is issued never depends on which task finished first.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from environment.core.messages import QARecord, StopReason


@dataclass
class OpenTable:
    qa_expected: int | None = None  # None: questions not yet proposed
    records: dict[str, QARecord] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return self.qa_expected is not None and len(self.records) >= self.qa_expected


@dataclass
class OpenInspiration:
    seq: int
    tables_expected: int | None = None  # None: not yet drafted
    tables: dict[str, OpenTable] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return (
            self.tables_expected is not None
            and len(self.tables) >= self.tables_expected
            and all(t.complete for t in self.tables.values())
        )

    def records_in_order(self) -> list[QARecord]:
        return sorted((r for t in self.tables.values() for r in t.records.values()), key=_order_key)


def _order_key(record: QARecord) -> tuple[int, int]:
    table = int(record.table_id.rsplit("-t", 1)[1])
    question = int(record.qa_id.rsplit("-q", 1)[1])
    return table, question


# Inspirations a run may commit beyond its start: a floor, plus a few per pair still wanted.
LIMIT_FLOOR = 20
LIMIT_PER_PAIR = 4
# The acceptance estimate starts from `prior_yield` pairs per inspiration, weighted as this
# many committed inspirations.
PRIOR_WEIGHT = 2


class Schedule:
    def __init__(
        self,
        *,
        target: int,
        max_inflight: int,
        prior_yield: float = 4.0,
        horizon: int | None = None,
    ) -> None:
        self.target = target
        self.max_inflight = max_inflight
        self.prior_yield = prior_yield  # accepted pairs expected of an inspiration, a priori
        # Replaying a run that stopped at its target after inspiration `horizon` (same
        # scenario, seed and cache): nothing is issued past it until it is committed, so a
        # replay starts no speculative call the first run had not paid for.
        self.horizon = horizon
        self.next_issue = 0
        self.next_commit = 0
        self.session_start = 0
        self.accepted = 0
        self.accepted_at_start = 0
        self.limit = 0
        self.stop_reason: StopReason | None = None
        self.open: dict[int, OpenInspiration] = {}

    # ---------- starting and issuing
    def start(self, next_seq: int, accepted_so_far: int) -> None:
        """Begin (or resume) at the first uncommitted inspiration."""
        self.next_issue = self.next_commit = self.session_start = next_seq
        self.accepted = self.accepted_at_start = accepted_so_far
        self.limit = next_seq + LIMIT_FLOOR + LIMIT_PER_PAIR * max(1, self.target - accepted_so_far)
        if self.accepted >= self.target:
            self.stop(StopReason.TARGET)

    def to_issue(self) -> list[int]:
        """The inspirations to request now, each opened as it is returned."""
        issued: list[int] = []
        while (
            self.stop_reason is None
            and self.next_issue < self.next_commit + self.max_inflight
            and self.next_issue < self.limit
            and not self.in_flight_should_suffice()
            and not self.past_horizon()
        ):
            seq = self.next_issue
            self.next_issue += 1
            self.open[seq] = OpenInspiration(seq)
            issued.append(seq)
        return issued

    def in_flight_should_suffice(self) -> bool:
        """Whether the inspirations in flight are expected to reach the target, at the
        acceptance rate committed so far this session (smoothed by the prior): then issuing
        more buys only work that will be dropped — tokens paid for nothing with real
        models. If the work in flight falls short, the next commits issue more."""
        committed = self.next_commit - self.session_start
        rate = (self.accepted - self.accepted_at_start + PRIOR_WEIGHT * self.prior_yield) / (
            committed + PRIOR_WEIGHT
        )
        in_flight = self.next_issue - self.next_commit
        return self.accepted + rate * in_flight >= self.target + rate

    def past_horizon(self) -> bool:
        return (
            self.horizon is not None
            and self.next_issue > self.horizon
            and self.next_commit <= self.horizon
        )

    # ---------- what the work reports (anything about a seq no longer open is ignored)
    def is_open(self, seq: int) -> bool:
        return seq in self.open

    def _table(self, seq: int, table_id: str) -> OpenTable | None:
        state = self.open.get(seq)
        return None if state is None else state.tables.setdefault(table_id, OpenTable())

    def no_tables(self, seq: int) -> None:
        """The inspiration or its drafting failed: it has nothing to wait for."""
        if (state := self.open.get(seq)) is not None:
            state.tables_expected = 0

    def table_drafted(self, seq: int, table_id: str, count: int) -> None:
        """A first draft: the inspiration will hold `count` tables."""
        if (state := self.open.get(seq)) is not None:
            state.tables_expected = count
            self._table(seq, table_id)

    def no_questions(self, seq: int, table_id: str) -> None:
        """The table was abandoned or its questioning failed."""
        if (table := self._table(seq, table_id)) is not None:
            table.qa_expected = 0

    def questions_proposed(self, seq: int, table_id: str, count: int) -> None:
        if (table := self._table(seq, table_id)) is not None:
            table.qa_expected = count

    def verdict(self, record: QARecord) -> None:
        if (table := self._table(record.seq, record.table_id)) is not None:
            table.records[record.qa_id] = record

    def waiting_for(self, most: int = 3) -> str:
        """What the oldest open inspirations still wait for, in words (for a stall)."""
        parts = []
        for seq in sorted(self.open)[:most]:
            state = self.open[seq]
            name = f"i{seq:05d}"
            if state.tables_expected is None:
                parts.append(f"{name} waits for its tables")
                continue
            missing = state.tables_expected - len(state.tables)
            if missing > 0:
                parts.append(f"{name} waits for {missing} of {state.tables_expected} tables")
            for table_id, table in sorted(state.tables.items()):
                if table.qa_expected is None:
                    parts.append(f"{table_id} waits for its questions")
                elif not table.complete:
                    parts.append(
                        f"{table_id} waits for {table.qa_expected - len(table.records)} of "
                        f"{table.qa_expected} verdicts"
                    )
        return "; ".join(parts) or "nothing open"

    # ---------- committing and stopping
    def next_ready(self) -> OpenInspiration | None:
        """The oldest uncommitted inspiration if it is complete (closed as it is returned);
        a later complete one waits for it."""
        if self.stop_reason is not None:
            return None
        state = self.open.get(self.next_commit)
        if state is None or not state.complete:
            return None
        del self.open[self.next_commit]
        return state

    def committed(self, accepted: int) -> StopReason | None:
        """The inspiration returned by next_ready is on disk with `accepted` new pairs;
        returns the reason to stop, if this commit is one."""
        self.accepted += accepted
        self.next_commit += 1
        if self.accepted >= self.target:
            self.stop(StopReason.TARGET)
        elif self.next_commit >= self.limit:
            self.stop(StopReason.EXHAUSTED)
        return self.stop_reason

    def stop(self, reason: StopReason) -> bool:
        """Whether this is the first stop: only the first reason counts."""
        if self.stop_reason is not None:
            return False
        self.stop_reason = reason
        return True
