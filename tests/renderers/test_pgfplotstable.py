"""pgfplotstable with inline data: read, sorted and typeset as the tabular the package builds."""

from __future__ import annotations

from decimal import Decimal

import pytest

from renderers.chromium import ChromiumRenderer
from renderers.errors import LatexRenderError
from renderers.latex_html import translate
from renderers.pgfplotstable import NumberFormat, expand_pgfplotstable


@pytest.mark.parametrize(
    ("number", "keys", "printed"),
    [
        ("3.14159", [], "$3.14$"),
        ("2.50", [], "$2.5$"),  # trailing zeros dropped
        ("12345.678", [], "$12{,}345.68$"),
        ("123456", [], r"$1.23 \cdot 10^{5}$"),  # past 10^4: scientific
        ("0.004", [], r"$4 \cdot 10^{-3}$"),
        ("-0.5", [], "$-0.5$"),
        ("1.10", [("use comma", "")], "$1{,}1$"),
        ("1234.5", [("use comma", "")], "$1.234{,}5$"),
        ("2.5", [("fixed", ""), ("zerofill", ""), ("precision", "3")], "$2.500$"),
        ("1234", [("1000 sep", "")], "$1234$"),
        ("42", [("int detect", "")], "$42$"),
        ("0.125", [("fixed", "")], "$0.13$"),  # half up on the decimal digits
    ],
)
def test_numbers_print_as_pgfmathprintnumber_does(
    number: str, keys: list[tuple[str, str]], printed: str
) -> None:
    number_format = NumberFormat()
    for key, value in keys:
        number_format = number_format.with_key(key, value)
    assert number_format.print(Decimal(number)) == printed


DOCUMENT = r"""\documentclass{article}
\usepackage{pgfplotstable,booktabs}
\pgfplotstableset{col sep=comma}
\begin{document}
\pgfplotstableread{
model, score, cost
Beta, 0.912, 1200
Alpha, 0.8751, 45.5
% a comment line
Gamma, 0.7, 3
}\results
\pgfplotstablesort[sort key=score]\sorted\results
\pgfplotstabletypeset[
  columns={model,score},
  columns/model/.style={string type, column name=Model, column type=l},
  columns/score/.style={fixed, precision=3, zerofill, column name={Score (\%)}},
  every head row/.style={before row=\toprule, after row=\midrule},
  every last row/.style={after row=\bottomrule},
]\sorted

\begin{tikzpicture}
\draw (0,0) -- ;
\end{tikzpicture}
\end{document}"""


async def test_inline_data_is_read_sorted_and_typeset(renderer: ChromiumRenderer) -> None:
    source = DOCUMENT.split(r"\begin{tikzpicture}")[0] + r"\end{document}"
    result = await renderer.render(source)
    assert not result.warnings, result.warnings
    rows: dict[int, list[str]] = {}
    for cell in result.grid:
        rows.setdefault(cell.row, []).append(cell.text)
    assert list(rows.values()) == [
        ["Model", "Score (%)"],
        ["Gamma", "0.700"],
        ["Alpha", "0.875"],
        ["Beta", "0.912"],
    ]
    assert "cost" not in result.text and "1200" not in result.text  # a column not chosen


async def test_lines_after_a_typeset_table_keep_their_numbers(
    renderer: ChromiumRenderer,
) -> None:
    with pytest.raises(LatexRenderError) as caught:
        await renderer.render(DOCUMENT)
    assert caught.value.problem.line == DOCUMENT.splitlines().index(r"\draw (0,0) -- ;") + 1


def test_data_without_a_header_row_gets_column_numbers_and_rows_stay_whole() -> None:
    typeset = expand_pgfplotstable(r"\pgfplotstabletypeset{1 2" "\n" "3 4 5" "\n}")
    assert typeset.startswith(r"\begin{tabular}{ccc} 0 & 1 & 2 \\ $1$ & $2$ &  \\")
    assert r"$3$ & $4$ & $5$ \\" in typeset


def test_verbatim_strings_and_files_we_cannot_read() -> None:
    verbatim = expand_pgfplotstable(
        r"\pgfplotstabletypeset[verb string type]{name" "\n" r"a|\b" "\n}"
    )
    assert r"\verb!a|\b!" in verbatim
    # A file name is not data: the command stays for the translator to warn about.
    assert expand_pgfplotstable(r"\pgfplotstabletypeset{data.csv}") == (
        r"\pgfplotstabletypeset{data.csv}"
    )


def test_a_table_read_from_a_file_is_a_partial_warning() -> None:
    source = "Before.\n\\pgfplotstabletypeset[col sep=comma]{results.csv}\nAfter."
    translation = translate(source)
    assert [(w.construct, w.line, w.partial) for w in translation.warnings] == [
        ("\\pgfplotstabletypeset", 2, True)
    ]
    assert "results.csv" not in translation.html and "After." in translation.html
