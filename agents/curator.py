"""Curator: counts every juror's vote on a QA pair and announces the verdict."""

from __future__ import annotations

from autogen_core import MessageContext, message_handler

from environment.core.bus import BusAgent
from environment.core.consensus import Ballot, Rule, decide
from environment.core.messages import QAProposed, QARecord, VerdictReached, Vote, VoteCast


class Curator(BusAgent):
    role = "curator"

    def __init__(
        self,
        name: str,
        jurors: list[str],
        rule: Rule,
        k: int | None,
        tiebreaker: str | None,
        quorum: int,  # the scenario's consensus.quorum_of(jury size)
    ) -> None:
        super().__init__(name, description="curator")
        self.jurors = sorted(jurors)
        self.rule = rule
        self.k = k
        self.tiebreaker = tiebreaker
        self.quorum = quorum
        self._proposals: dict[str, QAProposed] = {}
        self._votes: dict[str, dict[str, VoteCast]] = {}

    @message_handler
    async def on_qa_proposed(self, message: QAProposed, ctx: MessageContext) -> None:
        self._proposals[message.qa_id] = message
        await self._maybe_decide(message.qa_id)

    @message_handler
    async def on_vote_cast(self, message: VoteCast, ctx: MessageContext) -> None:
        self._votes.setdefault(message.qa_id, {})[message.juror] = message
        await self._maybe_decide(message.qa_id)

    async def _maybe_decide(self, qa_id: str) -> None:
        proposal = self._proposals.get(qa_id)
        votes = self._votes.get(qa_id, {})
        if proposal is None or set(votes) != set(self.jurors):
            return
        # Votes in juror order, not arrival order: the record must not depend on timing.
        ordered = [votes[juror] for juror in self.jurors]
        decision = decide(
            [Ballot(v.juror, v.persona, v.verdict) for v in ordered],
            self.rule,
            k=self.k,
            tiebreaker=self.tiebreaker,
            quorum=self.quorum,
        )
        del self._proposals[qa_id], self._votes[qa_id]
        record = QARecord(
            **proposal.provenance(),
            qa_id=qa_id,
            image=proposal.image,
            question=proposal.question,
            answer=proposal.answer,
            reasoning=proposal.reasoning,
            kind=proposal.kind,
            accepted=decision.accepted,
            confidence=decision.confidence,
            undecided=decision.undecided,
            votes=tuple(
                Vote(
                    juror=v.juror,
                    persona=v.persona,
                    model=v.model,
                    verdict=v.verdict,
                    reason=v.reason
                    if v.verdict is not False or not v.failed_criterion
                    else f"{v.failed_criterion}: {v.reason}",
                )
                for v in ordered
            ),
        )
        await self.emit(VerdictReached(record=record))
