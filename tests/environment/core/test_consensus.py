import pytest

from environment.core.consensus import Ballot, decide


def ballots(*verdicts: bool | None) -> list[Ballot]:
    personas = ["auditor", "skimmer", "pedant", "fourth"]
    return [Ballot(f"j{i}", personas[i], v) for i, v in enumerate(verdicts)]


def test_majority_accepts_two_of_three_with_confidence() -> None:
    decision = decide(ballots(True, False, True), "majority")
    assert decision.accepted and decision.confidence == pytest.approx(2 / 3, abs=1e-3)


def test_majority_rejects_two_of_three_no() -> None:
    decision = decide(ballots(False, False, True), "majority")
    assert not decision.accepted and decision.confidence == pytest.approx(2 / 3, abs=1e-3)


@pytest.mark.parametrize("breaker_vote", [True, False])
def test_majority_tie_goes_to_the_tiebreaker(breaker_vote: bool) -> None:
    votes = ballots(breaker_vote, not breaker_vote, True, False)
    decision = decide(votes, "majority", tiebreaker="auditor")
    assert decision.accepted is breaker_vote
    assert decision.tie_broken_by == "j0"
    assert decision.confidence == 0.5


def test_majority_tie_without_tiebreaker_rejects() -> None:
    assert not decide(ballots(True, False), "majority").accepted


def test_k_of_n() -> None:
    assert decide(ballots(True, True, False), "k_of_n", k=2).accepted
    assert not decide(ballots(True, False, False), "k_of_n", k=2).accepted
    with pytest.raises(ValueError):
        decide(ballots(True), "k_of_n")


def test_unanimous() -> None:
    assert decide(ballots(True, True, True), "unanimous").confidence == 1.0
    decision = decide(ballots(True, True, False), "unanimous")
    assert not decision.accepted and decision.confidence == pytest.approx(1 / 3, abs=1e-3)


def test_no_votes_is_an_error() -> None:
    with pytest.raises(ValueError):
        decide([], "majority")


def test_an_abstention_counts_neither_way() -> None:
    decision = decide(ballots(True, None, True), "majority")
    assert decision.accepted and decision.confidence == 1.0
    assert not decide(ballots(None, False, True), "majority").accepted  # 1–1, no tiebreaker
    assert decide(ballots(True, None, True), "unanimous").accepted
    assert not decide(ballots(True, None, None), "k_of_n", k=2).accepted


def test_no_vote_at_all_rejects() -> None:
    decision = decide(ballots(None, None, None), "majority")
    assert not decision.accepted and decision.confidence == 0.0


def test_fewer_votes_than_the_quorum_is_undecided_not_a_verdict() -> None:
    # Two abstentions leave one "yes": a lone vote must not carry a pair.
    lone = decide(ballots(True, None, None), "majority", quorum=2)
    assert not lone.accepted and lone.undecided and lone.confidence == 0.0
    enough = decide(ballots(True, None, True), "majority", quorum=2)
    assert enough.accepted and not enough.undecided
