"""Table layout: column specs, rows split on `&` and `\\\\`, spans, rules and colours → HTML.

The translator hands each cell's content to a callback, so this module knows the *shape* of
LaTeX tables (what `\\multirow{-2}` or `\\cmidrule(lr){2-3}` mean) and nothing of text.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass, field

from pylatexenc.latexwalker import (
    LatexCharsNode,
    LatexCommentNode,
    LatexGroupNode,
    LatexMacroNode,
    LatexNode,
    LatexSpecialsNode,
)

from renderers.errors import LatexProblem, LatexRenderError

# TeX's widths in CSS px: \arrayrulewidth 0.4pt; booktabs heavy 0.08em, light 0.05em (10pt).
RULE_WEIGHTS_PX = {
    "toprule": 1.06,
    "bottomrule": 1.06,
    "midrule": 0.66,
    "hline": 0.53,
    "cline": 0.53,
    "cmidrule": 0.66,
}


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


def parse_colspec(spec: str) -> ColumnSpec:
    """Parses an array-package column spec; raises ValueError on what LaTeX would reject."""
    columns: list[Column] = []
    rules: list[int] = [0]
    pending_prefix = ""
    leading_at = False
    index = 0
    while index < len(spec):
        char = spec[index]
        if char.isspace():
            index += 1
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
            if char == "S" and index < len(spec) and spec[index] == "[":
                index = spec.index("]", index) + 1
        elif char in "pmb":
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
            count = int(count_text.strip())
            if count < 0 or count > 200:
                raise ValueError(f"repeat count {count} out of range")
            spec = spec[:index] + body * count + spec[index:]
        else:
            raise ValueError(f"unknown column type '{char}'")
    if not columns:
        raise ValueError("column spec has no columns")
    columns[0].no_pad_left = leading_at
    return ColumnSpec(columns=columns, rules_before=rules)


@dataclass
class Rule:
    weight: float
    first: int | None = None  # 0-based column, inclusive; None = full width
    last: int | None = None
    booktabs: bool = False  # booktabs rules keep space above and below; \hline does not
    trim_left: bool = False  # \cmidrule(l): shortened at its left end
    trim_right: bool = False


@dataclass
class RawRow:
    cells: list[list[LatexNode]] = field(default_factory=list)
    rules_above: list[Rule] = field(default_factory=list)
    space_above_px: float = 0.0
    color: str | None = None
    section: str | None = None  # longtable: endfirsthead, endhead, endfoot, endlastfoot
    rules_below: list[Rule] = field(default_factory=list)


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


def is_blank(nodes: list[LatexNode]) -> bool:
    for node in nodes:
        if isinstance(node, LatexCommentNode):
            continue
        if isinstance(node, LatexCharsNode) and not node.chars.strip():
            continue
        return False
    return True


def parse_range(text: str, ncols: int) -> tuple[int, int]:
    first, _, last = text.strip().partition("-")
    a, b = int(first) - 1, int(last or first) - 1
    if not (0 <= a <= b < ncols):
        raise ValueError(f"column range {text.strip()} outside 1-{ncols}")
    return a, b


def split_rows(
    body: list[LatexNode],
    ncols: int,
    *,
    group_text: Callable[[LatexNode], str],
    line_of: Callable[[LatexNode], int],
    length_px: Callable[[str], float],
) -> tuple[list[RawRow], list[Rule]]:
    """Splits a tabular body into rows of cell node lists; rules attach to the row below."""
    rows: list[RawRow] = []
    row = RawRow(cells=[[]])
    index = 0
    while index < len(body):
        node = body[index]
        index += 1
        row_is_empty = all(is_blank(cell) for cell in row.cells) and len(row.cells) == 1
        if isinstance(node, LatexSpecialsNode) and node.specials_chars == "&":
            row.cells.append([])
            continue
        if isinstance(node, LatexMacroNode):
            name = node.macroname
            if name in ("\\", "tabularnewline", "cr"):
                rows.append(row)
                row = RawRow(cells=[[]])
                args = node.nodeargd.argnlist if node.nodeargd else []
                if args and args[-1] is not None:  # \\[4pt]: extra space below the row
                    try:
                        row.space_above_px += length_px(group_text(args[-1]))
                    except ValueError:
                        raise LatexRenderError(
                            LatexProblem(
                                f"'{group_text(args[-1])}' after \\\\ is not a length",
                                line_of(node),
                                "\\\\",
                            )
                        ) from None
                continue
            if name in LONGTABLE_MARKERS and row_is_empty:
                closed = [earlier for earlier in rows if earlier.section is None]
                for earlier in closed:
                    earlier.section = name
                if row.rules_above:  # a rule closing the head or foot belongs to it
                    if closed:
                        closed[-1].rules_below += row.rules_above
                    else:  # a section of rules only, e.g. "\bottomrule \endlastfoot"
                        rows.append(RawRow(cells=[], rules_below=row.rules_above, section=name))
                    row.rules_above = []
                continue
            if name in ("hline", "toprule", "midrule", "bottomrule") and row_is_empty:
                row.rules_above.append(Rule(RULE_WEIGHTS_PX[name], booktabs=name != "hline"))
                continue
            if name in ("cline", "cmidrule") and row_is_empty:
                trim = ""
                args = node.nodeargd.argnlist if node.nodeargd else []
                range_node = args[-1] if args else None
                # `\cmidrule(lr){2-3}`: pylatexenc leaves "(lr)" as text before the group
                if range_node is None:
                    while index < len(body) and isinstance(body[index], LatexCharsNode):
                        chars = body[index].chars.strip()  # type: ignore[attr-defined]
                        if chars and not (chars.startswith("(") and chars.endswith(")")):
                            break
                        trim += chars.strip("()")
                        index += 1
                    if index < len(body) and isinstance(body[index], LatexGroupNode):
                        range_node = body[index]
                        index += 1
                if range_node is None:
                    raise LatexRenderError(
                        LatexProblem(
                            f"\\{name} needs a column range such as {{2-3}}",
                            line_of(node),
                            f"\\{name}",
                        )
                    )
                try:
                    first, last = parse_range(group_text(range_node), ncols)
                except ValueError as error:
                    raise LatexRenderError(
                        LatexProblem(str(error), line_of(node), f"\\{name}")
                    ) from None
                row.rules_above.append(
                    Rule(
                        RULE_WEIGHTS_PX[name],
                        first,
                        last,
                        booktabs=name == "cmidrule",
                        trim_left="l" in trim,
                        trim_right="r" in trim,
                    )
                )
                continue
            if name == "addlinespace" and row_is_empty:
                args = node.nodeargd.argnlist if node.nodeargd else []
                amount = group_text(args[0]) if args and args[0] is not None else "0.5em"
                try:
                    row.space_above_px += length_px(amount)
                except ValueError:
                    row.space_above_px += 6
                continue
            if name == "rowcolor" and row_is_empty:
                row.cells[-1].append(node)
                continue
        row.cells[-1].append(node)
    if not all(is_blank(cell) for cell in row.cells) or len(row.cells) > 1:
        rows.append(row)
        trailing: list[Rule] = []
    else:
        trailing = row.rules_above
    return rows, trailing


LONGTABLE_MARKERS = ("endfirsthead", "endhead", "endfoot", "endlastfoot")


def arrange_longtable(rows: list[RawRow], trailing: list[Rule]) -> list[Rule]:
    """One page of a longtable: the first head, the body, the last foot (rows in place).

    Returns the rules below the last row.
    """
    if not any(row.section for row in rows):
        return trailing
    sections = {row.section for row in rows}
    head = "endfirsthead" if "endfirsthead" in sections else "endhead"
    first = [row for row in rows if row.section == head]
    body = [row for row in rows if row.section is None]
    last = [row for row in rows if row.section == "endlastfoot"]
    if last and trailing:  # rules that ended the body belong above the last foot
        last[0].rules_above = trailing + last[0].rules_above
        trailing = []
    ordered = first + body + last
    for index, row in enumerate(ordered):
        if row.rules_below:
            later = next((r for r in ordered[index + 1 :] if r.cells), None)
            if later is not None:
                later.rules_above = row.rules_below + later.rules_above
            else:
                trailing = trailing + row.rules_below
    rows[:] = [row for row in ordered if row.cells]
    return trailing


def place_spans(grid: list[list[Cell]], line_of_row: Callable[[int], int | None]) -> None:
    """Applies row spans: blank cells under a `\\multirow` vanish; negative spans move up."""
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
            for below in range(row_index + 1, min(len(grid), row_index + cell.rowspan)):
                covered = [
                    c
                    for c in grid[below]
                    if c.column < cell.column + cell.colspan and c.column + c.colspan > cell.column
                ]
                for other in covered:
                    if other.blank:
                        grid[below].remove(other)
            cell.rowspan = min(cell.rowspan, len(grid) - row_index)


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
                top = _rule_weight(raw.rules_above, cell.column, cell.colspan)
                if top:
                    css.append(f"border-top:{top:.2f}px solid #000")
            end = row_index + cell.rowspan
            below = trailing_rules if end >= total_rows else rows[end].rules_above
            bottom = _rule_weight(below, cell.column, cell.colspan)
            trimmed = _trimmed_rule(below, cell.column, cell.colspan)
            if trimmed:
                css.append(trimmed)
            elif bottom:
                css.append(f"border-bottom:{bottom:.2f}px solid #000")
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


def _rule_weight(rules: list[Rule], column: int, colspan: int) -> float:
    return max((rule.weight for rule in _covering(rules, column, colspan)), default=0.0)


def _trimmed_rule(rules: list[Rule], column: int, colspan: int) -> str | None:
    """A `\\cmidrule(lr)` end drawn as a bottom-aligned bar inset by \\cmidrulekern."""
    for rule in _covering(rules, column, colspan):
        left = rule.trim_left and rule.first == column
        right = rule.trim_right and rule.last == column + colspan - 1
        if left or right:
            inset_left = "0.5em" if left else "0px"
            inset_right = "0.5em" if right else "0px"
            return (
                f"background-image:linear-gradient(#000,#000);background-repeat:no-repeat;"
                f"background-size:calc(100% - {inset_left} - {inset_right}) "
                f"{rule.weight:.2f}px;background-position:{inset_left} 100%"
            )
    return None


def _booktabs_gap(rules: list[Rule]) -> bool:
    """A booktabs rule takes a line of its own: the whole row gets the gap, covered or not."""
    return any(rule.booktabs for rule in rules)
