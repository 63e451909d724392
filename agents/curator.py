"""Curator: counts every juror's votes on a table's QA pairs and announces the verdicts."""

from __future__ import annotations

from autogen_core import MessageContext, message_handler

from environment.core.bus import BusAgent
from environment.core.consensus import Ballot, Rule, decide
from environment.core.messages import (
    PairVote,
    ProposedPair,
    QARecord,
    QuestionsProposed,
    VerdictsReached,
    Vote,
    VotesCast,
)


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
        # By table, until every juror has voted on it.
        self._proposals: dict[str, QuestionsProposed] = {}
        self._votes: dict[str, dict[str, VotesCast]] = {}

    @message_handler
    async def on_questions_proposed(self, message: QuestionsProposed, ctx: MessageContext) -> None:
        self._proposals[message.table_id] = message
        await self._maybe_decide(message.table_id)

    @message_handler
    async def on_votes_cast(self, message: VotesCast, ctx: MessageContext) -> None:
        self._votes.setdefault(message.table_id, {})[message.juror] = message
        await self._maybe_decide(message.table_id)

    async def _maybe_decide(self, table_id: str) -> None:
        proposal = self._proposals.get(table_id)
        cast = self._votes.get(table_id, {})
        if proposal is None or set(cast) != set(self.jurors):
            return
        del self._proposals[table_id], self._votes[table_id]
        # Votes in juror order, not arrival order: the record must not depend on timing.
        by_juror = [
            (cast[juror], {vote.qa_id: vote for vote in cast[juror].votes}) for juror in self.jurors
        ]
        records = tuple(
            self._record(proposal, pair, [(c, votes[pair.qa_id]) for c, votes in by_juror])
            for pair in proposal.pairs
        )
        await self.emit(VerdictsReached(table_id=table_id, seq=proposal.seq, records=records))

    def _record(
        self,
        proposal: QuestionsProposed,
        pair: ProposedPair,
        votes: list[tuple[VotesCast, PairVote]],
    ) -> QARecord:
        decision = decide(
            [Ballot(cast.juror, cast.persona, vote.verdict) for cast, vote in votes],
            self.rule,
            k=self.k,
            tiebreaker=self.tiebreaker,
            quorum=self.quorum,
        )
        return QARecord(
            **proposal.provenance(),
            qa_id=pair.qa_id,
            image=proposal.image,
            question=pair.question,
            answer=pair.answer,
            reasoning=pair.reasoning,
            kind=pair.kind,
            accepted=decision.accepted,
            confidence=decision.confidence,
            undecided=decision.undecided,
            votes=tuple(
                Vote(
                    juror=cast.juror,
                    persona=cast.persona,
                    model=vote.model,
                    verdict=vote.verdict,
                    reason=vote.reason
                    if vote.verdict is not False or not vote.failed_criterion
                    else f"{vote.failed_criterion}: {vote.reason}",
                )
                for cast, vote in votes
            ),
        )
