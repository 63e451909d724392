"""The translator's shared state and tools: where a node is, how to warn, lengths, colours.

`TranslatorBase` holds what every part of the translation reads and writes; the table part
(`table_translation`), the document part (`document_translation`) and the command dispatcher
(`latex_html`) build on it in that order.
"""

from __future__ import annotations

import copy
import html
import re
from dataclasses import dataclass, field

from pylatexenc import latexwalker
from pylatexenc.latexwalker import (
    LatexCharsNode,
    LatexEnvironmentNode,
    LatexGroupNode,
    LatexMacroNode,
    LatexNode,
)

from renderers.colors import ColorBook
from renderers.errors import LatexProblem, LatexRenderError, RenderWarning
from renderers.latex_vocabulary import CONTEXT_DB
from renderers.lengths import PX_PER_PT, length_to_px
from renderers.limits import RenderLimits
from renderers.macros import braced_group
from renderers.page_setup import PageSetup


@dataclass
class Translation:
    """The page body for the renderer, plus what it had to approximate."""

    html: str
    warnings: list[RenderWarning] = field(default_factory=list)
    page: PageSetup = field(default_factory=PageSetup)
    pictures: list[Picture] = field(default_factory=list)  # TikZ, drawn by the renderer
    tikz_libraries: str = ""
    tikz_packages: dict[str, str] = field(default_factory=dict)
    tikz_preamble: str = ""  # colours and styles every picture needs

    @property
    def partial(self) -> bool:
        return any(warning.partial for warning in self.warnings)


@dataclass(frozen=True)
class Picture:
    """A `tikzpicture` to draw, and where it is: its placeholder is `placeholder(index)`."""

    index: int
    line: int | None
    source: str


# \tableofcontents and the lists of figures and tables: filled in once the body is read.
LIST_PLACEHOLDERS = {
    name: f'<span class="toc-placeholder" data-list="{name}"></span>'
    for name in ("tableofcontents", "listoffigures", "listoftables")
}


def picture_placeholder(index: int) -> str:
    return f'<span class="tikz" data-picture="{index}"></span>'


class TranslatorBase:
    """State of one document's translation and the helpers every part uses."""

    def __init__(
        self,
        source: str,
        limits: RenderLimits,
        verbatim_bodies: list[str] | None = None,
    ) -> None:
        self.source = source
        self.verbatim_bodies = verbatim_bodies or []
        self.limits = limits
        self.clamped_lengths: list[str] = []
        self.walker = latexwalker.LatexWalker(
            source, latex_context=CONTEXT_DB, tolerant_parsing=False
        )
        self.colors = ColorBook()
        self.warnings: list[RenderWarning] = []
        self.column_types: dict[str, str] = {}
        self.footnotes: list[str] = []
        self.title_parts: dict[str, str] = {}
        self.section_numbers = [0, 0, 0]
        self.table_heads: dict[str, list[LatexNode]] = {}
        self.pending_caption = ""
        self.page = PageSetup()
        self.sans_default = False
        self.thead_font = "\\footnotesize"  # makecell's \theadfont, for \thead
        self.pictures: list[Picture] = []
        self.tikz_libraries: list[str] = []
        self.tikz_packages: dict[str, str] = {}
        self.tikz_preamble: list[str] = []
        self.rowcolors: tuple[int, str, str] | None = None
        self.counters = {"table": 0, "figure": 0}
        self.float_kind = "table"  # what a \\caption here numbers
        self.contents: list[tuple[int, str]] = []  # sections, for \\tableofcontents
        self.captions: list[tuple[str, str]] = []  # (kind, "1 text"), for \\listoftables
        self.unknown_macro_before = False

    # ---------- helpers
    def line_of(self, node: LatexNode | None) -> int | None:
        if node is None or node.pos is None:
            return None
        return int(self.walker.pos_to_lineno_colno(node.pos)[0])

    def fail(self, message: str, node: LatexNode | None, construct: str) -> LatexRenderError:
        return LatexRenderError(LatexProblem(message, self.line_of(node), construct))

    def warn(
        self, message: str, node: LatexNode | None, construct: str = "", partial: bool = False
    ) -> None:
        if not construct and isinstance(node, LatexMacroNode):
            construct = f"\\{node.macroname}"
        elif not construct and isinstance(node, LatexEnvironmentNode):
            construct = f"\\begin{{{node.environmentname}}}"
        self.warnings.append(RenderWarning(message, self.line_of(node), construct, partial))

    def warn_inert(self, node: LatexMacroNode) -> None:
        # translate() renamed \write18 so that it parses as one macro with one argument.
        shown = "write18" if node.macroname == "writeshell" else node.macroname
        # Only a missing picture changes what a reader of the table sees.
        self.warn(
            f"\\{shown} ignored: documents cannot read or write files",
            node,
            f"\\{shown}",
            partial=shown == "includegraphics",
        )

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
        """A length in CSS px, no longer than the limit: `\\vspace{5000cm}` must not make a
        page the browser cannot draw (the clamp is reported as partial at the end)."""
        value = length_to_px(
            length,
            em_px=self.page.font_size_pt * PX_PER_PT,
            text_width_px=self.page.text_width_px,
            paper_width_px=self.page.paper_width_px,
        )
        limit = self.limits.max_length_px
        if abs(value) > limit:
            self.clamped_lengths.append(length.strip())
            return limit if value > 0 else -limit
        return value

    def css_length(self, length: str) -> str:
        try:
            return f"{self.px(length):.1f}px"
        except ValueError:
            return "auto"

    def color(self, node: LatexMacroNode, expression_arg: int, model_arg: int | None) -> str:
        args = self.args(node)
        model = self.raw(args[model_arg]) if model_arg is not None and args[model_arg] else None
        expression = self.raw(args[expression_arg]) if expression_arg < len(args) else ""
        return self.resolve_color(expression, model, node)

    def resolve_color(self, expression: str, model: str | None, node: LatexNode | None) -> str:
        """CSS for an xcolor expression; what we cannot read becomes the nearest we can."""
        try:
            return self.colors.resolve(expression, model)
        except ValueError as error:
            fallback = self.colors.approximate(expression)
            self.warn(f"{error}; drawn as {fallback}", node, "colour")
            return fallback

    # ---------- document
    def math_source(self, nodes: list[LatexNode], numbered: bool = False) -> str:
        """TeX for KaTeX: the document's colours resolved (KaTeX knows only CSS names) and
        equation bookkeeping that draws nothing removed: `\\label`, and `\\nonumber` where
        nothing is `numbered` (KaTeX numbers the equations it is given, honouring it)."""
        tex = "".join(child.latex_verbatim() for child in nodes)
        tex = (MATH_LABEL if numbered else MATH_BOOKKEEPING).sub("", tex)

        def resolved(match: re.Match[str]) -> str:
            colour = self.resolve_color(match.group(2), None, None)
            return f"{match.group(1)}{{{colour}}}"

        # Every colour command's (first) colour, then \fcolorbox's background after its frame.
        for pattern in (MATH_COLOR, MATH_FRAME_BACKGROUND):
            tex = pattern.sub(resolved, tex)
        return tex

    def nodes(self, nodes: list[LatexNode]) -> str:
        raise NotImplementedError

    def caption(self, node: LatexMacroNode, kind: str | None = None) -> str:
        raise NotImplementedError


MATH_COLOR = re.compile(r"(\\(?:color|textcolor|colorbox|fcolorbox)\s*)\{([^{}]*)\}")
MATH_FRAME_BACKGROUND = re.compile(r"(\\fcolorbox\s*\{[^{}]*\}\s*)\{([^{}]*)\}")
MATH_LABEL = re.compile(r"\\label\s*\{[^{}]*\}")
MATH_BOOKKEEPING = re.compile(MATH_LABEL.pattern + r"|\\(?:nonumber|notag)(?![A-Za-z])")


def strip_comments(source: str) -> str:
    return re.sub(r"(?<!\\)%[^\n]*", "", source)


def without_leading_options(nodes: list[LatexNode]) -> list[LatexNode]:
    """An unknown environment's `[key=value]` options are settings, not text to draw."""
    start = 0
    while start < len(nodes) and isinstance(nodes[start], LatexCharsNode):
        if nodes[start].chars.strip():  # type: ignore[attr-defined]
            break
        start += 1
    first = nodes[start] if start < len(nodes) else None
    if not (isinstance(first, LatexCharsNode) and first.chars.lstrip().startswith("[")):
        return nodes
    for index in range(start, len(nodes)):
        node = nodes[index]
        if isinstance(node, LatexCharsNode) and "]" in node.chars:
            rest = copy.copy(node)
            rest.chars = node.chars[node.chars.index("]") + 1 :]
            return [rest, *nodes[index + 1 :]]
    return nodes


def split_top_level(text: str) -> list[str]:
    """`a, {b, c}, d` → `["a", "{b, c}", "d"]`: comma-separated items, stripped, empty ones
    dropped; commas inside braces are kept."""
    items: list[str] = []
    depth = 0
    current = ""
    for char in text + ",":
        if char == "," and depth == 0:
            if current.strip():
                items.append(current.strip())
            current = ""
            continue
        depth += (char == "{") - (char == "}")
        current += char
    return items


def key_values(options: str) -> dict[str, str]:
    """`title=A, colback=blue!5, sharp corners` → a dict; commas inside braces are kept."""
    result: dict[str, str] = {}
    for item in split_top_level(options):
        key, _, value = item.partition("=")
        if key.strip():
            result[key.strip()] = value.strip()
    return result


def unbrace(value: str) -> str:
    """A key's value without the braces around all of it: `{{a, b}}` → `a, b`, `{a}{b}` kept."""
    value = value.strip()
    while value.startswith("{") and braced_group(value, 0) == (value[1:-1], len(value)):
        value = value[1:-1].strip()
    return value


def parse_fragment(source: str) -> list[LatexNode]:
    walker = latexwalker.LatexWalker(source, latex_context=CONTEXT_DB, tolerant_parsing=True)
    nodes, _, _ = walker.get_latex_nodes()
    return list(nodes)


def escaped_text(text: str) -> str:
    text = re.sub(r"\n[ \t]*\n\s*", "\x00", text)
    escaped = html.escape(text)
    return escaped.replace("\x00", '<span class="par"></span>')
