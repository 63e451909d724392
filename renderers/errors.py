"""What a render reports: problems that refuse a document, warnings that only approximate it."""

from __future__ import annotations

from collections.abc import Iterable
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


@dataclass(frozen=True)
class RenderWarning:
    """Something drawn approximately. `partial` when what is *visible* changed (content
    dropped, a picture not drawn): a run decides by `render.allow_partial` whether such an
    image may enter the dataset or goes back to its generator."""

    message: str
    line: int | None
    construct: str
    partial: bool = False

    def describe(self) -> str:
        where = f"line {self.line}: " if self.line is not None else ""
        mark = " [partial]" if self.partial else ""
        return f"{where}{self.message} ({self.construct}){mark}"

    def as_problem(self) -> LatexProblem:
        return LatexProblem(self.message, self.line, self.construct)


class LatexRenderError(Exception):
    """Raised when a document cannot be rendered faithfully."""

    def __init__(self, problem: LatexProblem) -> None:
        super().__init__(problem.describe())
        self.problem = problem

    def __reduce__(self) -> tuple[type[LatexRenderError], tuple[LatexProblem]]:
        return (LatexRenderError, (self.problem,))  # crosses from the translation process


def refuse_partial(warnings: Iterable[RenderWarning]) -> None:
    """Raises the first partial warning as the render's error: what a run's renderer does
    unless `render.allow_partial`."""
    first = next((warning for warning in warnings if warning.partial), None)
    if first is not None:
        raise LatexRenderError(first.as_problem())


class RendererUnavailable(Exception):
    """Chromium or the math assets are missing: a set-up problem, not a LaTeX problem."""
