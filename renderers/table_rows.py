"""Table rows: a tabular body split on `&` and `\\\\`, and the rules, colours and spaces
between rows, read where TeX reads them (after comments, blank lines, `\\arrayrulecolor`,
`\\rowcolor`, in every `\\cmidrule`/`\\cline`/`\\hhline`/`\\noalign` form); longtable sections."""

from __future__ import annotations

import contextlib
import copy
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from pylatexenc.latexwalker import (
    LatexCharsNode,
    LatexCommentNode,
    LatexGroupNode,
    LatexMacroNode,
    LatexNode,
    LatexSpecialsNode,
)

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
    body = list(body)  # a rule's trim spec may split a text node: ours to change, not the parse's
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
        row_is_empty = len(row.cells) == 1 and only_prefixes(row.cells[0])
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


def only_prefixes(nodes: list[LatexNode], prefixes: Iterable[str] = ROW_PREFIXES) -> bool:
    """Nothing drawn: blanks, comments and `prefixes` (`\\rowcolor` and the like; for a
    cell, `\\cellcolor` too: a cell with only its colour has no content)."""
    return all(
        (isinstance(node, LatexMacroNode) and node.macroname in prefixes) or is_blank([node])
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
                        # Text after the ')' is the next row's (`\cmidrule(lr)` with no range,
                        # then `Product B & ...`): it stays, not swallowed with the rule.
                        rest = part.chars.split(")", 1)[1]
                        if rest.strip():
                            remainder = copy.copy(part)
                            remainder.chars = rest
                            at -= 1
                            body[at] = remainder
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
