"""Juror: votes on one QA pair against the reference pipeline's criteria."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from autogen_core import MessageContext, message_handler

from agents.base import GaveUp, RoleAgent
from agents.parsing import OutputParseError, extract_json
from environment.criteria import JURY_CRITERIA
from environment.messages import QAProposed, TableRendered, VoteCast
from environment.models.protocol import ChatModel, JurorInputs
from environment.personas import Persona


@dataclass(frozen=True)
class Verdict:
    accept: bool
    failed_criterion: str | None
    rationale: str


def build_prompt(inputs: JurorInputs) -> str:
    criteria = "; ".join(f"({i}) {c}" for i, c in enumerate(JURY_CRITERIA, 1))
    return (
        f"Judge this question–answer pair about the table (topic: {inputs.topic}). Criteria: "
        f"{criteria}. Question: {inputs.question}\nAnswer: {inputs.answer}\nReasoning: "
        f'{inputs.reasoning}\nReply with JSON: {{"verdict": "accept"|"reject", '
        '"failed_criterion": str|null (the first one that fails), "rationale": str}.'
    )


def parse_verdict(text: str) -> Verdict:
    data = extract_json(text)
    if not isinstance(data, dict) or "verdict" not in data:
        raise OutputParseError('expected a JSON object with "verdict"')
    raw = str(data["verdict"]).strip().lower()
    if raw in ("accept", "yes", "true", "valid", "pass"):
        accept = True
    elif raw in ("reject", "no", "false", "invalid", "fail"):
        accept = False
    else:
        raise OutputParseError(f'"verdict" must be "accept" or "reject", got {raw!r}')
    criterion = data.get("failed_criterion")
    return Verdict(
        accept,
        str(criterion) if criterion and not accept else None,
        str(data.get("rationale", "")).strip()[:500],
    )


class Juror(RoleAgent):
    def __init__(self, name: str, persona: Persona, model: ChatModel, model_name: str) -> None:
        super().__init__(name, persona, model)
        self.model_name = model_name
        self._tables: dict[str, asyncio.Future[TableRendered]] = {}

    def _table(self, table_id: str) -> asyncio.Future[TableRendered]:
        if table_id not in self._tables:
            self._tables[table_id] = asyncio.get_running_loop().create_future()
        return self._tables[table_id]

    @message_handler
    async def on_table_rendered(self, message: TableRendered, ctx: MessageContext) -> None:
        future = self._table(message.table_id)
        if not future.done():
            future.set_result(message)

    @message_handler
    async def on_qa_proposed(self, message: QAProposed, ctx: MessageContext) -> None:
        # Delivery order across topics is not guaranteed: wait for the table if need be.
        grid = (await self._table(message.table_id)).grid
        inputs = JurorInputs(
            qa_id=message.qa_id,
            table_id=message.table_id,
            topic=message.topic,
            grid=grid,
            question=message.question,
            answer=message.answer,
            reasoning=message.reasoning,
        )
        try:
            verdict = await self.ask(
                f"judge:{message.qa_id}", message.qa_id, build_prompt(inputs), inputs, parse_verdict
            )
        except GaveUp as error:
            verdict = Verdict(False, "juror output unusable", str(error))
        await self.emit(
            VoteCast(
                qa_id=message.qa_id,
                table_id=message.table_id,
                juror=self.name,
                persona=self.persona.name,
                model=self.model_name,
                verdict=verdict.accept,
                reason=verdict.rationale,
                failed_criterion=verdict.failed_criterion,
            )
        )
