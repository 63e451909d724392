"""Inspirer: proposes topics and a structural seed for the next batch of tables."""

from __future__ import annotations

from autogen_core import MessageContext, message_handler
from pydantic import ValidationError

from agents.base import AgentModel, GaveUp, RoleAgent
from agents.parsing import OutputParseError, extract_json, response_schema, strict_object
from environment.config.personas import Persona
from environment.core.messages import (
    InspirationFailed,
    InspirationOffered,
    InspirationRequested,
    Recipe,
)
from environment.core.randomness import derive
from environment.models.protocol import InspirerInputs
from environment.simulation.topic_bank import DOMAINS


def direction(seed: int, inspiration_id: str) -> tuple[str, list[str]]:
    """A domain and a few subjects to start from, different for every inspiration: the same
    prompt every time would make a model at low temperature propose the same topics again."""
    rng = derive(seed, "inspiration-direction", inspiration_id)
    domain = rng.choice(DOMAINS)
    return domain.name, rng.sample([s.name for s in domain.subjects], min(3, len(domain.subjects)))


def build_prompt(topics_wanted: int, domain: str, subjects: list[str]) -> str:
    return (
        f"Propose {topics_wanted} specific, data-rich topics for tables from the domain "
        f"'{domain}' (for instance around: {'; '.join(subjects)} — or go beyond them), and "
        "a layout recipe for those tables. Prefer specific over generic: 'monthly cold-chain "
        "breaches at three Rotterdam warehouses' rather than 'logistics data'. Vary the "
        "layout: rows between 5 and 25, and any mix of the features below.\n\n"
        'Reply with JSON only: {"domain": str, "topics": [str, …], "recipe": {"rows": int, '
        '"grouped_header": bool, "row_groups": bool, "striped": bool, "highlights": int, '
        '"totals_row": bool, "footnote": bool, "ruled_grid": bool, "uncertainty": bool}}.'
    )


_RECIPE_FLAGS = (
    "grouped_header",
    "row_groups",
    "striped",
    "totals_row",
    "footnote",
    "ruled_grid",
    "uncertainty",
)
INSPIRATION_SCHEMA = response_schema(
    "inspiration",
    {
        "domain": {"type": "string"},
        "topics": {"type": "array", "items": {"type": "string"}},
        "recipe": strict_object(
            {"rows": {"type": "integer"}, "highlights": {"type": "integer"}}
            | {flag: {"type": "boolean"} for flag in _RECIPE_FLAGS}
        ),
    },
)


def parse_inspiration(text: str) -> tuple[str, tuple[str, ...], Recipe]:
    data = extract_json(text)
    if not isinstance(data, dict):
        raise OutputParseError("expected a JSON object with domain, topics and recipe")
    topics = [_topic_text(t) for t in data.get("topics") or []]
    if not topics or not all(topics):
        raise OutputParseError("'topics' must be a non-empty list of strings")
    given = data.get("recipe")
    recipe_data: dict[str, object] = given if isinstance(given, dict) else {}
    rows = recipe_data.get("rows")
    if isinstance(rows, (int, float)):  # 50 rows is a wish, not an error
        recipe_data = recipe_data | {"rows": min(40, max(3, int(rows)))}
    known = set(Recipe.model_fields)
    try:
        recipe = Recipe.model_validate(
            {"rows": 8} | {k: v for k, v in recipe_data.items() if k in known}
        )
    except ValidationError as error:
        raise OutputParseError(f"bad recipe: {error.errors()[0]['msg']}") from None
    return str(data.get("domain", "general")), tuple(topics), recipe


def _topic_text(topic: object) -> str:
    """A topic as a string, or as {"topic"|"title"|"name": …} as some models write it."""
    if isinstance(topic, dict):
        topic = topic.get("topic") or topic.get("title") or topic.get("name") or ""
    return str(topic).strip() if isinstance(topic, (str, int, float)) else ""


class Inspirer(RoleAgent):
    def __init__(self, name: str, persona: Persona, model: AgentModel, seed: int = 0) -> None:
        super().__init__(name, persona, model)
        self.seed = seed

    @message_handler
    async def on_inspiration_requested(
        self, message: InspirationRequested, ctx: MessageContext
    ) -> None:
        if message.inspirer != self.name:
            return
        inputs = InspirerInputs(
            inspiration_id=message.inspiration_id,
            topics_wanted=self.persona.behaviour.topics_per_offer,
        )
        try:
            domain, topics, recipe = (
                await self.ask(
                    f"inspire:{message.inspiration_id}",
                    message.inspiration_id,
                    build_prompt(
                        inputs.topics_wanted, *direction(self.seed, message.inspiration_id)
                    ),
                    inputs,
                    parse_inspiration,
                    schema=INSPIRATION_SCHEMA,
                )
            ).value
        except GaveUp as error:
            await self.emit(
                InspirationFailed(
                    inspiration_id=message.inspiration_id,
                    seq=message.seq,
                    inspirer=self.name,
                    reason=str(error),
                )
            )
            return
        await self.emit(
            InspirationOffered(
                inspiration_id=message.inspiration_id,
                seq=message.seq,
                inspirer=self.name,
                generator=message.generator,
                questioner=message.questioner,
                domain=domain,
                topics=topics,
                recipe=recipe,
                seed_latex=message.seed_latex,
            )
        )
