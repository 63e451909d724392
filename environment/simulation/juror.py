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


def plan_checks(
    table_id: str, grid: Sequence[GridCell], question: str, oracle: Oracle, offered: set[str]
) -> list[tuple[str, dict[str, Any]]]:
    """The tool calls a careful juror makes first: the cell or the column the question is
    about (as the oracle knows it), by the names the table's headers and rows carry. None
    for a question the oracle never saw, or when the tools it needs are not offered."""
    spec = oracle.spec(table_id, question)
    view = oracle.view(table_id, grid)
    if spec is None or view is None:
        return []
    calls: list[tuple[str, dict[str, Any]]]
    if 0 <= spec.column < len(view.columns) and spec.first:
        calls = [("read_cell", {"row": spec.first, "column": view.columns[spec.column]})]
        if spec.second:
            calls.append(("read_cell", {"row": spec.second, "column": view.columns[spec.column]}))
    elif 0 <= spec.column < len(view.columns):
        calls = [("column_values", {"column": view.columns[spec.column]})]
    else:
        calls = [("table_outline", {})]
    return calls if all(name in offered for name, _ in calls) else []


def judge(
    table_id: str,
    grid: Sequence[GridCell],
    question: str,
    answer: str,
    behaviour: Behaviour,
    skill: float,
    oracle: Oracle,
    rng: random.Random,
    checked: bool = False,
) -> dict[str, Any]:
    """The verdict as the juror prompt asks for it (the criterion by its number). A juror
    that `checked` the figures with tools makes no slips of its own skill (misread cells,
    arithmetic in its head); its persona's own leniency or strictness remains."""
    truth = oracle.judge(table_id, grid, question, answer)
    slack = 0.0 if checked else (1 - skill) * 0.3
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
