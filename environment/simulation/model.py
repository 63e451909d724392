"""Offline models: write the raw text a good LLM would, from the request's structured inputs.

They run behind the same seam as real models, so every parser, repair loop and vote of a
real run also runs offline. Randomness derives from the seed, the model, the agent and the
request id — never from the order in which concurrent requests arrive.
"""

from __future__ import annotations

import json
import random
from typing import Any

from environment.core.randomness import derive
from environment.models.protocol import (
    Completion,
    GeneratorInputs,
    GraderInputs,
    InspirerInputs,
    JurorInputs,
    ModelRequest,
    QuestionerInputs,
    RepairInputs,
    SolverInputs,
    ToolCall,
)
from environment.simulation.generator import (
    GeneratorMemory,
    break_latex,
    design_table,
    domain_for,
    fit_to_width_in_document,
)
from environment.simulation.inspirer import inspire
from environment.simulation.juror import judge, plan_checks
from environment.simulation.oracle import Oracle
from environment.simulation.questioner import write_questions
from environment.simulation.solver import grade, solve


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _garble(text: str, rng_value: float) -> str:
    """Output a parser must reject: cut-off JSON, or prose with no payload."""
    if rng_value < 0.5:
        return text[: max(10, len(text) // 2)]  # cut off mid-way, like a length stop
    return "I have prepared the requested content and will share it in the next message."


class SimulatedModel:
    def __init__(
        self, name: str, skill: float, seed: int, oracle: Oracle, structured_output: bool = True
    ) -> None:
        self.name = name
        self.skill = skill
        self.structured_output = structured_output
        self.seed = seed
        self.oracle = oracle
        self.memory = GeneratorMemory()

    @property
    def cache_identity(self) -> str | None:
        return None  # free and deterministic: nothing to cache

    def worst_case_usd(self, request: ModelRequest) -> float:
        return 0.0

    def report_unusable(self, model: str) -> None:
        """A simulated model is never benched: its faults are the persona's, by design."""

    @property
    def fault_scale(self) -> float:
        return 2.0 - self.skill

    async def complete(self, request: ModelRequest) -> Completion:
        rng = derive(self.seed, self.name, request.agent, request.request_id, request.attempt)
        behaviour = request.behaviour
        inputs = request.inputs
        if isinstance(inputs, InspirerInputs):
            text = self._reply(
                inspire(inputs.topics_wanted, behaviour, rng),
                request,
                "Here are fresh directions for the next tables.",
            )
        elif isinstance(inputs, GeneratorInputs):
            text = self._generate(inputs, request, rng)
        elif isinstance(inputs, RepairInputs):
            clean = self.memory.clean_version(inputs.latex)
            if "wide" in inputs.error and "\\resizebox" not in (clean or inputs.latex):
                clean = fit_to_width_in_document(clean or inputs.latex)
            fixed = (
                clean
                if clean is not None and rng.random() < 0.5 + 0.5 * self.skill
                else inputs.latex
            )
            text = (
                "Thanks — here is the corrected document.\n\n```latex\n" + fixed.strip() + "\n```\n"
            )
        elif isinstance(inputs, QuestionerInputs):
            questions = write_questions(
                inputs.table_id,
                inputs.grid,
                inputs.questions_wanted,
                behaviour,
                self.fault_scale,
                self.oracle,
                rng,
            )
            text = self._reply(questions, request, "Here are the questions.")
        elif isinstance(inputs, JurorInputs):
            results = [m.content for m in request.messages if m.role == "tool"]
            if request.tools and not results:
                offered = {tool.name for tool in request.tools}
                plan = plan_checks(
                    inputs.table_id, inputs.grid, inputs.question, self.oracle, offered
                )
                if plan:
                    return self._tool_calls(plan, request)
            verdict = judge(
                inputs.table_id,
                inputs.grid,
                inputs.question,
                inputs.answer,
                behaviour,
                self.skill,
                self.oracle,
                rng,
                checked=any(_is_json(result) for result in results),  # an error checks nothing
            )
            text = self._reply(verdict, request, "")
        elif isinstance(inputs, SolverInputs):
            answer = solve(inputs, request.agent, behaviour, self.oracle, rng)
            text = self._reply(answer, request, "Let me work through the table.")
        elif isinstance(inputs, GraderInputs):
            text = self._reply(grade(inputs, behaviour, self.oracle, rng), request, "")
        else:  # pragma: no cover - the union is exhaustive
            raise TypeError(f"unknown inputs {type(inputs).__name__}")
        if rng.random() < behaviour.faults.malformed_output * self.fault_scale:
            text = _garble(text, rng.random())
        prompt = sum(_tokens(message.content) for message in request.messages)
        return Completion(
            text=text, model=self.name, prompt_tokens=prompt, completion_tokens=_tokens(text)
        )

    def _tool_calls(
        self, plan: list[tuple[str, dict[str, Any]]], request: ModelRequest
    ) -> Completion:
        calls = tuple(
            ToolCall(call_id=f"call_{index}", name=name, arguments=json.dumps(arguments))
            for index, (name, arguments) in enumerate(plan)
        )
        prompt = sum(_tokens(message.content) for message in request.messages)
        written = sum(_tokens(call.arguments) for call in calls)
        return Completion(
            text="",
            tool_calls=calls,
            model=self.name,
            prompt_tokens=prompt,
            completion_tokens=written,
        )

    def _reply(self, payload: dict[str, Any], request: ModelRequest, intro: str) -> str:
        """A JSON payload as a model writes it: bare and in the schema's shape when the
        request carries one and the model honours it (constrained decoding), else in fences
        after a line of prose. A reply breaking its schema is a bug in the simulation."""
        schema = request.response_schema
        if schema is None or not self.structured_output:
            fenced = "```json\n" + json.dumps(payload, indent=2, ensure_ascii=False) + "\n```\n"
            return f"{intro}\n\n{fenced}" if intro else fenced
        broken = schema.violations(payload)
        if broken:
            raise AssertionError(f"simulated {schema.name} reply breaks its schema: {broken}")
        return json.dumps(payload, ensure_ascii=False)

    def _generate(self, inputs: GeneratorInputs, request: ModelRequest, rng: random.Random) -> str:
        domain = domain_for(inputs.domain)
        parts = ["Below are the requested tables, each a complete LaTeX document.\n"]
        for index in range(inputs.tables_wanted):
            topic = inputs.topics[index % len(inputs.topics)]
            table_rng = derive(self.seed, self.name, inputs.inspiration_id, index, request.attempt)
            clean = design_table(domain, topic, inputs.recipe, request.behaviour, table_rng)
            written = clean
            if table_rng.random() < request.behaviour.faults.broken_latex * self.fault_scale:
                written = break_latex(clean, table_rng)
            self.memory.remember(written, clean)
            parts.append(f"Table {index + 1} — {topic}:\n\n```latex\n{written.strip()}\n```\n")
        return "\n".join(parts)
