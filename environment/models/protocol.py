"""The model seam: every role asks a model for text through `complete(request)`.

A request carries the rendered chat messages (what a real model reads) *and* the structured
inputs (what a simulated model reads), so both kinds sit behind one interface.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Literal, Protocol

from pydantic import Field

from environment.config.personas import Behaviour
from environment.core.messages import Recipe
from environment.errors import BudgetError, ModelError
from environment.frozen import Frozen
from renderers.grid import GridCell


class Contract(Frozen):
    """What a role hands its model besides the chat: the simulated models read it."""


class ToolCall(Contract):
    """A model's request to run one of the offered tools; `arguments` is the JSON text the
    model wrote, unparsed (it may be malformed: the tool's runner says so)."""

    call_id: str
    name: str
    arguments: str


class ToolSpec(Contract):
    """A tool offered to the model, in the OpenAI function-calling shape."""

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    description: str
    parameters: str  # the JSON schema of its arguments, as JSON text (hashable)


class ChatMessage(Contract):
    role: Literal["system", "user", "assistant", "tool"]
    content: str
    # A rendered table to show a vision model: a PNG path relative to the run folder. The
    # client reads it; agents never touch files.
    image: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()  # an assistant turn that asked for tools
    tool_call_id: str | None = None  # a tool turn: which call this is the result of


class InspirerInputs(Contract):
    task: Literal["inspire"] = "inspire"
    inspiration_id: str
    topics_wanted: int


class GeneratorInputs(Contract):
    task: Literal["generate"] = "generate"
    inspiration_id: str
    domain: str
    topics: tuple[str, ...]
    recipe: Recipe
    tables_wanted: int
    seed_latex: str | None = None


class RepairInputs(Contract):
    task: Literal["repair"] = "repair"
    table_id: str
    latex: str
    error: str
    line: int | None = None
    attempt: int


class QuestionerInputs(Contract):
    task: Literal["question"] = "question"
    table_id: str
    topic: str
    latex: str
    grid: tuple[GridCell, ...]
    questions_wanted: int


class JurorInputs(Contract):
    task: Literal["judge"] = "judge"
    qa_id: str
    table_id: str
    topic: str
    latex: str
    grid: tuple[GridCell, ...]
    question: str
    answer: str
    reasoning: str


class SolverInputs(Contract):
    task: Literal["solve"] = "solve"
    item_id: str
    question: str
    view: Literal["latex", "image"]
    kind: str = ""
    latex: str = ""  # the table's source; what a simulated solver's wrong answers borrow from


class GradeeInputs(Contract):
    """One prediction a grader is to grade: shown by its number (`label`), so the grader
    sees neither solver nor view; `key` (solver/view) is how the run knows it."""

    label: str
    key: str
    answer: str


class GraderInputs(Contract):
    task: Literal["grade"] = "grade"
    item_id: str
    question: str
    truth: str
    predictions: tuple[GradeeInputs, ...]


Inputs = (
    InspirerInputs
    | GeneratorInputs
    | RepairInputs
    | QuestionerInputs
    | JurorInputs
    | SolverInputs
    | GraderInputs
)


class ResponseSchema(Contract):
    """The JSON a role's reply must be: sent as `response_format` to endpoints that constrain
    decoding to a schema (OpenAI, vLLM, llama.cpp's server, Ollama), so small models cannot
    write invalid JSON. Kept as text so the request stays frozen and hashable."""

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    definition: str  # the JSON schema, as JSON text

    def parsed(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.definition)
        return value

    def violations(self, value: Any) -> list[str]:
        """Every way `value` breaks the schema: what a server's constrained decoding would
        have prevented. The simulated models and the fake server check their replies."""
        return schema_violations(value, self.parsed())


def schema_violations(value: Any, schema: dict[str, Any], where: str = "$") -> list[str]:
    """The JSON-schema subset our roles use: type (one or a list), enum, properties,
    required, additionalProperties: false, items."""
    kinds = schema.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds] if kinds else []
    if kinds and not any(_IS_KIND[kind](value) for kind in kinds):
        return [f"{where}: {type(value).__name__}, not {'|'.join(kinds)}"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{where}: {value!r} not in {schema['enum']}"]
    errors: list[str] = []
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        errors += [
            f"{where}: lacks {key}" for key in schema.get("required", []) if key not in value
        ]
        if schema.get("additionalProperties") is False:
            errors += [f"{where}: extra {key}" for key in value if key not in properties]
        for key, sub in properties.items():
            if key in value:
                errors += schema_violations(value[key], sub, f"{where}.{key}")
    if isinstance(value, list):
        for index, item in enumerate(value):
            errors += schema_violations(item, schema.get("items", {}), f"{where}[{index}]")
    return errors


_IS_KIND: dict[str, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


class ModelRequest(Contract):
    agent: str
    request_id: str  # stable across runs: simulated randomness derives from it
    messages: tuple[ChatMessage, ...]
    inputs: Inputs
    behaviour: Behaviour
    attempt: int = 1
    response_schema: ResponseSchema | None = None  # None: free text (LaTeX)
    tools: tuple[ToolSpec, ...] = ()  # offered to the model; it may answer with calls
    tool_choice: Literal["auto", "required"] = "auto"  # "required": it must call one


class Completion(Contract):
    text: str  # may be empty when the model asked for tools instead
    tool_calls: tuple[ToolCall, ...] = ()
    model: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float = 0.0
    cached: bool = False  # answered from the response cache: no tokens paid
    truncated: bool = False  # stopped at max_tokens: paid for, but not to be used
    redacted: bool = False  # carried a secret, now replaced: used, never cached
    seconds: float = 0.0  # the call's wall time, for benchmarks (ledger.jsonl keeps it)


class ModelCallFailed(ModelError):
    """A call gave no usable reply after the client's retries (or was cut off at
    max_tokens). The role treats it like unusable output; the run goes on."""

    def __init__(self, model: str, reason: str) -> None:
        super().__init__(f"{model}: {reason}")
        self.model = model
        self.reason = reason


class BudgetExhausted(BudgetError):
    """The call's worst case could exceed what is left of `budget.usd`; it was not started."""


class ChatModel(Protocol):
    name: str

    async def complete(self, request: ModelRequest) -> Completion: ...
