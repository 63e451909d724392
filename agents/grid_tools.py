"""A juror's tools over one rendered table's cells: look a figure up, compute, round.

Pure functions of the cell grid the renderer returned, so a juror recomputes an answer
instead of doing arithmetic in its head. No code runs: each tool is a fixed lookup or
operation. A tool that cannot answer raises ValueError with what it could offer instead
(the columns there are, the rows that matched); the model reads that as the tool's result.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from autogen_core.tools import BaseTool, FunctionTool

from environment.simulation.table_reading import grid_slots, parse_number
from renderers.grid import GridCell

_SUMMARY_LABEL = re.compile(r"^\s*(total|sum|average|mean|overall|all|grand total)\b", re.I)
OPERATIONS = ("sum", "mean", "min", "max", "count", "difference", "ratio", "percent_change")
MAX_LISTED = 60  # rows listed in one reply: a long table stays within a model's context


def _folded(text: str) -> str:
    return " ".join(text.casefold().split())


@dataclass(frozen=True)
class _Row:
    index: int  # the grid row
    cells: tuple[str, ...]  # one text per column; a merged cell's text in every slot
    label: str

    @property
    def is_summary(self) -> bool:
        return bool(_SUMMARY_LABEL.match(self.label))


class GridTools:
    """The table as headers and labelled rows, read once; each public method is a tool."""

    def __init__(self, grid: Sequence[GridCell]) -> None:
        slots, rows, self.width = grid_slots(grid)
        # Header rows: the first, and each next one while the one above groups columns
        # (a \multicolumn over sub-headers), as readers of such tables do.
        header_rows = 1 if rows else 0
        while header_rows < rows - 1 and any(
            (header_rows - 1, c) in slots and slots[(header_rows - 1, c)].colspan > 1
            for c in range(self.width)
        ):
            header_rows += 1
        self.columns: list[str] = []
        for c in range(self.width):
            parts: list[str] = []
            for r in range(header_rows):
                text = slots[(r, c)].text.strip() if (r, c) in slots else ""
                if text and (not parts or parts[-1] != text):
                    parts.append(text)
            self.columns.append(" ".join(parts) or f"column {c + 1}")
        self.rows: list[_Row] = []
        for r in range(header_rows, rows):
            texts = tuple(
                slots[(r, c)].text.strip() if (r, c) in slots else "" for c in range(self.width)
            )
            if any(texts):
                label = " / ".join(dict.fromkeys(t for t in texts if t and parse_number(t) is None))
                self.rows.append(_Row(r, texts, label or texts[0]))

    # ---------- lookups
    def _column(self, name: str) -> int:
        wanted = _folded(name)
        exact = [c for c, header in enumerate(self.columns) if _folded(header) == wanted]
        near = exact or [c for c, header in enumerate(self.columns) if wanted in _folded(header)]
        if len(near) == 1 or (near and exact):
            return near[0]
        if wanted.isdigit() and 1 <= int(wanted) <= self.width:
            return int(wanted) - 1
        known = "; ".join(self.columns)
        problem = "matches several columns" if near else "matches no column"
        raise ValueError(f"{name!r} {problem}; the columns are: {known}")

    def _rows(self, label: str) -> list[_Row]:
        wanted = _folded(label)
        exact = [row for row in self.rows if any(_folded(t) == wanted for t in row.cells)]
        if exact:
            return exact
        near = [row for row in self.rows if wanted and wanted in _folded(row.label)]
        if near:
            return near
        listed = "; ".join(row.label for row in self.rows[:MAX_LISTED])
        raise ValueError(f"no row matches {label!r}; the rows are: {listed}")

    def _row(self, label: str) -> _Row:
        found = self._rows(label)
        if len(found) > 1:
            listed = "; ".join(row.label for row in found[:MAX_LISTED])
            raise ValueError(f"{label!r} matches {len(found)} rows: {listed}; be more precise")
        return found[0]

    def table_outline(self) -> dict[str, Any]:
        """The column headers and the row labels, in order."""
        return {
            "columns": self.columns,
            "rows": [row.label for row in self.rows[:MAX_LISTED]],
            "row_count": len(self.rows),
        }

    def find_row(self, label: str) -> list[dict[str, str]]:
        """Every row one of whose cells is `label` (else whose label contains it), as
        column header → cell text."""
        return [dict(zip(self.columns, row.cells, strict=True)) for row in self._rows(label)]

    def read_cell(self, row: str, column: str) -> dict[str, Any]:
        """The cell where the row labelled `row` meets the column headed `column`."""
        found, at = self._row(row), self._column(column)
        text = found.cells[at]
        return {
            "row": found.label,
            "column": self.columns[at],
            "text": text,
            "number": parse_number(text),
        }

    def column_values(
        self, column: str, where_column: str | None = None, equals: str | None = None
    ) -> list[dict[str, Any]]:
        """A column's cells, row by row, without totals or averages rows; with `where_column`
        and `equals`, only the rows whose cell in that column is `equals`."""
        at = self._column(column)
        rows = [row for row in self.rows if not row.is_summary]
        if where_column is not None:
            if equals is None:
                raise ValueError("where_column needs equals: the value to keep")
            test = self._column(where_column)
            rows = [row for row in rows if _folded(row.cells[test]) == _folded(equals)]
            if not rows:
                raise ValueError(f"no row has {equals!r} in {self.columns[test]!r}")
        return [
            {"row": row.label, "text": row.cells[at], "number": parse_number(row.cells[at])}
            for row in rows[:MAX_LISTED]
        ]


def calculate(operation: str, values: list[float]) -> float:
    """sum, mean, min, max or count of `values`; difference (first − second), ratio
    (first / second) or percent_change (from first to second, in %) of two values."""
    op = operation.strip().lower().replace(" ", "_").replace("-", "_")
    numbers = [float(value) for value in values]
    if op not in OPERATIONS:
        raise ValueError(f"unknown operation {operation!r}; use one of {', '.join(OPERATIONS)}")
    if op == "count":
        return float(len(numbers))
    if not numbers:
        raise ValueError(f"{op} needs at least one value")
    if op in ("difference", "ratio", "percent_change"):
        if len(numbers) != 2:
            raise ValueError(f"{op} takes exactly two values, got {len(numbers)}")
        first, second = numbers
        if op == "difference":
            return first - second
        if first == 0 if op == "percent_change" else second == 0:
            raise ValueError(f"{op} would divide by zero")
        return second / first * 100 - 100 if op == "percent_change" else first / second
    reducers: dict[str, Callable[[list[float]], float]] = {
        "sum": math.fsum,
        "mean": lambda xs: math.fsum(xs) / len(xs),
        "min": min,
        "max": max,
    }
    return reducers[op](numbers)


def round_number(value: float, places: int = 2) -> float:
    """`value` rounded half away from zero to `places` decimals, as people round (2.675 →
    2.68, where binary floating point gives 2.67)."""
    if not 0 <= places <= 10:
        raise ValueError("places must be between 0 and 10")
    exact = Decimal(repr(float(value)))
    return float(exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def as_agent_tools(grid: Sequence[GridCell]) -> list[BaseTool[Any, Any] | Callable[..., Any]]:
    """The tools as AgentChat offers them to a model; each replies in JSON."""
    table = GridTools(grid)

    def table_outline() -> str:
        """The table's column headers and row labels, in order."""
        return json.dumps(table.table_outline(), ensure_ascii=False)

    def find_row(label: str) -> str:
        """Every row with a cell equal to `label` (else whose label contains it), as
        column header -> cell text."""
        return json.dumps(table.find_row(label), ensure_ascii=False)

    def read_cell(row: str, column: str) -> str:
        """The cell where the row labelled `row` meets the column headed `column`."""
        return json.dumps(table.read_cell(row, column), ensure_ascii=False)

    def column_values(
        column: str, where_column: str | None = None, equals: str | None = None
    ) -> str:
        """A column's cells row by row, totals and averages rows left out; with where_column
        and equals, only rows whose cell in where_column is equals."""
        return json.dumps(table.column_values(column, where_column, equals), ensure_ascii=False)

    def compute(operation: str, values: list[float]) -> str:
        """sum, mean, min, max or count of values; difference (first - second), ratio
        (first / second) or percent_change (first to second, in %) of two values."""
        return json.dumps(calculate(operation, values))

    def round_to(value: float, places: int = 2) -> str:
        """value rounded half away from zero to places decimals."""
        return json.dumps(round_number(value, places))

    functions = (table_outline, find_row, read_cell, column_values, compute, round_to)
    return [FunctionTool(f, description=" ".join((f.__doc__ or "").split())) for f in functions]
