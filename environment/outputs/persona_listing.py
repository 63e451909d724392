"""`run.py personas`: the personas a scenario can use, and one persona's every knob with
where its value comes from (package, the user's folder, the scenario, `--set`, inherited,
or the schema's default)."""

from __future__ import annotations

from typing import Any

from environment.config.persona_book import PersonaBook
from environment.config.personas import read_by_simulation
from environment.config.yaml_source import did_you_mean
from environment.errors import UserInputError


def list_personas(book: PersonaBook) -> str:
    rows = [("persona", "role", "defined in")]
    for name in sorted(book.personas, key=lambda n: (book.personas[n].role, n)):
        rows.append((name, book.personas[name].role, "; then ".join(book.layers.get(name, []))))
    width = [max(len(row[column]) for row in rows) for column in range(2)]
    lines = [f"{row[0]:<{width[0]}}  {row[1]:<{width[1]}}  {row[2]}" for row in rows]
    lines.append("(python run.py personas NAME shows every knob and where its value comes from)")
    return "\n".join(lines)


def describe_persona(book: PersonaBook, name: str) -> str:
    if name not in book.personas:
        raise UserInputError(f"unknown persona{did_you_mean(name, book.personas)}")
    persona = book.personas[name]
    knobs = _leaves(persona.model_dump(mode="json", exclude={"name"}))
    width = max(len(knob) for knob, _ in knobs)
    lines = [f"{name} ({persona.role})", f"  defined in: {'; then '.join(book.layers[name])}"]
    for knob, value in knobs:
        shown = value if not isinstance(value, str) else _one_line(value)
        unread = "" if read_by_simulation(persona.role, knob) else "  (simulation ignores)"
        lines.append(f"  {knob:<{width}}  {shown!s:<24}  {book.origin_of(name, knob)}{unread}")
    lines.append(
        f"(simulation ignores: a simulated {persona.role} does not read that knob; a real "
        "model reads the system prompt)"
    )
    return "\n".join(lines)


def _one_line(text: str, limit: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _leaves(data: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    for key, value in data.items():
        if isinstance(value, dict) and value:
            found += _leaves(value, f"{prefix}{key}.")
        else:
            found.append((f"{prefix}{key}", value))
    return found
