"""How far each juror can be trusted, learnt from the votes alone: the one-coin form of
Dawid and Skene (1979). Each juror is right with its own probability, the same for every
pair; expectation–maximisation alternates between each pair's chance of being valid (given
the jurors' accuracies) and each juror's accuracy (given those chances). A weighted vote
then counts each juror by the log-odds of its accuracy, so two careful jurors outvote three
careless ones. Pure and deterministic: the same votes give the same estimates.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# Accuracies are kept inside this band: a juror never right or never wrong on a few votes
# would otherwise get an infinite weight.
_FLOOR, _CEILING = 0.05, 0.95


@dataclass(frozen=True)
class Reliability:
    accuracy: dict[str, float]  # juror → estimated chance its vote is right
    prior: float  # estimated share of valid pairs
    iterations: int

    def weight(self, juror: str) -> float:
        """A vote's weight: the log-odds of the juror being right (0 for an unknown one)."""
        accuracy = self.accuracy.get(juror)
        if accuracy is None:
            return 0.0
        return math.log(accuracy / (1 - accuracy))


def estimate(
    votes: Sequence[Mapping[str, bool | None]],
    *,
    start: float = 0.7,
    rounds: int = 100,
    tolerance: float = 1e-6,
) -> Reliability:
    """Each juror's accuracy from pairs' votes (juror → verdict; None: abstained)."""
    jurors = sorted({juror for pair in votes for juror in pair})
    accuracy = dict.fromkeys(jurors, start)
    prior = 0.5
    iterations = 0
    for iterations in range(1, rounds + 1):  # noqa: B007 - the count is reported
        valid = [_posterior(pair, accuracy, prior) for pair in votes]
        updated = {}
        for juror in jurors:
            right = total = 0.0
            for pair, p in zip(votes, valid, strict=True):
                verdict = pair.get(juror)
                if verdict is None:
                    continue
                right += p if verdict else 1 - p
                total += 1
            updated[juror] = min(_CEILING, max(_FLOOR, right / total)) if total else start
        prior = min(_CEILING, max(_FLOOR, sum(valid) / len(valid))) if valid else 0.5
        change = max((abs(updated[j] - accuracy[j]) for j in jurors), default=0.0)
        accuracy = updated
        if change < tolerance:
            break
    return Reliability(accuracy, prior, iterations)


def _posterior(
    pair: Mapping[str, bool | None], accuracy: Mapping[str, float], prior: float
) -> float:
    """The chance a pair is valid, given its votes."""
    valid, invalid = math.log(prior), math.log(1 - prior)
    for juror, verdict in pair.items():
        if verdict is None or juror not in accuracy:
            continue
        right, wrong = math.log(accuracy[juror]), math.log(1 - accuracy[juror])
        valid += right if verdict else wrong
        invalid += wrong if verdict else right
    top = max(valid, invalid)
    return math.exp(valid - top) / (math.exp(valid - top) + math.exp(invalid - top))


def weighted_verdict(pair: Mapping[str, bool | None], reliability: Reliability) -> bool:
    """Accept when the reliability-weighted votes for outweigh those against (and the
    estimated prior); a tie rejects."""
    return _posterior(pair, reliability.accuracy, reliability.prior) > 0.5
