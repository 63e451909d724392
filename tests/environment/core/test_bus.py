"""The bus on autogen-core's real runtime: delivery by message type, and failures that surface."""

from __future__ import annotations

import logging

import pytest
from autogen_core import MessageContext, message_handler

from environment.core.bus import AgentFailure, Bus, BusAgent
from environment.core.messages import OutputRejected, RunStopping, StopReason


class Echo(BusAgent):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.seen: list[str] = []

    @message_handler
    async def on_rejected(self, message: OutputRejected, ctx: MessageContext) -> None:
        self.seen.append(message.subject_id)
        await self.emit(RunStopping(reason=StopReason.TARGET, accepted=len(self.seen)))


class Stopper(BusAgent):
    @message_handler
    async def on_stopping(self, message: RunStopping, ctx: MessageContext) -> None:
        assert self.bus is not None
        self.bus.halt()


class Broken(BusAgent):
    @message_handler
    async def on_rejected(self, message: OutputRejected, ctx: MessageContext) -> None:
        raise ZeroDivisionError("bug in a handler")


def rejected(subject: str) -> OutputRejected:
    return OutputRejected(agent="x", role="juror", subject_id=subject, attempt=1, reason="r")


async def echo_one_message() -> Echo:
    """A bus with an echo and a stopper, run on one message to its end."""
    bus = Bus()
    echo = Echo("echo")
    await bus.add(echo)
    await bus.add(Stopper("stopper"))
    bus.start()
    await bus.publish(rejected("s1"))
    await bus.run_until_done()
    return echo


async def test_messages_reach_subscribers_and_the_run_ends() -> None:
    echo = await echo_one_message()
    assert echo.seen == ["s1"]


async def test_autogens_logs_still_see_messages_when_someone_listens(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The lean publish skips autogen's log lines only while nobody reads them."""
    with caplog.at_level(logging.INFO, logger="autogen_core"):
        echo = await echo_one_message()
    assert echo.seen == ["s1"]
    assert any("Publishing message of type OutputRejected" in r.message for r in caplog.records)


async def test_a_handler_exception_fails_the_run_loudly() -> None:
    bus = Bus()
    await bus.add(Broken("broken"))
    bus.start()
    await bus.publish(rejected("s1"))
    with pytest.raises(
        AgentFailure,
        match="agent 'broken' failed on OutputRejected: ZeroDivisionError: bug in a handler",
    ):
        await bus.run_until_done()


def test_lean_runtime_still_overrides_real_methods() -> None:
    """If autogen-core renames these private methods, our overrides would silently stop
    saving work; this makes that visible."""
    from autogen_core import SingleThreadedAgentRuntime

    from environment.core.bus import LeanRuntime

    for name in ("_try_serialize", "_create_otel_attributes", "publish_message"):
        assert callable(getattr(SingleThreadedAgentRuntime, name, None)), name
        assert getattr(LeanRuntime, name) is not getattr(SingleThreadedAgentRuntime, name)
    assert callable(SingleThreadedAgentRuntime()._message_queue.put)  # the lean publish's
    plain = SingleThreadedAgentRuntime()
    assert hasattr(plain._tracer_helper, "trace_block")
    assert not hasattr(LeanRuntime()._tracer_helper, "tracer")


def test_each_role_hears_what_its_handlers_take_and_the_pipeline_needs() -> None:
    """Subscriptions come from the handlers; this table is the pipeline's routing, so a
    handler added or lost shows up here rather than as a run that waits for ever."""
    from agents.curator import Curator
    from agents.generator import Generator
    from agents.inspirer import Inspirer
    from agents.juror import Juror
    from agents.questioner import Questioner
    from environment.core.director import Director
    from environment.core.rendering import RenderService

    heard = {
        agent.__name__: {t.__name__ for t in agent.handled_messages()}
        for agent in (Inspirer, Generator, Questioner, Juror, Curator, Director, RenderService)
    }
    assert heard == {
        "Inspirer": {"InspirationRequested"},
        "Generator": {"InspirationOffered", "RenderFailed"},
        "Questioner": {"TableRendered"},
        "Juror": {"TableRendered", "QuestionsProposed", "VotesRequested", "InspirationCommitted"},
        "Curator": {"QuestionsProposed", "VotesCast"},
        "Director": {
            "RunStarted",
            "InspirationFailed",
            "DraftingFailed",
            "TableDrafted",
            "TableRendered",
            "TableAbandoned",
            "QuestioningFailed",
            "QuestionsProposed",
            "VerdictsReached",
            "BudgetReached",
        },
        "RenderService": {"TableDrafted"},
    }
