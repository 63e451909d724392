"""Tables: a tabular environment's spec, rows, cells, spans and colours → HTML."""

from __future__ import annotations

import copy
import re

from pylatexenc.latexwalker import (
    LatexCharsNode,
    LatexCommentNode,
    LatexEnvironmentNode,
    LatexMacroNode,
    LatexNode,
)

from renderers.errors import RenderWarning
from renderers.table_rows import (
    CELL_PREFIXES,
    RawRow,
    arrange_longtable,
    is_blank,
    only_prefixes,
    split_rows,
)
from renderers.tabular import Cell, ColumnSpec, grid_to_html, parse_colspec, place_spans
from renderers.translation import TranslatorBase, parse_fragment


class TableTranslator(TranslatorBase):
    """Translates tabular-like environments; cells go back through `nodes`."""

    def set_rowcolors(self, node: LatexMacroNode) -> None:
        args = self.args(node)
        try:
            start = int(self.raw(args[2]).strip())
        except ValueError:
            self.warn("\\rowcolors needs a row number first; row 1 assumed", node)
            start = 1
        odd = self.raw(args[3]).strip()
        even = self.raw(args[4]).strip()
        odd_css = self.resolve_color(odd, None, node) if odd else ""
        even_css = self.resolve_color(even, None, node) if even else ""
        self.rowcolors = (start, odd_css, even_css)

    def tabular(self, node: LatexEnvironmentNode) -> str:
        name = node.environmentname
        args = self.args(node)
        spec_text = self.raw(args[-1]) if args and args[-1] is not None else "l"
        spec = self.column_spec(spec_text, node)
        ncols = len(spec.columns)
        body = list(node.nodelist)
        if name.startswith(("supertabular", "mpsupertabular", "xtabular")):
            head = self.table_heads.get("tablefirsthead", self.table_heads.get("tablehead", []))
            tail = self.table_heads.get("tablelasttail", self.table_heads.get("tabletail", []))
            body = [*head, *body, *tail]
            if "tablecaption" in self.table_heads:
                self.counters["table"] += 1
                text = self.nodes(self.table_heads.pop("tablecaption"))
                self.pending_caption = (
                    f'<div class="caption">Table {self.counters["table"]}: {text}</div>'
                )
        rows, trailing = split_rows(
            body,
            ncols,
            group_text=self.raw,
            line_of=lambda n: self.line_of(n) or 0,
            length_px=self.px,
            rule_color=lambda n: self.color(n, 1, 0),
            warn=lambda message, n: self.warn(message, n),
        )
        trailing = arrange_longtable(rows, trailing)
        captions = ""
        kept: list[RawRow] = []
        for row in rows:  # longtable: "\\caption{...} \\\\" is a row of its own
            caption = next(
                (
                    n
                    for cell in row.cells
                    for n in cell
                    if isinstance(n, LatexMacroNode) and n.macroname == "caption"
                ),
                None,
            )
            if caption is not None and len(row.cells) == 1:
                captions += self.caption(caption)
            else:
                kept.append(row)
        rows = kept
        max_rows = self.limits.max_rows
        if max_rows is not None and len(rows) > max_rows:
            raise self.fail(
                f"table has {len(rows)} rows, more than the limit of {max_rows}",
                node,
                f"\\begin{{{name}}}",
            )
        captions = self.pending_caption + captions
        self.pending_caption = ""
        grid: list[list[Cell]] = []
        for row_number, row in enumerate(rows, start=1):
            grid.append(self.table_row(row.cells, spec, row_number, node))

        def line_of_row(index: int) -> int | None:
            """The line of the row's first content, not of the line break before it."""
            nodes = [n for cell in rows[index].cells for n in cell]
            first = next((n for n in nodes if not is_blank([n])), nodes[0] if nodes else node)
            return self.line_of(first)

        for row_index, message in place_spans(grid, line_of_row):
            self.warnings.append(RenderWarning(message, line_of_row(row_index), "\\multirow"))
        table = grid_to_html(grid, rows, trailing, length_css=self.css_length)
        if name in ("tabular*", "tabularx"):
            width = self.css_length(self.raw(args[0]))
            table = table.replace(
                '<table class="tabular">', f'<table class="tabular" style="width:{width}">', 1
            )
        box = f'{captions}<div class="tabular-box">{table}</div>'
        if name == "longtable":  # longtable centres itself and its caption
            return f'<div class="float center">{box}</div>'
        return box

    def column_spec(self, spec_text: str, node: LatexEnvironmentNode) -> ColumnSpec:
        """The column spec, read as array reads it; what it cannot read becomes `c`."""
        notes: list[str] = []
        try:
            spec = parse_colspec(spec_text, self.column_types, notes)
        except ValueError as error:
            self.warn(
                f"bad column spec '{spec_text.strip()}': {error}; one `l` column assumed",
                node,
                "column spec",
                partial=True,
            )
            return parse_colspec("l")
        for note in notes:
            self.warn(note, node, "column spec")
        return spec

    def table_row(
        self,
        cells: list[list[LatexNode]],
        spec: ColumnSpec,
        row_number: int,
        table: LatexEnvironmentNode,
    ) -> list[Cell]:
        ncols = len(spec.columns)
        row_color = self.row_background(row_number)
        placed: list[Cell] = []
        column = 0
        for nodes in cells:
            nodes = [n for n in nodes if not isinstance(n, LatexCommentNode)]
            for n in nodes:
                if isinstance(n, LatexMacroNode) and n.macroname == "rowcolor":
                    row_color = self.color(n, 1, 0)
            colspan, align, rules_left, rules_right = 1, None, None, None
            own: ColumnSpec | None = None  # a \multicolumn's own spec
            content = nodes
            significant = [
                n
                for n in nodes
                if not (isinstance(n, LatexCharsNode) and not n.chars.strip())
                and not (isinstance(n, LatexMacroNode) and n.macroname in CELL_PREFIXES)
            ]
            first = significant[0] if significant else None
            if isinstance(first, LatexMacroNode) and first.macroname == "multicolumn":
                margs = self.args(first)
                try:
                    colspan = max(1, int(self.raw(margs[0]).strip()))
                except ValueError:
                    self.warn("\\multicolumn needs a whole number of columns; 1 assumed", first)
                    colspan = 1
                own = self.column_spec(self.raw(margs[1]), table)
                align = own.columns[0].align
                rules_left, rules_right = own.rules_before[0], own.rules_before[-1]
                content = self.children(margs[2])
            if column + colspan > ncols:
                if column >= ncols:  # TeX stops the row here; we keep the text in the last cell
                    self.warn(
                        f"row {row_number} has more cells than the {ncols} columns of the spec "
                        "(extra '&' or missing '\\\\')",
                        first or table,
                        "&",
                        partial=True,
                    )
                    if placed:
                        extra = self.nodes(list(content))
                        placed[-1].html += f" {extra}" if extra.strip() else ""
                    continue
                self.warn(
                    f"\\multicolumn{{{colspan}}} in row {row_number} runs past the "
                    f"{ncols} columns of the spec",
                    first or table,
                    "\\multicolumn",
                )
                colspan = ncols - column
            col = spec.columns[column]
            rowspan = 1
            inner_nodes = content
            multirow = next(
                (n for n in content if isinstance(n, LatexMacroNode) and n.macroname == "multirow"),
                None,
            )
            if multirow is not None:
                margs = self.args(multirow)
                try:
                    rowspan = int(self.raw(margs[1]).strip())
                except ValueError:
                    self.warn("\\multirow needs a whole number of rows; 1 assumed", multirow)
                    rowspan = 1
                inner_nodes = self.children(margs[-1])
            background = row_color
            # A cell with only its colour is blank: under a \multirow it is the span's, as in TeX.
            blank = only_prefixes(list(inner_nodes), CELL_PREFIXES) and multirow is None
            if colspan == 1 and col.prefix:
                prefix_nodes = parse_fragment(col.prefix)
                inner_nodes = prefix_nodes + list(inner_nodes)
                # colortbl's order: \cellcolor over \rowcolor over \columncolor
                for n in prefix_nodes:
                    if isinstance(n, LatexMacroNode) and n.macroname == "columncolor":
                        background = row_color or self.color(n, 1, 0)
            if colspan == 1 and col.suffix:
                inner_nodes = _rstrip(list(inner_nodes)) + parse_fragment(col.suffix)
            for n in content:
                if isinstance(n, LatexMacroNode) and n.macroname == "cellcolor":
                    background = self.color(n, 1, 0)
            cell_html = self.nodes(list(inner_nodes))
            if col.numeric and colspan == 1:
                cell_html = _decimal_aligned(cell_html, column)
            edges = own.columns if own else spec.columns[column : column + colspan]
            placed.append(
                Cell(
                    html=cell_html,
                    column=column,
                    colspan=colspan,
                    rowspan=rowspan,
                    align=align or col.align,
                    background=background,
                    blank=blank,
                    rules_left=rules_left
                    if rules_left is not None
                    else (spec.rules_before[column] if column == 0 else 0),
                    rules_right=rules_right
                    if rules_right is not None
                    else spec.rules_before[column + colspan],
                    width=col.width if colspan == 1 else None,
                    valign=col.valign,
                    pad_left=not edges[0].no_pad_left,
                    pad_right=not edges[-1].no_pad_right,
                )
            )
            column += colspan
        while column < ncols:  # LaTeX pads short rows with empty cells
            placed.append(
                Cell(
                    html="",
                    column=column,
                    align=spec.columns[column].align,
                    background=row_color,
                    blank=True,
                    rules_left=spec.rules_before[column] if column == 0 else 0,
                    rules_right=spec.rules_before[column + 1],
                )
            )
            column += 1
        return placed

    def row_background(self, row_number: int) -> str | None:
        if self.rowcolors is None:
            return None
        start, odd, even = self.rowcolors
        if row_number < start:
            return None
        return (odd if row_number % 2 else even) or None


_PLAIN_NUMBER = re.compile(r"^(\s*[-+−]?[\d\u2009 ,]*)([.]\d+)?(\s*)$")


def _decimal_aligned(cell_html: str, column: int) -> str:
    """siunitx S column: integer and fraction in spans the page lines up on the marker."""
    match = _PLAIN_NUMBER.match(cell_html)
    if match is None or not match.group(1).strip():
        return cell_html
    integer, fraction = match.group(1).strip(), match.group(2) or ""
    return (
        f'<span class="num" data-s="{column}"><span class="int">{integer}</span>'
        f'<span class="frac">{fraction}</span></span>'
    )


def _rstrip(nodes: list[LatexNode]) -> list[LatexNode]:
    """A cell's trailing spaces go, as array's \\unskip drops them before a <{...} suffix."""
    while nodes and isinstance(nodes[-1], LatexCharsNode) and not nodes[-1].chars.strip():
        nodes = nodes[:-1]
    if nodes and isinstance(nodes[-1], LatexCharsNode):
        trimmed = copy.copy(nodes[-1])
        trimmed.chars = trimmed.chars.rstrip()
        nodes = [*nodes[:-1], trimmed]
    return nodes
