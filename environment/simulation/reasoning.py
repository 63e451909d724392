"""Reasoning questions about a table: structured specs, their text, and their worked answers.

The simulated questioner draws specs and writes them up; the oracle solves the same spec
on the same grid to know the true answer, so jurors can be scored against it.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

from environment.simulation.table_reading import Row, TableView, parse_number


@dataclass(frozen=True)
class QuestionSpec:
    kind: str
    column: int = -1
    column2: int = -1
    first: str = ""
    second: str = ""
    threshold: float = 0.0
    direction: str = "highest"
    group: str = ""
    operation: str = "sum"
    template: int = 0


@dataclass
class Solution:
    question: str
    answer: str
    steps: list[str] = field(default_factory=list)


def _decimals(texts: list[str]) -> int:
    best = 0
    for text in texts:
        match = re.search(r"\d\.(\d+)", text.replace(",", ""))
        if match:
            best = max(best, len(match.group(1)))
    return best


def fmt(value: float, decimals: int) -> str:
    if decimals <= 0:
        return f"{round(value):,}" if abs(value) >= 10000 else str(round(value))
    text = f"{value:,.{decimals}f}" if abs(value) >= 10000 else f"{value:.{decimals}f}"
    return text


def _row(view: TableView, label: str) -> Row | None:
    return next((row for row in view.rows if row.label == label), None)


def _column_name(view: TableView, column: int) -> str:
    return view.columns[column] or f"column {column + 1}"


def _values(
    view: TableView, column: int, rows: list[Row] | None = None
) -> list[tuple[Row, float, str]]:
    found = []
    for row in rows if rows is not None else view.rows:
        text = row.values.get(column, "")
        number = parse_number(text)
        if number is not None:
            found.append((row, number, text))
    return found


def solve(spec: QuestionSpec, view: TableView) -> Solution | None:
    """The question text and its correct, worked answer; None if the spec does not apply."""
    entity = view.entity_name.lower()
    if spec.kind == "off_topic":
        return Solution(
            question=spec.first,
            answer=spec.second,
            steps=["Recall the figure from general knowledge."],
        )
    col = _column_name(view, spec.column) if spec.column >= 0 else ""
    if spec.kind == "lookup":
        row = _row(view, spec.first)
        if row is None or spec.column not in row.values:
            return None
        value = row.values[spec.column]
        question = (
            f"What is the {col} of {spec.first}?",
            f"According to the table, what {col} is reported for {spec.first}?",
        )[spec.template % 2]
        return Solution(
            question, value, [f"Find the row for {spec.first}.", f"Read its {col} cell: {value}."]
        )
    if spec.kind in ("comparison", "difference", "percentage"):
        a, b = _row(view, spec.first), _row(view, spec.second)
        if a is None or b is None:
            return None
        va, vb = view.number(a, spec.column), view.number(b, spec.column)
        if va is None or vb is None or va == vb:
            return None
        decimals = _decimals([a.values[spec.column], b.values[spec.column]])
        steps = [
            f"{spec.first}: {col} = {a.values[spec.column]}.",
            f"{spec.second}: {col} = {b.values[spec.column]}.",
        ]
        if spec.kind == "comparison":
            winner = spec.first if (va > vb) == (spec.direction == "highest") else spec.second
            word = "higher" if spec.direction == "highest" else "lower"
            steps.append(f"The {word} of the two is {winner}'s.")
            return Solution(
                f"Which has the {word} {col}: {spec.first} or {spec.second}?", winner, steps
            )
        if spec.kind == "difference":
            steps.append(
                f"Difference: {fmt(va, decimals)} − {fmt(vb, decimals)} = {fmt(va - vb, decimals)}."
            )
            return Solution(
                f"What is the difference in {col} between {spec.first} and "
                f"{spec.second} ({spec.first} minus {spec.second})?",
                fmt(va - vb, decimals),
                steps,
            )
        if vb <= 0:
            return None
        change = (va - vb) / vb * 100
        steps.append(
            f"Relative change: ({fmt(va, decimals)} − {fmt(vb, decimals)}) / "
            f"{fmt(vb, decimals)} × 100 = {change:.1f}%."
        )
        return Solution(
            f"By what percentage is the {col} of {spec.first} higher or lower than "
            f"that of {spec.second}? Give a signed percentage.",
            f"{change:+.1f}%",
            steps,
        )
    if spec.kind == "aggregate":
        values = _values(view, spec.column)
        if len(values) < 2:
            return None
        decimals = _decimals([text for _, _, text in values])
        total = sum(number for _, number, _ in values)
        listing = " + ".join(text for _, _, text in values)
        if spec.operation == "sum":
            return Solution(
                f"What is the total {col} over all {entity} rows, excluding any summary rows?",
                fmt(total, decimals),
                [f"Add the {len(values)} values: {listing}.", f"Sum = {fmt(total, decimals)}."],
            )
        mean = total / len(values)
        return Solution(
            f"What is the average {col} across the {len(values)} {entity} rows "
            "(excluding summary rows), to two decimal places?",
            f"{mean:.2f}",
            [
                f"Sum of {len(values)} values: {listing} = {fmt(total, decimals)}.",
                f"Mean = {fmt(total, decimals)} / {len(values)} = {mean:.2f}.",
            ],
        )
    if spec.kind == "ranking":
        values = _values(view, spec.column)
        if len(values) < 3:
            return None
        ordered = sorted(values, key=lambda item: item[1], reverse=spec.direction == "highest")
        if ordered[0][1] == ordered[1][1]:
            return None
        word = "highest" if spec.direction == "highest" else "lowest"
        return Solution(
            f"Which {entity} has the {word} {col}?",
            ordered[0][0].label,
            [
                f"Compare the {len(values)} values of {col}.",
                f"The {word} is {ordered[0][2]} ({ordered[0][0].label}); next is "
                f"{ordered[1][2]} ({ordered[1][0].label}).",
            ],
        )
    if spec.kind == "conditional_count":
        values = _values(view, spec.column)
        if len(values) < 3:
            return None
        decimals = _decimals([text for _, _, text in values])
        matching = [row.label for row, number, _ in values if number > spec.threshold]
        return Solution(
            f"How many {entity} rows have a {col} greater than {fmt(spec.threshold, decimals)}?",
            str(len(matching)),
            [
                f"Check each {col} value against {fmt(spec.threshold, decimals)}.",
                f"Above it: {', '.join(matching) if matching else 'none'}.",
                f"Count = {len(matching)}.",
            ],
        )
    if spec.kind == "multi_hop":
        values = _values(view, spec.column)
        if len(values) < 3 or spec.column2 not in view.numeric_columns + view.categorical_columns:
            return None
        ordered = sorted(values, key=lambda item: item[1], reverse=spec.direction == "highest")
        if ordered[0][1] == ordered[1][1]:
            return None
        target = ordered[0][0]
        col2 = _column_name(view, spec.column2)
        answer = target.values.get(spec.column2, "")
        if not answer:
            return None
        word = "highest" if spec.direction == "highest" else "lowest"
        return Solution(
            f"What is the {col2} of the {entity} with the {word} {col}?",
            answer,
            [
                f"The {word} {col} is {ordered[0][2]}, in the row of {target.label}.",
                f"In that row, {col2} is {answer}.",
            ],
        )
    if spec.kind == "structural":
        return _structural(spec, view, col, entity)
    return None


def _structural(spec: QuestionSpec, view: TableView, col: str, entity: str) -> Solution | None:
    if spec.operation == "highlighted":
        rows = [row for row in view.rows if row.highlighted]
        values = _values(view, spec.column, rows)
        if len(values) < 2:
            return None
        ordered = sorted(values, key=lambda item: item[1], reverse=True)
        if ordered[0][1] == ordered[1][1]:
            return None
        return Solution(
            f"Among the highlighted rows, which {entity} has the largest {col}?",
            ordered[0][0].label,
            [
                f"Highlighted rows: {', '.join(row.label for row, _, _ in values)}.",
                f"Their {col} values: {', '.join(text for _, _, text in values)}.",
                f"The largest is {ordered[0][2]} ({ordered[0][0].label}).",
            ],
        )
    if spec.operation == "group":
        rows = [row for row in view.rows if row.group == spec.group]
        values = _values(view, spec.column, rows)
        if len(values) < 2:
            return None
        decimals = _decimals([text for _, _, text in values])
        total = sum(number for _, number, _ in values)
        return Solution(
            f"In the group spanning the rows labelled '{spec.group}', what is the total {col}?",
            fmt(total, decimals),
            [
                f"The '{spec.group}' group covers {', '.join(row.label for row, _, _ in values)}.",
                f"Sum of {col}: {' + '.join(text for _, _, text in values)} = "
                f"{fmt(total, decimals)}.",
            ],
        )
    return None


def draw_spec(kind: str, view: TableView, rng: random.Random) -> QuestionSpec | None:
    """A random spec of a kind that applies to this table, or None."""
    numeric = view.numeric_columns
    labels = [row.label for row in view.rows]
    column = rng.choice(numeric)
    template = rng.randrange(2)
    if kind == "lookup":
        return QuestionSpec(kind, column=column, first=rng.choice(labels), template=template)
    if kind in ("comparison", "difference", "percentage"):
        if len(labels) < 2:
            return None
        first, second = rng.sample(labels, 2)
        return QuestionSpec(
            kind,
            column=column,
            first=first,
            second=second,
            direction=rng.choice(["highest", "lowest"]),
        )
    if kind == "aggregate":
        return QuestionSpec(kind, column=column, operation=rng.choice(["sum", "mean"]))
    if kind == "ranking":
        return QuestionSpec(kind, column=column, direction=rng.choice(["highest", "lowest"]))
    if kind == "conditional_count":
        numbers = sorted({n for n in (view.number(r, column) for r in view.rows) if n is not None})
        if len(numbers) < 3:
            return None
        cut = rng.randrange(1, len(numbers) - 1)
        threshold = (numbers[cut - 1] + numbers[cut]) / 2
        decimals = _decimals([row.values.get(column, "") for row in view.rows])
        return QuestionSpec(kind, column=column, threshold=round(threshold, decimals))
    if kind == "multi_hop":
        others = [c for c in numeric + view.categorical_columns if c != column]
        if not others:
            return None
        return QuestionSpec(
            kind,
            column=column,
            column2=rng.choice(others),
            direction=rng.choice(["highest", "lowest"]),
        )
    if kind == "structural":
        if sum(row.highlighted for row in view.rows) >= 2:
            return QuestionSpec(kind, column=column, operation="highlighted")
        groups = sorted({row.group for row in view.rows if row.group})
        if groups:
            return QuestionSpec(kind, column=column, operation="group", group=rng.choice(groups))
        return None
    return None


OFF_TOPIC_QUESTIONS = (
    ("What was the population of Vienna in 1910?", "2.08 million"),
    ("Who won the 1998 FIFA World Cup?", "France"),
    ("What is the boiling point of ethanol at sea level?", "78.4 °C"),
    ("How many moons does Neptune have?", "16"),
    ("In what year was the first transatlantic telegraph cable completed?", "1858"),
)


def answers_match(proposed: str, truth: str) -> bool:
    """Equal as numbers (within the truth's rounding) or as normalised text."""
    a, b = parse_number(proposed), parse_number(truth)
    if a is not None and b is not None:
        decimals = _decimals([truth])
        tolerance = max(0.5 * 10 ** (-decimals), abs(b) * 1e-6)
        return abs(a - b) <= tolerance + 1e-12
    return _normal(proposed) == _normal(truth)


def _normal(text: str) -> str:
    return re.sub(r"[^\w%]+", " ", text.casefold()).strip()
