"""Document structure around tables: environments, frames, lists, sections, captions,
title, contents and footnotes."""

from __future__ import annotations

import html
import re

from pylatexenc.latexwalker import (
    LatexEnvironmentNode,
    LatexMacroNode,
    LatexNode,
    LatexSpecialsNode,
)

from renderers.latex_vocabulary import (
    FLOATS,
    FRAMED_BOXES,
    PASS_ENVIRONMENTS,
    SECTIONS,
    TABULAR_ENVS,
)
from renderers.pgfpie import expand_pie
from renderers.table_translation import TableTranslator
from renderers.translation import (
    Picture,
    key_values,
    parse_fragment,
    picture_placeholder,
    without_leading_options,
)

# amsmath's display environments (each also starred); see DocumentTranslator.display_math.
DISPLAY_MATH = {
    "equation",
    "align",
    "alignat",
    "gather",
    "multline",
    "flalign",
    "eqnarray",
    "displaymath",
}


OWN_NUMBER = re.compile(r"\\(?:tag|nonumber|notag)(?![A-Za-z])")


def multline_as_gather(nodes: list[LatexNode]) -> list[LatexNode]:
    """multline's rows as gather's, every row but the last unnumbered: its one number
    stands on its last line, as amsmath sets it."""
    unnumbered = parse_fragment("\\nonumber ")
    rows: list[LatexNode] = []
    for node in nodes:
        if isinstance(node, LatexMacroNode) and node.macroname == "\\":
            rows.extend(unnumbered)
        rows.append(node)
    return rows


def eqnarray_as_align(nodes: list[LatexNode]) -> list[LatexNode]:
    """eqnarray's rows `left & middle & right` as align's `left & middle right`: each row's
    second `&` goes. The parse already keeps the `&` of braces and inner environments apart."""
    kept: list[LatexNode] = []
    seen = 0  # `&` so far in this row
    for node in nodes:
        if isinstance(node, LatexMacroNode) and node.macroname == "\\":
            seen = 0
        elif isinstance(node, LatexSpecialsNode) and node.specials_chars == "&":
            seen += 1
            if seen == 2:
                continue
        kept.append(node)
    return kept


class DocumentTranslator(TableTranslator):
    """Translates environments and the parts of a document that are not tables."""

    def section(self, node: LatexMacroNode) -> str:
        """Sectioning commands, numbered as article numbers them unless starred."""
        depth = SECTIONS[node.macroname]
        args = self.args(node)
        title = self.nodes(self.children(args[-1]))
        starred = bool(args) and args[0] is not None and self.raw(args[0]) == "*"
        number = ""
        if depth < len(self.section_numbers) and not starred:
            self.section_numbers[depth] += 1
            for deeper in range(depth + 1, len(self.section_numbers)):
                self.section_numbers[deeper] = 0
            number = ".".join(str(n) for n in self.section_numbers[: depth + 1]) + " "
        tag = ("h2", "h3", "h4", "b", "b")[depth]
        if depth <= 2 and not starred and node.macroname != "frametitle":
            self.contents.append((depth, f"{number}{title}"))
        return f'<{tag} class="section">{number}{title}</{tag}>'

    def caption(self, node: LatexMacroNode, kind: str | None = None) -> str:
        kind = kind or self.float_kind
        self.counters[kind] = self.counters.get(kind, 0) + 1
        args = self.args(node)
        text = self.nodes(self.children(args[-1]))
        short = args[-2] if len(args) >= 2 else None  # \caption[short]{long}: short is listed
        listed = self.nodes(self.children(short)) if short is not None else text
        self.captions.append((kind, f"{self.counters[kind]} {listed}"))
        label = kind.capitalize()
        return f'<div class="caption">{label} {self.counters[kind]}: {text}</div>'

    # ---------- environments
    def contents_block(self, name: str) -> str:
        """`\\tableofcontents`, `\\listoffigures`, `\\listoftables`: TeX's second run lists
        the sections or captions; ours knows them once the body is read."""
        if name == "tableofcontents":
            heading, listed = "Contents", self.contents
        else:
            kind = "figure" if name == "listoffigures" else "table"
            heading = f"List of {kind.capitalize()}s"
            listed = [(0, text) for of, text in self.captions if of == kind]
        entries = "".join(
            f'<div class="toc-entry" style="padding-left:{1.5 * depth:.1f}em">{title}</div>'
            for depth, title in listed
        )
        return f'<div class="toc"><h2 class="section">{heading}</h2>{entries}</div>'

    def diagonal_box(self, node: LatexMacroNode) -> str:
        """`\\diagbox{A}{B}`: two labels split by a diagonal line. A falling line (diagbox's
        default, `\\backslashbox`) puts A lower left and B upper right; a rising one
        (`dir=NE`/`SW`, `\\slashbox`) puts A upper left and B lower right."""
        args = [a for a in self.args(node) if a is not None]
        options = self.raw(args[0]) if len(args) == 3 else ""
        first, second = (self.nodes(self.children(a)) for a in args[-2:])
        rising = "dir=SW" in options or "dir=NE" in options or node.macroname == "slashbox"
        upper, lower = (first, second) if rising else (second, first)
        return (
            f'<span class="diagbox {"rising" if rising else "falling"}">'
            f'<span class="diag-upper">{upper}</span> '
            f'<span class="diag-lower">{lower}</span></span>'
        )

    def footnote_block(self) -> str:
        if not self.footnotes:
            return ""
        notes = "".join(
            f'<div class="footnote"><sup>{number}</sup> {text}</div>'
            for number, text in enumerate(self.footnotes, start=1)
        )
        return f'<div class="footnotes">{notes}</div>'

    def title_block(self) -> str:
        parts = [
            f'<div class="{part}">{self.title_parts[part]}</div>'
            for part in ("title", "author", "date")
            if self.title_parts.get(part)
        ]
        return f'<div class="titleblock">{"".join(parts)}</div>' if parts else ""

    # ---------- inline content
    def environment(self, node: LatexEnvironmentNode) -> str:
        name = node.environmentname
        if name in TABULAR_ENVS:
            return self.tabular(node)
        if name in FLOATS:
            body = list(node.nodelist)
            centered = any(
                isinstance(n, LatexMacroNode) and n.macroname == "centering" for n in body
            )
            saved, saved_kind = self.rowcolors, self.float_kind
            self.float_kind = "figure" if name.startswith(("figure", "sidewaysfigure")) else "table"
            inner = self.nodes(body)
            self.rowcolors, self.float_kind = saved, saved_kind
            return f'<div class="float{" center" if centered else ""}">{inner}</div>'
        if name in ("center", "flushleft", "flushright"):
            align = {"center": "center", "flushleft": "left", "flushright": "right"}[name]
            return f'<div style="text-align:{align}">{self.nodes(list(node.nodelist))}</div>'
        if name in ("tikzpicture", "circuitikz"):
            # pgf-pie is not in the engine: its \pie goes as the TikZ it stands for.
            source = expand_pie(node.latex_verbatim())
            picture = Picture(len(self.pictures), self.line_of(node), source)
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
        if name == "minipage":  # [position][height][inner position]{width}
            args = self.args(node)
            css = [f"width:{self.css_length(self.raw(args[-1]))}"]
            if len(args) == 4 and args[1] is not None:
                css.append(f"height:{self.css_length(self.raw(args[1]))}")
                inner = self.raw(args[2]).strip() if args[2] is not None else "c"
                justify = {"t": "flex-start", "b": "flex-end"}.get(inner, "center")
                css.append(f"display:inline-flex;flex-direction:column;justify-content:{justify}")
            return (
                f'<div class="minipage" style="{";".join(css)}">'
                f"{self.nodes(list(node.nodelist))}</div>"
            )
        if name in PASS_ENVIRONMENTS:
            return f"<div>{self.nodes(list(node.nodelist))}</div>"
        if name in ("itemize", "enumerate", "description"):
            return self.listing(node)
        if name.rstrip("*") in DISPLAY_MATH:
            return f'<span class="math display">{html.escape(self.display_math(node))}</span>'
        if name in FRAMED_BOXES:
            return self.framed(node)
        if name in ("subfigure", "subtable", "wrapfigure", "wraptable"):
            args = [a for a in self.args(node) if a is not None]
            width = self.css_length(self.raw(args[-1])) if args else "auto"
            return (
                f'<div class="minipage" style="width:{width}">'
                f"{self.nodes(list(node.nodelist))}</div>"
            )
        if name in ("quote", "quotation", "verse"):
            return f'<div class="quote">{self.nodes(list(node.nodelist))}</div>'
        if name == "abstract":
            return (
                '<div class="abstract"><div class="abstract-title">Abstract</div>'
                f"{self.nodes(list(node.nodelist))}</div>"
            )
        if name == "multicols":
            args = self.args(node)
            try:
                count = max(1, min(10, int(self.raw(args[0]).strip())))
            except (ValueError, IndexError):
                count = 2
            return f'<div style="column-count:{count}">{self.nodes(list(node.nodelist))}</div>'
        # Unknown to us, known to some package: TeX would draw its body, and so do we.
        self.warn(f"environment '{name}' drawn as its body", node)
        return f"<div>{self.nodes(without_leading_options(list(node.nodelist)))}</div>"

    def display_math(self, node: LatexEnvironmentNode) -> str:
        """TeX for KaTeX of an amsmath display. KaTeX numbers equation, align, alignat and
        gather as TeX does (from 1 in each document, \\nonumber, \\notag and \\tag
        honoured); multline, flalign and eqnarray, which it lacks, become their nearest
        relative with the same numbers."""
        name = node.environmentname
        starred = name.endswith("*")
        base = name.rstrip("*")
        numbered = not starred and base != "displaymath"
        body = list(node.nodelist)
        if base == "eqnarray":  # rcl columns: `a &=& b` is align's `a &= b`
            body = eqnarray_as_align(body)
        star = "*" if starred else ""
        raw = "".join(child.latex_verbatim() for child in body)
        if base == "multline" and not starred and not OWN_NUMBER.search(raw):
            rows = self.math_source(multline_as_gather(body), numbered=True)
            return f"\\begin{{gather}}{rows}\\end{{gather}}"
        tex = self.math_source(body, numbered=numbered)
        if base == "displaymath":
            return tex
        if base == "multline":  # unnumbered, or numbered by its own \tag: one block
            lines = f"\\begin{{gathered}}{tex}\\end{{gathered}}"
            return f"\\begin{{equation{star}}}{lines}\\end{{equation{star}}}"
        if base == "alignat":
            args = self.args(node)
            columns = self.raw(args[0]).strip() if args and args[0] is not None else "1"
            return f"\\begin{{alignat{star}}}{{{columns}}}{tex}\\end{{alignat{star}}}"
        environment = {"flalign": "align", "eqnarray": "align"}.get(base, base)
        return f"\\begin{{{environment}{star}}}{tex}\\end{{{environment}{star}}}"

    def framed(self, node: LatexEnvironmentNode) -> str:
        """tcolorbox, mdframed and friends: a frame with the options we can read."""
        args = self.args(node)
        options = key_values(self.raw(args[0])) if args and args[0] is not None else {}
        frame = self.resolve_color(options.get("colframe", "black!75"), None, node)
        back = self.resolve_color(options.get("colback", "white"), None, node)
        if "linecolor" in options:
            frame = self.resolve_color(options["linecolor"], None, node)
        if "backgroundcolor" in options:
            back = self.resolve_color(options["backgroundcolor"], None, node)
        title = ""
        if "title" in options:
            title_nodes = parse_fragment(options["title"].strip().strip("{}"))
            title_css = self.resolve_color(options.get("coltitle", "white"), None, node)
            weight = ";font-weight:bold" if "bfseries" in options.get("fonttitle", "") else ""
            title = (
                f'<div class="frame-title" style="background:{frame};color:{title_css}{weight}">'
                f"{self.nodes(title_nodes)}</div>"
            )
        radius = "0" if node.environmentname in ("framed", "mdframed", "shaded") else "4px"
        if "arc" in options:
            radius = self.css_length(options["arc"])
        if "sharp corners" in options:
            radius = "0"
        border = "none" if node.environmentname == "shaded" else f"1px solid {frame}"
        return (
            f'<div class="framed" style="border:{border};background:{back};'
            f'border-radius:{radius}">{title}<div class="frame-body">'
            f"{self.nodes(list(node.nodelist))}</div></div>"
        )

    def listing(self, node: LatexEnvironmentNode) -> str:
        tag = {"itemize": "ul", "enumerate": "ol", "description": "ul"}[node.environmentname]
        items: list[tuple[str, list[LatexNode]]] = []
        for child in node.nodelist:
            if isinstance(child, LatexMacroNode) and child.macroname == "item":
                label_arg = self.args(child)[0] if self.args(child) else None
                label = self.nodes(self.children(label_arg)) if label_arg is not None else ""
                items.append((label, []))
            elif items:
                items[-1][1].append(child)

        def marker(number: int, label: str) -> str:
            if label:
                return f"<b>{label}</b> "
            if tag == "ol":
                return f'<span class="marker">{number}.</span>'
            return '<span class="marker">•</span>' if node.environmentname == "itemize" else ""

        body = "".join(
            f"<li>{marker(number, label)}{self.nodes(nodes)}</li>"
            for number, (label, nodes) in enumerate(items, start=1)
        )
        return f'<{tag} class="{node.environmentname}">{body}</{tag}>'
