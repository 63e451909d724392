"""Generator: writes complete LaTeX table documents, and repairs the ones that fail to render."""

from __future__ import annotations

import re
from collections.abc import Callable

from autogen_core import MessageContext, message_handler

from agents.base import AgentModel, GaveUp, RoleAgent
from agents.parsing import OutputParseError, extract_latex_documents
from environment.config.personas import Persona
from environment.core.messages import (
    DraftingFailed,
    InspirationOffered,
    Recipe,
    RenderFailed,
    TableAbandoned,
    TableDrafted,
)
from environment.core.rendering import supported_constructs
from environment.models.protocol import GeneratorInputs, RepairInputs


def describe_recipe(recipe: Recipe) -> list[str]:
    """The inspirer's structural seed, as instructions a model can follow."""
    wishes = [f"about {recipe.rows} data rows"]
    if recipe.grouped_header:
        wishes.append("a two-level header: \\multicolumn group labels over \\cmidrule(lr) rules")
    if recipe.row_groups:
        wishes.append("rows in named groups, the group name in a \\multirow cell")
    if recipe.striped:
        wishes.append("alternating row colours (\\rowcolors or \\rowcolor)")
    if recipe.highlights:
        wishes.append(f"{recipe.highlights} notable cells highlighted with \\cellcolor or bold")
    if recipe.totals_row:
        wishes.append("a totals or averages row whose figures add up")
    if recipe.footnote:
        wishes.append("a footnote or source line under the table")
    if recipe.ruled_grid:
        wishes.append("a full grid of rules (| columns and \\hline) instead of booktabs")
    if recipe.uncertainty:
        wishes.append("measured values with uncertainties in math mode ($12.3 \\pm 0.4$)")
    return wishes


def supported_latex_text() -> str:
    """The renderer's own list of what it renders: prompt and renderer never disagree."""
    supported = supported_constructs()
    return (
        f"Packages: {', '.join(supported['packages'])}.\n"
        f"Environments: {', '.join(supported['environments'])}.\n"
        f"Commands: {' '.join(supported['macros'])}.\n"
        f"Math: {'; '.join(supported['math'])}.\n"
        f"Never: {'; '.join(supported['forbidden'])}."
    )


def build_prompt(inputs: GeneratorInputs) -> str:
    lines = []
    for index in range(inputs.tables_wanted):
        topic = inputs.topics[index % len(inputs.topics)]
        again = index // len(inputs.topics)
        lines.append(
            f"{index + 1}. {topic}"
            + (
                f" (another angle than table {index + 1 - again * len(inputs.topics)})"
                if again
                else ""
            )
        )
    topics = "\n".join(lines)
    layout = "\n".join(f"- {wish}" for wish in describe_recipe(inputs.recipe))
    seed = ""
    if inputs.seed_latex:
        seed = (
            "An accepted table from an earlier round, for inspiration: borrow structural "
            "ideas if they fit, but do not copy its topic, data or layout.\n"
            f"```latex\n{inputs.seed_latex.strip()}\n```\n\n"
        )
    return (
        f"Write {inputs.tables_wanted} different tables, one per topic below, each a complete "
        "LaTeX document (\\documentclass … \\end{document}) in its own ```latex block.\n\n"
        f"Domain: {inputs.domain}\nTopics:\n{topics}\n\nLayout to aim for:\n{layout}\n\n"
        f"{seed}"
        "Data: realistic and internally consistent — units in the headers, plausible "
        "magnitudes, totals that add up, numeric and qualitative columns. Give each table a "
        "\\caption naming what it shows, so it can be read on its own.\n\n"
        "Use only what the renderer supports; anything else will not render:\n"
        f"{supported_latex_text()}\n\n"
        f"Reply with the {inputs.tables_wanted} ```latex blocks and nothing else."
    )


def build_repair_prompt(inputs: RepairInputs) -> str:
    lines = inputs.latex.splitlines()
    quoted = ""
    if inputs.line is not None and 1 <= inputs.line <= len(lines):
        quoted = f"\nLine {inputs.line} reads: {lines[inputs.line - 1].strip()}"
    return (
        "This LaTeX document failed to render. Fix the cause and reply with the whole "
        "corrected document in one ```latex block, nothing else.\n\n"
        f"Error: {inputs.error}{quoted}{column_count_hint(inputs)}\n\n"
        f"```latex\n{inputs.latex}\n```"
    )


_TOO_MANY_CELLS = re.compile(r"more cells than the (\d+) columns of the spec")
_TABULAR = re.compile(
    r"\\begin\{(tabularx|tabular\*?|longtable|array)\}(?:\{[^{}]*\})?\{((?:[^{}]|\{[^{}]*\})*)\}"
    r"(.*?)\\end\{\1\}",
    re.DOTALL,
)


def column_count_hint(inputs: RepairInputs) -> str:
    """For rows with more cells than the spec has columns, the fix spelt out: small models
    given only the error kept the spec and the rows as they were (3 tables of 11 lost in a
    run). Empty for other errors, or when no table with too wide a row is found."""
    declared = _TOO_MANY_CELLS.search(inputs.error)
    if declared is None:
        return ""
    for match in _TABULAR.finditer(inputs.latex):
        spec, body = match.group(2), match.group(3)
        rows = [row for row in re.split(r"\\\\", body) if "&" in row]
        widest = max((len(re.findall(r"(?<!\\)&", row)) + 1 for row in rows), default=0)
        if widest > int(declared.group(1)):
            wider = spec + "r" * (widest - int(declared.group(1)))
            return (
                f"\nHow to fix: the column spec {{{spec}}} declares {declared.group(1)} "
                f"columns, but rows have up to {widest} cells (cells are separated by &). "
                f"Give the spec one column per cell, for example {{{wider}}}, or remove the "
                "extra cells."
            )
    return ""


def parse_tables(wanted: int) -> Callable[[str], list[str]]:
    def parse(text: str) -> list[str]:
        documents = extract_latex_documents(text)
        if len(documents) < wanted:
            raise OutputParseError(f"expected {wanted} LaTeX documents, found {len(documents)}")
        return documents[:wanted]

    return parse


def parse_single(text: str) -> str:
    return extract_latex_documents(text)[0]


class Generator(RoleAgent):
    def __init__(
        self, name: str, persona: Persona, model: AgentModel, tables_per_call: int, max_repairs: int
    ) -> None:
        super().__init__(name, persona, model)
        self.tables_per_call = tables_per_call
        self.max_repairs = max_repairs

    @message_handler
    async def on_inspiration_offered(
        self, message: InspirationOffered, ctx: MessageContext
    ) -> None:
        if message.generator != self.name:
            return
        inputs = GeneratorInputs(
            inspiration_id=message.inspiration_id,
            domain=message.domain,
            topics=message.topics,
            recipe=message.recipe,
            tables_wanted=self.tables_per_call,
            seed_latex=message.seed_latex,
        )
        try:
            documents = (
                await self.ask(
                    f"generate:{message.inspiration_id}",
                    message.inspiration_id,
                    build_prompt(inputs),
                    inputs,
                    parse_tables(self.tables_per_call),
                )
            ).value
        except GaveUp as error:
            await self.emit(
                DraftingFailed(
                    inspiration_id=message.inspiration_id,
                    seq=message.seq,
                    generator=self.name,
                    reason=str(error),
                )
            )
            return
        for index, latex in enumerate(documents):
            await self.emit(
                TableDrafted(
                    table_id=f"{message.inspiration_id}-t{index}",
                    inspiration_id=message.inspiration_id,
                    seq=message.seq,
                    index=index,
                    count=len(documents),
                    topic=message.topics[index % len(message.topics)],
                    latex=latex,
                    generator=self.name,
                    questioner=message.questioner,
                    attempt=1,
                )
            )

    @message_handler
    async def on_render_failed(self, message: RenderFailed, ctx: MessageContext) -> None:
        if message.generator != self.name:
            return
        if message.attempt > self.max_repairs:
            await self._abandon(
                message,
                f"still failing after {self.max_repairs} repairs: {message.problem.message}",
            )
            return
        inputs = RepairInputs(
            table_id=message.table_id,
            latex=message.latex,
            error=message.problem.describe(),
            line=message.problem.line,
            attempt=message.attempt,
        )
        try:
            latex = (
                await self.ask(
                    f"repair:{message.table_id}:{message.attempt}",
                    message.table_id,
                    build_repair_prompt(inputs),
                    inputs,
                    parse_single,
                )
            ).value
        except GaveUp as error:
            await self._abandon(message, f"repair unusable: {error}")
            return
        await self.emit(
            TableDrafted(
                **message.provenance(attempt=message.attempt + 1),
                index=message.index,
                count=0,
                latex=latex,
            )
        )

    async def _abandon(self, message: RenderFailed, reason: str) -> None:
        await self.emit(
            TableAbandoned(
                table_id=message.table_id,
                inspiration_id=message.inspiration_id,
                seq=message.seq,
                generator=self.name,
                reason=reason,
            )
        )
