"""One-coin Dawid–Skene on synthetic votes with planted juror accuracies."""

from __future__ import annotations

import random

import pytest

from environment.core.reliability import estimate, weighted_verdict


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
