"""The event bus: autogen-core's runtime, one topic per message type, failures that surface.

autogen-core logs and swallows handler exceptions by default; here any exception in a
handler is recorded, halts the run and is raised from `Bus.run_until_done`, so a bug can
never vanish into a log line while the run quietly stalls.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable, Mapping
from typing import Any

from autogen_core import (
    AgentId,
    CancellationToken,
    InterventionHandler,
    MessageContext,
    RoutedAgent,
    SingleThreadedAgentRuntime,
    TopicId,
    TypeSubscription,
)
from autogen_core._single_threaded_agent_runtime import PublishMessageEnvelope

from environment.core.messages import Message, topic_of

RUN_SOURCE = "run"


class AgentFailure(Exception):
    """An agent's handler raised: a bug, reported with the agent and message that hit it."""

    def __init__(self, agent: str, message_type: str, error: BaseException) -> None:
        super().__init__(
            f"agent '{agent}' failed on {message_type}: {type(error).__name__}: {error}"
        )
        self.agent = agent
        self.error = error


_EVENT_LOG = logging.getLogger("autogen_core.events")
_RUNTIME_LOG = logging.getLogger("autogen_core")


class _SurfacedByTheBus(logging.Filter):
    """The bus turns a handler's exception into an AgentFailure naming agent and message;
    the runtime's own log line would print the same traceback a second time, on stderr,
    even when the run ends with one clear line (a full disk)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Error processing publish message")


logging.getLogger("autogen_core").addFilter(_SurfacedByTheBus())


class _NoTracing:
    """Stands in for autogen's TraceHelper when no tracer provider is set."""

    def trace_block(self, *args: Any, **kwargs: Any) -> contextlib.nullcontext[None]:
        return contextlib.nullcontext()


class LeanRuntime(SingleThreadedAgentRuntime):
    """autogen-core's runtime without work nobody reads.

    For every delivery it serialises the message to JSON twice — for a debug event log and
    for tracing-span attributes — and opens no-op tracing spans, even when that logger is off
    and no tracer is set: together about a third of the bus's CPU in a simulated run. Each
    publish also formats the whole message (a table's LaTeX and every cell) into a log line
    nobody reads, and draws a uuid4. We run without a tracer provider, so spans and their
    attributes are dropped; the message is serialised and formatted only when autogen's
    logs listen; message ids come from a counter. (Private hooks:
    tests/environment/core/test_bus.py fails if they vanish.)
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if kwargs.get("tracer_provider") is None:
            self._tracer_helper = _NoTracing()  # type: ignore[assignment]
        self._message_numbers = itertools.count()

    async def publish_message(
        self,
        message: Any,
        topic_id: TopicId,
        *,
        sender: AgentId | None = None,
        cancellation_token: CancellationToken | None = None,
        message_id: str | None = None,
    ) -> None:
        listening = _RUNTIME_LOG.isEnabledFor(logging.INFO) or _EVENT_LOG.isEnabledFor(logging.INFO)
        if listening or not isinstance(self._tracer_helper, _NoTracing):
            await super().publish_message(
                message,
                topic_id,
                sender=sender,
                cancellation_token=cancellation_token,
                message_id=message_id,
            )
            return
        await self._message_queue.put(
            PublishMessageEnvelope(
                message=message,
                cancellation_token=cancellation_token or CancellationToken(),
                sender=sender,
                topic_id=topic_id,
                metadata=None,
                message_id=message_id or f"m{next(self._message_numbers)}",
            )
        )

    def _try_serialize(self, message: Any) -> str:
        if _EVENT_LOG.isEnabledFor(logging.INFO):
            return super()._try_serialize(message)
        return type(message).__name__

    async def _create_otel_attributes(self, *args: Any, **kwargs: Any) -> Mapping[str, str]:
        return {}


class Bus:
    def __init__(self) -> None:
        self.interventions: list[InterventionHandler] = []
        self.runtime = LeanRuntime(
            ignore_unhandled_exceptions=False, intervention_handlers=self.interventions
        )
        self.failure: AgentFailure | None = None
        self.halted = False
        self.halt_hooks: list[Callable[[], None]] = []  # e.g. endpoints stop retrying
        self.done = asyncio.Event()
        self._started = False

    async def add(self, agent: BusAgent) -> None:
        """Registers a constructed agent and subscribes it to the message types it has
        handlers for: what an agent hears is declared once, by its handlers."""
        agent.bus = self
        await agent.register_instance(self.runtime, AgentId(agent.name, RUN_SOURCE))
        for message_type in agent.handled_messages():
            await self.runtime.add_subscription(
                TypeSubscription(topic_type=topic_of(message_type), agent_type=agent.name)
            )

    async def publish(self, message: Message) -> None:
        """Publishes from outside any agent (the run's kick-off)."""
        await self.runtime.publish_message(message, TopicId(topic_of(type(message)), RUN_SOURCE))

    def start(self) -> None:
        self.runtime.start()
        self._started = True

    def fail(self, failure: AgentFailure) -> None:
        if self.failure is None:
            self.failure = failure
        self.halt()

    def halt(self) -> None:
        """Stops new work: agents drop messages from now on; in-flight handlers finish."""
        self.halted = True
        self.done.set()
        for hook in self.halt_hooks:
            hook()

    async def run_until_done(self) -> None:
        """Waits for the director (or a failure) to end the run, then drains the bus."""
        await self.done.wait()
        self.halted = True
        if self._started:
            try:
                await self.runtime.stop_when_idle()
            except BaseException as error:  # surfaced handler exceptions
                if self.failure is None:
                    self.failure = AgentFailure("runtime", "?", error)
            self._started = False
        await self.runtime.close()
        if self.failure is not None:
            raise self.failure


class BusAgent(RoutedAgent):
    """Base of every agent and service on the bus: typed publishing, failures that surface."""

    role: str = "service"

    def __init__(self, name: str, description: str = "") -> None:
        super().__init__(description or name)
        self.name = name
        self.bus: Bus | None = None

    @classmethod
    def handled_messages(cls) -> tuple[type[Message], ...]:
        """The message types this agent's `@message_handler`s take, by name."""
        types = {t for handler in cls._discover_handlers() for t in handler.target_types}
        return tuple(sorted(types, key=lambda t: t.__name__))

    async def emit(self, message: Message) -> None:
        await self.publish_message(message, TopicId(topic_of(type(message)), RUN_SOURCE))

    async def on_message_impl(self, message: Any, ctx: MessageContext) -> Any:
        assert self.bus is not None, "agent used before Bus.add"
        if self.bus.halted:
            return None
        try:
            return await super().on_message_impl(message, ctx)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self.bus.fail(AgentFailure(self.name, type(message).__name__, error))
            raise
