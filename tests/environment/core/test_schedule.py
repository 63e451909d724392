"""The director's decisions without the bus: issuing, ordering, back-pressure, resume, limits."""

from __future__ import annotations

from environment.core.messages import QARecord, StopReason
from environment.core.schedule import LIMIT_FLOOR, LIMIT_PER_PAIR, Schedule


def record(seq: int, table: int, question: int, accepted: bool = True) -> QARecord:
    table_id = f"i{seq:05d}-t{table}"
    return QARecord(
        qa_id=f"{table_id}-q{question}",
        table_id=table_id,
        inspiration_id=f"i{seq:05d}",
        seq=seq,
        image=f"images/{table_id}.png",
        topic="t",
        question=f"Q{question}?",
        answer="1",
        reasoning="",
        kind="lookup",
        accepted=accepted,
        confidence=1.0,
        votes=(),
        generator="g",
        questioner="q",
        attempt=1,
    )


def finish_inspiration(schedule: Schedule, seq: int, accepted: list[bool]) -> None:
    """One table with one question per entry of `accepted`, every verdict in."""
    schedule.table_drafted(seq, f"i{seq:05d}-t1", 1)
    schedule.questions_proposed(seq, f"i{seq:05d}-t1", len(accepted))
    for question, verdict in enumerate(accepted, 1):
        schedule.verdict(record(seq, 1, question, verdict))


def commit_all(schedule: Schedule) -> list[int]:
    committed = []
    while (state := schedule.next_ready()) is not None:
        accepted = sum(r.accepted for r in state.records_in_order())
        schedule.committed(accepted)
        committed.append(state.seq)
    return committed


def test_issues_up_to_max_inflight_and_one_more_per_commit() -> None:
    schedule = Schedule(target=1000, max_inflight=3, prior_yield=1.0)
    schedule.start(0, 0)
    assert schedule.to_issue() == [0, 1, 2]
    assert schedule.to_issue() == []  # back-pressure: three are open
    finish_inspiration(schedule, 0, [True])
    assert commit_all(schedule) == [0]
    assert schedule.to_issue() == [3]


def test_commits_in_inspiration_order_whatever_finishes_first() -> None:
    schedule = Schedule(target=1000, max_inflight=3, prior_yield=1.0)
    schedule.start(0, 0)
    schedule.to_issue()
    finish_inspiration(schedule, 2, [True])
    finish_inspiration(schedule, 1, [True, False])
    assert commit_all(schedule) == []  # 0 is still open: 1 and 2 wait
    finish_inspiration(schedule, 0, [False])
    assert commit_all(schedule) == [0, 1, 2]
    assert schedule.accepted == 2 and schedule.next_commit == 3


def test_an_inspiration_waits_for_every_table_and_every_verdict() -> None:
    schedule = Schedule(target=1000, max_inflight=1, prior_yield=1.0)
    schedule.start(0, 0)
    schedule.to_issue()
    schedule.table_drafted(0, "i00000-t1", 2)  # two tables announced, one heard of
    schedule.questions_proposed(0, "i00000-t1", 1)
    schedule.verdict(record(0, 1, 1))
    assert schedule.next_ready() is None
    schedule.questions_proposed(0, "i00000-t2", 2)
    schedule.verdict(record(0, 2, 1))
    assert schedule.next_ready() is None  # one verdict of table 2 missing
    schedule.verdict(record(0, 2, 2))
    state = schedule.next_ready()
    assert state is not None
    assert [r.qa_id for r in state.records_in_order()] == [
        "i00000-t1-q1",
        "i00000-t2-q1",
        "i00000-t2-q2",
    ]


def test_failures_close_what_they_leave_nothing_to_wait_for() -> None:
    schedule = Schedule(target=1000, max_inflight=3, prior_yield=1.0)
    schedule.start(0, 0)
    schedule.to_issue()
    schedule.no_tables(0)  # the inspiration failed
    schedule.table_drafted(1, "i00001-t1", 1)
    schedule.no_questions(1, "i00001-t1")  # its only table was abandoned
    assert commit_all(schedule) == [0, 1]
    assert schedule.accepted == 0


def test_news_of_an_inspiration_not_open_is_ignored() -> None:
    schedule = Schedule(target=1000, max_inflight=2, prior_yield=1.0)
    schedule.start(0, 0)
    schedule.to_issue()
    finish_inspiration(schedule, 0, [True])
    commit_all(schedule)
    finish_inspiration(schedule, 0, [True, True])  # late work on a committed inspiration
    finish_inspiration(schedule, 7, [True])  # never issued
    assert not schedule.is_open(0) and not schedule.is_open(7)
    assert schedule.accepted == 1


def test_stops_at_the_target_on_committed_pairs_only() -> None:
    schedule = Schedule(target=3, max_inflight=4, prior_yield=0.5)
    schedule.start(0, 0)
    schedule.to_issue()
    finish_inspiration(schedule, 1, [True, True, True])  # enough, but not yet in order
    assert schedule.stop_reason is None and commit_all(schedule) == []
    finish_inspiration(schedule, 0, [True])
    assert commit_all(schedule) == [0, 1]  # 1 brings the total to 4: stop after it
    assert schedule.stop_reason is StopReason.TARGET
    finish_inspiration(schedule, 2, [True])
    assert schedule.next_ready() is None and schedule.to_issue() == []


def test_stops_issuing_once_work_in_flight_should_reach_the_target() -> None:
    # Prior: 4 pairs per inspiration; target 6 → two in flight, and one spare, suffice.
    schedule = Schedule(target=6, max_inflight=8, prior_yield=4.0)
    schedule.start(0, 0)
    assert schedule.to_issue() == [0, 1, 2]
    finish_inspiration(schedule, 0, [False, False])  # the estimate falls: issue more
    commit_all(schedule)
    assert schedule.to_issue() != []


def test_a_run_that_cannot_reach_its_target_is_exhausted() -> None:
    schedule = Schedule(target=1, max_inflight=4, prior_yield=0.01)
    schedule.start(0, 0)
    limit = LIMIT_FLOOR + LIMIT_PER_PAIR * 1
    committed = 0
    while schedule.stop_reason is None:
        for seq in schedule.to_issue():
            finish_inspiration(schedule, seq, [False])
        committed += len(commit_all(schedule))
    assert schedule.stop_reason is StopReason.EXHAUSTED
    assert committed == limit and schedule.next_issue == limit


def test_resume_starts_at_the_first_uncommitted_inspiration() -> None:
    schedule = Schedule(target=10, max_inflight=2, prior_yield=1.0)
    schedule.start(5, 7)
    assert schedule.to_issue() == [5, 6]
    assert schedule.limit == 5 + LIMIT_FLOOR + LIMIT_PER_PAIR * 3
    reached = Schedule(target=10, max_inflight=2)
    reached.start(9, 10)  # the target was met before the interruption
    assert reached.stop_reason is StopReason.TARGET and reached.to_issue() == []


def test_a_replay_issues_nothing_past_the_horizon_until_it_is_committed() -> None:
    schedule = Schedule(target=1000, max_inflight=5, prior_yield=1.0, horizon=1)
    schedule.start(0, 0)
    assert schedule.to_issue() == [0, 1]
    finish_inspiration(schedule, 0, [True])
    commit_all(schedule)
    assert schedule.to_issue() == []
    finish_inspiration(schedule, 1, [True])
    commit_all(schedule)
    assert schedule.to_issue() == [2, 3, 4, 5, 6]


def test_only_the_first_stop_counts() -> None:
    schedule = Schedule(target=5, max_inflight=2)
    schedule.start(0, 0)
    assert schedule.stop(StopReason.BUDGET) is True
    assert schedule.stop(StopReason.INTERRUPTED) is False
    assert schedule.stop_reason is StopReason.BUDGET and schedule.to_issue() == []


def test_what_a_stalled_run_waits_for_is_named_per_inspiration_and_table() -> None:
    schedule = Schedule(target=1000, max_inflight=3, prior_yield=1.0)
    schedule.start(0, 0)
    schedule.to_issue()
    schedule.table_drafted(0, "i00000-t1", 2)
    schedule.questions_proposed(0, "i00000-t1", 3)
    schedule.verdict(record(0, 1, 1))
    schedule.table_drafted(1, "i00001-t1", 1)
    assert schedule.waiting_for() == (
        "i00000 waits for 1 of 2 tables; i00000-t1 waits for 2 of 3 verdicts; "
        "i00001-t1 waits for its questions; i00002 waits for its tables"
    )
    assert schedule.waiting_for(most=1).startswith("i00000 waits")
