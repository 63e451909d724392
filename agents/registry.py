"""Role names (as scenario files spell them) → agent classes. Never import-by-string."""

from __future__ import annotations

from agents.curator import Curator
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

ROLE_CLASSES = {
    "inspirer": Inspirer,
    "generator": Generator,
    "questioner": Questioner,
    "juror": Juror,
    "curator": Curator,
}

# What each role listens to: its subscriptions on the bus.
ROLE_CONSUMES: dict[str, tuple[type[Message], ...]] = {
    "inspirer": (InspirationRequested,),
    "generator": (InspirationOffered, RenderFailed),
    "questioner": (TableRendered,),
    "juror": (TableRendered, QAProposed),
    "curator": (QAProposed, VoteCast),
}
