"""Our model seam as an AutoGen `ChatCompletionClient`, so an AgentChat agent can think with
any model of a scenario — endpoint or simulated — and keep its metering, budget, ledger,
response cache, retries and failover.

One client serves one piece of a role's work (one vote, say): it knows the role's structured
inputs, which the simulated models read, and numbers its calls so each has a request id that
is stable across runs (simulated randomness and the cache key derive from it).
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import Any, Literal

from autogen_core import CancellationToken, FunctionCall
from autogen_core.models import (
    AssistantMessage,
    ChatCompletionClient,
    CreateResult,
    FunctionExecutionResultMessage,
    LLMMessage,
    ModelCapabilities,
    ModelFamily,
    ModelInfo,
    RequestUsage,
    SystemMessage,
    UserMessage,
)
from autogen_core.tools import Tool, ToolSchema
from pydantic import BaseModel

from environment.config.personas import Behaviour
from environment.models.protocol import (
    ChatMessage,
    ChatModel,
    Completion,
    Inputs,
    ModelRequest,
    ResponseSchema,
    ToolCall,
    ToolSpec,
)


def tool_spec(tool: Tool | ToolSchema) -> ToolSpec:
    schema = tool.schema if isinstance(tool, Tool) else tool
    parameters = schema.get("parameters") or {"type": "object", "properties": {}}
    return ToolSpec(
        name=schema["name"],
        description=schema.get("description", ""),
        parameters=json.dumps(parameters, sort_keys=True, ensure_ascii=False),
    )


def seam_messages(messages: Sequence[LLMMessage], image: str | None) -> tuple[ChatMessage, ...]:
    """AgentChat's messages as ours; `image` (the rendered table) goes with the first user
    message, where a role's own prompt puts it."""
    converted: list[ChatMessage] = []
    for message in messages:
        if isinstance(message, SystemMessage):
            converted.append(ChatMessage(role="system", content=message.content))
        elif isinstance(message, UserMessage):
            parts = message.content if isinstance(message.content, list) else [message.content]
            text = "\n".join(part for part in parts if isinstance(part, str))
            first = not any(m.role == "user" for m in converted)
            converted.append(ChatMessage(role="user", content=text, image=image if first else None))
        elif isinstance(message, AssistantMessage):
            if isinstance(message.content, str):
                converted.append(ChatMessage(role="assistant", content=message.content))
            else:
                calls = tuple(
                    ToolCall(call_id=call.id, name=call.name, arguments=call.arguments)
                    for call in message.content
                )
                converted.append(
                    ChatMessage(role="assistant", content=message.thought or "", tool_calls=calls)
                )
        elif isinstance(message, FunctionExecutionResultMessage):
            converted += [
                ChatMessage(role="tool", content=result.content, tool_call_id=result.call_id)
                for result in message.content
            ]
    return tuple(converted)


class SeamClient(ChatCompletionClient):
    """One role's conversation with one model of ours, as AgentChat expects a model."""

    def __init__(
        self,
        model: ChatModel,
        *,
        agent: str,
        request_id: str,
        inputs: Inputs,
        behaviour: Behaviour,
        schema: ResponseSchema | None = None,
        image: str | None = None,
    ) -> None:
        self.model = model
        self.agent = agent
        self.request_id = request_id
        self.inputs = inputs
        self.behaviour = behaviour
        self.schema = schema
        self.image = image
        self.attempt = 1  # the role's re-ask number, which the model sees
        self._calls = 0
        self.completions: list[Completion] = []  # every call's completion, in order
        self._usage = RequestUsage(prompt_tokens=0, completion_tokens=0)
        self._last_usage = RequestUsage(prompt_tokens=0, completion_tokens=0)

    @property
    def last_model(self) -> str:
        """The model that answered last (another of the role's after failover)."""
        return self.completions[-1].model if self.completions else self.model.name

    async def create(
        self,
        messages: Sequence[LLMMessage],
        *,
        tools: Sequence[Tool | ToolSchema] = [],
        tool_choice: Tool | Literal["auto", "required", "none"] = "auto",
        json_output: bool | type[BaseModel] | None = None,
        extra_create_args: Mapping[str, Any] = {},
        cancellation_token: CancellationToken | None = None,
    ) -> CreateResult:
        offered = () if tool_choice == "none" else tuple(tool_spec(tool) for tool in tools)
        # A checker that never looks is no checker: until a tool has answered in this
        # conversation, the model must call one (small models otherwise vote unaided).
        looked = any(isinstance(message, FunctionExecutionResultMessage) for message in messages)
        self._calls += 1
        call_number = self._calls
        request = ModelRequest(
            agent=self.agent,
            # The first call keeps the role's own id, so it is the call a tool-less role makes.
            request_id=self.request_id if call_number == 1 else f"{self.request_id}#{call_number}",
            messages=seam_messages(messages, self.image),
            inputs=self.inputs,
            behaviour=self.behaviour,
            attempt=self.attempt,
            response_schema=self.schema,
            tools=offered,
            tool_choice="required" if offered and not looked else "auto",
        )
        completion = await self.model.complete(request)
        self.completions.append(completion)
        usage = RequestUsage(
            prompt_tokens=0 if completion.cached else completion.prompt_tokens,
            completion_tokens=0 if completion.cached else completion.completion_tokens,
        )
        self._last_usage = usage
        self._usage = RequestUsage(
            prompt_tokens=self._usage.prompt_tokens + usage.prompt_tokens,
            completion_tokens=self._usage.completion_tokens + usage.completion_tokens,
        )
        content: str | list[FunctionCall]
        calls = completion.tool_calls
        if calls and offered:
            content = [
                FunctionCall(id=call.call_id, name=call.name, arguments=call.arguments)
                for call in calls
            ]
            finish: Literal["stop", "length", "function_calls"] = "function_calls"
        else:  # calls a model makes when none were offered cannot be run: its text stands
            content = completion.text
            finish = "length" if completion.truncated else "stop"
        return CreateResult(
            finish_reason=finish, content=content, usage=usage, cached=completion.cached
        )

    async def create_stream(
        self,
        messages: Sequence[LLMMessage],
        *,
        tools: Sequence[Tool | ToolSchema] = [],
        tool_choice: Tool | Literal["auto", "required", "none"] = "auto",
        json_output: bool | type[BaseModel] | None = None,
        extra_create_args: Mapping[str, Any] = {},
        cancellation_token: CancellationToken | None = None,
    ) -> AsyncGenerator[str | CreateResult, None]:
        """Our seam does not stream: the whole result, once."""
        yield await self.create(
            messages, tools=tools, tool_choice=tool_choice, json_output=json_output
        )

    async def close(self) -> None:
        """The model belongs to the run, which closes it."""

    def actual_usage(self) -> RequestUsage:
        return self._last_usage

    def total_usage(self) -> RequestUsage:
        return self._usage

    def count_tokens(
        self, messages: Sequence[LLMMessage], *, tools: Sequence[Tool | ToolSchema] = []
    ) -> int:
        """About four bytes a token, as our budget's estimates count."""
        text = sum(len(str(getattr(message, "content", ""))) for message in messages)
        return text // 4 + sum(len(json.dumps(tool_spec(t).model_dump())) // 4 for t in tools)

    def remaining_tokens(
        self, messages: Sequence[LLMMessage], *, tools: Sequence[Tool | ToolSchema] = []
    ) -> int:
        """Our models enforce their own limits; AgentChat only needs a positive number."""
        return max(0, 128_000 - self.count_tokens(messages, tools=tools))

    @property
    def capabilities(self) -> ModelCapabilities:  # type: ignore[override]
        return ModelCapabilities(
            vision=self.image is not None, function_calling=True, json_output=True
        )

    @property
    def model_info(self) -> ModelInfo:
        return ModelInfo(
            vision=self.image is not None,
            function_calling=True,
            json_output=True,
            family=ModelFamily.UNKNOWN,
            structured_output=True,
            multiple_system_messages=True,
        )
