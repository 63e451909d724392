"""Juror: votes on each QA pair of a table against the reference pipeline's criteria."""

from __future__ import annotations

import asyncio
import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.messages import TextMessage, ToolCallExecutionEvent, ToolCallRequestEvent
from autogen_core import CancellationToken, FunctionCall, MessageContext, message_handler

from agents.base import MAX_ATTEMPTS, AgentModel, GaveUp, RoleAgent, TableView, table_block
from agents.grid_tools import as_agent_tools
from agents.parsing import OutputParseError, extract_json, response_schema
from environment.config.personas import Persona
from environment.core.criteria import JURY_CRITERIA
from environment.core.messages import (
    BudgetReached,
    InspirationCommitted,
    OutputRejected,
    PairVote,
    ProposedPair,
    QuestionsProposed,
    TableRendered,
    ToolUse,
    VotesCast,
    VotesRequested,
)
from environment.models.autogen_client import SeamClient
from environment.models.protocol import BudgetExhausted, JurorInputs, ModelCallFailed


@dataclass(frozen=True)
class Verdict:
    accept: bool | None
    failed_criterion: str | None
    rationale: str


VERDICT_SCHEMA = response_schema(
    "verdict",
    {
        # "abstain" is what parse_verdict reads as no vote; the prompt does not offer it.
        "verdict": {"type": "string", "enum": ["accept", "reject", "abstain"]},
        "failed_criterion": {"type": ["integer", "null"]},
        "rationale": {"type": "string"},
    },
)


VERDICT_FORMAT = (
    'Reply with JSON only: {"verdict": "accept" or "reject", "failed_criterion": null or '
    'the number of the first failed criterion, "rationale": one or two sentences}.'
)


def build_prompt(inputs: JurorInputs, view: TableView = "latex", tools: bool = False) -> str:
    """The judging prompt; with `tools`, the model is told to look the figures up with
    them first and to give its verdict only after their results."""
    criteria = "\n".join(f"{i}. {c}" for i, c in enumerate(JURY_CRITERIA, 1))
    check = (
        "recompute every figure with the tools: look up the cells the answer depends on "
        "and compute with them"
        if tools
        else "recompute any figure from the table yourself"
    )
    # With tools the verdict's format goes in the system message (see _vote_with_tools):
    # a small model whose prompt ends in "reply with JSON only" replies so, tools unused.
    # Measured on Qwen2.5-Coder-1.5B: ending on this sentence, 4 of 5 first replies called
    # a tool; adding "give your verdict once the results are in", 0 of 5 did.
    close = (
        "Start by calling a tool to read the cells the answer depends on."
        if tools
        else VERDICT_FORMAT
    )
    return (
        f"{table_block(inputs.latex, view)}\n\nTopic: {inputs.topic}\n\n"
        "Judge the question–answer pair below about this table. Check the criteria in order "
        f"and stop at the first that fails; {check}.\n"
        f"{criteria}\n\n"
        f"Question: {inputs.question}\nAnswer: {inputs.answer}\n"
        f"Reasoning given: {inputs.reasoning or '(none)'}\n\n{close}"
    )


def _criterion(raw: object) -> str | None:
    """A criterion named by number ("4", 4, "(4) …") or by (close to) its words."""
    text = str(raw).strip().lower()
    number = re.match(r"\(?(\d+)", text)
    if number and 1 <= int(number.group(1)) <= len(JURY_CRITERIA):
        return JURY_CRITERIA[int(number.group(1)) - 1]
    close = difflib.get_close_matches(text, JURY_CRITERIA, n=1, cutoff=0.5)
    return close[0] if close else (str(raw).strip()[:120] or None)


def parse_verdict(text: str) -> Verdict:
    data = extract_json(text)
    if not isinstance(data, dict) or "verdict" not in data:
        raise OutputParseError('expected a JSON object with "verdict"')
    raw = str(data["verdict"]).strip().strip(".!\"' ").lower()
    if raw in ("abstain", "abstained", "undecided", "cannot judge"):  # no vote, not a "no"
        return Verdict(None, None, f"abstained: {str(data.get('rationale', '')).strip()[:480]}")
    if raw in ("accept", "accepted", "yes", "true", "valid", "pass", "passed", "correct"):
        accept = True
    elif raw in ("reject", "rejected", "no", "false", "invalid", "fail", "failed", "incorrect"):
        accept = False
    else:
        raise OutputParseError(f'"verdict" must be "accept" or "reject", got {raw!r}')
    criterion = data.get("failed_criterion")
    return Verdict(
        accept,
        _criterion(criterion) if criterion and not accept else None,
        str(data.get("rationale", "")).strip()[:500],
    )


class Juror(RoleAgent):
    def __init__(
        self,
        name: str,
        persona: Persona,
        model: AgentModel,
        table_view: TableView = "latex",
        first_stage: bool = True,
    ) -> None:
        super().__init__(name, persona, model, table_view)
        # A cascade's later jurors vote only when the curator asks (VotesRequested).
        self.first_stage = first_stage
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
    async def on_inspiration_committed(
        self, message: InspirationCommitted, ctx: MessageContext
    ) -> None:
        """Its tables are voted on and on disk: a juror need not hold them any longer."""
        prefix = f"{message.inspiration_id}-"
        for table_id in [t for t in self._tables if t.startswith(prefix)]:
            del self._tables[table_id]

    @message_handler
    async def on_questions_proposed(self, message: QuestionsProposed, ctx: MessageContext) -> None:
        if self.first_stage:
            await self._vote_on(message.table_id, message.pairs)

    @message_handler
    async def on_votes_requested(self, message: VotesRequested, ctx: MessageContext) -> None:
        if self.name in message.jurors:
            await self._vote_on(message.table_id, message.pairs)

    async def _vote_on(self, table_id: str, pairs: tuple[ProposedPair, ...]) -> None:
        # Delivery order across topics is not guaranteed: wait for the table if need be.
        table = await self._table(table_id)
        # Each pair is its own call, all at once, as if each had come in its own message;
        # the votes travel back together.
        votes = await asyncio.gather(*(self._vote(table, pair) for pair in pairs))
        await self.emit(
            VotesCast(
                table_id=table_id, juror=self.name, persona=self.persona.name, votes=tuple(votes)
            )
        )

    async def _vote(self, table: TableRendered, pair: ProposedPair) -> PairVote:
        inputs = JurorInputs(
            qa_id=pair.qa_id,
            table_id=table.table_id,
            topic=table.topic,
            latex=table.latex,
            grid=table.grid,
            question=pair.question,
            answer=pair.answer,
            reasoning=pair.reasoning,
        )
        if self.persona.tool_rounds:
            return await self._vote_with_tools(table, pair, inputs)
        model = self.model.name
        try:
            answer = await self.ask(
                f"judge:{pair.qa_id}",
                pair.qa_id,
                build_prompt(inputs, self.table_view),
                inputs,
                parse_verdict,
                table_image=table.image,
                schema=VERDICT_SCHEMA,
            )
            verdict, model, calls = answer.value, answer.model, answer.calls
        except GaveUp as error:  # no vote is not a "no": abstain
            verdict, calls = Verdict(None, None, f"abstained: {error}"), error.calls
        return PairVote(
            qa_id=pair.qa_id,
            model=model,
            verdict=verdict.accept,
            reason=verdict.rationale,
            failed_criterion=verdict.failed_criterion,
            calls=calls,
        )

    async def _vote_with_tools(
        self, table: TableRendered, pair: ProposedPair, inputs: JurorInputs
    ) -> PairVote:
        """The vote of an AgentChat assistant that checks the pair with the grid tools for
        up to `tool_rounds` rounds, then votes (one re-ask on an unusable vote, as in `ask`).
        Every call goes through this juror's model: metering, cache and failover hold."""
        client = SeamClient(
            self.model,
            agent=self.name,
            request_id=f"judge:{pair.qa_id}",
            inputs=inputs,
            behaviour=self.persona.behaviour,
            schema=VERDICT_SCHEMA,
            image=table.image if self.table_view != "latex" else None,
        )
        assistant = AssistantAgent(
            re.sub(r"\W", "_", self.name),
            model_client=client,
            tools=as_agent_tools(table.grid),
            system_message=f"{self.persona.system_prompt} When you are done checking: "
            + VERDICT_FORMAT,
            reflect_on_tool_use=True,
            max_tool_iterations=self.persona.tool_rounds,
        )
        prompt = build_prompt(inputs, self.table_view, tools=True)
        uses: list[ToolUse] = []
        verdict = Verdict(None, None, "abstained: no usable vote")
        for attempt in range(1, MAX_ATTEMPTS + 1):
            client.attempt = attempt
            try:
                response = await assistant.on_messages(
                    [TextMessage(content=prompt, source="curator")], CancellationToken()
                )
            except ModelCallFailed as failure:
                verdict = Verdict(None, None, f"abstained: model call failed: {failure}")
                break
            except BudgetExhausted as exhausted:
                await self.emit(BudgetReached(agent=self.name, detail=str(exhausted)))
                verdict = Verdict(None, None, f"abstained: {exhausted}")
                break
            uses += tool_uses(response.inner_messages or [])
            text = response.chat_message.to_text() if response.chat_message else ""
            try:
                verdict = parse_verdict(text)
                break
            except OutputParseError as error:
                await self.emit(
                    OutputRejected(
                        agent=self.name,
                        role=self.role,
                        subject_id=pair.qa_id,
                        attempt=attempt,
                        reason=str(error),
                        model=client.last_model,
                        reply=text,
                    )
                )
                prompt = (
                    f"Your reply could not be used: {error}. Reply again with only the "
                    "requested JSON verdict."
                )
        else:
            self.model.report_unusable(client.last_model)
            verdict = Verdict(
                None, None, f"abstained: output unusable after {MAX_ATTEMPTS} attempts"
            )
        return PairVote(
            qa_id=pair.qa_id,
            model=client.last_model,
            verdict=verdict.accept,
            reason=verdict.rationale,
            failed_criterion=verdict.failed_criterion,
            tools=tuple(uses),
            calls=len(client.completions),
        )


def tool_uses(events: Sequence[object]) -> list[ToolUse]:
    """The tool calls an AgentChat run made and what each returned, paired by call id."""
    calls: dict[str, FunctionCall] = {}
    uses: list[ToolUse] = []
    for event in events:
        if isinstance(event, ToolCallRequestEvent):
            calls.update((call.id, call) for call in event.content)
        elif isinstance(event, ToolCallExecutionEvent):
            for result in event.content:
                call = calls.get(result.call_id)
                uses.append(
                    ToolUse(
                        name=call.name if call else result.name,
                        arguments=call.arguments if call else "",
                        result=result.content,  # bounded: the tools list at most 60 rows
                        is_error=bool(result.is_error),
                    )
                )
    return uses
