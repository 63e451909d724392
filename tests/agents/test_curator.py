"""The curator on the real bus, with jurors that vote as scripted: one stage, and a cascade
that asks its later jurors only about the pairs its first ones did not settle."""

from __future__ import annotations

from autogen_core import MessageContext, message_handler

from agents.curator import Curator
from environment.core.bus import Bus, BusAgent
from environment.core.messages import (
    PairVote,
    ProposedPair,
    QuestionsProposed,
    VerdictsReached,
    VotesCast,
    VotesRequested,
)

# Each juror's vote per question: True accept, False reject, None abstain.
SCRIPT: dict[str, dict[str, bool | None]] = {
    "a": {"q0": True, "q1": True, "q2": None, "q3": False},
    "b": {"q0": True, "q1": False, "q2": True, "q3": False},
    "c": {"q0": False, "q1": False, "q2": True, "q3": True},
    "d": {"q0": False, "q1": False, "q2": False, "q3": True},
}


class ScriptedJuror(BusAgent):
    def __init__(self, name: str, first_stage: bool) -> None:
        super().__init__(name)
        self.first_stage = first_stage
        self.asked: list[list[str]] = []

    @message_handler
    async def on_questions(self, message: QuestionsProposed, ctx: MessageContext) -> None:
        if self.first_stage:
            await self._vote(message.table_id, message.pairs)

    @message_handler
    async def on_request(self, message: VotesRequested, ctx: MessageContext) -> None:
        if self.name in message.jurors:
            await self._vote(message.table_id, message.pairs)

    async def _vote(self, table_id: str, pairs: tuple[ProposedPair, ...]) -> None:
        self.asked.append([pair.qa_id for pair in pairs])
        votes = tuple(
            PairVote(qa_id=p.qa_id, model="m", verdict=SCRIPT[self.name][p.qa_id], reason="r")
            for p in pairs
        )
        cast = VotesCast(table_id=table_id, juror=self.name, persona=self.name, votes=votes)
        await self.emit(cast)


class Watcher(BusAgent):
    def __init__(self) -> None:
        super().__init__("watcher")
        self.requests: list[VotesRequested] = []
        self.verdicts: list[VerdictsReached] = []

    @message_handler
    async def on_request(self, message: VotesRequested, ctx: MessageContext) -> None:
        self.requests.append(message)

    @message_handler
    async def on_verdicts(self, message: VerdictsReached, ctx: MessageContext) -> None:
        self.verdicts.append(message)
        assert self.bus is not None
        self.bus.halt()


def proposal() -> QuestionsProposed:
    return QuestionsProposed(
        table_id="i00000-t0",
        inspiration_id="i00000",
        seq=0,
        topic="t",
        generator="g",
        questioner="q",
        image="images/i00000-t0.png",
        pairs=tuple(
            ProposedPair(qa_id=qa, question=f"{qa}?", answer="1", reasoning="", kind="lookup")
            for qa in ("q0", "q1", "q2", "q3")
        ),
    )


async def judge(stages: list[list[str]]) -> tuple[Watcher, dict[str, ScriptedJuror]]:
    bus = Bus()
    jurors = {name: ScriptedJuror(name, name in stages[0]) for name in SCRIPT}
    for juror in jurors.values():
        await bus.add(juror)
    watcher = Watcher()
    await bus.add(watcher)
    await bus.add(Curator("curator", list(SCRIPT), "majority", None, None, 3, stages))
    bus.start()
    await bus.publish(proposal())
    await bus.run_until_done()
    return watcher, jurors


async def test_a_cascade_asks_its_later_jurors_only_what_the_first_did_not_settle() -> None:
    watcher, jurors = await judge([["a", "b"], ["c", "d"]])
    assert [r.pairs for r in watcher.requests] == [tuple(proposal().pairs[1:3])]
    assert watcher.requests[0].jurors == ("c", "d") and watcher.requests[0].stage == 2
    assert jurors["c"].asked == [["q1", "q2"]] and jurors["d"].asked == [["q1", "q2"]]
    (verdicts,) = watcher.verdicts
    records = {r.qa_id: r for r in verdicts.records}
    assert [r.qa_id for r in verdicts.records] == ["q0", "q1", "q2", "q3"]
    assert {qa: r.stage for qa, r in records.items()} == {"q0": 1, "q1": 2, "q2": 2, "q3": 1}
    # q0 and q3: a and b agree, and that is the verdict; q1: 1 yes of 4 → rejected;
    # q2: a abstained, so it went on: b, c yes, d no → accepted 2 to 1.
    assert {qa: r.accepted for qa, r in records.items()} == {
        "q0": True,
        "q1": False,
        "q2": True,
        "q3": False,
    }
    assert [v.juror for v in records["q0"].votes] == ["a", "b"]
    assert [v.juror for v in records["q2"].votes] == ["a", "b", "c", "d"]
    assert records["q2"].confidence == round(2 / 3, 4) and not records["q2"].undecided


async def test_one_stage_hears_every_juror_on_every_pair() -> None:
    watcher, jurors = await judge([["a", "b", "c", "d"]])
    assert watcher.requests == []
    assert all(juror.asked == [["q0", "q1", "q2", "q3"]] for juror in jurors.values())
    (verdicts,) = watcher.verdicts
    assert all(r.stage == 1 and len(r.votes) == 4 for r in verdicts.records)
    # q0: 2 to 2, no tiebreaker → rejected; q2: 2 yes, 1 no, 1 abstained → accepted.
    assert [r.accepted for r in verdicts.records] == [False, False, True, False]
