"""Every message on the bus. Named for what happened; each carries its ids and provenance.

Each message type is its own topic (`topic_of`), so an agent subscribes by naming the
message types its handlers take; the event log sees every message as it is published.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import Field

from environment.frozen import Frozen
from renderers.grid import GridCell


class Message(Frozen):
    """What travels on the bus and is written to the event log."""


class Recipe(Message):
    """A structural seed: the layout a generator should aim for."""

    rows: int = Field(ge=3, le=40)
    grouped_header: bool = False
    row_groups: bool = False
    striped: bool = False
    highlights: int = Field(default=0, ge=0)
    totals_row: bool = False
    footnote: bool = False
    ruled_grid: bool = False
    uncertainty: bool = False


class InspirationRequested(Message):
    """The director asks for inspiration number `seq`, naming who will work on it."""

    inspiration_id: str
    seq: int
    inspirer: str
    generator: str
    questioner: str
    seed_latex: str | None = None  # an accepted table of an earlier round, as inspiration


class InspirationOffered(Message):
    inspiration_id: str
    seq: int
    inspirer: str
    generator: str
    questioner: str
    domain: str
    topics: tuple[str, ...]
    recipe: Recipe
    seed_latex: str | None = None


class InspirationFailed(Message):
    inspiration_id: str
    seq: int
    inspirer: str
    reason: str


class TableProvenance(Message):
    """Which table, from which inspiration, by whom, at which attempt.

    Declared once and inherited by every message about one table, so an agent passes it on
    with `**message.provenance()` instead of copying seven fields by hand. It stays flat on
    the wire: `records.jsonl` rows and the exports' columns keep one level.
    """

    table_id: str
    inspiration_id: str
    seq: int
    topic: str
    generator: str
    questioner: str
    attempt: int = 1

    def provenance(self, **changes: Any) -> dict[str, Any]:
        """The provenance fields, to pass on to the next message, with `changes` applied."""
        carried = {name: getattr(self, name) for name in TableProvenance.model_fields}
        carried.update(changes)
        return carried


class TableDrafted(TableProvenance):
    index: int
    count: int
    latex: str


class DraftingFailed(Message):
    inspiration_id: str
    seq: int
    generator: str
    reason: str


class RenderProblem(Message):
    message: str
    line: int | None
    construct_name: str

    def describe(self) -> str:
        """The form a repair prompt quotes: `line 12: extra '&' (&)`."""
        where = f"line {self.line}: " if self.line else ""
        return f"{where}{self.message} ({self.construct_name})"


class RenderFailed(TableProvenance):
    index: int
    latex: str
    problem: RenderProblem


class TableRendered(TableProvenance):
    latex: str  # the source that rendered: what a text-reading model is shown
    image: str  # relative to the run directory
    width: int
    height: int
    grid: tuple[GridCell, ...]
    text: str
    warnings: tuple[str, ...] = ()


class TableAbandoned(Message):
    table_id: str
    inspiration_id: str
    seq: int
    generator: str
    reason: str


class OutputRejected(Message):
    """A model's output could not be parsed; the agent re-asks (visible in the console)."""

    agent: str
    role: str
    subject_id: str
    attempt: int
    reason: str
    model: str = ""
    reply: str = ""  # what the model wrote, kept in rejects.jsonl for tuning prompts


class ProposedPair(Frozen):
    """One question–answer pair as its questioner wrote it."""

    qa_id: str
    question: str
    answer: str
    reasoning: str
    kind: str


class QuestionsProposed(TableProvenance):
    """A table's question–answer pairs, in one message: jurors and the curator take a
    table's pairs together, which keeps the bus's deliveries per pair low."""

    image: str
    pairs: tuple[ProposedPair, ...]


class QuestioningFailed(Message):
    table_id: str
    inspiration_id: str
    seq: int
    questioner: str
    reason: str


class VotesRequested(Message):
    """A cascade's next stage: the curator asks `jurors` to vote on the pairs the earlier
    stages did not agree on."""

    table_id: str
    stage: int  # 2 for the first jurors after the `first`
    jurors: tuple[str, ...]
    pairs: tuple[ProposedPair, ...]


class ToolUse(Frozen):
    """One tool a juror's model called while checking a pair, and what the tool said."""

    name: str
    arguments: str  # as the model wrote them (JSON text, possibly malformed)
    result: str
    is_error: bool = False


class Vote(Message):
    juror: str
    persona: str
    model: str
    verdict: bool | None  # None: abstained
    reason: str
    tools: tuple[ToolUse, ...] = ()  # the checks behind the vote (tool-checking jurors)
    calls: int = 1  # model calls the vote took: a tool juror's rounds, a re-ask


class PairVote(Frozen):
    """A juror's vote on one pair; `model` is the one that answered (after failover)."""

    qa_id: str
    model: str
    verdict: bool | None  # None: abstained — the juror's model gave no usable vote
    reason: str
    failed_criterion: str | None = None
    tools: tuple[ToolUse, ...] = ()  # the checks behind the vote, in the order made
    calls: int = 1  # model calls the vote took: a tool juror's rounds, a re-ask


class VotesCast(Message):
    """One juror's votes on every pair of a table."""

    table_id: str
    juror: str
    persona: str
    votes: tuple[PairVote, ...]


class QARecord(TableProvenance):
    """One line of `records.jsonl`: a QA pair with every vote and the verdict."""

    qa_id: str
    image: str
    question: str
    answer: str
    reasoning: str
    kind: str
    accepted: bool
    confidence: float
    votes: tuple[Vote, ...]
    undecided: bool = False  # too few votes cast (abstentions) for a verdict: rejected
    stage: int = 1  # the jury stage that decided it (a cascade's later stages: 2, …)
    ground_truth: bool | None = None  # only in simulation: the oracle's view


class VerdictsReached(Message):
    """The curator's verdicts on a table's pairs, in question order."""

    table_id: str
    seq: int
    records: tuple[QARecord, ...]


class DuplicatesDropped(Message):
    """Near-duplicates removed before (or, for tables, at) commit: counted in the report."""

    kind: Literal["table", "question"]
    table_id: str
    count: int
    duplicate_of: str | None = None
    similarity: float | None = None


class RunStarted(Message):
    """Kick-off: the director starts issuing inspirations from `next_seq`."""

    run_id: str
    target: int
    next_seq: int = 0
    accepted_so_far: int = 0
    goal: str = "accepted QA pairs"  # what `target` counts (an eval: "graded items")


class InspirationCommitted(Message):
    """An inspiration's records are on disk (fsync'd), in inspiration order."""

    inspiration_id: str
    seq: int
    records: tuple[QARecord, ...]
    accepted_total: int


class StopReason(StrEnum):
    """Why a run ended; run.json and the events spell it as the value."""

    TARGET = "target"  # enough accepted pairs committed
    EXHAUSTED = "exhausted"  # the inspiration limit was committed first
    BUDGET = "budget"  # no call may start past the cap
    INTERRUPTED = "interrupted"  # Ctrl-C: the rest is redone on resume
    FAILED = "failed"  # an agent failed in a way the run cannot go on from
    STALLED = "stalled"  # nothing moved for scenario.stall_timeout_s: a bug, never silent


class RunStopping(Message):
    reason: StopReason
    accepted: int
    detail: str = ""  # for a stall: what the run was waiting for
    counted: str = "accepted"  # what `accepted` counts (an eval: "graded")


# "degraded": the server refused a request feature (structured output); it is left out now.
IncidentKind = Literal["retry", "failed", "benched", "restored", "degraded"]


class ModelIncident(Message):
    """Something an endpoint did that a user watching the run should see: a retried call,
    a model benched for a cool-down (or back), a call that failed for good."""

    model: str
    agent: str
    kind: IncidentKind
    detail: str


class BudgetReached(Message):
    """A call was not started: its worst case could exceed what is left of budget.usd."""

    agent: str
    detail: str


# ---------- evaluation (run.py eval): solvers answer, the pre-grader and a jury grade

SolverView = Literal["latex", "image"]


class EvalItem(Frozen):
    """One question of the dataset under evaluation, as the eval folder keeps it."""

    item_id: str  # e00000…, in dataset order
    source_id: str  # the dataset's own id (qa_id, id) or its row number
    question: str
    answer: str  # the ground truth
    latex: str = ""  # the table's source, for the text view ("" when the dataset has none)
    image: str  # relative to the eval folder
    kind: str = ""
    topic: str = ""


class ItemPosed(Message):
    item: EvalItem
    index: int


class Prediction(Frozen):
    solver: str
    persona: str
    model: str
    view: SolverView
    answer: str  # the short final answer ("" when the solver gave none)
    reasoning: str = ""
    failed: str | None = None  # why no answer came: counted wrong, never left out
    calls: int = 1

    @property
    def key(self) -> str:
        return f"{self.solver}/{self.view}"


class PredictionsMade(Message):
    item_id: str
    solver: str
    predictions: tuple[Prediction, ...]


class GradesRequested(Message):
    """The predictions of one item the pre-grader could not settle, for the graders."""

    item_id: str
    question: str
    truth: str
    predictions: tuple[Prediction, ...]


class Grade(Frozen):
    key: str  # Prediction.key
    verdict: bool | None  # None: abstained
    reason: str


class GradesCast(Message):
    item_id: str
    grader: str
    persona: str
    model: str
    grades: tuple[Grade, ...]
    calls: int = 1


class GraderVote(Frozen):
    grader: str
    persona: str
    model: str
    verdict: bool | None
    reason: str


class GradedPrediction(Prediction):
    correct: bool
    graded_by: str  # "failed", "pre:number", "pre:option", "pre:text", "pre:empty", "jury"
    votes: tuple[GraderVote, ...] = ()
    confidence: float = 1.0
    undecided: bool = False  # the jury cast too few votes: counted wrong
    oracle_correct: bool | None = None  # only in simulation: whether it really is right


class EvalRecord(Message):
    """One graded item: records.jsonl of an eval folder holds one per line."""

    item_id: str
    index: int
    source_id: str
    question: str
    answer: str
    kind: str
    topic: str
    image: str
    predictions: tuple[GradedPrediction, ...]
    grader_calls: int = 0


class ItemsCommitted(Message):
    records: tuple[EvalRecord, ...]
    graded_total: int


def topic_of(message_type: type[Message]) -> str:
    return f"modswap.{message_type.__name__}"
