"""What every role shares: a persona, a model, and asking it with one re-ask on bad output."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from agents.parsing import OutputParseError
from environment.config.personas import Persona
from environment.config.scenario import TableView
from environment.core.bus import BusAgent
from environment.core.messages import BudgetReached, OutputRejected
from environment.errors import ModelError
from environment.models.protocol import (
    BudgetExhausted,
    ChatMessage,
    ChatModel,
    Inputs,
    ModelCallFailed,
    ModelRequest,
    ResponseSchema,
)

T = TypeVar("T")
MAX_ATTEMPTS = 2


def table_block(latex: str, view: TableView) -> str:
    """How a table is put before a model: its source, the attached image, or both."""
    if view == "image":
        return "The table is the attached image."
    source = f"```latex\n{latex.strip()}\n```"
    if view == "both":
        return "The table is the attached image; its LaTeX source follows.\n" + source
    return "The table, as LaTeX source:\n" + source


class AgentModel(ChatModel, Protocol):
    def report_unusable(self, model: str) -> None: ...


class GaveUp(ModelError):
    """No usable answer: output unparseable after the re-ask, a failed call, or no budget."""

    def __init__(self, message: str, calls: int = 0, budget: bool = False) -> None:
        super().__init__(message)
        self.calls = calls  # model calls made (paid or not) before giving up
        self.budget = budget  # the budget's cap stopped it: not the model's failure


@dataclass(frozen=True)
class Answer(Generic[T]):
    value: T
    model: str  # the model that answered (another of the role's if the agent's was benched)
    calls: int = 1  # model calls it took (2 after a re-ask)


class RoleAgent(BusAgent):
    def __init__(
        self, name: str, persona: Persona, model: AgentModel, table_view: TableView = "latex"
    ) -> None:
        super().__init__(name, description=f"{persona.role} {persona.name}")
        self.persona = persona
        self.model = model
        self.role = persona.role
        self.table_view = table_view

    async def ask(
        self,
        request_id: str,
        subject_id: str,
        prompt: str,
        inputs: Inputs,
        parse: Callable[[str], T],
        table_image: str | None = None,
        schema: ResponseSchema | None = None,
    ) -> Answer[T]:
        """Asks the model; on unparseable output re-asks once, quoting the parse error.
        The table's image goes along when this agent is to see it (its table view); `schema`
        is the JSON the reply must be, for endpoints that can constrain decoding to it."""
        image = table_image if self.table_view != "latex" else None
        messages = [
            ChatMessage(role="system", content=self.persona.system_prompt),
            ChatMessage(role="user", content=prompt, image=image),
        ]
        last_model = self.model.name
        for attempt in range(1, MAX_ATTEMPTS + 1):
            request = ModelRequest(
                agent=self.name,
                request_id=request_id,
                messages=tuple(messages),
                inputs=inputs,
                behaviour=self.persona.behaviour,
                attempt=attempt,
                response_schema=schema,
            )
            try:
                completion = await self.model.complete(request)
            except ModelCallFailed as failure:
                raise GaveUp(f"model call failed: {failure}", attempt) from None
            except BudgetExhausted as exhausted:
                await self.emit(BudgetReached(agent=self.name, detail=str(exhausted)))
                raise GaveUp(str(exhausted), attempt - 1, budget=True) from None
            last_model = completion.model
            try:
                return Answer(parse(completion.text), completion.model, attempt)
            except OutputParseError as error:
                await self.emit(
                    OutputRejected(
                        agent=self.name,
                        role=self.role,
                        subject_id=subject_id,
                        attempt=attempt,
                        reason=str(error),
                        model=completion.model,
                        reply=completion.text,
                    )
                )
                messages += [
                    ChatMessage(role="assistant", content=completion.text),
                    ChatMessage(
                        role="user",
                        content=(
                            f"Your reply could not be used: {error}. Reply again with only the "
                            "requested content in the required format."
                        ),
                    ),
                ]
        self.model.report_unusable(last_model)
        raise GaveUp(f"output unusable after {MAX_ATTEMPTS} attempts", MAX_ATTEMPTS)
