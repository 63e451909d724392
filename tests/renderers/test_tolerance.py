"""Constructs that real models and papers write, each written here in our own small document:
drawn as TeX draws them, or as near as we can with a warning — never refused."""

from __future__ import annotations

import pytest
import pytest_asyncio

from renderers.chromium import ChromiumRenderer, RenderResult
from renderers.errors import LatexRenderError
from renderers.latex_html import translate
from renderers.limits import UNLIMITED_ROWS, RenderLimits
from renderers.macros import expand, optional_group
from tests.conftest import ink_share, png_image


@pytest_asyncio.fixture(scope="module")
async def lenient() -> ChromiumRenderer:
    """Keeps partial renders, as `run.py render` does by default."""
    async with ChromiumRenderer(pages=1, allow_partial=True, limits=UNLIMITED_ROWS) as shared:
        yield shared  # type: ignore[misc]


async def drawn(renderer: ChromiumRenderer, source: str) -> RenderResult:
    result = await renderer.render(source)
    assert ink_share(png_image(result.png)) > 0.003, "blank image"
    return result


def texts(result: RenderResult) -> list[str]:
    return [cell.text for cell in result.grid]


def constructs(result: RenderResult) -> set[str]:
    return {warning.construct for warning in result.warnings}


# ---------- rules and colour between rows


async def test_rules_after_rule_colours_comments_blank_lines_and_row_skips(
    renderer: ChromiumRenderer,
) -> None:
    result = await drawn(
        renderer,
        r"""\begin{tabular}{ll}
\arrayrulecolor{red}\hline
Name & Score \\[2pt]
% a comment between rows

\arrayrulecolor{blue}\hline\arrayrulecolor{black}\hline
Ada & 9 \\
\noalign{\hrule}
Bob & 7 \\
\hline
\end{tabular}""",
    )
    assert texts(result) == ["Name", "Score", "Ada", "9", "Bob", "7"]
    assert "solid #ff0000" in result.html  # the first rule takes the colour set before it
    assert result.warnings == ()


async def test_rowcolor_then_multicolumn_spans_the_row(renderer: ChromiumRenderer) -> None:
    result = await drawn(
        renderer,
        r"""\begin{tabular}{lcc}
\toprule
% group heading
\rowcolor{gray!15}
\multicolumn{3}{c}{\textbf{Reasoning}} \\
\midrule
Model & A & B \\
\bottomrule
\end{tabular}""",
    )
    heading = next(c for c in result.grid if c.text == "Reasoning")
    assert heading.colspan == 3 and heading.background == "rgb(236, 236, 236)"


@pytest.mark.parametrize(
    "rule",
    [
        r"\cmidrule(lr){2-3}",
        r"\cmidrule(lr{1mm}){2-3}",
        r"\cmidrule[0.5pt](l){2-3}",
        r"\cmidrule{2-3}",
        r"\cline{2-3}",
        r"\hhline{~--}",
    ],
)
async def test_partial_rules_in_every_form(renderer: ChromiumRenderer, rule: str) -> None:
    result = await drawn(
        renderer,
        f"\\begin{{tabular}}{{lll}}\n & \\multicolumn{{2}}{{c}}{{Group}} \\\\\n{rule}\n"
        "x & a & b \\\\\n\\end{tabular}",
    )
    assert texts(result) == ["", "Group", "x", "a", "b"]
    assert "border-bottom" in result.html or "linear-gradient" in result.html
    assert result.warnings == ()


async def test_cmidrule_without_a_range_is_drawn_across_with_a_warning(
    renderer: ChromiumRenderer,
) -> None:
    result = await drawn(
        renderer, "\\begin{tabular}{ll}\na & b \\\\\n\\cmidrule\nc & d \\\\\n\\end{tabular}"
    )
    assert texts(result) == ["a", "b", "c", "d"]
    assert "\\cmidrule" in constructs(result)


# ---------- column specs


async def test_column_specs_with_comments_colours_and_own_types(
    renderer: ChromiumRenderer,
) -> None:
    result = await drawn(
        renderer,
        r"""\documentclass{article}
\usepackage{array,colortbl}
\newcolumntype{L}[1]{>{\raggedright\arraybackslash}p{#1}}
\newcolumntype{R}{>{\raggedleft\arraybackslash}m{2cm}}
\begin{document}
\begin{tabular}{% columns over several lines
  >{\columncolor[gray]{0.8}[0pt]}l % shaded names
  !{\vrule}
  L{3cm}
  R
  b{2cm}
}
Name & Note & Amount & Other \\
\end{tabular}
\end{document}""",
    )
    assert texts(result) == ["Name", "Note", "Amount", "Other"]
    assert result.grid[0].background == "rgb(204, 204, 204)"
    assert result.warnings == ()


# ---------- colours


@pytest.mark.parametrize(
    "expression, expected",
    [
        ("-green!40!yellow", "rgb(102, 0, 255)"),  # complement of the mix (0.6, 1, 0)
        ("mine", "rgb(204, 204, 255)"),  # \colorlet
        ("DarkSlateGray", "rgb(47, 79, 79)"),  # svgnames
        ("brand!50", "rgb(128, 192, 255)"),  # defined in the preamble, then mixed
    ],
)
async def test_colour_expressions(
    renderer: ChromiumRenderer, expression: str, expected: str
) -> None:
    result = await drawn(
        renderer,
        "\\documentclass{article}\n\\usepackage[table,svgnames]{xcolor}\n"
        "\\definecolor{brand}{HTML}{0080FF}\n\\colorlet{mine}{blue!20}\n\\begin{document}\n"
        f"\\begin{{tabular}}{{l}}\n\\cellcolor{{{expression}}} X \\\\\n\\end{{tabular}}\n"
        "\\end{document}",
    )
    assert result.grid[0].background == expected
    assert "colour" not in constructs(result)


async def test_document_colours_reach_math(renderer: ChromiumRenderer) -> None:
    # KaTeX knows CSS names only: each colour command in math gets the document's colour
    # resolved, \fcolorbox both its frame and its background.
    result = await drawn(
        renderer,
        "\\documentclass{article}\n\\usepackage{xcolor}\n"
        "\\definecolor{dark-red}{HTML}{460000}\n\\colorlet{soft}{dark-red!10}\n"
        "\\begin{document}\n"
        "$\\fcolorbox{dark-red}{soft}{x} + \\textcolor{dark-red}{y} + \\colorbox{soft}{z}$\n"
        "\\end{document}",
    )
    assert "math" not in constructs(result)
    assert not any(w.partial for w in result.warnings)


async def test_unknown_colour_is_drawn_in_the_nearest_with_a_warning(
    renderer: ChromiumRenderer,
) -> None:
    result = await drawn(
        renderer,
        "\\begin{tabular}{l}\n\\cellcolor{DarkOrange3!30} X \\\\\n"
        "\\textcolor{nosuchcolour}{Y} \\\\\n\\end{tabular}",
    )
    assert texts(result) == ["X", "Y"]
    assert result.grid[0].background is not None
    warnings = [w for w in result.warnings if w.construct == "colour"]
    assert len(warnings) == 2 and not any(w.partial for w in warnings)


# ---------- definitions


async def test_definitions_with_nested_braces_optional_arguments_and_parameters(
    renderer: ChromiumRenderer,
) -> None:
    result = await drawn(
        renderer,
        r"""\documentclass{article}
\makeatletter
\def\my@unit{kg}
\makeatother
\newcommand{\hi}[2][\textbf{best}]{#1: {\itshape #2}}
\def\pair#1#2{(#1, #2)}
\newcommand\both{\textbf{{nested} braces}}
\begin{document}
\begin{tabular}{lll}
\hi{x} & \hi[own]{y} & \pair{1}{2} \\
\both & & \\
\end{tabular}
\end{document}""",
    )
    assert texts(result)[:4] == ["best: x", "own: y", "(1, 2)", "nested braces"]


def test_each_use_of_a_macro_takes_the_definition_in_force_where_it_stands() -> None:
    # TeX reads a document in order: a macro redefined halfway means the new text from
    # there on, \providecommand leaves a defined name alone, and a use before any
    # definition is not the later text.
    source = r"""\newcommand{\unit}{kg}
\providecommand{\unit}{lb}
\newcommand{\row}[1]{#1 \unit}
\begin{document}
early \late{}
\row{5}
\renewcommand{\unit}{t}
\row{6}
\def\late{now}
\late
\end{document}"""
    expanded = expand(source)
    assert "5 kg" in expanded and "6 t" in expanded and "lb" not in expanded
    assert "early \\late{}" in expanded and expanded.rstrip().endswith("now\n\\end{document}")
    # Definitions are blanked line for line: what follows keeps its line.
    assert expanded.splitlines().index("6 t") == source.splitlines().index(r"\row{6}")


def test_expansion_pastes_tokens_as_tex_does() -> None:
    # TeX substitutes tokens, not characters: `\beta` given to `#1text` stays `\beta`, a
    # body ending in `\alpha` before the letter `c` does not become the name `\alphac`, and
    # a macro used without arguments takes the blanks after its name.
    source = r"""\newcommand{\wrap}[1]{#1text}
\newcommand{\first}[2]{\alpha}
\newcommand{\lines}[1]{#1\\x}
\newcommand{\val}{42}
\begin{document}
\wrap\beta{} | \first{a}{b}c | \lines{q} | \wrap{\\} | \wrap\val | \val  units
\end{document}"""
    body = expand(source).split("\n")[5]
    assert body == r"\beta text{} | \alpha c | q\\x | \\text | 42text | 42units"


def test_an_optional_argument_ends_at_the_first_bracket_outside_braces() -> None:
    # As TeX reads `[#1]`: a `]` inside braces belongs to the argument.
    assert optional_group(r"[label={[red]x}, y] rest", 0) == ("label={[red]x}, y", 19)
    assert optional_group(r"  [\]] rest", 0) == (r"\]", 6)
    assert optional_group("no group", 0) is None


# ---------- environments around tables


async def test_tcolorbox_panel_with_a_title_and_a_table(renderer: ChromiumRenderer) -> None:
    result = await drawn(
        renderer,
        r"""\documentclass{article}
\usepackage{tcolorbox}
\begin{document}
\begin{tcolorbox}[colback=blue!5, colframe=blue!60!black, title=Quarterly sales,
  fonttitle=\bfseries, arc=2mm]
\begin{tabular}{lr} Region & Sales \\ North & 12 \\ \end{tabular}
\end{tcolorbox}
\end{document}""",
    )
    assert result.text.startswith("Quarterly sales")
    assert texts(result) == ["Region", "Sales", "North", "12"]
    assert "colback" not in result.text and "arc" not in result.text
    assert "border:1px solid #000099" in result.html


@pytest.mark.parametrize(
    "begin, end",
    [
        ("\\begin{mdframed}[linecolor=red]", "\\end{mdframed}"),
        ("\\begin{framed}", "\\end{framed}"),
        (
            "\\begin{threeparttable}",
            "\\begin{tablenotes}\\item[a] A note.\\end{tablenotes}\\end{threeparttable}",
        ),
        ("\\begin{subfigure}{0.45\\textwidth}", "\\end{subfigure}"),
        ("\\begin{subtable}[t]{0.45\\textwidth}", "\\end{subtable}"),
        ("\\begin{multicols}{2}", "\\end{multicols}"),
        ("\\begin{landscape}", "\\end{landscape}"),
        ("\\begin{sidewaystable}", "\\end{sidewaystable}"),
        ("\\begin{savenotes}", "\\end{savenotes}"),
        ("\\begin{adjustbox}{max width=\\textwidth}", "\\end{adjustbox}"),
        ("\\begin{abstract}", "\\end{abstract}"),
        ("\\begin{preview}", "\\end{preview}"),
        ("\\begin{frame}\\frametitle{Results}", "\\end{frame}"),
        ("\\begin{center}", "\\end{center}"),
        ("\\begin{someboxofapackage}[style=fancy]", "\\end{someboxofapackage}"),
    ],
)
async def test_environments_around_a_table_draw_their_body(
    renderer: ChromiumRenderer, begin: str, end: str
) -> None:
    result = await drawn(
        renderer,
        f"\\begin{{document}}\n{begin}\n"
        "\\begin{tabular}{ll} Key & Value \\\\ \\end{tabular}\n"
        f"{end}\n\\end{{document}}",
    )
    assert texts(result) == ["Key", "Value"]
    assert "style=fancy" not in result.text and "linecolor" not in result.text
    assert not result.partial


async def test_document_text_sections_lists_title_and_footnotes(
    renderer: ChromiumRenderer,
) -> None:
    result = await drawn(
        renderer,
        r"""\documentclass{article}
\title{A Report}\author{Ann Author}\date{May 2026}
\begin{document}
\maketitle
\section{Results}
Some text.\footnote{A note below.}
\subsection*{Details}
\begin{description}\item[Speed] fast \end{description}
\begin{lstlisting}[language=Python]
x = {"a": 1} & \notacommand
\end{lstlisting}
\end{document}""",
    )
    for expected in (
        "A Report",
        "Ann Author",
        "1 Results",
        "Details",
        "Speed fast",
        'x = {"a": 1} & \\notacommand',
        "A note below.",
    ):
        assert expected in result.text, expected
    assert "1 Details" not in result.text  # starred sections carry no number
    assert result.text.index("Some text.") < result.text.index("A note below.")


async def test_unknown_commands_draw_their_argument_never_their_name(
    renderer: ChromiumRenderer,
) -> None:
    result = await drawn(
        renderer,
        "\\begin{tabular}{ll}\n\\ang{\\textbf{Facility}} & \\fancything{kept} \\\\\n"
        "\\adjustbox{max width=3cm}{boxed} & \\parbox{2cm}{wrapped} \\\\\n\\end{tabular}",
    )
    assert texts(result) == ["Facility°", "kept", "boxed", "wrapped"]
    assert "\\" not in result.text and "max width" not in result.text


# ---------- size and syntax


async def test_long_table_renders_whole_without_a_row_limit(lenient: ChromiumRenderer) -> None:
    rows = "".join(f"row {n} & {n * n} \\\\\n" for n in range(600))
    result = await drawn(lenient, f"\\begin{{longtable}}{{lr}}\n{rows}\\end{{longtable}}")
    assert texts(result)[-2:] == ["row 599", "358801"]


def test_row_limit_is_the_callers() -> None:
    rows = "x \\\\\n" * 50
    with pytest.raises(LatexRenderError) as caught:
        translate(f"\\begin{{tabular}}{{l}}\n{rows}\\end{{tabular}}", RenderLimits(max_rows=20))
    assert "more than the limit of 20" in caught.value.problem.message


async def test_a_stray_brace_is_partial_refused_or_kept_by_the_caller(
    renderer: ChromiumRenderer, lenient: ChromiumRenderer
) -> None:
    source = (
        "\\begin{document}\nBefore } after\n\\begin{tabular}{l} Cell \\\\ \\end{tabular}\n"
        "\\end{document}"
    )
    with pytest.raises(LatexRenderError) as caught:
        await renderer.render(source)
    assert caught.value.problem.construct == "syntax" and caught.value.problem.line == 2
    result = await drawn(lenient, source)
    assert result.partial and "Cell" in texts(result)


async def test_an_extra_cell_is_partial_and_keeps_its_text(lenient: ChromiumRenderer) -> None:
    result = await drawn(lenient, "\\begin{tabular}{ll}\na & b & c \\\\\n\\end{tabular}")
    assert texts(result) == ["a", "b c"]
    assert next(w for w in result.warnings if w.construct == "&").partial


async def test_supertabular_draws_its_head_and_caption(renderer: ChromiumRenderer) -> None:
    result = await drawn(
        renderer,
        r"""\begin{document}
\tablecaption{Greek letters}
\tablehead{\bfseries Name & \bfseries Code \\ \hline}
\begin{supertabular}{ll}
alpha & 03B1 \\
beta & 03B2 \\
\end{supertabular}
\end{document}""",
    )
    assert texts(result) == ["Name", "Code", "alpha", "03B1", "beta", "03B2"]
    assert "Table 1: Greek letters" in result.text


async def test_contents_captions_of_each_kind_and_list_numbers(
    renderer: ChromiumRenderer,
) -> None:
    result = await drawn(
        renderer,
        r"""\documentclass{article}
\usepackage{caption}
\begin{document}
\tableofcontents
\listoffigures
\listoftables
\section{Data}
\subsection{Sources}
\begin{figure}\caption{A chart}\end{figure}
\begin{table}\caption[Short name]{Some numbers}\begin{tabular}{l} 1 \\ \end{tabular}\end{table}
\begin{minipage}{4cm}\captionof{figure}{A picture}\end{minipage}
\begin{enumerate}\item one \item two\end{enumerate}
\end{document}""",
    )
    text = result.text
    assert text.index("Contents") < text.index("1 Data") < text.index("1.1 Sources")
    assert text.count("1.1 Sources") == 2  # once in the contents, once as the heading
    # The lists, as TeX's second run draws them: a table's short caption is the one listed.
    figures, tables = text.index("List of Figures"), text.index("List of Tables")
    assert figures < text.index("1 A chart") < text.index("2 A picture") < tables
    assert tables < text.index("1 Short name") < text.index("1 Data", tables)
    for caption in ("Figure 1: A chart", "Table 1: Some numbers", "Figure 2: A picture"):
        assert caption in text
    assert "1.one" in text.replace(" ", "").replace("\n", "")
    assert "2.two" in text.replace(" ", "").replace("\n", "")


async def test_diagonal_boxes_and_centred_paragraph_columns(renderer: ChromiumRenderer) -> None:
    result = await drawn(
        renderer,
        r"""\begin{tabular}{l>{\centering\arraybackslash}p{4cm}}
\diagbox{Row}{Col} & \backslashbox{Lo}{Hi} \\
\slashbox{Up}{Down} & mid \\
\end{tabular}""",
    )
    assert [c.text for c in result.grid][:2] == ["Col Row", "Hi Lo"]
    assert 'class="diagbox falling"' in result.html and 'class="diagbox rising"' in result.html
    assert '<div style="text-align:center">' in result.html  # \centering in the column


async def test_options_of_unknown_commands_are_not_drawn(renderer: ChromiumRenderer) -> None:
    result = await drawn(
        renderer, "\\begin{tabular}{l}\n\\somepackagecmd[width=3cm]{kept} \\\\\n\\end{tabular}"
    )
    assert texts(result) == ["kept"]


def test_a_thousand_declarations_in_a_row_do_not_nest_calls() -> None:
    body = "\\bfseries \\itshape " * 1000 + "deep"
    translation = translate(f"\\begin{{tabular}}{{l}}\n{body} \\\\\n\\end{{tabular}}")
    assert translation.html.count('<span style="font-weight:bold">') == 1000
    assert "deep" in translation.html


async def test_a_minipage_takes_its_height(renderer: ChromiumRenderer) -> None:
    def panel(size: str) -> str:
        return (
            "\\begin{tabular}{|c|}\\hline\n\\cellcolor{red!20}"
            f"\\begin{{minipage}}{size}{{3cm}}\\centering Panel\\end{{minipage}} \\\\\n"
            "\\hline\n\\end{tabular}"
        )

    flat = await drawn(renderer, panel(""))
    tall = await drawn(renderer, panel("[c][4cm][c]"))
    four_cm = 4 / 2.54 * 96 * renderer.scale
    assert four_cm < tall.height < four_cm * 1.3 and flat.height < 0.3 * four_cm


async def test_command_names_drawn_as_text_make_a_render_partial(
    renderer: ChromiumRenderer, lenient: ChromiumRenderer
) -> None:
    leaking = "\\begin{tabular}{l}\nsee \\textbackslash textbf \\\\\n\\end{tabular}"
    with pytest.raises(LatexRenderError) as caught:
        await renderer.render(leaking)
    assert caught.value.problem.construct == "source"
    assert "\\textbf" in caught.value.problem.message
    kept = await lenient.render(leaking)
    assert kept.partial and "\\textbf" in kept.text
    # Listings and \verb are meant to show source.
    listing = "\\begin{lstlisting}\n\\textbf{x}\n\\end{lstlisting} and \\verb|\\emph{y}|"
    shown = await renderer.render(listing)
    assert not shown.partial and "\\textbf{x}" in shown.text and "\\emph{y}" in shown.text


def test_a_multirow_over_named_rows_keeps_every_name_in_its_own_row() -> None:
    # What a 1.5B model wrote: a \multirow{3} label, then its own label in the rows it spans,
    # and \cmidrule(lr) with no range before each. TeX prints the names on top of each other;
    # dropping them lost "Product C", the answer to the question asked about the table.
    source = r"""\begin{tabular}{|c|c|}
\hline
\multirow{3}{*}{\textbf{Product A}} & 5.0 \\
\cmidrule(lr)
Product B & 6.0 \\
\cmidrule(lr)
Product C & 7.0 \\
\hline
\end{tabular}"""
    translation = translate(source)
    html = translation.html
    assert "Product B" in html and "Product C" in html and 'rowspan="3"' not in html
    assert html.index("Product B") < html.index("6.0") < html.index("Product C")
    cut = [w for w in translation.warnings if w.construct == "\\multirow"]
    assert len(cut) == 1 and cut[0].line == 3 and not cut[0].partial


def test_a_multirow_spans_cells_that_only_carry_a_colour() -> None:
    source = r"""\begin{tabular}{ll}
\multirow{2}{*}{A} & x \\
\cellcolor{gray!20} & y \\
\rowcolor{blue!10} \multirow{2}{*}{B} & z \\
\rowcolor{blue!10} & w \\
\end{tabular}"""
    translation = translate(source)
    assert translation.html.count('rowspan="2"') == 2 and not translation.warnings
