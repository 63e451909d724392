"""Persona files (`agents/personas/*.yaml`): who an agent is, and how a simulated one errs."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from environment.config.yaml_source import YamlSource
from environment.errors import UserInputError
from environment.frozen import Frozen

Role = Literal["inspirer", "generator", "questioner", "juror"]
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
    false_accept: float = Field(default=0.05, ge=0, le=1)
    false_reject: float = Field(default=0.05, ge=0, le=1)
    faults: Faults = Faults()


class Persona(Frozen):
    name: str
    role: Role
    system_prompt: str = Field(min_length=10)
    style: dict[str, str | int | float | bool] = Field(default_factory=dict)
    behaviour: Behaviour = Behaviour()


def load_personas(directory: Path) -> dict[str, Persona]:
    """All personas in a folder, by name; a broken file is a UserInputError naming it."""
    personas: dict[str, Persona] = {}
    for path in sorted(directory.glob("*.yaml")):
        source = YamlSource.read(path)
        persona: Persona = source.validate(Persona)
        unknown = set(persona.behaviour.question_kinds) - set(QUESTION_KINDS)
        if unknown:
            raise source.error(
                ["behaviour", "question_kinds"],
                f"unknown question kind '{sorted(unknown)[0]}'; known: {', '.join(QUESTION_KINDS)}",
            )
        if persona.name in personas:
            raise source.error(["name"], f"persona '{persona.name}' is defined twice")
        personas[persona.name] = persona
    if not personas:
        raise UserInputError(f"{directory}: no persona files (*.yaml)")
    return personas
