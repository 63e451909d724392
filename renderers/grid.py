"""The cell grid a render returns: the one cell type the whole project shares.

It lives apart from the browser code so that messages, simulated models and tests can use it
without importing playwright.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class GridCell:
    """One drawn table cell, as the browser laid it out (0-based row and column)."""

    row: int
    col: int
    rowspan: int = 1
    colspan: int = 1
    text: str
    background: str | None = None
    bold: bool = False
    italic: bool = False
