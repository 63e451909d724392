"""The repair prompt spells out the fix for rows wider than their column spec."""

from __future__ import annotations

from agents.generator import build_repair_prompt, column_count_hint
from environment.models.protocol import RepairInputs

TABLE = r"""\documentclass{article}
\begin{document}
\begin{tabularx}{\textwidth}{p{3cm}r}
Venue & Crowd & Tickets \\
Stadium A & 50,000 & 20\,000 \& more \\
\end{tabularx}
\end{document}
"""
TOO_WIDE = (
    "line 4: row 1 has more cells than the 2 columns of the spec (extra '&' or missing '\\\\') (&)"
)


def repair(error: str, latex: str = TABLE) -> RepairInputs:
    return RepairInputs(table_id="t", latex=latex, error=error, line=4, attempt=1)


def test_a_row_wider_than_its_spec_gets_the_fix_spelt_out() -> None:
    hint = column_count_hint(repair(TOO_WIDE))
    assert "the column spec {p{3cm}r} declares 2 columns" in hint
    assert "rows have up to 3 cells" in hint  # an escaped \& is text, not a cell
    assert "for example {p{3cm}rr}" in hint
    assert hint in build_repair_prompt(repair(TOO_WIDE))


def test_other_errors_and_tables_that_fit_get_no_hint() -> None:
    assert column_count_hint(repair("line 3: unbalanced braces (syntax)")) == ""
    fits = TABLE.replace("{p{3cm}r}", "{p{3cm}rr}")
    assert column_count_hint(repair(TOO_WIDE.replace("2 columns", "3 columns"), fits)) == ""
