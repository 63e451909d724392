"""One small document per renderer feature: the grid, the text and a non-blank PNG."""

from __future__ import annotations

import re

import pytest
from PIL import Image

from renderers.chromium import ChromiumRenderer, RenderResult
from renderers.document_translation import eqnarray_as_align
from renderers.errors import LatexRenderError
from renderers.grid import GridCell
from renderers.latex_html import translate
from renderers.latex_vocabulary import supported_constructs
from renderers.translation import parse_fragment
from tests.conftest import ink_share, png_image


def cell(result: RenderResult, text: str) -> GridCell:
    found = [c for c in result.grid if c.text == text]
    assert found, f"no cell {text!r} in {[c.text for c in result.grid]}"
    return found[0]


async def render(renderer: ChromiumRenderer, source: str) -> RenderResult:
    result = await renderer.render(source)
    image = png_image(result.png)
    assert ink_share(image) > 0.005, "blank image"
    return result


async def test_newcommand_with_and_without_arguments(renderer: ChromiumRenderer) -> None:
    result = await render(
        renderer,
        r"""\documentclass{article}
\newcommand{\unit}{kg}
\newcommand{\hl}[1]{\textbf{#1}}
\newcommand{\pair}[2][x]{#1-#2}
\renewcommand{\arraystretch}{1.2}
\begin{document}
\begin{tabular}{ll}
Mass (\unit) & \hl{12} \\
\pair{y} & \pair[z]{w} \\
\end{tabular}
\end{document}""",
    )
    assert cell(result, "Mass (kg)").col == 0
    assert cell(result, "12").bold
    assert cell(result, "x-y").row == 1 and cell(result, "z-w").col == 1


def test_recursive_macro_is_an_error() -> None:
    with pytest.raises(LatexRenderError) as caught:
        translate("\\newcommand{\\loop}{a\\loop}\n\\begin{tabular}{l}\\loop\\end{tabular}")
    assert "does not terminate" in caught.value.problem.message
    assert caught.value.problem.construct == "\\loop"


async def test_siunitx_macros_and_decimal_column() -> None:
    async with ChromiumRenderer(pages=1) as renderer:
        await check_siunitx(renderer)


async def check_siunitx(renderer: ChromiumRenderer) -> None:
    result = await render(
        renderer,
        r"""\begin{tabular}{lS}
Speed & \SI{3.5}{\meter\per\second} \\
Area & \si{\kilo\meter\squared} \\
Count & \num{1234567} \\
A & 1.5 \\
B & 12.25 \\
\end{tabular}""",
    )
    assert cell(result, "3.5 m/s").col == 1
    assert cell(result, "km²").row == 1
    assert cell(result, "1 234 567").row == 2
    page = await renderer._pages.get()
    try:
        # The decimal markers of an S column line up.
        lefts = await page.evaluate(
            "[...document.querySelectorAll('.num[data-s] .frac')].map("
            "f => Math.round(f.getBoundingClientRect().left))"
        )
    finally:
        renderer._pages.put_nowait(page)
    assert len(lefts) == 3 and len(set(lefts)) == 1  # 1 234 567, 1.5 and 12.25


async def test_resizebox_scales_to_the_text_width(renderer: ChromiumRenderer) -> None:
    wide = " & ".join(["A long column heading"] * 8)
    small = await render(
        renderer,
        f"\\begin{{tabular}}{{{'l' * 8}}}\n{wide} \\\\\n\\end{{tabular}}".replace(
            "A long column heading", "x"
        ),
    )
    source = (
        r"\documentclass{article}\usepackage{graphicx}\begin{document}"
        r"\resizebox{\textwidth}{!}{\begin{tabular}{"
        + "l" * 8
        + "}\n"
        + wide
        + r" \\ \end{tabular}}\end{document}"
    )
    fitted = await render(renderer, source)
    text_width_px = 345 * 96 / 72.27
    assert abs(fitted.width / 2 - text_width_px) < 30
    assert small.width < fitted.width


async def test_scalebox_halves_the_box(renderer: ChromiumRenderer) -> None:
    table = r"\begin{tabular}{l}Some text in a box\\\end{tabular}"
    plain = await render(renderer, table)
    half = await render(renderer, r"\scalebox{0.5}{" + table + "}")
    assert abs(half.width - plain.width / 2) < 0.15 * plain.width


async def test_table_wider_than_the_paper_is_drawn_whole(renderer: ChromiumRenderer) -> None:
    row = " & ".join(f"Extremely verbose heading {n}" for n in range(9))
    result = await renderer.render(f"\\begin{{tabular}}{{{'l' * 9}}}\n{row} \\\\\n\\end{{tabular}}")
    paper_px = 8.5 * 96 * renderer.scale
    assert result.width > paper_px  # TeX runs past the margin; the image grows with it
    assert [c.text for c in result.grid][-1] == "Extremely verbose heading 8"
    warning = next(w for w in result.warnings if w.construct == "width")
    assert "resizebox" in warning.message and not warning.partial


@pytest.mark.parametrize(
    "preamble, expected_pt",
    [
        ("", 345.0),
        (r"\usepackage[margin=1in]{geometry}", 8.5 * 72.27 - 2 * 72.27),
        (r"\usepackage[a4paper,left=2cm,right=3cm]{geometry}", 8.27 * 72.27 - 5 * 72.27 / 2.54),
        (r"\usepackage{geometry}\geometry{textwidth=10cm}", 10 * 72.27 / 2.54),
    ],
)
def test_geometry_sets_the_text_width(preamble: str, expected_pt: float) -> None:
    page = translate(
        f"\\documentclass{{article}}{preamble}\\begin{{document}}x\\end{{document}}"
    ).page
    assert page.text_width_pt == pytest.approx(expected_pt, rel=0.01)


async def test_class_size_sans_and_page_colour(renderer: ChromiumRenderer) -> None:
    source = (
        r"\documentclass[12pt]{article}\usepackage{helvet}"
        r"\renewcommand{\familydefault}{\sfdefault}\usepackage{xcolor}"
        r"\pagecolor{yellow!20}\begin{document}\begin{tabular}{l}Hello\\\end{tabular}"
        r"\end{document}"
    )
    translation = translate(source)
    assert translation.page.font_size_pt == 12 and translation.page.sans
    result = await render(renderer, source)
    corner = png_image(result.png).convert("RGB").getpixel((1, 1))
    assert corner == (255, 255, 204)


async def test_longtable_keeps_first_head_and_last_foot(renderer: ChromiumRenderer) -> None:
    result = await render(
        renderer,
        r"""\begin{longtable}{lr}
\caption{Long one} \\
\toprule Name & Value \\ \midrule
\endfirsthead
\toprule Name (cont.) & Value \\ \midrule
\endhead
\midrule \multicolumn{2}{r}{continued} \\
\endfoot
\bottomrule
\endlastfoot
a & 1 \\
b & 2 \\
\end{longtable}""",
    )
    texts = [c.text for c in result.grid]
    assert texts[:2] == ["Name", "Value"]
    assert "Name (cont.)" not in texts and "continued" not in texts
    assert "Table 1: Long one" in result.text


async def test_row_spacing_colours_and_negative_multirow(renderer: ChromiumRenderer) -> None:
    result = await render(
        renderer,
        r"""\begin{tabular}{>{\columncolor{blue!10}}l|r}
\rowcolor{gray!30} Head & N \\[6pt]
 & 1 \\
\multirow{-2}{*}{Group} & 2 \\
plain & \cellcolor{red}3 \\
\end{tabular}""",
    )
    assert cell(result, "Head").background == "rgb(217, 217, 217)"
    assert cell(result, "Group").rowspan == 2 and cell(result, "Group").row == 1
    assert cell(result, "plain").background == "rgb(230, 230, 255)"
    assert cell(result, "3").background == "rgb(255, 0, 0)"


async def test_lists_makecell_symbols_and_accents(renderer: ChromiumRenderer) -> None:
    result = await render(
        renderer,
        r"""\begin{tabular}{lp{4cm}}
\makecell{Two\\lines} & \begin{itemize}\item first \item second\end{itemize} \\
\ding{51} \checkmark & 25\textdegree C, 5\%, \$3, caf\'e --- na\"ive \\
\end{tabular}""",
    )
    assert cell(result, "Two lines").col == 0
    assert cell(result, "• first • second").col == 1
    assert "✓ ✓" in result.text
    assert "25°C, 5%, $3, café — naïve" in result.text


async def test_unknown_text_macro_is_a_warning(renderer: ChromiumRenderer) -> None:
    result = await render(renderer, r"\begin{tabular}{l}\fancything{kept} \\ \end{tabular}")
    assert cell(result, "kept").row == 0
    assert any("unknown macro \\fancything" in w.message for w in result.warnings)


@pytest.mark.parametrize(
    "source, text, check",
    [
        (
            r"\begin{tabular*}{10cm}{l@{\extracolsep{\fill}}r}alpha beta & gamma delta \\"
            r"\end{tabular*}",
            "alpha",
            lambda r: r.width / 2 > 300,
        ),
        (
            r"\begin{adjustbox}{max width=3cm}\begin{tabular}{llllll}"
            r"long & long & long & long & long & long\\\end{tabular}\end{adjustbox}",
            "long",
            lambda r: r.width / 2 < 3 * 37.8 + 30,
        ),
        (
            r"\begin{tabular}{>{\bfseries}l<{!}*{2}{c}|r}x & y & z & w\\\end{tabular}",
            "x!",
            lambda r: cell(r, "x!").bold and cell(r, "w").col == 3,
        ),
        (
            r"\begin{tabular}{m{2cm}b{2cm}}top \newline next & bottom\\\end{tabular}",
            "top",
            lambda r: "next" in cell(r, "top next").text,
        ),
        (
            r"\begin{center}{\color{red} red} \textcolor[rgb]{0,0,1}{blue} "
            r"\textcolor[HTML]{00AA00}{green}\end{center}",
            "red blue green",
            None,
        ),
        (
            r"{\tiny tiny} {\small small} {\Large large} \emph{em} \underline{u} \texttt{tt} "
            r"\textsc{sc}\par next paragraph\vspace{1cm}\hspace{2em}x\rule{1cm}{2pt}",
            "tiny",
            None,
        ),
        (
            r"\begin{flushleft}left\end{flushleft}\begin{flushright}right\end{flushright}",
            "left",
            None,
        ),
        (
            r"\begin{table}\caption{Numbers}\centering\begin{tabular}{r}$\frac{1}{2}$ \\"
            r"$x^2 + \sqrt{y}$\\\end{tabular}\end{table}",
            "Table 1: Numbers",
            None,
        ),
        (
            r"\begin{tabular}{ll}\textdegree & \% \\ \& & \$ \\ `quoted' & ``double'' \\"
            r"en--dash & em---dash\\\end{tabular}",
            "“double”",
            None,
        ),
        (
            r"\begin{tabular}{l}\cellcolor{blue!30!white}mix \\ \cellcolor[gray]{0.8}g \\"
            r"\cellcolor{Aquamarine}dv \\ \cellcolor{SteelBlue}svg \\ \end{tabular}",
            "mix",
            lambda r: (
                cell(r, "mix").background == "rgb(179, 179, 255)"
                and cell(r, "g").background == "rgb(204, 204, 204)"
            ),
        ),
    ],
)
async def test_feature_smoke(
    renderer: ChromiumRenderer, source: str, text: str, check: object
) -> None:
    result = await render(renderer, source)
    assert text in result.text.replace("\n", " ").replace("\t", " ") or any(
        text in c.text for c in result.grid
    )
    if callable(check):
        assert check(result)


def test_cmidrule_trims_only_when_asked() -> None:
    body = "a & b & c \\\\\n{rule}\nd & e & f \\\\"
    trimmed = translate(
        "\\begin{tabular}{lll}" + body.format(rule="\\cmidrule(lr){2-3}") + "\\end{tabular}"
    ).html
    plain = translate(
        "\\begin{tabular}{lll}" + body.format(rule="\\cmidrule{2-3}") + "\\end{tabular}"
    ).html
    assert trimmed.count("linear-gradient") == 2 and "border-bottom" not in trimmed
    assert "linear-gradient" not in plain and plain.count("border-bottom") == 2


def test_at_expressions_remove_the_column_separation() -> None:
    markup = translate(
        r"\begin{tabular}{@{}lr@{}}a & b\\ \multicolumn{2}{c}{x}\\\end{tabular}"
    ).html
    assert markup.count("padding-left:0") == 1 and markup.count("padding-right:0") == 1


SAMPLE_BODIES = {
    "tabular": r"\begin{tabular}{ll}a & b\\\end{tabular}",
    "tabular*": r"\begin{tabular*}{\textwidth}{ll}a & b\\\end{tabular*}",
    "tabularx": r"\begin{tabularx}{\textwidth}{lX}a & b\\\end{tabularx}",
    "longtable": r"\begin{longtable}{ll}a & b\\\end{longtable}",
    "array": r"\begin{array}{ll}a & b\\\end{array}",
    "minipage": r"\begin{minipage}{0.4\textwidth}text\end{minipage}",
    "adjustbox": r"\begin{adjustbox}{max width=\textwidth}text\end{adjustbox}",
    "tikzpicture": r"\begin{tikzpicture}\draw (0,0) -- (1,1);\end{tikzpicture}",
    "itemize": r"\begin{itemize}\item text\end{itemize}",
    "enumerate": r"\begin{enumerate}\item text\end{enumerate}",
    "equation": r"\begin{equation}x = 1\end{equation}",
    "align": r"\begin{align}x &= 1\end{align}",
    "tablenotes": r"\begin{threeparttable}\begin{tablenotes}\item text\end{tablenotes}"
    r"\end{threeparttable}",
}


@pytest.mark.parametrize(
    "environment",
    [e for e in supported_constructs()["environments"] if e != "document"],
)
async def test_every_environment_the_prompt_offers_renders(
    renderer: ChromiumRenderer, environment: str
) -> None:
    """The generator's prompt lists these: each one must render, or the prompt lies."""
    body = SAMPLE_BODIES.get(environment, rf"\begin{{{environment}}}text\end{{{environment}}}")
    result = await renderer.render(
        rf"\documentclass{{article}}\begin{{document}}{body}\end{{document}}"
    )
    assert ink_share(png_image(result.png)) > 0.001  # drawn, if small on a text-wide page


async def test_numbered_displays_carry_the_numbers_tex_gives_them(
    renderer: ChromiumRenderer,
) -> None:
    # equation and align number each display (each row), from 1; \nonumber, \notag and the
    # starred forms take no number, \tag gives its own.
    result = await render(
        renderer,
        r"""\documentclass{article}\usepackage{amsmath}\begin{document}
\begin{equation} E = mc^2 \label{eq:energy} \end{equation}
\begin{align} a &= b \\ c &= d \nonumber \\ e &= f \tag{T} \end{align}
\begin{gather*} g = h \end{gather*}
\begin{gather} p = q \\ r = s \notag \end{gather}
\end{document}""",
    )
    assert not result.warnings
    numbers = re.findall(r"\(([^()\s]+)\)", result.text)
    assert numbers == ["1", "2", "T", "3"]


async def test_amsmath_displays_katex_lacks_draw_as_math(renderer: ChromiumRenderer) -> None:
    # multline, eqnarray, alignat and flalign were drawn as text with their '&' dropped.
    result = await render(
        renderer,
        r"""\documentclass{article}\usepackage{amsmath}\begin{document}
\begin{multline} a + b \\ + c \end{multline}
\begin{eqnarray} u &=& v \\ w &\le& \left\{ \begin{array}{ll} 1 & 2 \end{array} \right.
\end{eqnarray}
\begin{alignat}{2} x &= 1 &\quad y &= 2 \end{alignat}
\begin{flalign*} m &= n \end{flalign*}
\end{document}""",
    )
    assert not result.warnings
    assert re.findall(r"\((\d+)\)", result.text) == ["1", "2", "3", "4"]
    assert "≤" in result.text and "&" not in result.text


async def test_multline_sets_its_number_on_its_last_line(renderer: ChromiumRenderer) -> None:
    # It was one centred block, its number beside the middle line; \nonumber was ignored.
    result = await render(
        renderer,
        r"""\documentclass{article}\usepackage{amsmath}\begin{document}
\begin{multline} a + b + c \\ + d + e \\ + f + g \end{multline}
\end{document}""",
    )
    image = png_image(result.png)
    number_top, _ = _ink_rows(image, 0.85, 1.0)
    lines_top, lines_bottom = _ink_rows(image, 0.0, 0.85)
    assert re.findall(r"\((\d+)\)", result.text) == ["1"]
    # beside '+ f + g', the last of three lines, not '+ d + e'
    assert number_top > lines_top + 2 * (lines_bottom - lines_top) / 3
    unnumbered = await renderer.render(
        r"\begin{multline} h \\ + i \nonumber \end{multline} \begin{equation} j \end{equation}",
    )
    assert re.findall(r"\((\d+)\)", unnumbered.text) == ["1"]  # the equation's


async def test_pifont_dings_draw_their_zapf_dingbats_glyph(renderer: ChromiumRenderer) -> None:
    # Only seven slots were known; the rest (triangles, circled digits, arrows) drew as '•'.
    result = await render(
        renderer,
        r"\begin{tabular}{lllll} \ding{115} & \ding{116} & \ding{172} & \ding{43} & \ding{220}"
        r" \\ \ding{51} & \ding{72} & \ding{182} & \ding{213} & x\ding{240}x \end{tabular}",
    )
    assert [c.text for c in result.grid] == ["▲", "▼", "①", "☞", "➜", "✓", "★", "❶", "→", "xx"]
    assert [w.construct for w in result.warnings] == ["\\ding"]  # the empty slot 240
    assert not result.partial


def test_eqnarray_rows_lose_only_their_second_column_break() -> None:
    tex = r"a &=& b \& c \\ d &\le& \begin{array}{ll} 1 & 2 \end{array} & \\ e & {f & g}"
    rows = eqnarray_as_align(parse_fragment(tex))
    assert "".join(node.latex_verbatim() for node in rows) == (
        r"a &= b \& c \\ d &\le \begin{array}{ll} 1 & 2 \end{array} & \\ e & {f & g}"
    )


async def test_rotatebox_turns_its_text_and_the_box_with_it(renderer: ChromiumRenderer) -> None:
    header = r"\rotatebox{90}{A header set on its side}"
    turned = await render(renderer, header)
    assert not turned.warnings
    assert turned.height > 3 * turned.width  # the box is the turned text's, standing up
    assert "A header set on its side" in turned.text
    # At 45 degrees the box is the turned text's bounding box: about as wide as it is high.
    slanted = await render(renderer, r"\rotatebox[origin=c]{45}{A header set on its side}")
    assert 0.7 < slanted.height / slanted.width < 1.4


async def test_rotatebox_without_a_number_is_drawn_upright_with_a_warning(
    renderer: ChromiumRenderer,
) -> None:
    result = await render(renderer, r"\rotatebox{\myangle}{Upright header}")
    assert result.width > 3 * result.height
    assert any("needs an angle" in warning.message for warning in result.warnings)


def _ink_rows(image: Image.Image, left: float, right: float) -> tuple[int, int]:
    """First and last pixel rows with ink between the fractions `left` and `right` of the
    width."""
    grey = image.convert("L")
    box = grey.crop((int(left * grey.width), 0, int(right * grey.width), grey.height))
    top, bottom = box.point(lambda value: 255 if value < 128 else 0).getbbox()[1::2]
    return top, bottom


async def one_row(
    renderer: ChromiumRenderer, left: str, right: str, left_until: float, right_from: float
) -> tuple[RenderResult, tuple[int, int], tuple[int, int]]:
    """A one-row tabular of two cells, drawn; the first and last pixel rows with ink left of
    `left_until` and right of `right_from` (fractions of the width)."""
    result = await render(renderer, rf"\begin{{tabular}}{{ll}}{left} & {right}\\\end{{tabular}}")
    image = png_image(result.png)
    return result, _ink_rows(image, 0.0, left_until), _ink_rows(image, right_from, 1.0)


async def test_cells_of_a_row_stand_on_one_baseline(renderer: ChromiumRenderer) -> None:
    # A turned header makes the row tall; TeX sets the row's other cells on its baseline,
    # at the bottom of the turned text, not at the top of the row.
    _, (turned_top, turned_bottom), (short_top, short_bottom) = await one_row(
        renderer, r"\rotatebox{90}{A long turned header}", "Short", 0.3, 0.45
    )
    assert short_top > (turned_top + turned_bottom) / 2  # in the lower half of the row
    assert abs(short_bottom - turned_bottom) < 0.1 * (turned_bottom - turned_top)


async def test_makecell_lines_centre_on_the_rows_baseline(renderer: ChromiumRenderer) -> None:
    _, (lines_top, lines_bottom), (mid_top, mid_bottom) = await one_row(
        renderer, r"\makecell{one\\two\\three\\four}", "Mid", 0.4, 0.55
    )
    middle = (lines_top + lines_bottom) / 2
    assert mid_top < middle < mid_bottom + 0.2 * (lines_bottom - lines_top)


async def test_xspace_gives_the_space_a_user_would_type(renderer: ChromiumRenderer) -> None:
    result = await render(
        renderer,
        r"""\documentclass{article}\usepackage{xspace}
\newcommand{\ours}{OurNet\xspace}
\begin{document}
\ours is better than \ours, and (\ours) beats \ours\textbf{twice}.
\end{document}""",
    )
    assert not result.warnings
    assert "OurNet is better than OurNet, and (OurNet) beats OurNet twice." in result.text


async def test_shortstack_stands_on_its_last_line(renderer: ChromiumRenderer) -> None:
    result, (stack_top, stack_bottom), (low_top, _) = await one_row(
        renderer, r"\shortstack{one\\two\\three}", "Low", 0.45, 0.55
    )
    assert not result.warnings and "three" in result.text
    assert low_top > (stack_top + stack_bottom) / 2  # beside the last line, not the first


async def test_thead_is_set_in_theadfont(renderer: ChromiumRenderer) -> None:
    # \thead was bold and full size; makecell sets it in \theadfont, \footnotesize unless the
    # document says otherwise.
    _, (head_top, head_bottom), (plain_top, plain_bottom) = await one_row(
        renderer, r"\thead{HH}", "HH", 0.4, 0.6
    )
    assert head_bottom - head_top < 0.9 * (plain_bottom - plain_top)
    bold = await render(
        renderer,
        r"""\documentclass{article}\usepackage{makecell}\renewcommand\theadfont{\bfseries}
\begin{document}\begin{tabular}{ll}\thead{HH} & HH\\\end{tabular}\end{document}""",
    )
    image = png_image(bold.png)
    bold_top, bold_bottom = _ink_rows(image, 0.0, 0.4)
    same_top, same_bottom = _ink_rows(image, 0.6, 1.0)
    assert abs((bold_bottom - bold_top) - (same_bottom - same_top)) <= 2
