"""Role names (as scenario files spell them) → how to build that agent, and what it hears.

Scenario files name roles; this table turns a name into a constructor. Never import-by-string.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from agents.base import AgentModel, RoleAgent, TableView
from agents.generator import Generator
from agents.inspirer import Inspirer
from agents.juror import Juror
from agents.questioner import Questioner
from environment.messages import (
    InspirationOffered,
    InspirationRequested,
    Message,
    QAProposed,
    RenderFailed,
    TableRendered,
    VoteCast,
)
from environment.personas import Persona


@dataclass(frozen=True)
class Knobs:
    """Scenario settings some roles need at construction."""

    tables_per_call: int
    qa_per_table: int
    max_repairs: int
    question_similarity: float = 0.95
    table_view: TableView = "latex"  # what a questioner or juror is shown of a table
    seed: int = 0


Builder = Callable[[str, Persona, AgentModel, Knobs], RoleAgent]

ROLE_BUILDERS: dict[str, Builder] = {
    "inspirer": lambda name, persona, model, knobs: Inspirer(name, persona, model, knobs.seed),
    "generator": lambda name, persona, model, knobs: Generator(
        name, persona, model, knobs.tables_per_call, knobs.max_repairs
    ),
    "questioner": lambda name, persona, model, knobs: Questioner(
        name, persona, model, knobs.qa_per_table, knobs.question_similarity, knobs.table_view
    ),
    "juror": lambda name, persona, model, knobs: Juror(name, persona, model, knobs.table_view),
}

# What each role listens to: its subscriptions on the bus.
ROLE_CONSUMES: dict[str, tuple[type[Message], ...]] = {
    "inspirer": (InspirationRequested,),
    "generator": (InspirationOffered, RenderFailed),
    "questioner": (TableRendered,),
    "juror": (TableRendered, QAProposed),
    "curator": (QAProposed, VoteCast),
}
