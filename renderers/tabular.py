"""Table layout: column specs, rows split on `&` and `\\\\`, spans, rules and colours → HTML.

The translator hands each cell's content to a callback, so this module knows the *shape* of
LaTeX tables (what `\\multirow{-2}` or `\\cmidrule(lr){2-3}` mean) and nothing of text.
"""

from __future__ import annotations

import contextlib
import html
import re
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

# Commands at the start of a row that draw no text of their own.
ROW_PREFIXES = {"rowcolor", "arrayrulecolor", "rowstyle", "hiderowcolors", "showrowcolors"}
CELL_PREFIXES = {*ROW_PREFIXES, "cellcolor"}  # and before a cell's content
# TeX's widths in CSS px: \arrayrulewidth 0.4pt; booktabs heavy 0.08em, light 0.05em (10pt).
RULE_WEIGHTS_PX = {
    "toprule": 1.06,
    "bottomrule": 1.06,
    "midrule": 0.66,
    "hline": 0.53,
    "cline": 0.53,
    "cmidrule": 0.66,
    "specialrule": 0.66,
    "Xhline": 0.53,
    "Hline": 0.53,
}
TABLE_RULES = {*RULE_WEIGHTS_PX, "hhline"}  # commands that draw a rule between rows


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
class Rule:
    weight: float
    first: int | None = None  # 0-based column, inclusive; None = full width
    last: int | None = None
    booktabs: bool = False  # booktabs rules keep space above and below; \hline does not
    trim_left: bool = False  # \cmidrule(l): shortened at its left end
    trim_right: bool = False
    color: str = "#000"  # \arrayrulecolor


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
    rule_color: Callable[[LatexMacroNode], str] | None = None,
    warn: Callable[[str, LatexNode], None] | None = None,
) -> tuple[list[RawRow], list[Rule]]:
    """Splits a tabular body into rows of cell node lists; rules attach to the row below.

    Rules, colours and spacing between rows are read where TeX reads them: after comments,
    blank lines, `\\arrayrulecolor` or `\\rowcolor`, inside `\\noalign`."""
    rows: list[RawRow] = []
    row = RawRow(cells=[[]])
    color = "#000"
    index = 0

    def note(message: str, node: LatexNode) -> None:
        if warn is not None:
            warn(message, node)

    def args_of(node: LatexMacroNode) -> list[LatexNode | None]:
        return list(node.nodeargd.argnlist) if node.nodeargd else []

    while index < len(body):
        node = body[index]
        index += 1
        row_is_empty = len(row.cells) == 1 and _only_row_prefixes(row.cells[0])
        if isinstance(node, LatexSpecialsNode) and node.specials_chars == "&":
            row.cells.append([])
            continue
        if not isinstance(node, LatexMacroNode):
            row.cells[-1].append(node)
            continue
        name = node.macroname
        args = args_of(node)
        if name in ("\\", "tabularnewline", "cr", "crcr"):
            rows.append(row)
            row = RawRow(cells=[[]])
            if args and args[-1] is not None:  # \\[4pt]: extra space below the row
                try:
                    row.space_above_px += max(0.0, length_px(group_text(args[-1])))
                except ValueError:
                    note(f"'{group_text(args[-1])}' after \\\\ is not a length; ignored", node)
            continue
        if name == "arrayrulecolor":
            if rule_color is not None:
                color = rule_color(node)
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
        if name in RULE_WEIGHTS_PX and name not in ("cline", "cmidrule") and row_is_empty:
            weight = RULE_WEIGHTS_PX[name]
            if name in ("specialrule", "Xhline") and args and args[0] is not None:
                with contextlib.suppress(ValueError):
                    weight = max(0.3, min(8.0, length_px(group_text(args[0]))))
            row.rules_above.append(
                Rule(weight, booktabs=name not in ("hline", "Xhline", "Hline"), color=color)
            )
            continue
        if name == "hhline" and row_is_empty:
            row.rules_above += _hhline(group_text(args[0]) if args else "", ncols, color)
            continue
        if name == "noalign" and row_is_empty:
            inner = group_text(args[0]) if args and args[0] is not None else ""
            if "\\hrule" in inner or "\\hline" in inner:
                row.rules_above.append(Rule(RULE_WEIGHTS_PX["hline"], color=color))
            continue
        if name in ("cline", "cmidrule") and row_is_empty:
            index = _partial_rule(node, body, index, ncols, row, color, group_text, note)
            continue
        if name == "addlinespace" and row_is_empty:
            amount = group_text(args[0]) if args and args[0] is not None else "0.5em"
            try:
                row.space_above_px += max(0.0, length_px(amount))
            except ValueError:
                row.space_above_px += 6
            continue
        row.cells[-1].append(node)
    if not all(is_blank(cell) for cell in row.cells) or len(row.cells) > 1:
        rows.append(row)
        trailing: list[Rule] = []
    else:
        trailing = row.rules_above
    return rows, trailing


def _only_row_prefixes(nodes: list[LatexNode]) -> bool:
    """Nothing drawn yet in this row: blanks, comments, `\\rowcolor` and the like."""
    return all(
        (isinstance(node, LatexMacroNode) and node.macroname in ROW_PREFIXES) or is_blank([node])
        for node in nodes
    )


def _hhline(spec: str, ncols: int, color: str) -> list[Rule]:
    """`\\hhline{|=|~|-|}`: `-` and `=` draw under their column, `~` leaves it open."""
    rules: list[Rule] = []
    column = 0
    for char in spec:
        if column >= ncols:
            break
        if char in "-=":
            weight = RULE_WEIGHTS_PX["hline"] * (2.5 if char == "=" else 1)
            rules.append(Rule(weight, column, column, color=color))
            column += 1
        elif char == "~":
            column += 1
    return rules


def _partial_rule(
    node: LatexMacroNode,
    body: list[LatexNode],
    index: int,
    ncols: int,
    row: RawRow,
    color: str,
    group_text: Callable[[LatexNode], str],
    note: Callable[[str, LatexNode], None],
) -> int:
    """`\\cline{2-3}`, `\\cmidrule(lr){2-3}`, `\\cmidrule(lr{1mm}){2-3}`: returns the index
    after what it consumed. pylatexenc leaves the `(trim)` as text and groups after the rule."""
    name = node.macroname
    args = list(node.nodeargd.argnlist) if node.nodeargd else []
    range_node: LatexNode | None = args[-1] if name == "cline" and args else None
    trim = ""

    def skip_blank(at: int) -> int:
        while at < len(body) and (
            isinstance(body[at], LatexCommentNode)
            or (isinstance(body[at], LatexCharsNode) and not body[at].chars.strip())  # type: ignore[attr-defined]
        ):
            at += 1
        return at

    if range_node is None:
        at = skip_blank(index)
        first = body[at] if at < len(body) else None
        if isinstance(first, LatexCharsNode) and first.chars.lstrip().startswith("("):
            # the trim spec runs to the first ')': letters and braced widths such as lr{1mm}
            while at < len(body):
                part = body[at]
                at += 1
                if isinstance(part, LatexCharsNode):
                    trim += part.chars.split(")")[0]
                    if ")" in part.chars:
                        break
            at = skip_blank(at)
        if at < len(body) and isinstance(body[at], LatexGroupNode):
            range_node = body[at]
            index = at + 1
        elif trim:
            index = at
    if range_node is None:
        note(f"\\{name} without a column range drawn across the table", node)
        row.rules_above.append(
            Rule(RULE_WEIGHTS_PX[name], booktabs=name == "cmidrule", color=color)
        )
        return index
    try:
        first_col, last_col = parse_range(group_text(range_node), ncols)
    except ValueError as error:
        note(f"{error}; \\{name} drawn over the columns it can reach", node)
        first_col, last_col = _clamped_range(group_text(range_node), ncols)
    row.rules_above.append(
        Rule(
            RULE_WEIGHTS_PX[name],
            first_col,
            last_col,
            booktabs=name == "cmidrule",
            trim_left="l" in trim,
            trim_right="r" in trim,
            color=color,
        )
    )
    return index


def _clamped_range(text: str, ncols: int) -> tuple[int, int]:
    numbers = [int(n) for n in re.findall(r"\d+", text)] or [1, ncols]
    first = min(max(numbers[0], 1), ncols) - 1
    last = min(max(numbers[-1], 1), ncols) - 1
    return min(first, last), max(first, last)


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
