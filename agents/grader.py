"""Grader: says whether each prediction of an item gives the ground truth's answer — the
evaluation's jury, asked only about what the pre-grader could not settle."""

from __future__ import annotations

from autogen_core import MessageContext, message_handler

from agents.base import GaveUp, RoleAgent
from agents.parsing import OutputParseError, extract_json, response_schema
from environment.core.messages import Grade, GradesCast, GradesRequested
from environment.models.protocol import GradeeInputs, GraderInputs

GRADES_SCHEMA = response_schema(
    "grades",
    {
        "grades": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "prediction": {"type": "integer"},
                    "verdict": {"type": "string", "enum": ["correct", "incorrect"]},
                    "reason": {"type": "string"},
                },
                "required": ["prediction", "verdict", "reason"],
                "additionalProperties": False,
            },
        }
    },
)


def build_prompt(inputs: GraderInputs) -> str:
    listed = "\n".join(f"{p.label}. {p.answer}" for p in inputs.predictions)
    # The reply's shape is spelled out with the real numbers: told to write "the
    # prediction's number", Qwen2.5-Coder-1.5B wrote those words as the key.
    shape = ", ".join(
        f'{{"prediction": {p.label}, "verdict": "correct" or "incorrect", "reason": "…"}}'
        for p in inputs.predictions
    )
    return (
        f"Question: {inputs.question}\nGround truth: {inputs.truth}\n\nPredictions:\n{listed}\n\n"
        "For each prediction, decide whether it gives the same answer as the ground truth. "
        "Numbers must be equal at the ground truth's precision. A prediction that states the "
        "ground truth's answer inside a sentence is correct: wording, units and explanation "
        "around it do not matter. A prediction that hedges (about, roughly, between) or gives "
        "several answers is incorrect. "
        f'Reply with JSON only, one grade per prediction, in order: {{"grades": [{shape}]}}.'
    )


def parse_grades(text: str, gradees: tuple[GradeeInputs, ...]) -> dict[str, tuple[bool, str]]:
    """Key (solver/view) → (correct, reason); every prediction must be graded. A grade
    names its prediction by number, or (small models do) by the answer's text; grades that
    name neither count in order when there is one per prediction."""
    value = extract_json(text)
    rows = value.get("grades") if isinstance(value, dict) else value
    if isinstance(value, dict) and rows is None and "verdict" in value:
        rows = [value]  # a lone grade, unwrapped
    if not isinstance(rows, list):
        raise OutputParseError('expected {"grades": [...]}')
    by_label = {g.label: g.key for g in gradees}
    by_answer = {" ".join(g.answer.casefold().split()): g.key for g in gradees}
    grades = [row for row in rows if isinstance(row, dict)]
    found: dict[str, tuple[bool, str]] = {}
    for position, row in enumerate(grades):
        verdict = str(row.get("verdict", "")).strip().lower()
        if verdict not in ("correct", "incorrect"):
            continue
        named = str(row.get("prediction", row.get("key", ""))).strip().strip("#.").strip()
        key = by_label.get(named) or by_answer.get(" ".join(named.casefold().split()))
        if key is None and len(grades) == len(gradees):
            key = gradees[position].key
        if key is not None:
            found.setdefault(key, (verdict == "correct", str(row.get("reason", ""))))
    missing = [g.label for g in gradees if g.key not in found]
    if missing:
        raise OutputParseError(
            f"no correct/incorrect verdict for prediction {', '.join(missing)}; grade each one"
        )
    return found


class Grader(RoleAgent):
    @message_handler
    async def on_request(self, message: GradesRequested, ctx: MessageContext) -> None:
        gradees = tuple(
            GradeeInputs(label=str(number), key=p.key, answer=p.answer)
            for number, p in enumerate(message.predictions, 1)
        )
        inputs = GraderInputs(
            item_id=message.item_id,
            question=message.question,
            truth=message.truth,
            predictions=gradees,
        )
        try:
            answer = await self.ask(
                f"grade:{message.item_id}",
                message.item_id,
                build_prompt(inputs),
                inputs,
                lambda text: parse_grades(text, gradees),
                schema=GRADES_SCHEMA,
            )
        except GaveUp as gave_up:
            if gave_up.budget:  # the item is graded on resume, with a budget raised
                return
            grades = tuple(Grade(key=g.key, verdict=None, reason=str(gave_up)) for g in gradees)
            model, calls = self.model.name, gave_up.calls
        else:
            grades = tuple(
                Grade(key=key, verdict=verdict, reason=reason)
                for key, (verdict, reason) in sorted(answer.value.items())
            )
            model, calls = answer.model, answer.calls
        await self.emit(
            GradesCast(
                item_id=message.item_id,
                grader=self.name,
                persona=self.persona.name,
                model=model,
                grades=grades,
                calls=calls,
            )
        )
