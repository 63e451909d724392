"""The eval director: poses a dataset's items to the solvers under back-pressure, has the
pre-grader settle what needs no model, asks the graders about the rest, counts their votes
and commits each graded item in dataset order.

Committing in item order (a reorder buffer) makes records.jsonl depend on the scenario and
seed alone. An item is committed whole or not at all: a kill -9 or a Ctrl-C loses only work
in flight, which `--resume` asks again (a real model's answer from the response cache)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from autogen_core import MessageContext, message_handler

from environment.config.scenario import ConsensusSettings
from environment.core.bus import BusAgent
from environment.core.consensus import Ballot, decide
from environment.core.grading import pre_grade
from environment.core.messages import (
    BudgetReached,
    EvalItem,
    EvalRecord,
    GradedPrediction,
    GraderVote,
    GradesCast,
    GradesRequested,
    ItemPosed,
    ItemsCommitted,
    Prediction,
    PredictionsMade,
    RunStarted,
    RunStopping,
    StopReason,
)
from environment.simulation.oracle import Oracle
from environment.storage.store import RunStore


@dataclass
class OpenItem:
    item: EvalItem
    index: int
    predictions: dict[str, PredictionsMade] = field(default_factory=dict)  # by solver
    settled: dict[str, GradedPrediction] = field(default_factory=dict)  # by prediction key
    for_jury: tuple[Prediction, ...] = ()  # what the pre-grader left to the graders
    asked_as: dict[str, str] = field(default_factory=dict)  # key → the key graders saw
    grades: dict[str, GradesCast] = field(default_factory=dict)  # by grader
    record: EvalRecord | None = None


class EvalDirector(BusAgent):
    role = "director"

    def __init__(
        self,
        *,
        store: RunStore,
        items: list[EvalItem],
        done: set[str],
        solvers: list[str],
        graders: dict[str, str],  # name → persona
        consensus: ConsensusSettings,
        max_inflight: int,
        oracle: Oracle | None,
    ) -> None:
        super().__init__("director")
        self.store = store
        self.todo = deque((i, item) for i, item in enumerate(items) if item.item_id not in done)
        self.graded = len(items) - len(self.todo)
        self.solvers = solvers
        self.graders = graders
        self.consensus = consensus
        self.max_inflight = max_inflight
        self.oracle = oracle
        self.open: dict[str, OpenItem] = {}  # in the order posed: the oldest commits first
        self.committing = 0
        self.stop_reason: StopReason | None = None
        self.stall_detail = ""

    # ---------- posing
    @message_handler
    async def on_run_started(self, message: RunStarted, ctx: MessageContext) -> None:
        await self._pose()

    async def _pose(self) -> None:
        while self.stop_reason is None and self.todo and len(self.open) < self.max_inflight:
            index, item = self.todo.popleft()
            if self.oracle is not None:
                self.oracle.remember_answer(item.item_id, item.answer, item.kind)
            self.open[item.item_id] = OpenItem(item, index)
            await self.emit(ItemPosed(item=item, index=index))
        if self.stop_reason is None and not (self.todo or self.open or self.committing):
            self.stop_reason = StopReason.TARGET
            await self._halt()

    # ---------- grading
    @message_handler
    async def on_predictions(self, message: PredictionsMade, ctx: MessageContext) -> None:
        state = self.open.get(message.item_id)
        if state is None:
            return
        state.predictions[message.solver] = message
        if len(state.predictions) < len(self.solvers):
            return
        asked = []
        for solver in self.solvers:
            for prediction in state.predictions[solver].predictions:
                if prediction.failed is not None:
                    state.settled[prediction.key] = self._graded(state, prediction, "failed", False)
                    continue
                verdict = pre_grade(prediction.answer, state.item.answer)
                if verdict.verdict is None:
                    asked.append(prediction)
                else:
                    state.settled[prediction.key] = self._graded(
                        state, prediction, f"pre:{verdict.rule}", verdict.verdict
                    )
        # Answers written the same way are graded once: views and solvers often agree.
        shown: dict[str, Prediction] = {}
        for prediction in asked:
            same = shown.setdefault(" ".join(prediction.answer.casefold().split()), prediction)
            state.asked_as[prediction.key] = same.key
        state.for_jury = tuple(asked)
        if asked:
            await self.emit(
                GradesRequested(
                    item_id=state.item.item_id,
                    question=state.item.question,
                    truth=state.item.answer,
                    predictions=tuple(shown.values()),
                )
            )
        else:
            await self._finish(state)

    @message_handler
    async def on_grades(self, message: GradesCast, ctx: MessageContext) -> None:
        state = self.open.get(message.item_id)
        if state is None:
            return
        state.grades[message.grader] = message
        if len(state.grades) < len(self.graders):
            return
        quorum = self.consensus.quorum_of(len(self.graders))
        for prediction in state.for_jury:
            votes = []
            shown_as = state.asked_as[prediction.key]
            for grader in sorted(self.graders):
                cast = state.grades[grader]
                grade = next((g for g in cast.grades if g.key == shown_as), None)
                votes.append(
                    GraderVote(
                        grader=grader,
                        persona=cast.persona,
                        model=cast.model,
                        verdict=grade.verdict if grade is not None else None,
                        reason=grade.reason if grade is not None else "not graded",
                    )
                )
            decision = decide(
                [Ballot(v.grader, v.persona, v.verdict) for v in votes],
                self.consensus.rule,  # type: ignore[arg-type]  # the scenario allows no other
                k=self.consensus.k,
                tiebreaker=self.consensus.tiebreaker,
                quorum=quorum,
            )
            state.settled[prediction.key] = self._graded(
                state, prediction, "jury", decision.accepted
            ).model_copy(
                update={
                    "votes": tuple(votes),
                    "confidence": decision.confidence,
                    "undecided": decision.undecided,
                }
            )
        await self._finish(state)

    def _graded(
        self, state: OpenItem, prediction: Prediction, by: str, correct: bool
    ) -> GradedPrediction:
        truth = (
            self.oracle.prediction_right(state.item.item_id, prediction.key)
            if self.oracle is not None
            else None
        )
        return GradedPrediction(
            **prediction.model_dump(), correct=correct, graded_by=by, oracle_correct=truth
        )

    async def _finish(self, state: OpenItem) -> None:
        item = state.item
        order = [p.key for solver in self.solvers for p in state.predictions[solver].predictions]
        state.record = EvalRecord(
            item_id=item.item_id,
            index=state.index,
            source_id=item.source_id,
            question=item.question,
            answer=item.answer,
            kind=item.kind,
            topic=item.topic,
            image=item.image,
            predictions=tuple(state.settled[key] for key in order),
            grader_calls=sum(cast.calls for cast in state.grades.values()),
        )
        await self._commit_ready()

    # ---------- committing and stopping
    async def _commit_ready(self) -> None:
        # Each record leaves the buffer before the await: a handler running meanwhile
        # commits the next one, never the same one again.
        while self.stop_reason is None and self.open and self._oldest().record:
            record = self.open.pop(self._oldest().item.item_id).record
            assert record is not None
            self.graded += 1
            self.committing += 1  # the run may not end while a commit is on its way
            try:
                await self.store.commit([record], progress={"graded": self.graded})
            finally:
                self.committing -= 1
            if self.oracle is not None:
                self.oracle.forget_item(record.item_id)
            await self.emit(ItemsCommitted(records=(record,), graded_total=self.graded))
        await self._pose()

    def _oldest(self) -> OpenItem:
        return next(iter(self.open.values()))

    @message_handler
    async def on_budget_reached(self, message: BudgetReached, ctx: MessageContext) -> None:
        if self.stop_reason is None:
            self.stop_reason = StopReason.BUDGET
            await self._halt()

    def waiting_for(self) -> str:
        if not self.open:
            return "no item open"
        state = self._oldest()
        missing = [s for s in self.solvers if s not in state.predictions]
        if missing:
            return f"item {state.item.item_id} waits for solver(s) {', '.join(missing)}"
        waiting = [g for g in sorted(self.graders) if g not in state.grades]
        return f"item {state.item.item_id} waits for grader(s) {', '.join(waiting)}"

    async def stalled(self, seconds: float) -> None:
        if self.stop_reason is None:
            self.stop_reason = StopReason.STALLED
            self.stall_detail = f"nothing moved for {seconds:g} s; {self.waiting_for()}"
            await self._halt()

    async def interrupt(self) -> None:
        """Ctrl-C: stop posing; what is committed stays, the rest is asked again on resume."""
        if self.stop_reason is None:
            self.stop_reason = StopReason.INTERRUPTED
            assert self.bus is not None
            self.bus.halt()

    async def _halt(self) -> None:
        assert self.stop_reason is not None
        await self.emit(
            RunStopping(
                reason=self.stop_reason,
                accepted=self.graded,
                detail=self.stall_detail,
                counted="graded",
            )
        )
        assert self.bus is not None
        self.bus.halt()
