"""Generator: writes complete LaTeX table documents, and repairs the ones that fail to render."""

from __future__ import annotations

from collections.abc import Callable

from autogen_core import MessageContext, message_handler

from agents.base import GaveUp, RoleAgent
from agents.parsing import OutputParseError, extract_latex_documents
from environment.messages import (
    DraftingFailed,
    InspirationOffered,
    RenderFailed,
    TableAbandoned,
    TableDrafted,
)
from environment.models.protocol import ChatModel, GeneratorInputs, RepairInputs
from environment.personas import Persona


def build_prompt(inputs: GeneratorInputs) -> str:
    topics = "; ".join(inputs.topics)
    return (
        f"Write {inputs.tables_wanted} different tables as complete LaTeX documents "
        f"(\\documentclass … \\end{{document}}), each in its own ```latex block. Domain: "
        f"{inputs.domain}. Topics: {topics}. Use realistic, internally consistent data with "
        "units, numeric and qualitative columns, and 5–25 rows. Allowed packages: booktabs, "
        "multirow, xcolor (table), geometry. Follow the layout recipe in the inputs."
    )


def build_repair_prompt(inputs: RepairInputs) -> str:
    return (
        "This LaTeX document failed to render with the error below. Fix the cause and reply "
        "with the whole corrected document in one ```latex block.\n\n"
        f"Error: {inputs.error}\n\n```latex\n{inputs.latex}\n```"
    )


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
        self, name: str, persona: Persona, model: ChatModel, tables_per_call: int, max_repairs: int
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
        )
        try:
            documents = await self.ask(
                f"generate:{message.inspiration_id}",
                message.inspiration_id,
                build_prompt(inputs),
                inputs,
                parse_tables(self.tables_per_call),
            )
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
            attempt=message.attempt,
        )
        try:
            latex = await self.ask(
                f"repair:{message.table_id}:{message.attempt}",
                message.table_id,
                build_repair_prompt(inputs),
                inputs,
                parse_single,
            )
        except GaveUp as error:
            await self._abandon(message, f"repair unusable: {error}")
            return
        await self.emit(
            TableDrafted(
                table_id=message.table_id,
                inspiration_id=message.inspiration_id,
                seq=message.seq,
                index=message.index,
                count=0,
                topic=message.topic,
                latex=latex,
                generator=self.name,
                questioner=message.questioner,
                attempt=message.attempt + 1,
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
