"""The event log: every bus message goes to events.jsonl and to the live console.

It is an autogen intervention handler, not a subscriber: it sees each message once, as it
is published, instead of being one more recipient (a delivery task) for every message.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from autogen_core import DefaultInterventionHandler, DropMessage, MessageContext

from environment.core.bus import AgentFailure, Bus
from environment.core.messages import Message, OutputRejected, RenderFailed
from environment.storage.store import RunStore

Event = dict[str, Any]


def make_event(
    number: int, elapsed: float, message: Message, sender: str, roster: dict[str, tuple[str, str]]
) -> Event:
    role, persona = roster.get(sender, ("system", sender))
    return {
        "n": number,
        "t": round(elapsed, 3),
        "kind": type(message).__name__,
        "sender": sender,
        "role": role,
        "persona": persona,
        "data": message.model_dump(mode="json"),
    }


def _as_reject(message: Message, event: Event) -> dict[str, Any] | None:
    """rejects.jsonl: every unusable reply (with what the model wrote) and failed render
    (with the LaTeX and the problem), for a user tuning prompts."""
    if isinstance(message, OutputRejected):
        return {
            "n": event["n"],
            "kind": "unusable output",
            "role": message.role,
            "agent": message.agent,
            "model": message.model,
            "subject_id": message.subject_id,
            "attempt": message.attempt,
            "reason": message.reason,
            "reply": message.reply,
        }
    if isinstance(message, RenderFailed):
        return {
            "n": event["n"],
            "kind": "failed render",
            "role": "generator",
            "agent": message.generator,
            "model": "",
            "subject_id": message.table_id,
            "attempt": message.attempt,
            "reason": message.problem.describe(),
            "reply": message.latex,
        }
    return None


class EventLog(DefaultInterventionHandler):
    def __init__(
        self,
        store: RunStore,
        roster: dict[str, tuple[str, str]],
        listeners: list[Callable[[Event], None]],
        bus: Bus,
    ) -> None:
        self.store = store
        self.roster = roster
        self.listeners = listeners
        self.bus = bus
        self.count = 0
        self._start = time.perf_counter()

    async def on_publish(
        self, message: Any, *, message_context: MessageContext
    ) -> Any | type[DropMessage]:
        if not isinstance(message, Message):
            return message
        self.count += 1
        sender = message_context.sender.type if message_context.sender is not None else "run"
        try:
            event = make_event(
                self.count, time.perf_counter() - self._start, message, sender, self.roster
            )
            self.store.append_event(event)
            reject = _as_reject(message, event)
            if reject is not None:
                self.store.append_reject(reject)
            for listener in self.listeners:
                listener(event)
        except Exception as error:
            # Neither raised nor dropped: for a publish, autogen 0.7's runtime then never marks
            # the message done and stop_when_idle() waits forever. The halted bus makes every
            # agent ignore it, and the run ends with the failure.
            self.bus.fail(AgentFailure("event-log", type(message).__name__, error))
            return message
        return message
