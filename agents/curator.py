"""Curator: counts the jurors' votes on a table's QA pairs and announces the verdicts.

With one stage (every rule but cascade) every juror votes on every pair and the rule decides.
In a cascade the first stage votes on every pair; a pair it does not settle — its votes not
all the same, or one abstained — goes to the next stage (VotesRequested), and so on; an
escalated pair is decided by the majority of every vote cast on it. Each record says which
stage decided it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from autogen_core import MessageContext, message_handler

from environment.core.bus import BusAgent
from environment.core.consensus import Ballot, Rule, decide, settled
from environment.core.messages import (
    PairVote,
    ProposedPair,
    QARecord,
    QuestionsProposed,
    VerdictsReached,
    Vote,
    VotesCast,
    VotesRequested,
)
from environment.core.reliability import RunningReliability


@dataclass
class _Judging:
    """One table on its way through the jury."""

    proposal: QuestionsProposed | None = None
    votes: dict[str, dict[str, PairVote]] = field(default_factory=dict)  # juror → qa_id →
    personas: dict[str, str] = field(default_factory=dict)  # juror → persona
    stage: int = 0  # index of the stage voting now
    open: set[str] = field(default_factory=set)  # qa_ids the current stage votes on
    decided: dict[str, QARecord] = field(default_factory=dict)


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
        stages: list[list[str]] | None = None,  # juror names per stage; default: one stage
        reliability: RunningReliability | None = None,  # rule weighted: earlier pairs' votes
    ) -> None:
        super().__init__(name, description="curator")
        self.jurors = sorted(jurors)
        self.rule = rule
        self.k = k
        self.tiebreaker = tiebreaker
        self.quorum = quorum
        self.stages = [sorted(stage) for stage in stages] if stages else [self.jurors]
        self._tables: dict[str, _Judging] = {}
        self.reliability = reliability

    @message_handler
    async def on_questions_proposed(self, message: QuestionsProposed, ctx: MessageContext) -> None:
        judging = self._tables.setdefault(message.table_id, _Judging())
        judging.proposal = message
        judging.open = {pair.qa_id for pair in message.pairs}
        await self._advance(message.table_id)

    @message_handler
    async def on_votes_cast(self, message: VotesCast, ctx: MessageContext) -> None:
        judging = self._tables.setdefault(message.table_id, _Judging())
        judging.votes.setdefault(message.juror, {}).update({v.qa_id: v for v in message.votes})
        judging.personas[message.juror] = message.persona
        await self._advance(message.table_id)

    async def _advance(self, table_id: str) -> None:
        judging = self._tables[table_id]
        proposal = judging.proposal
        if proposal is None:
            return
        stage = self.stages[judging.stage]
        if any(
            qa_id not in judging.votes.get(juror, {}) for juror in stage for qa_id in judging.open
        ):
            return  # this stage is still voting
        pairs = {pair.qa_id: pair for pair in proposal.pairs}
        last = judging.stage == len(self.stages) - 1
        unsettled = set()
        for qa_id in sorted(judging.open):
            ballots = self._ballots(judging, qa_id)
            if not last and not settled([b for b, _ in ballots], self._voters(judging.stage)):
                unsettled.add(qa_id)
                continue
            judging.decided[qa_id] = self._record(
                proposal, pairs[qa_id], ballots, judging, settled_early=not last
            )
        judging.open = unsettled
        if unsettled:
            judging.stage += 1
            await self.emit(
                VotesRequested(
                    table_id=table_id,
                    stage=judging.stage + 1,
                    jurors=tuple(self.stages[judging.stage]),
                    pairs=tuple(pairs[qa_id] for qa_id in sorted(unsettled)),
                )
            )
            return
        del self._tables[table_id]
        if self.reliability is not None:
            self.reliability.add(
                proposal.seq,
                {
                    qa_id: {v.juror: v.verdict for v in record.votes}
                    for qa_id, record in judging.decided.items()
                },
            )
        await self.emit(
            VerdictsReached(
                table_id=table_id,
                seq=proposal.seq,
                records=tuple(judging.decided[pair.qa_id] for pair in proposal.pairs),
            )
        )

    def _voters(self, stage: int) -> int:
        """Jurors who have voted by the end of `stage`."""
        return sum(len(self.stages[s]) for s in range(stage + 1))

    def _ballots(self, judging: _Judging, qa_id: str) -> list[tuple[Ballot, PairVote]]:
        """Every vote cast on a pair so far, in juror order (not arrival order: the record
        must not depend on timing)."""
        return [
            (
                Ballot(juror, judging.personas[juror], judging.votes[juror][qa_id].verdict),
                judging.votes[juror][qa_id],
            )
            for juror in self.jurors
            if qa_id in judging.votes.get(juror, {})
        ]

    def _record(
        self,
        proposal: QuestionsProposed,
        pair: ProposedPair,
        ballots: list[tuple[Ballot, PairVote]],
        judging: _Judging,
        settled_early: bool,
    ) -> QARecord:
        if settled_early:  # a cascade stage that agreed: its shared verdict, all it needs
            decision = decide([b for b, _ in ballots], "unanimous", quorum=len(ballots))
        else:
            decision = decide(
                [b for b, _ in ballots],
                self.rule,
                k=self.k,
                tiebreaker=self.tiebreaker,
                quorum=self.quorum,
                reliability=self.reliability.at(proposal.seq) if self.reliability else None,
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
            stage=judging.stage + 1,
            votes=tuple(
                Vote(
                    juror=ballot.juror,
                    persona=ballot.persona,
                    model=vote.model,
                    verdict=vote.verdict,
                    reason=vote.reason
                    if vote.verdict is not False or not vote.failed_criterion
                    else f"{vote.failed_criterion}: {vote.reason}",
                    tools=vote.tools,
                    calls=vote.calls,
                )
                for ballot, vote in ballots
            ),
        )
