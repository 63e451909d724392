"""Ground truth for simulated runs: what each simulated question really asks, and its answer.

The simulated questioner registers the spec behind every question it writes; simulated
jurors and the run summary ask the oracle whether a proposed answer is right. Questions the
oracle never saw (written by a real model) get no truth, and jurors must judge them alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from environment.core.criteria import JURY_CRITERIA
from environment.simulation.reasoning import QuestionSpec, Solution, answers_match, solve
from environment.simulation.table_reading import TableView, read_table
from renderers.grid import GridCell


@dataclass(frozen=True)
class Truth:
    valid: bool
    correct_answer: str
    failed_criterion: str | None = None


class Oracle:
    def __init__(self) -> None:
        self._specs: dict[str, dict[str, QuestionSpec]] = {}  # table → question → spec
        self._views: dict[str, TableView | None] = {}  # a table is rendered once
        # table → question → its worked answer: three jurors and the director ask alike
        self._solutions: dict[str, dict[str, Solution | None]] = {}
        # Evaluation: each item's ground truth and kind, and whether each simulated
        # prediction (item, solver/view) was meant to be right, however it is worded.
        self._answer_key: dict[str, tuple[str, str]] = {}
        self._meant_right: dict[str, dict[str, bool]] = {}  # item → prediction key → right

    def view(self, table_id: str, grid: Sequence[GridCell]) -> TableView | None:
        """The table as read from its grid, read once per table (jurors ask many times)."""
        if table_id not in self._views:
            self._views[table_id] = read_table(grid)
        return self._views[table_id]

    def register(self, table_id: str, question: str, spec: QuestionSpec) -> None:
        self._specs.setdefault(table_id, {})[question.strip()] = spec

    def spec(self, table_id: str, question: str) -> QuestionSpec | None:
        """What a question the simulated questioner wrote really asks."""
        return self._specs.get(table_id, {}).get(question.strip())

    def forget(self, table_ids: Iterable[str]) -> None:
        """The tables are committed, their truth is in the records: a long run must not
        keep every table's view and questions."""
        for table_id in table_ids:
            self._specs.pop(table_id, None)
            self._views.pop(table_id, None)
            self._solutions.pop(table_id, None)

    def remember_answer(self, item_id: str, truth: str, kind: str) -> None:
        self._answer_key[item_id] = (truth, kind)

    def answer_of(self, item_id: str) -> tuple[str, str] | None:
        """An evaluation item's ground truth and question kind."""
        return self._answer_key.get(item_id)

    def remember_prediction(self, item_id: str, key: str, right: bool) -> None:
        self._meant_right.setdefault(item_id, {})[key] = right

    def forget_item(self, item_id: str) -> None:
        """The item is graded and on disk: a long eval must not keep every answer key."""
        self._answer_key.pop(item_id, None)
        self._meant_right.pop(item_id, None)

    def prediction_right(self, item_id: str, key: str) -> bool | None:
        """Whether a simulated solver's prediction is right (None: not a simulated one)."""
        return self._meant_right.get(item_id, {}).get(key)

    def judge(
        self, table_id: str, grid: Sequence[GridCell], question: str, answer: str
    ) -> Truth | None:
        spec = self.spec(table_id, question)
        if spec is None:
            return None
        if spec.kind == "off_topic":
            return Truth(False, "", JURY_CRITERIA[4])
        solved = self._solutions.setdefault(table_id, {})
        key = question.strip()
        if key not in solved:
            view = self.view(table_id, grid)
            solved[key] = solve(spec, view) if view is not None else None
        solution = solved[key]
        if solution is None:
            return Truth(False, "", JURY_CRITERIA[2])
        if answers_match(answer, solution.answer):
            return Truth(True, solution.answer)
        return Truth(False, solution.answer, JURY_CRITERIA[3])
