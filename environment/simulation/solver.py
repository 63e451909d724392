"""Simulated solvers and graders for evaluation runs.

A solver is right with its persona's chance for the view (less, from the image, its
question kind's penalty); its wrong answers are near misses — a nearby figure, another
cell's text — and some of its answers, right or wrong, are worded so that only a jury can
grade them. Graders see the oracle's truth through their false-accept/reject rates, so the
run knows how precise its grading was.
"""

from __future__ import annotations

import random
import re
from typing import Any

from environment.config.personas import Behaviour
from environment.core.grading import read_quantity
from environment.models.protocol import GraderInputs, SolverInputs
from environment.simulation.oracle import Oracle
from environment.simulation.reasoning import answers_match


def chance_of_right(behaviour: Behaviour, view: str, kind: str) -> float:
    if view == "latex":
        return behaviour.solves_from_text
    return max(0.0, behaviour.solves_from_image - behaviour.image_penalty.get(kind, 0.0))


def _cells(latex: str) -> list[str]:
    """The plain text of a table's cells, roughly: what a wrong text answer borrows."""
    body = re.sub(r"\\[A-Za-z]+\*?(\[[^\]]*\])?", " ", latex)
    cells = re.split(r"&|\\\\|\n", body)
    cleaned = (re.sub(r"[{}$]", "", cell).strip() for cell in cells)
    return [cell for cell in cleaned if 1 < len(cell) < 40 and not cell.startswith("%")]


def near_miss(truth: str, latex: str, rng: random.Random) -> str:
    """A wrong answer of the kind a solver gives: a neighbouring figure, another cell."""
    quantity = read_quantity(truth)
    if quantity is not None:
        step = 10 ** (-quantity.decimals)
        offset = rng.choice([-3, -2, -1, 1, 2, 3]) * step * max(1, int(abs(quantity.value)) // 20)
        value = float(quantity.value) + offset
        text = f"{value:.{quantity.decimals}f}"
        return text + ("%" if quantity.unit == "%" else "")
    others = [cell for cell in _cells(latex) if not answers_match(cell, truth)]
    return rng.choice(others) if others else "It cannot be determined from the table"


def wordy(answer: str, rng: random.Random) -> str:
    """The answer in a sentence, as models write it: the first form the pre-grader reads
    through, the others only a grader can."""
    return rng.choice(
        [f"The answer is {answer}.", f"{answer}, according to the table", f"{answer} (row read)"]
    )


def solve(
    inputs: SolverInputs, agent: str, behaviour: Behaviour, oracle: Oracle, rng: random.Random
) -> dict[str, Any]:
    """The solver's reply as its prompt asks for it: reasoning, then a short answer."""
    known = oracle.answer_of(inputs.item_id)
    if known is None:  # an item the oracle was not told about: no simulated knowledge
        return {"reasoning": "I cannot read this table.", "answer": ""}
    truth, kind = known
    right = rng.random() < chance_of_right(behaviour, inputs.view, kind or inputs.kind)
    answer = truth if right else near_miss(truth, inputs.latex, rng)
    if rng.random() < behaviour.wordy_answers:
        answer = wordy(answer, rng)
    oracle.remember_prediction(inputs.item_id, f"{agent}/{inputs.view}", right)
    source = "source" if inputs.view == "latex" else "image"
    return {
        "reasoning": f"Read the relevant cells from the table's {source} and worked it out.",
        "answer": answer,
    }


def grade(
    inputs: GraderInputs, behaviour: Behaviour, oracle: Oracle, rng: random.Random
) -> dict[str, Any]:
    """Grades as the grader prompt asks: one verdict per prediction, by key."""
    grades = []
    for prediction in inputs.predictions:
        meant = oracle.prediction_right(inputs.item_id, prediction.key)
        right = meant if meant is not None else answers_match(prediction.answer, inputs.truth)
        if right and rng.random() < behaviour.false_reject:
            right, reason = False, "The prediction does not state the expected value."
        elif not right and rng.random() < behaviour.false_accept:
            right, reason = True, "Close enough to the ground truth."
        else:
            reason = (
                "Matches the ground truth."
                if right
                else f"The ground truth is {inputs.truth}; the prediction says otherwise."
            )
        grades.append(
            {
                "prediction": int(prediction.label),
                "verdict": "correct" if right else "incorrect",
                "reason": reason,
            }
        )
    return {"grades": grades}
