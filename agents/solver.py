"""Solver: answers an evaluation item's question from the table's LaTeX or from its image,
step by step, then in a few words — what a model under evaluation is asked."""

from __future__ import annotations

from autogen_core import MessageContext, message_handler

from agents.base import AgentModel, GaveUp, RoleAgent
from agents.base import table_block as table_view_block
from agents.parsing import OutputParseError, extract_json, response_schema
from environment.config.personas import Persona
from environment.core.grading import final_answer_line
from environment.core.messages import ItemPosed, Prediction, PredictionsMade, SolverView
from environment.models.protocol import SolverInputs

ANSWER_SCHEMA = response_schema(
    "solution", {"reasoning": {"type": "string"}, "answer": {"type": "string"}}
)


def build_prompt(question: str, latex: str, view: SolverView) -> str:
    return (
        f"{table_view_block(latex, view)}\n\nQuestion: {question}\n\n"
        "Work it out step by step from the table, then give the final answer in as few "
        "words as possible: a number as precise as the table's figures, a label spelled as "
        "the table spells it, or an option letter. Reply with JSON only: "
        '{"reasoning": "your steps", "answer": "the final answer"}.'
    )


def parse_solution(text: str) -> tuple[str, str]:
    """(reasoning, answer) from JSON, or from a "Final answer:" line of free text."""
    try:
        value = extract_json(text)
    except OutputParseError:
        value = None
    if isinstance(value, dict) and isinstance(value.get("answer"), str | int | float):
        reasoning = value.get("reasoning")
        return (reasoning if isinstance(reasoning, str) else "", str(value["answer"]).strip())
    line = final_answer_line(text)
    if line:
        return text.strip(), line
    raise OutputParseError('expected a JSON object with "reasoning" and "answer"')


class Solver(RoleAgent):
    """Answers each posed item once per view it is set to read."""

    def __init__(
        self, name: str, persona: Persona, model: AgentModel, views: tuple[SolverView, ...]
    ) -> None:
        super().__init__(name, persona, model, "image" if "image" in views else "latex")
        self.views = views

    @message_handler
    async def on_item(self, message: ItemPosed, ctx: MessageContext) -> None:
        item = message.item
        predictions = []
        for view in self.views:
            if view == "latex" and not item.latex:
                predictions.append(self._failed(view, "the dataset has no LaTeX for this item", 0))
                continue
            inputs = SolverInputs(
                item_id=item.item_id,
                question=item.question,
                view=view,
                kind=item.kind,
                latex=item.latex,
            )
            try:
                answer = await self.ask(
                    f"solve:{item.item_id}:{view}",
                    item.item_id,
                    build_prompt(item.question, item.latex, view),
                    inputs,
                    parse_solution,
                    table_image=item.image if view == "image" else None,
                    schema=ANSWER_SCHEMA,
                )
            except GaveUp as gave_up:
                if gave_up.budget:  # not the model's failure: the item is asked on resume
                    return
                predictions.append(self._failed(view, str(gave_up), gave_up.calls))
                continue
            reasoning, said = answer.value
            predictions.append(
                Prediction(
                    solver=self.name,
                    persona=self.persona.name,
                    model=answer.model,
                    view=view,
                    answer=said,
                    reasoning=reasoning,
                    calls=answer.calls,
                )
            )
        await self.emit(
            PredictionsMade(item_id=item.item_id, solver=self.name, predictions=tuple(predictions))
        )

    def _failed(self, view: SolverView, why: str, calls: int) -> Prediction:
        return Prediction(
            solver=self.name,
            persona=self.persona.name,
            model=self.model.name,
            view=view,
            answer="",
            failed=why,
            calls=calls,
        )
