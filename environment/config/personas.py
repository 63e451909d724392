"""What a persona is: who an agent is, and how a simulated one errs. Where personas come
from (the package, a user's folder, the scenario) is config/persona_book.py."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from environment.frozen import Frozen

Role = Literal["inspirer", "generator", "questioner", "juror", "solver", "grader"]
QUESTION_KINDS = (
    "lookup",
    "comparison",
    "aggregate",
    "difference",
    "percentage",
    "ranking",
    "conditional_count",
    "multi_hop",
    "structural",
)


class Faults(Frozen):
    """Rates at which a simulated model makes each mistake (before the model's skill)."""

    malformed_output: float = Field(default=0.0, ge=0, le=1)
    broken_latex: float = Field(default=0.0, ge=0, le=1)
    wrong_answer: float = Field(default=0.0, ge=0, le=1)
    off_topic: float = Field(default=0.0, ge=0, le=1)


class Behaviour(Frozen):
    """Knobs the simulated models read; real models see only the system prompt."""

    complexity: float = Field(default=0.5, ge=0, le=1)
    colour_use: float = Field(default=0.3, ge=0, le=1)
    math_use: float = Field(default=0.3, ge=0, le=1)
    rows: tuple[int, int] = (5, 14)
    topics_per_offer: int = Field(default=3, ge=1, le=10)
    question_kinds: dict[str, float] = Field(
        default_factory=lambda: dict.fromkeys(QUESTION_KINDS, 1.0)
    )
    # Solvers (evaluation): the chance of a right answer from the LaTeX and from the image,
    # less, from the image, each question kind's penalty (structure is harder to see).
    solves_from_text: float = Field(default=0.9, ge=0, le=1)
    solves_from_image: float = Field(default=0.75, ge=0, le=1)
    image_penalty: dict[str, float] = Field(
        default_factory=lambda: {"structural": 0.2, "multi_hop": 0.1, "ranking": 0.05}
    )
    # Share of answers written in words around the figure ("about 12.5 in total"): what
    # the pre-grader cannot settle and the grading jury must.
    wordy_answers: float = Field(default=0.2, ge=0, le=1)
    false_accept: float = Field(default=0.05, ge=0, le=1)
    false_reject: float = Field(default=0.05, ge=0, le=1)
    faults: Faults = Faults()


class Persona(Frozen):
    name: str
    role: Role
    system_prompt: str = Field(min_length=10)
    style: dict[str, str | int | float | bool] = Field(default_factory=dict)
    behaviour: Behaviour = Behaviour()
    # Jurors only: rounds of tool calls over the rendered table's cells (look up, compute,
    # round) before the vote; 0 votes unaided. Past the last round the model must vote.
    tool_rounds: int = Field(default=0, ge=0, le=8)

    @model_validator(mode="after")
    def _tools_are_for_jurors(self) -> Persona:
        if self.tool_rounds and self.role != "juror":
            raise ValueError(f"tool_rounds is for jurors; this persona is a {self.role}")
        return self


# The behaviour knobs each role's simulated model reads (a knob names a field, or a whole
# mapping such as question_kinds); a real model sees only the system prompt, and
# topics_per_offer, which its inspirer prompt asks for.
SIMULATED_KNOBS: dict[Role, tuple[str, ...]] = {
    "inspirer": ("complexity", "colour_use", "math_use", "rows", "topics_per_offer"),
    "generator": ("complexity", "colour_use", "math_use", "rows", "faults.broken_latex"),
    "questioner": ("question_kinds", "faults.wrong_answer", "faults.off_topic"),
    "juror": ("false_accept", "false_reject"),
    "solver": ("solves_from_text", "solves_from_image", "image_penalty", "wordy_answers"),
    "grader": ("false_accept", "false_reject"),
}


def read_by_simulation(role: Role, knob: str) -> bool:
    """Whether `knob` ("behaviour.faults.off_topic") changes what a simulated `role` does;
    malformed output is every role's fault, and the knobs outside behaviour are not
    simulation knobs."""
    if not knob.startswith("behaviour."):
        return True
    inner = knob.removeprefix("behaviour.")
    read = (*SIMULATED_KNOBS[role], "faults.malformed_output")
    return any(inner == name or inner.startswith(name + ".") for name in read)
