"""Simulated questioner: reasoning QA pairs drawn from the rendered grid, with persona faults."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from environment.config.personas import QUESTION_KINDS, Behaviour
from environment.simulation.oracle import Oracle
from environment.simulation.reasoning import OFF_TOPIC_QUESTIONS, QuestionSpec, draw_spec, solve
from environment.simulation.table_reading import parse_number
from renderers.grid import GridCell


def _wrong(answer: str, rng: random.Random) -> str:
    number = parse_number(answer)
    if number is None:
        return answer + " (approximately)" if rng.random() < 0.3 else "None of them"
    shift = max(1.0, abs(number) * rng.uniform(0.05, 0.3)) * rng.choice([-1, 1])
    decimals = len(answer.split(".")[1].rstrip("%")) if "." in answer else 0
    suffix = "%" if answer.endswith("%") else ""
    return f"{number + shift:.{decimals}f}{suffix}"


def write_questions(
    table_id: str,
    grid: Sequence[GridCell],
    wanted: int,
    behaviour: Behaviour,
    fault_scale: float,
    oracle: Oracle,
    rng: random.Random,
) -> dict[str, Any]:
    """The questions as the questioner prompt asks for them; none when the table has no
    grid to ask about (the questioner's parser turns that into a re-ask)."""
    view = oracle.view(table_id, grid)  # read once: the jurors' oracle reads it too
    if view is None:
        return {"questions": []}
    # In the schema's order, not the mapping's: a persona read back from run.json (keys
    # sorted) must draw the same questions as the one from its YAML file.
    kinds = [k for k in QUESTION_KINDS if behaviour.question_kinds.get(k, 0) > 0]
    weights = [behaviour.question_kinds[k] for k in kinds]
    pairs: list[dict[str, str]] = []
    seen: set[str] = set()
    for _ in range(wanted * 8):
        if len(pairs) >= wanted:
            break
        if rng.random() < behaviour.faults.off_topic * fault_scale:
            question, answer = rng.choice(OFF_TOPIC_QUESTIONS)
            spec = QuestionSpec("off_topic", first=question, second=answer)
        else:
            drawn = draw_spec(rng.choices(kinds, weights)[0], view, rng)
            if drawn is None:
                continue
            spec = drawn
        solution = solve(spec, view)
        if solution is None or solution.question in seen:
            continue
        seen.add(solution.question)
        answer = solution.answer
        steps = list(solution.steps)
        if spec.kind != "off_topic" and rng.random() < behaviour.faults.wrong_answer * fault_scale:
            answer = _wrong(answer, rng)
            steps[-1] = steps[-1] + f" So the answer is {answer}."
        oracle.register(table_id, solution.question, spec)
        pairs.append(
            {
                "question": solution.question,
                "reasoning": " ".join(f"Step {i}: {s}" for i, s in enumerate(steps, 1)),
                "answer": answer,
                "kind": spec.kind if spec.kind != "off_topic" else "lookup",
            }
        )
    return {"questions": pairs}
