"""What every role shares: a persona, a model, and asking it with one re-ask on bad output."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from agents.parsing import OutputParseError
from environment.bus import BusAgent
from environment.messages import OutputRejected
from environment.models.protocol import ChatMessage, ChatModel, Inputs, ModelRequest
from environment.personas import Persona

T = TypeVar("T")
MAX_ATTEMPTS = 2


class GaveUp(Exception):
    """The model's output stayed unusable after the re-ask."""


def inputs_block(inputs: Inputs) -> str:
    """The machine-readable inputs every prompt carries (simulated models read these)."""
    return "Inputs:\n```json\n" + inputs.model_dump_json() + "\n```"


class RoleAgent(BusAgent):
    def __init__(self, name: str, persona: Persona, model: ChatModel) -> None:
        super().__init__(name, description=f"{persona.role} {persona.name}")
        self.persona = persona
        self.model = model
        self.role = persona.role

    async def ask(
        self,
        request_id: str,
        subject_id: str,
        prompt: str,
        inputs: Inputs,
        parse: Callable[[str], T],
    ) -> T:
        """Asks the model; on unparseable output re-asks once, quoting the parse error."""
        messages = [
            ChatMessage(role="system", content=self.persona.system_prompt),
            ChatMessage(role="user", content=prompt + "\n\n" + inputs_block(inputs)),
        ]
        for attempt in range(1, MAX_ATTEMPTS + 1):
            request = ModelRequest(
                agent=self.name,
                request_id=request_id,
                messages=tuple(messages),
                inputs=inputs,
                behaviour=self.persona.behaviour,
                attempt=attempt,
            )
            completion = await self.model.complete(request)
            try:
                return parse(completion.text)
            except OutputParseError as error:
                await self.emit(
                    OutputRejected(
                        agent=self.name,
                        role=self.role,
                        subject_id=subject_id,
                        attempt=attempt,
                        reason=str(error),
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
        raise GaveUp(f"output unusable after {MAX_ATTEMPTS} attempts")
