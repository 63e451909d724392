"""Reading a rendered table's cell grid the way a careful person would.

Works on any table the renderer drew (simulated or real generator): finds header rows,
column names (grouped headers joined), the label column, numeric columns, row groups from
`\\multirow`, highlighted rows and summary rows.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from renderers.grid import GridCell

_NUMBER = re.compile(r"[-−–]?\d[\d,\u2009 ]*(?:\.\d+)?")
_SUMMARY = re.compile(r"^(total|sum|average|mean|overall|all)\b", re.IGNORECASE)
_PLAIN_BACKGROUNDS = {None, "rgb(255, 255, 255)", "rgba(0, 0, 0, 0)"}


def parse_number(text: str) -> float | None:
    """The leading number of a cell ('1,234.5', '12.5%', '9.3±0.2', '−4'), else None."""
    cleaned = text.strip().replace("\u2212", "-").replace("−", "-")
    if not cleaned or cleaned in {"-", "–", "—", "n/a", "N/A"}:
        return None
    match = _NUMBER.search(cleaned)
    if match is None or match.start() > 2:
        return None
    literal = match.group(0).replace(",", "").replace("\u2009", "").replace(" ", "")
    literal = literal.replace("–", "-")
    try:
        return float(literal)
    except ValueError:
        return None


@dataclass
class Row:
    index: int  # grid row
    label: str
    values: dict[int, str]  # column → text
    group: str | None = None
    highlighted: bool = False


@dataclass
class TableView:
    columns: list[str]
    label_column: int
    numeric_columns: list[int]
    rows: list[Row]
    summary_rows: list[Row] = field(default_factory=list)
    group_column: int | None = None
    header_groups: dict[str, list[int]] = field(default_factory=dict)
    categorical_columns: list[int] = field(default_factory=list)

    @property
    def entity_name(self) -> str:
        return self.columns[self.label_column] or "row"

    def number(self, row: Row, column: int) -> float | None:
        return parse_number(row.values.get(column, ""))


def grid_slots(grid: Sequence[GridCell]) -> tuple[dict[tuple[int, int], GridCell], int, int]:
    """Every (row, column) slot and the cell covering it (a merged cell fills each of its
    slots), with the grid's row and column counts."""
    slots: dict[tuple[int, int], GridCell] = {}
    for cell in grid:
        for r in range(cell.row, cell.row + cell.rowspan):
            for c in range(cell.col, cell.col + cell.colspan):
                slots[(r, c)] = cell
    rows = max((r for r, _ in slots), default=-1) + 1
    cols = max((c for _, c in slots), default=-1) + 1
    return slots, rows, cols


def read_table(grid: Sequence[GridCell]) -> TableView | None:
    """A TableView, or None when the grid is too small to ask anything about."""
    slots, nrows, ncols = grid_slots(grid)
    if nrows < 3 or ncols < 2:
        return None
    header_rows = 1
    while header_rows < nrows - 2 and any(
        slots.get((header_rows - 1, c)) is not None and slots[(header_rows - 1, c)].colspan > 1
        for c in range(ncols)
    ):
        header_rows += 1
    columns: list[str] = []
    header_groups: dict[str, list[int]] = {}
    for c in range(ncols):
        parts: list[str] = []
        for r in range(header_rows):
            cell = slots.get((r, c))
            if cell is None or not cell.text or (parts and parts[-1] == cell.text):
                continue
            parts.append(cell.text)
            if cell.colspan > 1:
                header_groups.setdefault(cell.text, []).append(c)
        columns.append(" ".join(parts))
    body = [r for r in range(header_rows, nrows)]
    numeric: list[int] = []
    for c in range(ncols):
        texts = [slots[(r, c)].text for r in body if (r, c) in slots and slots[(r, c)].row == r]
        numbers = [parse_number(t) for t in texts]
        if texts and sum(n is not None for n in numbers) >= max(2, int(0.8 * len(texts))):
            numeric.append(c)
    text_columns = [c for c in range(ncols) if c not in numeric]
    if not text_columns or not numeric:
        return None
    group_column = next(
        (
            c
            for c in text_columns
            if any(slots.get((r, c)) is not None and slots[(r, c)].rowspan > 1 for r in body)
        ),
        None,
    )
    label_candidates = [c for c in text_columns if c != group_column]
    label_column = label_candidates[0] if label_candidates else text_columns[0]
    if group_column == label_column:
        group_column = None
    backgrounds = Counter(
        slots[(r, c)].background for r in body for c in range(ncols) if (r, c) in slots
    )
    common = {colour for colour, _ in backgrounds.most_common(2)} | _PLAIN_BACKGROUNDS
    rows: list[Row] = []
    summary: list[Row] = []
    for r in body:
        label_cell = slots.get((r, label_column))
        if label_cell is None:
            continue
        values = {c: slots[(r, c)].text for c in range(ncols) if (r, c) in slots}
        group_cell = slots.get((r, group_column)) if group_column is not None else None
        row_cells = [slots[(r, c)] for c in range(ncols) if (r, c) in slots]
        highlighted = any(
            cell.background not in common
            for cell in row_cells
            if cell.row == r and cell.rowspan == 1
        )
        row = Row(
            index=r,
            label=label_cell.text,
            values=values,
            group=group_cell.text if group_cell is not None else None,
            highlighted=highlighted,
        )
        if _SUMMARY.match(label_cell.text) or (
            group_cell is not None and _SUMMARY.match(group_cell.text or "")
        ):
            summary.append(row)
        elif label_cell.text:
            rows.append(row)
    if len(rows) < 2:
        return None
    categorical = [
        c
        for c in text_columns
        if c not in (label_column, group_column)
        and 1 < len({row.values.get(c) for row in rows}) < len(rows)
    ]
    return TableView(
        columns=columns,
        label_column=label_column,
        numeric_columns=numeric,
        rows=rows,
        summary_rows=summary,
        group_column=group_column,
        header_groups=header_groups,
        categorical_columns=categorical,
    )
