"""Errors a generator can act on: what went wrong, where, and in which construct."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LatexProblem:
    """A structured render problem; the repair prompt quotes it verbatim."""

    message: str
    line: int | None
    construct: str

    def describe(self) -> str:
        where = f"line {self.line}: " if self.line is not None else ""
        return f"{where}{self.message} ({self.construct})"


class LatexRenderError(Exception):
    """Raised when a document cannot be rendered faithfully."""

    def __init__(self, problem: LatexProblem) -> None:
        super().__init__(problem.describe())
        self.problem = problem


class RendererUnavailable(Exception):
    """Chromium or the math assets are missing: a set-up problem, not a LaTeX problem."""
