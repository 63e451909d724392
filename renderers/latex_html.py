"""LaTeX document → safe HTML, on pylatexenc's parser.

Every text node is HTML-escaped; math is passed to KaTeX as escaped text; nothing in the
source can produce markup, scripts, links or file reads. Unknown text macros render their
argument and add a warning; unknown environments and malformed tables are errors with a line.
"""

from __future__ import annotations

import copy
import html
import re
from dataclasses import dataclass, field

from pylatexenc import latexwalker
from pylatexenc.latex2text import LatexNodes2Text
from pylatexenc.latexwalker import (
    LatexCharsNode,
    LatexCommentNode,
    LatexEnvironmentNode,
    LatexGroupNode,
    LatexMacroNode,
    LatexMathNode,
    LatexNode,
    LatexSpecialsNode,
)

from renderers.colors import ColorBook
from renderers.errors import LatexProblem, LatexRenderError
from renderers.latex_vocabulary import (
    CONTEXT_DB,
    DECLARATIONS,
    DINGS,
    IGNORED_PREAMBLE_ONLY,
    INERT,
    PASS_ENVIRONMENTS,
    SPECIALS,
    STYLE_MACROS,
    SYMBOLS,
    TABULAR_ENVS,
)
from renderers.lengths import PX_PER_PT, length_to_px
from renderers.macros import expand, expand_tikz_shorthand
from renderers.page_setup import PageSetup, apply_class_options, apply_geometry
from renderers.siunitx import format_number, format_unit, quantity
from renderers.tabular import (
    Cell,
    ColumnSpec,
    RawRow,
    arrange_longtable,
    grid_to_html,
    is_blank,
    parse_colspec,
    place_spans,
    split_rows,
)

MAX_TABLE_ROWS = 400  # more is a runaway table, not data
_l2t = LatexNodes2Text(math_mode="verbatim")


@dataclass
class Translation:
    """The page body for the renderer, plus what it had to approximate."""

    html: str
    warnings: list[str] = field(default_factory=list)
    page: PageSetup = field(default_factory=PageSetup)
    pictures: list[Picture] = field(default_factory=list)  # TikZ, drawn by the renderer
    tikz_libraries: str = ""
    tikz_packages: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Picture:
    """A `tikzpicture` to draw, and where it is: its placeholder is `placeholder(index)`."""

    index: int
    line: int | None
    source: str


def picture_placeholder(index: int) -> str:
    return f'<span class="tikz" data-picture="{index}"></span>'


class _Translator:
    def __init__(self, source: str) -> None:
        self.source = source
        self.walker = latexwalker.LatexWalker(
            source, latex_context=CONTEXT_DB, tolerant_parsing=False
        )
        self.colors = ColorBook()
        self.warnings: list[str] = []
        self.page = PageSetup()
        self.sans_default = False
        self.pictures: list[Picture] = []
        self.tikz_libraries: list[str] = []
        self.tikz_packages: dict[str, str] = {}
        self.rowcolors: tuple[int, str, str] | None = None
        self.table_counter = 0

    # ---------- helpers
    def line_of(self, node: LatexNode | None) -> int | None:
        if node is None or node.pos is None:
            return None
        return int(self.walker.pos_to_lineno_colno(node.pos)[0])

    def fail(self, message: str, node: LatexNode | None, construct: str) -> LatexRenderError:
        return LatexRenderError(LatexProblem(message, self.line_of(node), construct))

    def warn(self, message: str, node: LatexNode | None) -> None:
        line = self.line_of(node)
        self.warnings.append(f"line {line}: {message}" if line else message)

    def warn_inert(self, node: LatexMacroNode) -> None:
        # translate() renamed \write18 so that it parses as one macro with one argument.
        shown = "write18" if node.macroname == "writeshell" else node.macroname
        self.warn(f"\\{shown} ignored: documents cannot read or write files", node)

    @staticmethod
    def args(node: LatexMacroNode | LatexEnvironmentNode) -> list[LatexNode | None]:
        return list(node.nodeargd.argnlist) if node.nodeargd is not None else []

    @staticmethod
    def raw(node: LatexNode | None) -> str:
        """The source text of an argument without its braces."""
        if node is None:
            return ""
        if isinstance(node, LatexGroupNode):
            return "".join(child.latex_verbatim() for child in node.nodelist)
        return str(node.latex_verbatim())

    @staticmethod
    def children(node: LatexNode | None) -> list[LatexNode]:
        if node is None:
            return []
        if isinstance(node, LatexGroupNode):
            return list(node.nodelist)
        return [node]

    def px(self, length: str) -> float:
        return length_to_px(
            length,
            em_px=self.page.font_size_pt * PX_PER_PT,
            text_width_px=self.page.text_width_px,
            paper_width_px=self.page.paper_width_px,
        )

    def css_length(self, length: str) -> str:
        try:
            return f"{self.px(length):.1f}px"
        except ValueError:
            return "auto"

    def color(self, node: LatexMacroNode, expression_arg: int, model_arg: int | None) -> str:
        args = self.args(node)
        model = self.raw(args[model_arg]) if model_arg is not None and args[model_arg] else None
        expression = self.raw(args[expression_arg])
        try:
            return self.colors.resolve(expression, model)
        except ValueError as error:
            raise self.fail(str(error), node, f"\\{node.macroname}") from None

    # ---------- document
    def translate(self) -> Translation:
        try:
            nodes, _, _ = self.walker.get_latex_nodes()
        except latexwalker.LatexWalkerParseError as error:
            raise LatexRenderError(
                LatexProblem(_parse_message(error), getattr(error, "lineno", None), "syntax")
            ) from None
        document = next(
            (
                n
                for n in nodes
                if isinstance(n, LatexEnvironmentNode) and n.environmentname == "document"
            ),
            None,
        )
        if document is not None:
            self.read_preamble(nodes[: nodes.index(document)])
            body = list(document.nodelist)
        else:
            if any(isinstance(n, LatexMacroNode) and n.macroname == "documentclass" for n in nodes):
                raise self.fail("\\documentclass without \\begin{document}", nodes[0], "document")
            body = nodes
        markup = self.nodes(body)
        return Translation(
            html=markup,
            warnings=self.warnings,
            page=self.page,
            pictures=self.pictures,
            tikz_libraries=",".join(self.tikz_libraries),
            tikz_packages=self.tikz_packages,
        )

    def read_preamble(self, nodes: list[LatexNode]) -> None:
        for node in nodes:
            if not isinstance(node, LatexMacroNode):
                continue
            if node.macroname == "documentclass":
                apply_class_options(self.page, self.raw(self.args(node)[0]))
            elif node.macroname == "usepackage":
                options, packages = (self.raw(a) for a in self.args(node))
                names = {name.strip() for name in packages.split(",")}
                if "geometry" in names:
                    apply_geometry(self.page, options)
                for package in names & {"pgfplots", "circuitikz", "tikz-cd", "chemfig"}:
                    self.tikz_packages[package] = options
                if names & {"helvet", "sansmath", "arev", "cmbright"} and self.sans_default:
                    self.page.sans = True
            elif node.macroname == "usetikzlibrary":
                self.tikz_libraries += [
                    name.strip() for name in self.raw(self.args(node)[0]).split(",") if name.strip()
                ]
            elif node.macroname == "geometry":
                apply_geometry(self.page, self.raw(self.args(node)[0]))
            elif node.macroname == "pagecolor":
                self.page.page_color = self.color(node, 1, 0)
            elif node.macroname == "definecolor":
                self.definecolor(node)
            elif node.macroname == "rowcolors":
                self.set_rowcolors(node)
            elif node.macroname in INERT:
                self.warn_inert(node)

    def definecolor(self, node: LatexMacroNode) -> None:
        name, model, spec = (self.raw(a) for a in self.args(node))
        try:
            self.colors.define(name, model, spec)
        except ValueError as error:
            raise self.fail(str(error), node, "\\definecolor") from None

    def set_rowcolors(self, node: LatexMacroNode) -> None:
        args = self.args(node)
        try:
            start = int(self.raw(args[2]).strip())
        except ValueError:
            raise self.fail("\\rowcolors needs a row number first", node, "\\rowcolors") from None
        odd = self.raw(args[3]).strip()
        even = self.raw(args[4]).strip()
        try:
            odd_css = self.colors.resolve(odd) if odd else ""
            even_css = self.colors.resolve(even) if even else ""
        except ValueError as error:
            raise self.fail(str(error), node, "\\rowcolors") from None
        self.rowcolors = (start, odd_css, even_css)

    # ---------- inline content
    def nodes(self, nodes: list[LatexNode]) -> str:
        out: list[str] = []
        for index, node in enumerate(nodes):
            if isinstance(node, LatexMacroNode) and node.macroname in DECLARATIONS:
                rest = self.nodes(nodes[index + 1 :])
                return "".join(out) + f'<span style="{DECLARATIONS[node.macroname]}">{rest}</span>'
            if isinstance(node, LatexMacroNode) and node.macroname == "color":
                css = self.color(node, 1, 0)
                rest = self.nodes(nodes[index + 1 :])
                return "".join(out) + f'<span style="color:{css}">{rest}</span>'
            out.append(self.node(node))
        return "".join(out)

    def node(self, node: LatexNode) -> str:
        if isinstance(node, LatexCharsNode):
            return _chars(node.chars)
        if isinstance(node, LatexCommentNode):
            return ""
        if isinstance(node, LatexGroupNode):
            return self.nodes(list(node.nodelist))
        if isinstance(node, LatexSpecialsNode):
            if node.specials_chars == "&":
                raise self.fail("'&' outside a table", node, "&")
            return html.escape(SPECIALS.get(node.specials_chars, node.specials_chars))
        if isinstance(node, LatexMathNode):
            tex = "".join(child.latex_verbatim() for child in node.nodelist)
            display = node.displaytype == "display"
            return f'<span class="math{" display" if display else ""}">{html.escape(tex)}</span>'
        if isinstance(node, LatexMacroNode):
            return self.macro(node)
        if isinstance(node, LatexEnvironmentNode):
            return self.environment(node)
        return ""

    def macro(self, node: LatexMacroNode) -> str:
        name = node.macroname
        args = self.args(node)
        if name in STYLE_MACROS:
            tag, style = STYLE_MACROS[name]
            attr = f' style="{style}"' if style else ""
            return f"<{tag}{attr}>{self.nodes(self.children(args[-1]))}</{tag}>"
        if name in SYMBOLS:
            if name == "par":
                return '<span class="par"></span>'
            if name == "newline":
                return "<br>"
            return html.escape(SYMBOLS[name])
        if name == "\\":
            return "<br>"
        if name == "textcolor":
            css = self.color(node, 1, 0)
            return f'<span style="color:{css}">{self.nodes(self.children(args[2]))}</span>'
        if name == "colorbox":
            css = self.color(node, 1, 0)
            return (
                f'<span style="background-color:{css};padding:1px 3px">'
                f"{self.nodes(self.children(args[2]))}</span>"
            )
        if name in ("cellcolor", "rowcolor", "columncolor"):
            return ""  # handled by the table layout
        if name == "definecolor":
            self.definecolor(node)
            return ""
        if name == "rowcolors":
            self.set_rowcolors(node)
            return ""
        if name in ("vspace", "addlinespace", "bigskip", "medskip", "smallskip"):
            amount = self.css_length(self.raw(args[-1])) if args and args[-1] else "6px"
            return f'<span class="vspace" style="height:{amount}"></span>'
        if name == "hspace":
            width = self.css_length(self.raw(args[-1]))
            return f'<span style="display:inline-block;width:{width}"></span>'
        if name == "caption":
            return self.caption(node)
        if name in ("makecell", "thead"):
            inner = self.nodes(self.children(args[-1]))
            weight = "font-weight:bold;" if name == "thead" else ""
            return f'<span class="makecell" style="{weight}">{inner}</span>'
        if name == "ding":
            return html.escape(DINGS.get(self.raw(args[0]).strip(), "•"))
        if name in ("href", "url"):
            return f'<span class="link">{self.nodes(self.children(args[-1]))}</span>'
        if name == "footnote":
            return f"<sup>{self.nodes(self.children(args[-1]))}</sup>"
        if name in ("multicolumn", "multirow"):
            raise self.fail(f"\\{name} outside a table", node, f"\\{name}")
        if name in ("hline", "toprule", "midrule", "bottomrule", "cline", "cmidrule"):
            raise self.fail(f"\\{name} outside a table row boundary", node, f"\\{name}")
        if name in INERT:
            self.warn_inert(node)
            return ""
        if name in IGNORED_PREAMBLE_ONLY:
            return ""
        if name in ("section", "subsection", "paragraph"):
            level = {"section": "h2", "subsection": "h3", "paragraph": "b"}[name]
            return f"<{level}>{self.nodes(self.children(args[-1]))}</{level}>"
        if name == "resizebox":
            return self.resizebox(node)
        if name == "scalebox":
            try:
                factor = float(self.raw(args[0]).strip())
            except ValueError:
                raise self.fail(
                    "\\scalebox needs a number such as 0.8", node, "\\scalebox"
                ) from None
            inner = self.nodes(self.children(args[-1]))
            return f'<span class="box" style="zoom:{factor:.4f}">{inner}</span>'
        if name == "rule":
            width, height = self.css_length(self.raw(args[1])), self.css_length(self.raw(args[2]))
            return (
                f'<span style="display:inline-block;width:{width};height:{height};'
                'background:#000;vertical-align:baseline"></span>'
            )
        if name == "makebox":
            return self.nodes(self.children(args[-1]))
        if name in ("num", "SI", "si", "qty", "unit", "ang", "SIrange", "numrange"):
            return self.siunitx(name, args)
        text = _l2t.nodelist_to_text([node])
        if text and text.strip() != "":
            return html.escape(text)
        self.warn(f"unknown macro \\{name} rendered as its argument", node)
        return self.nodes([a for a in args if a is not None])

    def siunitx(self, name: str, args: list[LatexNode | None]) -> str:
        values = [self.raw(a) for a in args if a is not None]
        if name == "num":
            text = format_number(values[-1])
        elif name in ("si", "unit"):
            text = format_unit(values[-1])
        elif name == "SI" or name == "qty":
            text = quantity(values[-2], values[-1])
        elif name == "ang":
            text = format_number(values[-1]) + "°"
        elif name == "SIrange":
            text = f"{format_number(values[-3])} to {quantity(values[-2], values[-1])}"
        else:
            text = f"{format_number(values[-2])} to {format_number(values[-1])}"
        return html.escape(text)

    def resizebox(self, node: LatexMacroNode) -> str:
        """`\\resizebox{w}{h}{…}`: the page scales the box to the width once laid out."""
        args = self.args(node)
        width_text, height_text = self.raw(args[0]).strip(), self.raw(args[1]).strip()
        inner = self.nodes(self.children(args[2]))
        target = width_text if width_text != "!" else None
        try:
            width_px = self.px(target) if target else None
            height_px = self.px(height_text) if height_text != "!" and not target else None
        except ValueError:
            raise self.fail(
                f"\\resizebox size '{width_text}' is not a length", node, "\\resizebox"
            ) from None
        attrs = ""
        if width_px is not None:
            attrs = f' data-fit-width="{width_px:.1f}"'
        elif height_px is not None:
            attrs = f' data-fit-height="{height_px:.1f}"'
        return f'<span class="box"{attrs}>{inner}</span>'

    def caption(self, node: LatexMacroNode) -> str:
        self.table_counter += 1
        args = self.args(node)
        text = self.nodes(self.children(args[-1]))
        return f'<div class="caption">Table {self.table_counter}: {text}</div>'

    # ---------- environments
    def environment(self, node: LatexEnvironmentNode) -> str:
        name = node.environmentname
        if name in TABULAR_ENVS:
            return self.tabular(node)
        if name in ("table", "table*", "figure"):
            body = list(node.nodelist)
            centered = any(
                isinstance(n, LatexMacroNode) and n.macroname == "centering" for n in body
            )
            saved = self.rowcolors
            inner = self.nodes(body)
            self.rowcolors = saved
            return f'<div class="float{" center" if centered else ""}">{inner}</div>'
        if name in ("center", "flushleft", "flushright"):
            align = {"center": "center", "flushleft": "left", "flushright": "right"}[name]
            return f'<div style="text-align:{align}">{self.nodes(list(node.nodelist))}</div>'
        if name in ("tikzpicture", "circuitikz"):
            picture = Picture(len(self.pictures), self.line_of(node), node.latex_verbatim())
            self.pictures.append(picture)
            return picture_placeholder(picture.index)
        if name == "adjustbox":
            options = self.raw(self.args(node)[0])
            match = re.search(r"(max width|width)\s*=\s*([^,]+)", options)
            attrs = ""
            if match:
                try:
                    key = "data-max-width" if match.group(1) == "max width" else "data-fit-width"
                    attrs = f' {key}="{self.px(match.group(2).strip()):.1f}"'
                except ValueError:
                    self.warn(f"adjustbox option '{match.group(0)}' ignored", node)
            return f'<div class="box"{attrs}>{self.nodes(list(node.nodelist))}</div>'
        if name == "minipage":
            width = self.css_length(self.raw(self.args(node)[-1]))
            return (
                f'<div class="minipage" style="width:{width}">'
                f"{self.nodes(list(node.nodelist))}</div>"
            )
        if name in PASS_ENVIRONMENTS:
            return f"<div>{self.nodes(list(node.nodelist))}</div>"
        if name in ("itemize", "enumerate"):
            return self.listing(node)
        if name in ("equation", "equation*", "align", "align*", "displaymath"):
            tex = "".join(child.latex_verbatim() for child in node.nodelist)
            if name.startswith("align"):
                tex = f"\\begin{{aligned}}{tex}\\end{{aligned}}"
            return f'<span class="math display">{html.escape(tex)}</span>'
        raise self.fail(f"unknown environment '{name}'", node, f"\\begin{{{name}}}")

    def listing(self, node: LatexEnvironmentNode) -> str:
        tag = "ul" if node.environmentname == "itemize" else "ol"
        items: list[list[LatexNode]] = []
        for child in node.nodelist:
            if isinstance(child, LatexMacroNode) and child.macroname == "item":
                items.append([])
            elif items:
                items[-1].append(child)
        body = "".join(f"<li>{self.nodes(item)}</li>" for item in items)
        return f"<{tag}>{body}</{tag}>"

    def tabular(self, node: LatexEnvironmentNode) -> str:
        name = node.environmentname
        args = self.args(node)
        spec_text = self.raw(args[-1])
        try:
            spec = parse_colspec(spec_text)
        except ValueError as error:
            raise self.fail(
                f"bad column spec '{spec_text}': {error}", node, f"\\begin{{{name}}}"
            ) from None
        ncols = len(spec.columns)
        rows, trailing = split_rows(
            list(node.nodelist),
            ncols,
            group_text=self.raw,
            line_of=lambda n: self.line_of(n) or 0,
            length_px=self.px,
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
        if len(rows) > MAX_TABLE_ROWS:
            raise self.fail(
                f"table has {len(rows)} rows, more than {MAX_TABLE_ROWS}",
                node,
                f"\\begin{{{name}}}",
            )
        grid: list[list[Cell]] = []
        for row_number, row in enumerate(rows, start=1):
            grid.append(self.table_row(row.cells, spec, row_number, node))
        place_spans(
            grid,
            lambda index: (
                self.line_of(rows[index].cells[0][0])
                if rows[index].cells and rows[index].cells[0]
                else self.line_of(node)
            ),
        )
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
                n for n in nodes if not (isinstance(n, LatexCharsNode) and not n.chars.strip())
            ]
            first = significant[0] if significant else None
            if isinstance(first, LatexMacroNode) and first.macroname == "multicolumn":
                margs = self.args(first)
                try:
                    colspan = int(self.raw(margs[0]).strip())
                    own = parse_colspec(self.raw(margs[1]))
                except ValueError as error:
                    raise self.fail(f"bad \\multicolumn: {error}", first, "\\multicolumn") from None
                align = own.columns[0].align
                rules_left, rules_right = own.rules_before[0], own.rules_before[-1]
                content = self.children(margs[2])
            if column + colspan > ncols:
                raise self.fail(
                    f"row {row_number} has more cells than the {ncols} columns of the spec "
                    "(extra '&' or missing '\\\\')",
                    first or table,
                    "&",
                )
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
                    raise self.fail(
                        "\\multirow needs a whole number of rows", multirow, "\\multirow"
                    ) from None
                inner_nodes = self.children(margs[-1])
            background = row_color
            blank = is_blank(list(inner_nodes)) and multirow is None
            if colspan == 1 and col.prefix:
                prefix_nodes = _parse_fragment(col.prefix)
                inner_nodes = prefix_nodes + list(inner_nodes)
                # colortbl's order: \cellcolor over \rowcolor over \columncolor
                for n in prefix_nodes:
                    if isinstance(n, LatexMacroNode) and n.macroname == "columncolor":
                        background = row_color or self.color(n, 1, 0)
            if colspan == 1 and col.suffix:
                inner_nodes = _rstrip(list(inner_nodes)) + _parse_fragment(col.suffix)
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


def _parse_fragment(source: str) -> list[LatexNode]:
    walker = latexwalker.LatexWalker(source, latex_context=CONTEXT_DB, tolerant_parsing=True)
    nodes, _, _ = walker.get_latex_nodes()
    return list(nodes)


def _chars(text: str) -> str:
    text = re.sub(r"\n[ \t]*\n\s*", "\x00", text)
    escaped = html.escape(text)
    return escaped.replace("\x00", '<span class="par"></span>')


def _parse_message(error: latexwalker.LatexWalkerParseError) -> str:
    message = str(getattr(error, "msg", "") or error).splitlines()[0]
    lowered = message.lower()
    if "closing brace" in lowered or "end of stream" in lowered or "closing environment" in lowered:
        return f"unbalanced braces or environments: {message}"
    return message


_SANS_DEFAULT = re.compile(r"\\renewcommand\s*\{?\\familydefault\}?\s*\{\s*\\sfdefault\s*\}")


_WRITE18 = re.compile(r"\\write\s*18\s*(?=\{)")


def translate(source: str) -> Translation:
    """Translates a LaTeX document (or a bare tabular) to the renderer's HTML body."""
    # \write18{cmd} (shell escape): one macro with one argument, so the command is dropped.
    source = _WRITE18.sub(r"\\writeshell", source)
    translator = _Translator(expand_tikz_shorthand(expand(source)))
    translator.sans_default = bool(_SANS_DEFAULT.search(source))
    return translator.translate()
