"""The event tap: every bus message goes to events.jsonl and to the live console."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from autogen_core import MessageContext

from environment.bus import AgentFailure, BusAgent
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


class EventTap(BusAgent):
    observer = True

    def __init__(
        self,
        store: RunStore,
        roster: dict[str, tuple[str, str]],
        listeners: list[Callable[[Event], None]],
        name: str = "event-log",
    ) -> None:
        super().__init__(name, description="writes every message to events.jsonl")
        self.store = store
        self.roster = roster
        self.listeners = listeners
        self.count = 0
        self._start = time.perf_counter()

    async def on_message_impl(self, message: Any, ctx: MessageContext) -> Any:
        if not isinstance(message, Message):
            return None
        self.count += 1
        sender = ctx.sender.type if ctx.sender is not None else "run"
        try:
            event = make_event(
                self.count, time.perf_counter() - self._start, message, sender, self.roster
            )
            self.store.append_event(event)
            for listener in self.listeners:
                listener(event)
        except Exception as error:
            assert self.bus is not None
            self.bus.fail(AgentFailure(self.name, type(message).__name__, error))
            raise
        return None
