"""The event log: every bus message goes to events.jsonl and to the live console.

It is an autogen intervention handler, not a subscriber: it sees each message once, as it
is published, instead of being one more recipient (a delivery task) for every message.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from autogen_core import DefaultInterventionHandler, DropMessage, MessageContext

from environment.bus import AgentFailure, Bus
from environment.messages import Message
from environment.store import RunStore

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
            for listener in self.listeners:
                listener(event)
        except Exception as error:
            # Neither raised nor dropped: for a publish, autogen 0.7's runtime then never marks
            # the message done and stop_when_idle() waits forever. The halted bus makes every
            # agent ignore it, and the run ends with the failure.
            self.bus.fail(AgentFailure("event-log", type(message).__name__, error))
            return message
        return message
