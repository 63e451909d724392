"""Simulated juror: the oracle's truth seen through the persona's false-accept/reject rates."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from typing import Any

from environment.config.personas import Behaviour
from environment.core.criteria import JURY_CRITERIA
from environment.simulation.oracle import Oracle
from renderers.grid import GridCell


def hardness(table_id: str, question: str, answer: str) -> float:
    """How easily a pair fools a juror, in [0, 1), the same for every juror: real judges'
    mistakes cluster on the same pairs (their training overlaps), so a majority of them is
    worth less than independent votes would be. A juror's chance of a mistake on a pair is
    its rate times twice this, so its average rate stays its persona's."""
    digest = hashlib.blake2b(f"{table_id}\n{question}\n{answer}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big") / 2**64


def judge(
    table_id: str,
    grid: Sequence[GridCell],
    question: str,
    answer: str,
    behaviour: Behaviour,
    skill: float,
    oracle: Oracle,
    rng: random.Random,
) -> dict[str, Any]:
    """The verdict as the juror prompt asks for it (the criterion by its number)."""
    truth = oracle.judge(table_id, grid, question, answer)
    slack = (1 - skill) * 0.3
    if truth is None:
        # A question the oracle never saw (a real questioner wrote it): a simulated juror
        # knows nothing about it, so it abstains rather than vote on form alone.
        return {
            "verdict": "abstain",
            "failed_criterion": None,
            "rationale": "no simulated truth for this question",
        }
    valid, criterion = truth.valid, truth.failed_criterion
    rationale = (
        "Recomputed from the table; the stated answer matches."
        if valid
        else f"Fails: {criterion}. "
        + (
            f"Recomputing gives {truth.correct_answer}, not {answer}."
            if truth.correct_answer
            else "The table does not support this question."
        )
    )
    shared = 2 * hardness(table_id, question, answer)
    if valid and rng.random() < (behaviour.false_reject + slack) * shared:
        valid, criterion = False, "the answer is valid"
        rationale = "I could not confirm the figure from the table."
    elif not valid and rng.random() < (behaviour.false_accept + slack) * shared:
        valid, criterion = True, None
        rationale = "Looks plausible at a glance."
    return {
        "verdict": "accept" if valid else "reject",
        "failed_criterion": JURY_CRITERIA.index(criterion) + 1 if criterion else None,
        "rationale": rationale,
    }
