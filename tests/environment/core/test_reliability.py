"""One-coin Dawid–Skene on synthetic votes with planted juror accuracies."""

from __future__ import annotations

import random

import pytest

from environment.core.consensus import Ballot, decide
from environment.core.reliability import RunningReliability, estimate, weighted_verdict


def planted(
    accuracies: dict[str, float], pairs: int, seed: int, valid_share: float = 0.7
) -> tuple[list[dict[str, bool | None]], list[bool]]:
    rng = random.Random(seed)
    truths = [rng.random() < valid_share for _ in range(pairs)]
    votes = [
        {
            juror: (truth if rng.random() < accuracy else not truth)
            if rng.random() > 0.05
            else None  # a few abstentions
            for juror, accuracy in accuracies.items()
        }
        for truth in truths
    ]
    return votes, truths


def test_recovers_planted_accuracies_and_beats_the_plain_majority() -> None:
    accuracies = {
        "careful-1": 0.95,
        "careful-2": 0.9,
        "quick-1": 0.62,
        "quick-2": 0.6,
        "quick-3": 0.58,
    }
    votes, truths = planted(accuracies, 2000, seed=4)
    found = estimate(votes)
    for juror, accuracy in accuracies.items():
        assert found.accuracy[juror] == pytest.approx(accuracy, abs=0.04), juror
    assert found.prior == pytest.approx(0.7, abs=0.04)
    assert found.weight("careful-1") > found.weight("quick-1") > 0
    weighted = sum(weighted_verdict(v, found) == t for v, t in zip(votes, truths, strict=True))
    majority = sum(
        (sum(x is True for x in v.values()) > sum(x is False for x in v.values())) == t
        for v, t in zip(votes, truths, strict=True)
    )
    assert weighted > majority  # two careful jurors outvote three careless ones
    assert estimate(votes) == found  # deterministic


def test_few_or_unanimous_votes_stay_finite() -> None:
    found = estimate([{"a": True, "b": True}] * 5)
    assert all(0 < a < 1 for a in found.accuracy.values())
    assert weighted_verdict({"a": True, "b": True}, found)
    assert found.weight("nobody") == 0.0
    empty = estimate([])
    assert empty.accuracy == {} and empty.prior == 0.5


def test_the_live_rule_learns_only_from_inspirations_a_horizon_behind() -> None:
    accuracies = {"careful": 0.95, "quick-1": 0.6, "quick-2": 0.6}
    votes, _ = planted(accuracies, 400, seed=9)
    by_seq = {seq: {f"q{seq}-{i}": votes[4 * seq + i] for i in range(4)} for seq in range(100)}
    running = RunningReliability(horizon=4, after=20)
    shuffled = RunningReliability(horizon=4, after=20)
    for seq in range(100):
        running.add(seq, by_seq[seq])
    for seq in random.Random(1).sample(range(100), 100):  # arrival order is not the order
        shuffled.add(seq, dict(reversed(list(by_seq[seq].items()))))
    assert running.at(7) is None  # inspirations 0..3: 16 pairs, fewer than `after`
    assert running.at(8) is not None  # inspirations 0..4: 20 pairs
    at_50 = running.at(50)
    assert at_50 is not None and at_50 == shuffled.at(50)  # same pairs, same bits
    # Only inspirations up to 46 count: later ones do not move the estimate.
    alone = RunningReliability(horizon=4, after=20)
    for seq in range(47):
        alone.add(seq, by_seq[seq])
    assert alone.at(50) == at_50
    assert at_50.weight("careful") > at_50.weight("quick-1")


def test_weighted_decisions_count_votes_by_reliability() -> None:
    found = estimate(planted({"careful": 0.95, "quick-1": 0.6, "quick-2": 0.6}, 600, seed=2)[0])
    split = [Ballot("careful", "auditor", True), Ballot("quick-1", "skimmer", False)]
    split.append(Ballot("quick-2", "skimmer", False))
    weighted = decide(split, "weighted", quorum=2, reliability=found)
    assert weighted.accepted and 0.5 < weighted.confidence < 1  # the careful one carries it
    assert not decide(split, "weighted", quorum=2).accepted  # no estimates yet: heads
    assert decide(split[:1], "weighted", quorum=2, reliability=found).undecided
