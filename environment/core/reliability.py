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


def posterior(pair: Mapping[str, bool | None], reliability: Reliability) -> float:
    """The chance a pair is valid, given its votes and the jurors' reliabilities."""
    return _posterior(pair, reliability.accuracy, reliability.prior)


def weighted_verdict(pair: Mapping[str, bool | None], reliability: Reliability) -> bool:
    """Accept when the reliability-weighted votes for outweigh those against (and the
    estimated prior); a tie rejects."""
    return posterior(pair, reliability) > 0.5


class RunningReliability:
    """The `weighted` rule's estimates as a run makes them. A table of inspiration s is
    weighed with estimates from the pairs of inspirations s - horizon and before: the
    director issues s only once those are committed, so that set is complete and the same
    whatever the timing (with horizon = max_inflight). Until it holds `after` pairs there
    is too little to learn from, and the rule counts heads."""

    def __init__(self, horizon: int, after: int) -> None:
        self.horizon = horizon
        self.after = after
        # seq → qa_id → the pair's votes; read in (seq, qa_id) order, never arrival order,
        # so even the estimates' last bits do not depend on timing.
        self._pairs: dict[int, dict[str, Mapping[str, bool | None]]] = {}
        self._estimates: dict[int, Reliability | None] = {}  # by cutoff seq, a few kept

    def add(self, seq: int, pairs: Mapping[str, Mapping[str, bool | None]]) -> None:
        """Decided pairs of inspiration `seq`: qa_id → juror → verdict."""
        self._pairs.setdefault(seq, {}).update(pairs)

    def at(self, seq: int) -> Reliability | None:
        """The estimates a table of inspiration `seq` is weighed with; None: count heads."""
        cutoff = seq - self.horizon
        if cutoff not in self._estimates:
            known = [
                self._pairs[s][qa_id]
                for s in sorted(self._pairs)
                if s <= cutoff
                for qa_id in sorted(self._pairs[s])
            ]
            self._estimates[cutoff] = estimate(known) if len(known) >= self.after else None
            while len(self._estimates) > 8:  # tables in flight span a few cutoffs at most
                del self._estimates[min(self._estimates)]
        return self._estimates[cutoff]
