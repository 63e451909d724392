"""LaTeX document → safe HTML, on pylatexenc's parser.

Every text node is HTML-escaped; math is passed to KaTeX as escaped text; nothing in the
source can produce markup, scripts, links or file reads.

Tolerance is the rule, as in pdflatex's nonstop mode: what cannot be drawn exactly is drawn as
closely as we can and reported as a `RenderWarning` (an unknown environment draws its body, an
unknown command its argument, an unknown colour the nearest we know). Warnings that change what
is visible are `partial`; the caller decides whether such an image is good enough. Errors stay
for what TeX itself cannot draw and for the limits a caller sets.
"""

from __future__ import annotations

import html
import re

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

from renderers.document_translation import DocumentTranslator
from renderers.errors import LatexProblem, LatexRenderError, RenderWarning, refuse_partial
from renderers.latex_vocabulary import (
    ALIGNMENTS,
    CONTEXT_DB,
    DECLARATIONS,
    IGNORED_PREAMBLE_ONLY,
    INERT,
    SECTIONS,
    SILENT,
    SPECIALS,
    STYLE_MACROS,
    SYMBOLS,
    TABLE_HEADS,
    TEX_ONLY_TIKZ_LIBRARIES,
    TIKZ_PREAMBLE_MACROS,
    VERBATIM_ENVIRONMENTS,
    ding,
)
from renderers.limits import RenderLimits, nesting_depth
from renderers.macros import collect_definitions, expand, expand_tikz_shorthand
from renderers.page_setup import apply_class_options, apply_geometry
from renderers.pgfplotstable import expand_pgfplotstable
from renderers.siunitx import format_number, format_unit, quantity
from renderers.table_rows import TABLE_RULES
from renderers.translation import (
    LIST_PLACEHOLDERS,
    Translation,
    escaped_text,
    parse_fragment,
    strip_comments,
    without_leading_options,
)

_l2t = LatexNodes2Text(math_mode="verbatim")


class _Translator(DocumentTranslator):
    """Walks the parsed document: the preamble, then every node through `macro`."""

    def translate(self) -> Translation:
        try:
            nodes, _, _ = self.walker.get_latex_nodes()
        except latexwalker.LatexWalkerParseError as error:
            # pdflatex in nonstop mode skips the stray token and goes on; so do we, and say so.
            self.warnings.append(
                RenderWarning(
                    _parse_message(error), getattr(error, "lineno", None), "syntax", partial=True
                )
            )
            self.walker = latexwalker.LatexWalker(
                self.source, latex_context=CONTEXT_DB, tolerant_parsing=True
            )
            nodes, _, _ = self.walker.get_latex_nodes()
        if not self.source.strip():
            raise LatexRenderError(LatexProblem("the document is empty", None, "document"))
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
            classes = [
                n for n in nodes if isinstance(n, LatexMacroNode) and n.macroname == "documentclass"
            ]
            if classes:  # TeX stops at the end of the file with nothing typeset
                raise self.fail("\\documentclass without \\begin{document}", classes[0], "document")
            body = nodes
        markup = self.nodes(body) + self.footnote_block()
        for name, placeholder in LIST_PLACEHOLDERS.items():
            if placeholder in markup:
                markup = markup.replace(placeholder, self.contents_block(name))
        return Translation(
            html=markup,
            warnings=self.warnings,
            page=self.page,
            pictures=self.pictures,
            tikz_libraries=",".join(
                name for name in self.tikz_libraries if name not in TEX_ONLY_TIKZ_LIBRARIES
            ),
            tikz_packages=self.tikz_packages,
            tikz_preamble="\n".join(self.tikz_preamble),
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
            elif node.macroname in INERT:
                self.warn_inert(node)
            else:
                self.definition(node)

    def definition(self, node: LatexMacroNode) -> bool:
        """Declarations that may stand in the preamble or the body; True if this was one."""
        name = node.macroname
        args = self.args(node)
        if name in TIKZ_PREAMBLE_MACROS:
            self.tikz_preamble.append(strip_comments(node.latex_verbatim()))
            if name in ("tikzset", "pgfplotsset", "usepgfplotslibrary"):
                return True
        if name == "definecolor":
            color_name, model, spec = (self.raw(a) for a in args)
            try:
                self.colors.define(color_name, model, spec)
            except ValueError as error:
                fallback = self.colors.approximate(spec)
                self.colors.define(color_name, "HTML", fallback.lstrip("#"))
                self.warn(f"{error}; {color_name} drawn as {fallback}", node, "colour")
        elif name == "colorlet":
            color_name = self.raw(args[1]).strip()
            css = self.resolve_color(self.raw(args[3]), None, node)
            self.colors.define(color_name, "HTML", css.lstrip("#"))
        elif name == "rowcolors":
            self.set_rowcolors(node)
        elif name == "newcolumntype":
            letter = self.raw(args[0]).strip()
            if len(letter) == 1:
                self.column_types[letter] = self.raw(args[2])
            else:
                self.warn(f"column type name '{letter}' must be one letter", node)
        elif name in ("title", "author", "date"):
            self.title_parts[name] = self.nodes(self.children(args[-1]))
        elif name in TABLE_HEADS:
            self.table_heads[name] = self.children(args[-1])
        else:
            return False
        return True

    def nodes(self, nodes: list[LatexNode]) -> str:
        """A group's content. A declaration (`\\bfseries`, `\\color{red}`, `\\centering`)
        wraps the rest of the group; the wrappers close at its end (iteratively: a thousand
        declarations in a row must not nest a thousand calls)."""
        out: list[str] = []
        closers: list[str] = []
        for node in nodes:
            if isinstance(node, LatexMacroNode) and node.macroname in DECLARATIONS:
                out.append(f'<span style="{DECLARATIONS[node.macroname]}">')
                closers.append("</span>")
                continue
            if isinstance(node, LatexMacroNode) and node.macroname in ALIGNMENTS:
                out.append(f'<div style="text-align:{ALIGNMENTS[node.macroname]}">')
                closers.append("</div>")
                continue
            if isinstance(node, LatexMacroNode) and node.macroname == "color":
                out.append(f'<span style="color:{self.color(node, 1, 0)}">')
                closers.append("</span>")
                continue
            if self.unknown_macro_before and isinstance(node, LatexCharsNode):
                # `\\unknown[key=value]{text}`: the options are settings, not text to draw.
                node = without_leading_options([node])[0]
            self.unknown_macro_before = False
            out.append(self.node(node))
        return "".join(out) + "".join(reversed(closers))

    def node(self, node: LatexNode) -> str:
        if isinstance(node, LatexCharsNode):
            return escaped_text(node.chars)
        if isinstance(node, LatexCommentNode):
            return ""
        if isinstance(node, LatexGroupNode):
            return self.nodes(list(node.nodelist))
        if isinstance(node, LatexSpecialsNode):
            if node.specials_chars == "&":
                # A misspelt tabular: TeX's page is garbage too.
                self.warn("'&' outside a table ignored", node, "&", partial=True)
                return " "
            return html.escape(SPECIALS.get(node.specials_chars, node.specials_chars))
        if isinstance(node, LatexMathNode):
            tex = self.math_source(node.nodelist)
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
        if name in ("cellcolor", "rowcolor", "columncolor", "arrayrulecolor"):
            return ""  # handled by the table layout
        if self.definition(node):
            return ""
        if name == "maketitle":
            return self.title_block()
        if name in ("verb", "lstinline"):  # inline code: drawn as typed
            typed = str(
                getattr(node.nodeargd, "verbatim_text", "") or self.raw(args[-1] if args else None)
            )
            return f'<code class="verbatim">{html.escape(typed)}</code>'
        if name == "modswapverbatim":  # a listing lifted out before parsing
            body = self.verbatim_bodies[int(self.raw(args[0]))]
            return f'<pre class="verbatim">{html.escape(body)}</pre>'
        if name in ("vspace", "addlinespace", "bigskip", "medskip", "smallskip"):
            amount = self.css_length(self.raw(args[-1])) if args and args[-1] else "6px"
            return f'<span class="vspace" style="height:{amount}"></span>'
        if name == "hspace":
            width = self.css_length(self.raw(args[-1]))
            return f'<span style="display:inline-block;width:{width}"></span>'
        if name == "caption":
            return self.caption(node)
        if name == "captionof":
            return self.caption(node, self.raw(args[1]).strip().rstrip("*") or "figure")
        if name in LIST_PLACEHOLDERS:
            return LIST_PLACEHOLDERS[name]
        if name in ("diagbox", "slashbox", "backslashbox"):
            return self.diagonal_box(node)
        if name in ("makecell", "thead", "shortstack"):  # [placement]{lines}
            # makecell centres both ways unless told; \shortstack stands on its last line.
            if name == "thead":  # makecell's heading: \theadfont (\footnotesize) on it
                inner = self.nodes(parse_fragment(f"{{{self.thead_font} {self.raw(args[-1])}}}"))
            else:
                inner = self.nodes(self.children(args[-1]))
            style = ""
            placement = self.raw(args[0]) if len(args) > 1 and args[0] is not None else ""
            style += {"l": "text-align:left;", "r": "text-align:right;"}.get(
                next((c for c in placement if c in "lr"), ""), ""
            )
            default = "b" if name == "shortstack" else "c"
            vertical = next((c for c in placement if c in "tb"), default)
            return f'<span class="makecell at-{vertical}" style="{style}">{inner}</span>'
        if name == "ding":
            drawn = ding(self.raw(args[0]))
            if drawn is None:  # TeX draws an empty slot as nothing, and so do we
                self.warn(f"\\ding{{{self.raw(args[0]).strip()}}} is an empty slot", node)
            return html.escape(drawn or "")
        if name in ("href", "url"):
            return f'<span class="link">{self.nodes(self.children(args[-1]))}</span>'
        if name == "footnote":  # a mark here, the note below the document
            self.footnotes.append(self.nodes(self.children(args[-1])))
            return f"<sup>{len(self.footnotes)}</sup>"
        if name in ("multicolumn", "multirow"):
            self.warn(f"\\{name} outside a table: its text drawn in place", node)
            return self.nodes(self.children(args[-1]))
        if name in TABLE_RULES:
            self.warn(f"\\{name} outside a table row boundary ignored", node)
            return ""
        if name in INERT:
            self.warn_inert(node)
            return ""
        if name in IGNORED_PREAMBLE_ONLY:
            return ""
        if name in SECTIONS:
            return self.section(node)
        if name == "resizebox":
            return self.resizebox(node)
        if name == "scalebox":
            try:
                factor = float(self.raw(args[0]).strip())
            except ValueError:
                self.warn("\\scalebox needs a number such as 0.8; drawn unscaled", node)
                factor = 1.0
            inner = self.nodes(self.children(args[-1]))
            return f'<span class="box" style="zoom:{factor:.4f}">{inner}</span>'
        if name == "rule":
            width, height = self.css_length(self.raw(args[1])), self.css_length(self.raw(args[2]))
            return (
                f'<span style="display:inline-block;width:{width};height:{height};'
                'background:#000;vertical-align:baseline"></span>'
            )
        if name in ("makebox", "raisebox", "hyperref", "adjustbox"):
            return self.nodes(self.children(args[-1]))
        if name == "parbox":
            width = self.css_length(self.raw(args[-2]))
            inner = self.nodes(self.children(args[-1]))
            return f'<span class="minipage" style="width:{width}">{inner}</span>'
        if name == "fcolorbox":
            frame, back = self.color(node, 1, 0), self.color(node, 2, 0)
            return (
                f'<span style="border:0.8px solid {frame};background-color:{back};'
                f'padding:1px 3px">{self.nodes(self.children(args[3]))}</span>'
            )
        if name == "rotatebox":  # [origin=…]{angle}{text}; the page turns it (render.js)
            inner = self.nodes(self.children(args[-1]))
            try:
                angle = float(self.raw(args[-2]).strip())
            except ValueError:
                self.warn("\\rotatebox needs an angle such as 90; drawn upright", node)
                return inner
            return (
                f'<span class="rotated" data-angle="{angle:g}">'
                f'<span class="rotated-inner">{inner}</span></span>'
            )
        if name in ("cite", "citep", "citet"):
            return "[?]"  # TeX's mark for a citation without a bibliography
        if name in ("ref", "eqref", "autoref", "cref", "Cref", "pageref"):
            return "??" if name != "eqref" else "(??)"
        if name in SILENT:
            return ""
        if name in ("num", "SI", "si", "qty", "unit", "ang", "SIrange", "numrange"):
            given = [a for a in args if a is not None]
            numbers = {"num": 1, "ang": 1, "SI": 2, "qty": 2, "numrange": 2, "SIrange": 3}
            number_args = given[-numbers.get(name, 0) :] if name in numbers else []
            if name in ("SI", "qty", "SIrange"):
                number_args = number_args[:-1]  # the last argument is the unit
            if any("\\" in self.raw(a) for a in number_args):
                # Not a number siunitx can format (`\ang{\textbf{x}}`): draw the text itself.
                self.warn(f"\\{name} of text, not a number: drawn as text", node)
                inner = " ".join(self.nodes(self.children(a)) for a in args if a is not None)
                return inner + ("°" if name == "ang" else "")
            return self.siunitx(name, args)
        if name in ("newpage", "clearpage", "pagebreak", "cleardoublepage"):
            return '<span class="par"></span>'
        if name == "pgfplotstabletypeset":  # what expand_pgfplotstable left: data in a file
            self.warn(
                "pgfplotstable data from a file cannot be read: table not drawn", node, partial=True
            )
            return ""
        text = _l2t.nodelist_to_text([node])
        if text and text.strip() != "":
            return html.escape(text)
        if name not in SILENT:
            self.warn(f"unknown macro \\{name} rendered as its argument", node)
        drawn = self.nodes([a for a in args if a is not None])
        self.unknown_macro_before = not args
        return drawn

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


def _parse_message(error: latexwalker.LatexWalkerParseError) -> str:
    message = str(getattr(error, "msg", "") or error).splitlines()[0]
    lowered = message.lower()
    if "closing brace" in lowered or "end of stream" in lowered or "closing environment" in lowered:
        return f"unbalanced braces or environments: {message}"
    return message


_VERBATIM = re.compile(
    r"\\begin\{(" + "|".join(re.escape(name) for name in VERBATIM_ENVIRONMENTS) + r")\}"
    r"(.*?)\\end\{\1\}",
    re.DOTALL,
)


def _lift_verbatim(source: str) -> tuple[str, list[str]]:
    """Listings are drawn as typed, never parsed or expanded: each becomes a placeholder
    command (on as many lines, so later line numbers hold) and its text is kept aside."""
    bodies: list[str] = []

    def lift(match: re.Match[str]) -> str:
        body = match.group(2)
        if body.startswith("["):  # listing options
            close = body.find("]")
            body = body[close + 1 :] if close >= 0 else body
        if match.group(1) == "minted" and body.lstrip().startswith("{"):
            body = body[body.find("}") + 1 :]
        bodies.append(body.strip("\n"))
        return f"\\modswapverbatim{{{len(bodies) - 1}}}" + "\n" * match.group(0).count("\n")

    return _VERBATIM.sub(lift, source), bodies


_SANS_DEFAULT = re.compile(r"\\renewcommand\s*\{?\\familydefault\}?\s*\{\s*\\sfdefault\s*\}")


_WRITE18 = re.compile(r"\\write\s*18\s*(?=\{)")
# xspace: the space a macro's user would have typed, unless what follows is punctuation, a
# group's end or start, or an explicit space (xspace's own list of exceptions).
_XSPACE = re.compile(r"\\xspace(?![A-Za-z@])[ \t]*(?=(\\[A-Za-z@]+|\\.|.?))")
_NO_SPACE_BEFORE = frozenset(",.'/?;:!~-){}")
_NO_SPACE_BEFORE_COMMANDS = frozenset(
    {"\\ ", "\\/", "\\footnote", "\\footnotemark", "\\space", "\\bgroup", "\\egroup"}
)


def _resolve_xspace(source: str) -> str:
    def space(found: re.Match[str]) -> str:
        after = found[1]
        if after.startswith("\\"):
            return "" if after in _NO_SPACE_BEFORE_COMMANDS else " "
        return "" if not after or after in _NO_SPACE_BEFORE else " "

    return _XSPACE.sub(space, source)


_PLAIN_LINE = re.compile(r"[^\\{}$&%#^_~\[\]]+")
LONG_SOURCE = 20_000


def _bounded_text_runs(source: str) -> str:
    """pylatexenc grows a run of plain text one character at a time by string concatenation,
    which is quadratic in the run's length: a page of prose took a minute. Between two lines of
    plain text (no command, brace or special character) a ` %` ends the first line: TeX and we
    draw the same words and spaces, and the parser's runs stay a line long."""
    if len(source) < LONG_SOURCE:
        return source
    lines = source.split("\n")
    for index in range(len(lines) - 1):
        this, following = lines[index], lines[index + 1]
        if (
            this.strip()
            and following.strip()
            and _PLAIN_LINE.fullmatch(this)
            and _PLAIN_LINE.fullmatch(following)
        ):
            lines[index] = this + " %"
    return "\n".join(lines)


def _check_size(source: str, limits: RenderLimits) -> None:
    size = len(source.encode("utf-8", errors="replace"))
    if size > limits.max_input_bytes:
        raise LatexRenderError(
            LatexProblem(
                f"the document is {size:,} bytes, more than the limit of "
                f"{limits.max_input_bytes:,}",
                None,
                "limit",
            )
        )
    depth = nesting_depth(source)
    if depth > limits.max_nesting:
        raise LatexRenderError(
            LatexProblem(
                f"groups and environments nest {depth} deep, more than the limit of "
                f"{limits.max_nesting}",
                None,
                "limit",
            )
        )


def _thead_font(source: str) -> str:
    """makecell's `\\theadfont`: `\\footnotesize`, or the document's own (the last one)."""
    if "theadfont" not in source:
        return "\\footnotesize"
    _, definitions = collect_definitions(source)
    fonts = [d.macro.body for d in definitions if d.macro.name == "theadfont"]
    return fonts[-1] if fonts else "\\footnotesize"


def translate(source: str, limits: RenderLimits | None = None, strict: bool = False) -> Translation:
    """Translates a LaTeX document (or a bare tabular) to the renderer's HTML body.

    `limits` bound its size, nesting, table rows and lengths (checked before any parsing);
    `strict` refuses a partial translation with its first partial warning as the error."""
    limits = limits or RenderLimits()
    _check_size(source, limits)
    # \write18{cmd} (shell escape): one macro with one argument, so the command is dropped.
    source = _WRITE18.sub(r"\\writeshell", source)
    source, listings = _lift_verbatim(source)
    source = _bounded_text_runs(source)
    try:
        expanded = _resolve_xspace(expand_pgfplotstable(expand_tikz_shorthand(expand(source))))
        _check_size(expanded, limits)
        translator = _Translator(expanded, limits, listings)
        translator.sans_default = bool(_SANS_DEFAULT.search(source))
        translator.thead_font = _thead_font(source)
        translation = translator.translate()
    except RecursionError:  # a nesting the depth check did not see (inside a macro's use)
        raise LatexRenderError(
            LatexProblem("the document nests too deeply to draw", None, "limit")
        ) from None
    if translator.clamped_lengths:
        shown = ", ".join(dict.fromkeys(translator.clamped_lengths))
        translation.warnings.append(
            RenderWarning(
                f"lengths past {limits.max_length_px:.0f} px drawn at that length: {shown}",
                None,
                "length",
                partial=True,
            )
        )
    if strict:
        refuse_partial(translation.warnings)
    return translation
