"""Questioner: writes reasoning question–answer pairs about a rendered table."""

from __future__ import annotations

from autogen_core import MessageContext, message_handler

from agents.base import AgentModel, GaveUp, RoleAgent, TableView, table_block
from agents.parsing import OutputParseError, extract_json, response_schema, strict_object
from environment.config.personas import QUESTION_KINDS, Persona
from environment.core.dedup import drop_near_duplicate_questions
from environment.core.messages import (
    DuplicatesDropped,
    ProposedPair,
    QuestioningFailed,
    QuestionsProposed,
    TableRendered,
)
from environment.models.protocol import QuestionerInputs

QUESTIONS_SCHEMA = response_schema(
    "questions",
    {
        "questions": {
            "type": "array",
            "items": strict_object(
                {
                    "question": {"type": "string"},
                    "reasoning": {"type": "string"},
                    "answer": {"type": "string"},
                    "kind": {"type": "string", "enum": list(QUESTION_KINDS)},
                }
            ),
        }
    },
)


def build_prompt(inputs: QuestionerInputs, view: TableView = "latex") -> str:
    return (
        f"{table_block(inputs.latex, view)}\n\nTopic: {inputs.topic}\n\n"
        f"Write {inputs.questions_wanted} questions that need reasoning over this table, "
        "each answerable from the table alone — no outside knowledge, no guessing. Vary the "
        f"kinds: {', '.join(QUESTION_KINDS)}. A question must be unambiguous and have one "
        "short, checkable answer: a number (with its unit), a name, or yes/no. For each, give "
        "step-by-step reasoning that cites the cells it uses, then the final answer.\n\n"
        'Reply with JSON only: {"questions": [{"question": str, "reasoning": str, '
        f'"answer": str, "kind": one of {"|".join(QUESTION_KINDS)}}}, …]}}.'
    )


def parse_questions(text: str) -> list[dict[str, str]]:
    data = extract_json(text)
    if isinstance(data, dict):
        data = data.get("questions") or data.get("qa") or [data]
    if not isinstance(data, list) or not data:
        raise OutputParseError("expected a non-empty JSON list of question objects")
    pairs: list[dict[str, str]] = []
    for index, item in enumerate(data):
        if not isinstance(item, dict):
            raise OutputParseError(f"item {index} is not an object")
        fields = {key.strip().lower(): value for key, value in item.items()}
        found = {name: _first(fields, aliases) for name, aliases in FIELD_ALIASES.items()}
        missing = [key for key in ("question", "answer") if not found[key]]
        if missing:
            raise OutputParseError(f"item {index} lacks {', '.join(missing)}")
        kind = (found["kind"] or "lookup").lower().replace(" ", "_").replace("-", "_")
        pairs.append(found | {"kind": kind if kind in QUESTION_KINDS else "other"})
    return pairs


# The keys models use for each field, the one the prompt asks for first.
FIELD_ALIASES = {
    "question": ("question", "q"),
    "answer": ("answer", "final_answer", "short_answer", "a"),
    "reasoning": ("reasoning", "steps", "explanation", "rationale", "solution"),
    "kind": ("kind", "type", "category"),
}


def _first(fields: dict[str, object], aliases: tuple[str, ...]) -> str:
    for alias in aliases:
        value = fields.get(alias)
        if isinstance(value, list):  # reasoning as a list of steps
            value = "\n".join(str(step) for step in value)
        if value is not None and str(value).strip():
            return str(value).strip()
    return ""


class Questioner(RoleAgent):
    def __init__(
        self,
        name: str,
        persona: Persona,
        model: AgentModel,
        qa_per_table: int,
        question_similarity: float = 0.95,
        table_view: TableView = "latex",
    ) -> None:
        super().__init__(name, persona, model, table_view)
        self.qa_per_table = qa_per_table
        self.question_similarity = question_similarity

    @message_handler
    async def on_table_rendered(self, message: TableRendered, ctx: MessageContext) -> None:
        if message.questioner != self.name:
            return
        inputs = QuestionerInputs(
            table_id=message.table_id,
            topic=message.topic,
            latex=message.latex,
            grid=message.grid,
            questions_wanted=self.qa_per_table,
        )
        try:
            pairs = (
                await self.ask(
                    f"question:{message.table_id}:{message.attempt}",
                    message.table_id,
                    build_prompt(inputs, self.table_view),
                    inputs,
                    parse_questions,
                    table_image=message.image,
                    schema=QUESTIONS_SCHEMA,
                )
            ).value
        except GaveUp as error:
            await self.emit(
                QuestioningFailed(
                    table_id=message.table_id,
                    inspiration_id=message.inspiration_id,
                    seq=message.seq,
                    questioner=self.name,
                    reason=str(error),
                )
            )
            return
        kept = drop_near_duplicate_questions(
            [p["question"] for p in pairs], self.question_similarity
        )
        if len(kept) < len(pairs):  # jurors should not spend votes on the same question twice
            await self.emit(
                DuplicatesDropped(
                    kind="question", table_id=message.table_id, count=len(pairs) - len(kept)
                )
            )
        pairs = [pairs[index] for index in kept][: self.qa_per_table]
        await self.emit(
            QuestionsProposed(
                **message.provenance(questioner=self.name),
                image=message.image,
                pairs=tuple(
                    ProposedPair(
                        qa_id=f"{message.table_id}-q{index}",
                        question=pair["question"],
                        answer=pair["answer"],
                        reasoning=pair["reasoning"],
                        kind=pair["kind"],
                    )
                    for index, pair in enumerate(pairs)
                ),
            )
        )
