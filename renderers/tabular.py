"""Table layout: column specs, cells, row spans, and the table's HTML with its rules and
colours (rows and the rules between them are read in `table_rows`).

The translator hands each cell's content to a callback, so this module knows the *shape* of
LaTeX tables (what `\\multirow{-2}` or `p{3cm}` mean) and nothing of text.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass

from renderers.errors import LatexProblem, LatexRenderError
from renderers.table_rows import RULE_WEIGHTS_PX, RawRow, Rule


# Commands at the start of a row that draw no text of their own.
@dataclass
class Column:
    align: str = "l"  # l c r j (j: justified paragraph column)
    width: str | None = None  # TeX length for p/m/b columns
    valign: str = "top"
    prefix: str = ""  # >{...} LaTeX
    suffix: str = ""  # <{...} LaTeX
    flexible: bool = False  # tabularx X
    numeric: bool = False  # siunitx S
    no_pad_left: bool = False
    no_pad_right: bool = False


@dataclass
class ColumnSpec:
    columns: list[Column]
    rules_before: list[int]  # count of `|` before column i (len = columns + 1)


def _read_group(text: str, start: int) -> tuple[str, int]:
    """Returns (content, index after the closing brace) for a `{...}` at `start`."""
    if start >= len(text) or text[start] != "{":
        raise ValueError("expected '{' in column spec")
    depth = 0
    for index in range(start, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1 : index], index + 1
    raise ValueError("unbalanced braces in column spec")


MAX_SPEC_LENGTH = 4000  # after \newcolumntype and *{n}{...} expansion


def parse_colspec(
    spec: str, column_types: dict[str, str] | None = None, notes: list[str] | None = None
) -> ColumnSpec:
    """Parses an array-package column spec. Like array, an unknown column letter becomes a `c`
    column (noted in `notes`); ValueError only for specs nothing can be made of."""
    columns: list[Column] = []
    rules: list[int] = [0]
    pending_prefix = ""
    leading_at = False
    index = 0
    custom = column_types or {}
    spec = _strip_spec_comments(spec)
    while index < len(spec):
        if len(spec) > MAX_SPEC_LENGTH:
            raise ValueError("column spec expands past its size limit (recursive type?)")
        char = spec[index]
        if char.isspace():
            index += 1
        elif char in custom:  # \newcolumntype: the letter stands for its definition
            definition, after = custom[char], index + 1
            for number in range(1, 10):  # its arguments follow as groups
                if f"#{number}" not in definition:
                    break
                argument, after = _read_group(spec, after)
                definition = definition.replace(f"#{number}", argument)
            spec = spec[:index] + definition + spec[after:]
        elif char == "|":
            rules[-1] += 1
            index += 1
        elif char in "lcrXS":
            align = {"l": "l", "c": "c", "r": "r", "X": "j", "S": "r"}[char]
            columns.append(
                Column(
                    align=align, prefix=pending_prefix, flexible=char == "X", numeric=char == "S"
                )
            )
            pending_prefix = ""
            rules.append(0)
            index += 1
            if char in "SX" and index < len(spec) and spec[index] == "[":  # S[...], X[...]
                close = spec.find("]", index)
                index = close + 1 if close > 0 else len(spec)
        elif char in "pmbw":
            if char == "w":  # w{align}{width}
                align_text, index = _read_group(spec, index + 1)
                width, index = _read_group(spec, index)
                columns.append(
                    Column(align=align_text.strip()[:1] or "l", width=width, prefix=pending_prefix)
                )
                pending_prefix = ""
                rules.append(0)
                continue
            width, index = _read_group(spec, index + 1)
            valign = {"p": "top", "m": "middle", "b": "bottom"}[char]
            columns.append(Column(align="j", width=width, valign=valign, prefix=pending_prefix))
            pending_prefix = ""
            rules.append(0)
        elif char == ">":
            content, index = _read_group(spec, index + 1)
            pending_prefix += content
        elif char == "<":
            content, index = _read_group(spec, index + 1)
            if not columns:
                raise ValueError("'<{...}' before any column")
            columns[-1].suffix += content
        elif char in "@!":
            # @{...} replaces the \tabcolsep on that side (its text is not drawn here);
            # !{|} is a rule.
            content, index = _read_group(spec, index + 1)
            if char == "@":
                if columns:
                    columns[-1].no_pad_right = True
                else:
                    leading_at = True
            if char == "!" and "|" in content:
                rules[-1] += 1
        elif char == "*":
            count_text, index = _read_group(spec, index + 1)
            body, index = _read_group(spec, index)
            try:
                count = int(count_text.strip())
            except ValueError:
                raise ValueError(f"repeat count '{count_text}' is not a number") from None
            if count < 0 or count > 200:
                raise ValueError(f"repeat count {count} out of range")
            spec = spec[:index] + body * count + spec[index:]
        elif char == "\\":  # a stray command such as \hfill or \color in the spec
            end = index + 1
            while end < len(spec) and spec[end].isalpha():
                end += 1
            index = end
        else:
            if notes is not None:
                notes.append(f"unknown column type '{char}' drawn as a centred column")
            columns.append(Column(align="c", prefix=pending_prefix))
            pending_prefix = ""
            rules.append(0)
            index += 1
            if index < len(spec) and spec[index] == "{":  # its argument, if it took one
                _, index = _read_group(spec, index)
    if not columns:
        raise ValueError("column spec has no columns")
    columns[0].no_pad_left = leading_at
    return ColumnSpec(columns=columns, rules_before=rules)


def _strip_spec_comments(spec: str) -> str:
    """A spec written over several lines may carry `% comments` to the end of each line."""
    lines = []
    for line in spec.split("\n"):
        cut = next(
            (i for i, char in enumerate(line) if char == "%" and (i == 0 or line[i - 1] != "\\")),
            None,
        )
        lines.append(line if cut is None else line[:cut])
    return " ".join(lines)


@dataclass
class Cell:
    html: str
    column: int
    colspan: int = 1
    rowspan: int = 1
    align: str = "l"
    background: str | None = None
    blank: bool = False
    rules_left: int = 0
    rules_right: int = 0
    width: str | None = None
    valign: str = "top"
    pad_left: bool = True  # False where @{...} replaces the column separation
    pad_right: bool = True


def place_spans(
    grid: list[list[Cell]], line_of_row: Callable[[int], int | None]
) -> list[tuple[int, str]]:
    """Applies row spans: blank cells under a `\\multirow` vanish; negative spans move up.
    A span over a cell with content ends above it (TeX would print the two on top of each
    other; a model writing `\\multirow{3}` over three named rows meant one row each): the
    (row index, message) of each such cut is returned for a warning."""
    cuts: list[tuple[int, str]] = []
    for row_index, row in enumerate(grid):
        for cell in list(row):
            if cell.rowspan < 0:
                span = -cell.rowspan
                top = row_index - span + 1
                if top < 0:
                    raise LatexRenderError(
                        LatexProblem(
                            f"\\multirow{{{cell.rowspan}}} reaches above the first row",
                            line_of_row(row_index),
                            "\\multirow",
                        )
                    )
                anchor = next((c for c in grid[top] if c.column == cell.column), None)
                if anchor is None or not anchor.blank:
                    cell.rowspan = 1
                    continue
                anchor.html, anchor.rowspan, anchor.blank = cell.html, span, False
                anchor.background = anchor.background or cell.background
                cell.rowspan = 1
                cell.blank = True
    for row_index, row in enumerate(grid):
        for cell in row:
            if cell.rowspan <= 1:
                continue
            reach = min(len(grid), row_index + cell.rowspan)
            for below in range(row_index + 1, reach):
                covered = [
                    c
                    for c in grid[below]
                    if c.column < cell.column + cell.colspan and c.column + c.colspan > cell.column
                ]
                if any(not other.blank for other in covered):
                    cuts.append(
                        (
                            row_index,
                            f"\\multirow{{{cell.rowspan}}} over a cell with content: spans "
                            f"{below - row_index} row(s), each row's own text drawn",
                        )
                    )
                    reach = below
                    break
                for other in covered:
                    grid[below].remove(other)
            cell.rowspan = reach - row_index
    return cuts


def grid_to_html(
    grid: list[list[Cell]],
    rows: list[RawRow],
    trailing_rules: list[Rule],
    *,
    length_css: Callable[[str], str],
) -> str:
    """Emits a `<table>`; borders come from rules, colours from the cells."""
    out = ['<table class="tabular">']
    total_rows = len(grid)
    for row_index, cells in enumerate(grid):
        raw = rows[row_index]
        style = f' style="height:{raw.space_above_px:.1f}px"' if raw.space_above_px else ""
        if raw.space_above_px:
            out.append(f'<tr class="space"{style}><td colspan="999"></td></tr>')
        out.append("<tr>")
        for cell in cells:
            css: list[str] = []
            # Rules between rows are drawn as the upper cell's bottom border: Chromium hides
            # a collapsed top border under the lower cell's background colour.
            if row_index == 0:
                top, top_color = _rule_weight(raw.rules_above, cell.column, cell.colspan)
                if top:
                    css.append(f"border-top:{top:.2f}px solid {top_color}")
            end = row_index + cell.rowspan
            below = trailing_rules if end >= total_rows else rows[end].rules_above
            bottom, bottom_color = _rule_weight(below, cell.column, cell.colspan)
            trimmed = _trimmed_rule(below, cell.column, cell.colspan)
            if trimmed:
                css.append(trimmed)
            elif bottom:
                css.append(f"border-bottom:{bottom:.2f}px solid {bottom_color}")
            # booktabs: \belowrulesep 0.65ex under a rule, \aboverulesep 0.4ex over one.
            if _booktabs_gap(raw.rules_above):
                css.append("padding-top:0.65ex")
            if _booktabs_gap(below):
                css.append("padding-bottom:0.4ex")
            if cell.rules_left:
                css.append(f"border-left:{_vertical_rule(cell.rules_left)}")
            if cell.rules_right:
                css.append(f"border-right:{_vertical_rule(cell.rules_right)}")
            if not cell.pad_left:
                css.append("padding-left:0")
            if not cell.pad_right:
                css.append("padding-right:0")
            if cell.background:
                css.append(f"background-color:{cell.background}")
            if cell.width:
                css.append(f"width:{length_css(cell.width)};min-width:{length_css(cell.width)}")
            if cell.valign != "top" or cell.rowspan > 1:
                css.append(f"vertical-align:{'middle' if cell.rowspan > 1 else cell.valign}")
            attrs = f' class="a-{cell.align}"'
            if cell.colspan > 1:
                attrs += f' colspan="{cell.colspan}"'
            if cell.rowspan > 1:
                attrs += f' rowspan="{cell.rowspan}"'
            if css:
                attrs += f' style="{html.escape(";".join(css))}"'
            out.append(f"<td{attrs}>{cell.html}</td>")
        out.append("</tr>")
    out.append("</table>")
    return "".join(out)


def _vertical_rule(count: int) -> str:
    """`|` is a 0.4pt rule; `||` two of them 2pt apart (CSS double needs the full width)."""
    if count > 1:
        return "3.2px double #000"
    return f"{RULE_WEIGHTS_PX['hline']:.2f}px solid #000"


def _covering(rules: list[Rule], column: int, colspan: int) -> list[Rule]:
    return [
        rule
        for rule in rules
        if rule.first is None
        or (rule.first <= column + colspan - 1 and rule.last is not None and rule.last >= column)
    ]


def _rule_weight(rules: list[Rule], column: int, colspan: int) -> tuple[float, str]:
    """The heaviest rule over this cell, with its colour."""
    heaviest = max(_covering(rules, column, colspan), key=lambda rule: rule.weight, default=None)
    return (heaviest.weight, heaviest.color) if heaviest else (0.0, "#000")


def _trimmed_rule(rules: list[Rule], column: int, colspan: int) -> str | None:
    """A `\\cmidrule(lr)` end drawn as a bottom-aligned bar inset by \\cmidrulekern."""
    for rule in _covering(rules, column, colspan):
        left = rule.trim_left and rule.first == column
        right = rule.trim_right and rule.last == column + colspan - 1
        if left or right:
            inset_left = "0.5em" if left else "0px"
            inset_right = "0.5em" if right else "0px"
            return (
                f"background-image:linear-gradient({rule.color},{rule.color});"
                "background-repeat:no-repeat;"
                f"background-size:calc(100% - {inset_left} - {inset_right}) "
                f"{rule.weight:.2f}px;background-position:{inset_left} 100%"
            )
    return None


def _booktabs_gap(rules: list[Rule]) -> bool:
    """A booktabs rule takes a line of its own: the whole row gets the gap, covered or not."""
    return any(rule.booktabs for rule in rules)
