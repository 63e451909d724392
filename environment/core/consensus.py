"""Vote rules. Pure: votes in, verdict and confidence out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from environment.core.reliability import Reliability, posterior

Rule = Literal["majority", "k_of_n", "unanimous", "weighted"]


@dataclass(frozen=True)
class Ballot:
    juror: str
    persona: str
    verdict: bool | None  # None: abstained (could not judge), counted neither way


@dataclass(frozen=True)
class Decision:
    accepted: bool
    confidence: float  # share of votes that agree with the verdict
    tie_broken_by: str | None = None
    undecided: bool = False  # fewer votes cast than the quorum: rejected, not judged


def decide(
    ballots: Sequence[Ballot],
    rule: Rule,
    *,
    k: int | None = None,
    tiebreaker: str | None = None,
    quorum: int = 1,
    reliability: Reliability | None = None,
) -> Decision:
    """Applies a vote rule.

    majority: more yes than no; a tie goes to the tiebreaker persona's vote, or to reject
    when there is none (a dataset should not grow on a coin flip). k_of_n: at least k yes.
    unanimous: every vote yes. weighted: each vote counts by its juror's estimated
    reliability (`reliability`; without one, as majority), confidence is the chance the
    verdict is right. Abstentions count neither way; fewer than `quorum` votes cast
    (at least one) is no verdict: rejected as undecided, so a lone vote cannot carry a pair.
    """
    if not ballots:
        raise ValueError("no votes to decide on")
    cast = [ballot for ballot in ballots if ballot.verdict is not None]
    if len(cast) < max(quorum, 1):
        return Decision(accepted=False, confidence=0.0, undecided=True)
    ballots = cast
    yes = sum(1 for ballot in ballots if ballot.verdict)
    no = len(ballots) - yes
    broken_by: str | None = None
    if rule == "weighted" and reliability is not None:
        valid = posterior({b.juror: b.verdict for b in ballots}, reliability)
        accepted = valid > 0.5
        return Decision(accepted, round(valid if accepted else 1 - valid, 4))
    if rule in ("majority", "weighted"):
        if yes != no:
            accepted = yes > no
        else:
            breaker = next((b for b in ballots if b.persona == tiebreaker), None)
            accepted = bool(breaker.verdict) if breaker is not None else False
            broken_by = breaker.juror if breaker is not None else None
    elif rule == "k_of_n":
        if k is None or k < 1:
            raise ValueError("k_of_n needs k >= 1")
        accepted = yes >= k
    elif rule == "unanimous":
        accepted = no == 0
    else:
        raise ValueError(f"unknown rule {rule!r}")
    agreeing = yes if accepted else no
    return Decision(
        accepted=accepted, confidence=round(agreeing / len(ballots), 4), tie_broken_by=broken_by
    )


def settled(ballots: Sequence[Ballot], voters: int) -> bool:
    """Whether a cascade stage settles a pair: all `voters` asked so far voted (none
    abstained), and all the same way."""
    verdicts = {ballot.verdict for ballot in ballots}
    return len(ballots) == voters and None not in verdicts and len(verdicts) == 1
