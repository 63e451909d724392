"""A fake OpenAI-compatible chat completions server that answers each modswap role plausibly
and injects faults on demand. Real HTTP (aiohttp), so the client's whole path is exercised.

    server = FakeOpenAI(latency_s=0.0)
    server.plan_faults(["429", "500", "hang"])    # the next three requests fail that way
    server.fault_every(7, ["malformed", "length"])  # and every 7th request after that

Run alone (for benchmarks): `python -m tests.fakes.openai_server --port 8000 --latency 1.0`.
With `--tables-from DIR` (or `table_documents=`) the generator answers with the documents of a
folder in turn instead of its own simple tables, so a whole run can be driven by real-world
LaTeX; a repair request gets the next document.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextvars
import hashlib
import itertools
import json
import random
import re
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from environment.models.protocol import schema_violations

_current_call: contextvars.ContextVar[Call | None] = contextvars.ContextVar("call", default=None)
# "echo-key" answers as usual but with the caller's API key in the text (in a table's
# caption when writing tables); "echo-key-error" is a 500 whose body quotes the key.
# "bad-tool-args" asks for a tool with arguments that are not JSON; "tool-loop" asks for a
# tool every time tools are offered, never voting until none are; "written-tool-call" writes
# its call into the text in a json fence, as small models do, and rambles on to max_tokens;
# "blank-tail" answers in full, then writes blank lines until max_tokens.
FAULTS = (
    "429",
    "500",
    "hang",
    "malformed",
    "length",
    "empty",
    "401",
    "echo-key",
    "echo-key-error",
    "bad-tool-args",
    "tool-loop",
    "written-tool-call",
    "blank-tail",
)
_ITEMS = ("Alder", "Birch", "Cedar", "Dogwood", "Elm", "Fir", "Ginkgo", "Hazel", "Ivy", "Juniper")


@dataclass
class Call:
    """One request as the server saw it."""

    model: str
    role: str
    status: int
    fault: str | None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    images: int = 0
    authorization: str | None = None
    started: float = 0.0
    digest: str = ""  # of the request body: the same request sent twice has the same one
    prompt: str = ""
    body: dict[str, Any] = field(default_factory=dict)  # without the messages
    schema_errors: list[str] = field(default_factory=list)  # the reply against its schema
    tool_results: list[str] = field(default_factory=list)  # the request's tool turns
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # those this reply asked


@dataclass
class FakeOpenAI:
    latency_s: float = 0.0
    hang_s: float = 30.0
    retry_after: str = "0"
    wrong_answer_every: int = 5  # every n-th question gets a wrong answer: jurors must catch it
    calls: list[Call] = field(default_factory=list)
    failing_models: dict[str, str] = field(default_factory=dict)  # model → fault, every time
    in_flight: int = 0
    max_in_flight: int = 0
    log_path: str | None = None  # one JSON line per call (start, end): for benchmarks
    served_models: tuple[str, ...] = (
        "fake-writer",
        "fake-judge-a",
        "fake-judge-b",
        "fake-1",
        "fake-1s",
    )
    required_key: str | None = None  # GET /models checks it when set
    table_documents: tuple[str, ...] = ()  # the generator's answers, in turn, when given
    # Pick each table's document by its topic instead of in turn: which inspirations repeat
    # a table then depends on what they asked for, never on which request came first.
    documents_by_topic: bool = False
    # `response_format` types this server refuses with a 400, as servers without
    # constrained decoding do; the others it honours (pure JSON, in the schema's shape).
    refused_formats: frozenset[str] = frozenset()
    refuses_tools: bool = False  # a 400 to any request that offers tools
    # Evaluation: the truth behind each question, and how often a solver is right from
    # each view ("latex": a prompt with the table's source, "image": one with a PNG).
    answer_key: dict[str, str] = field(default_factory=dict)
    solve_accuracy: dict[str, float] = field(default_factory=lambda: {"latex": 1.0, "image": 1.0})
    wordy_answers: float = 0.0  # share of right answers worded ("about 12"): for the graders
    hanging: threading.Event = field(default_factory=threading.Event)  # a hang has begun
    # Tokens per minute, as providers count them: a bucket refilled continuously; a request
    # needs its prompt plus max_tokens in it (else a 429), and is settled to what it used.
    # Every reply says what is left (x-ratelimit-remaining-tokens).
    tpm_limit: int | None = None
    rate_limited: int = 0  # 429s sent for tokens per minute
    # Replies to requests within the limit wait until this many requests have arrived: a
    # burst is then a burst however slowly the machine sends it (0: no holding).
    hold_until: int = 0
    # Requests per window, as OpenAI counts them: each reply says how many are left and
    # when the count resets (x-ratelimit-*-requests); one past the limit gets a 429.
    requests_per_window: int | None = None
    requests_window_s: float = 1.0
    requests_refused: int = 0
    _window_started: float = -1e9
    _window_used: int = 0
    _arrived: int = 0
    _all_arrived: asyncio.Event | None = None
    _tpm_level: float = 0.0
    _tpm_updated: float = 0.0
    _planned: deque[str] = field(default_factory=deque)
    _every: int = 0
    _every_kinds: list[str] = field(default_factory=list)
    _counter: itertools.count[int] = field(default_factory=itertools.count)
    _questions: itertools.count[int] = field(default_factory=itertools.count)
    _documents: itertools.count[int] = field(default_factory=itertools.count)

    def _next_document(self) -> str:
        return self.table_documents[next(self._documents) % len(self.table_documents)]

    def _document_for(self, topic: str) -> str:
        if not self.documents_by_topic:
            return self._next_document()
        digest = int(hashlib.sha256(topic.encode()).hexdigest()[:12], 16)
        return self.table_documents[digest % len(self.table_documents)]

    def _tpm_refill(self) -> float:
        assert self.tpm_limit is not None
        now = time.monotonic()
        if not self._tpm_updated:
            self._tpm_level, self._tpm_updated = float(self.tpm_limit), now
        rate = self.tpm_limit / 60
        self._tpm_level = min(self.tpm_limit, self._tpm_level + (now - self._tpm_updated) * rate)
        self._tpm_updated = now
        return self._tpm_level

    def _tpm_headers(self) -> dict[str, str]:
        if self.tpm_limit is None:
            return {}
        return {
            "x-ratelimit-limit-tokens": str(self.tpm_limit),
            "x-ratelimit-remaining-tokens": str(max(0, int(self._tpm_level))),
        }

    # ---------- fault control
    def plan_faults(self, kinds: list[str]) -> None:
        assert all(kind in FAULTS for kind in kinds), kinds
        self._planned.extend(kinds)

    def fault_every(self, every: int, kinds: list[str]) -> None:
        assert all(kind in FAULTS for kind in kinds), kinds
        self._every, self._every_kinds = every, list(kinds)

    def _next_fault(self, number: int) -> str | None:
        if self._planned:
            return self._planned.popleft()
        if self._every and number % self._every == self._every - 1:
            return self._every_kinds[(number // self._every) % len(self._every_kinds)]
        return None

    @property
    def answered(self) -> list[Call]:
        return [call for call in self.calls if call.status == 200 and call.fault is None]

    @property
    def billed(self) -> list[Call]:
        """Calls a provider would charge for: every reply with usage, cut off or not."""
        return [call for call in self.calls if call.completion_tokens > 0]

    def cost_usd(self, input_per_mtok: float, output_per_mtok: float) -> float:
        return (
            sum(
                c.prompt_tokens * input_per_mtok + c.completion_tokens * output_per_mtok
                for c in self.billed
            )
            / 1_000_000
        )

    # ---------- HTTP
    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self.handle)
        app.router.add_get("/v1/models", self.models)
        return app

    async def models(self, request: web.Request) -> web.StreamResponse:
        if (
            self.required_key
            and request.headers.get("Authorization") != f"Bearer {self.required_key}"
        ):
            return web.json_response({"error": {"message": "invalid api key"}}, status=401)
        listed = [{"id": name, "object": "model"} for name in self.served_models]
        return web.json_response({"object": "list", "data": listed})

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        started = time.monotonic()
        _current_call.set(None)
        try:
            return await self._handle(request)
        finally:
            self.in_flight -= 1
            self._log_call(started, time.monotonic(), _current_call.get())

    def _log_call(self, started: float, ended: float, call: Call | None) -> None:
        if self.log_path is not None:
            line: dict[str, Any] = {"start": started, "end": ended}
            if call is not None:
                line |= {
                    "model": call.model,
                    "role": call.role,
                    "status": call.status,
                    "fault": call.fault,
                    "prompt_tokens": call.prompt_tokens,
                    "completion_tokens": call.completion_tokens,
                    "digest": call.digest,
                }
            with open(self.log_path, "a", encoding="utf-8") as log:
                log.write(json.dumps(line) + "\n")

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        number = next(self._counter)
        raw = await request.read()
        body = json.loads(raw)
        model = str(body.get("model", ""))
        messages = body.get("messages", [])
        prompt, images = _prompt_text(messages)
        role = _role_of(prompt)
        fault = self.failing_models.get(model) or self._next_fault(number)
        call = Call(model, role, 200, fault, authorization=request.headers.get("Authorization"))
        call.images = images
        call.prompt = prompt
        call.body = {key: value for key, value in body.items() if key != "messages"}
        call.started = time.monotonic()
        _current_call.set(call)  # this request's task only: for the log line
        call.digest = hashlib.sha256(raw).hexdigest()
        self.calls.append(call)
        if self.latency_s:
            await asyncio.sleep(self.latency_s)  # the model "thinking"
        if fault == "hang":  # then a gateway timeout: nothing was generated, nothing billed
            self.hanging.set()
            await asyncio.sleep(self.hang_s)
            call.status = 504
            return web.json_response({"error": {"message": "upstream timed out"}}, status=504)
        if fault == "echo-key-error":
            call.status = 500
            echoed = f"upstream rejected {request.headers.get('Authorization', '')}"
            return web.json_response({"error": {"message": echoed}}, status=500)
        if fault in ("429", "500", "401"):
            call.status = int(fault)
            headers = {"Retry-After": self.retry_after} if fault == "429" else {}
            message = {"429": "rate limit exceeded", "500": "internal error"}.get(
                fault, "invalid api key"
            )
            return web.json_response(
                {"error": {"message": message}}, status=call.status, headers=headers
            )
        if self.requests_per_window is not None:
            now = time.monotonic()
            if now >= self._window_started + self.requests_window_s:
                self._window_started, self._window_used = now, 0
            if self._window_used >= self.requests_per_window:
                self.requests_refused += 1
                call.status = 429
                return web.json_response(
                    {"error": {"message": "requests per minute exceeded"}},
                    status=429,
                    headers=self._request_headers(),
                )
            self._window_used += 1
        reserved = 0.0
        if self.tpm_limit is not None:
            reserved = (
                max(1, len(prompt) // 4)
                + 765 * images
                + int(body.get("max_tokens") or body.get("max_completion_tokens") or 0)
            )
            left = self._tpm_refill()
            self._arrived += 1
            if self.hold_until and self._all_arrived is None:
                self._all_arrived = asyncio.Event()
            if self._all_arrived is not None and self._arrived >= self.hold_until:
                self._all_arrived.set()
            if left < reserved:
                self.rate_limited += 1
                call.status = 429
                wait = (reserved - left) / (self.tpm_limit / 60)
                return web.json_response(
                    {"error": {"message": "tokens per minute exceeded"}},
                    status=429,
                    headers={**self._tpm_headers(), "Retry-After": f"{wait:.3f}"},
                )
            self._tpm_level -= reserved
            if self._all_arrived is not None:
                await self._all_arrived.wait()
        response_format = body.get("response_format")
        format_type = response_format.get("type") if isinstance(response_format, dict) else None
        if format_type in self.refused_formats:
            call.status = 400
            message = f"response_format type {format_type} is not supported by this server"
            return web.json_response({"error": {"message": message}}, status=400)
        call.tool_results = [str(m.get("content")) for m in messages if m.get("role") == "tool"]
        if body.get("tools") and self.refuses_tools:
            call.status = 400
            message = "tools are not supported by this server (start it with --jinja)"
            return web.json_response({"error": {"message": message}}, status=400)
        if (
            body.get("tools")
            and role == "juror"
            and (fault == "tool-loop" or not call.tool_results)
        ):
            return self._tool_call_reply(
                call, number, prompt, bad_arguments=fault == "bad-tool-args"
            )
        if fault == "malformed":
            return web.Response(text='{"id": "x", "choices": [', content_type="application/json")
        if fault == "empty":
            return web.json_response({"id": "x", "choices": [], "usage": None})
        seed = int(hashlib.sha256(prompt.encode()).hexdigest()[:12], 16)
        if role == "solver":
            text = self._solve(prompt, "image" if images else "latex", random.Random(seed))
        else:
            text = self.answer(role, prompt, random.Random(seed))
        if format_type in ("json_schema", "json_object") and role in _JSON_ROLES:
            text, call.schema_errors = _as_structured(text, response_format)
        finish = "stop"
        if fault == "echo-key":
            key = request.headers.get("Authorization", "").removeprefix("Bearer ")
            echoed = text.replace("\\caption{", f"\\caption{{{key} ", 1)
            text = echoed if echoed != text else f"{text}\n(sent with key {key})"
        if fault == "length":
            text, finish = text[: len(text) // 3], "length"
        if fault == "blank-tail":
            text, finish = text + "\n" * 40, "length"
        call.prompt_tokens = max(1, len(prompt) // 4) + 765 * images
        call.completion_tokens = max(1, len(text) // 4)
        if self.tpm_limit is not None:
            self._tpm_refill()
            self._tpm_level += reserved - call.prompt_tokens - call.completion_tokens
        return web.json_response(
            {
                "id": f"chatcmpl-{number}",
                "object": "chat.completion",
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": finish,
                    }
                ],
                "usage": {
                    "prompt_tokens": call.prompt_tokens,
                    "completion_tokens": call.completion_tokens,
                    "total_tokens": call.prompt_tokens + call.completion_tokens,
                },
            },
            headers={**self._tpm_headers(), **self._request_headers()},
        )

    def _request_headers(self) -> dict[str, str]:
        if self.requests_per_window is None:
            return {}
        reset = max(0.0, self._window_started + self.requests_window_s - time.monotonic())
        return {
            "x-ratelimit-limit-requests": str(self.requests_per_window),
            "x-ratelimit-remaining-requests": str(
                max(0, self.requests_per_window - self._window_used)
            ),
            "x-ratelimit-reset-requests": f"{int(reset * 1000)}ms",
        }

    def _tool_call_reply(
        self, call: Call, number: int, prompt: str, bad_arguments: bool
    ) -> web.StreamResponse:
        """A juror's first move with tools: the values of the column its question names."""
        header, _ = _read_table(prompt)
        question = re.search(r"Question: (.*)", prompt)
        named = [h for h in header[1:] if question and h and h in question.group(1)]
        arguments = json.dumps({"column": named[0]}) if named else "{}"
        name = "column_values" if named else "table_outline"
        if bad_arguments:
            arguments = '{"column": '
        message: dict[str, Any] = {"role": "assistant", "content": None}
        finish = "tool_calls"
        if call.fault == "written-tool-call":
            written = {"name": name, "arguments": json.loads(arguments)}
            message["content"] = f'```json\n{json.dumps(written)}\n```\n\n```json\n{{"verdict'
            finish = "length"
        if call.fault != "written-tool-call":
            call.tool_calls = [
                {
                    "id": f"call_{number}",
                    "type": "function",
                    "function": {"name": name, "arguments": arguments},
                }
            ]
            message["tool_calls"] = call.tool_calls
        call.prompt_tokens = max(1, len(prompt) // 4)
        call.completion_tokens = max(1, len(arguments) // 4)
        return web.json_response(
            {
                "id": f"chatcmpl-{number}",
                "object": "chat.completion",
                "model": call.model,
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "finish_reason": finish,
                    }
                ],
                "usage": {
                    "prompt_tokens": call.prompt_tokens,
                    "completion_tokens": call.completion_tokens,
                    "total_tokens": call.prompt_tokens + call.completion_tokens,
                },
            }
        )

    # ---------- answers
    def answer(self, role: str, prompt: str, rng: random.Random) -> str:
        if role == "inspirer":
            return _inspire(prompt, rng)
        if role == "generator":
            wanted = int(re.search(r"Write (\d+) different tables", prompt).group(1))  # type: ignore[union-attr]
            topics = re.findall(r"^\d+\. (.+)$", prompt, re.MULTILINE)
            if self.table_documents:
                picks = [
                    self._document_for(topics[i % len(topics)] if topics else "")
                    for i in range(wanted)
                ]
                blocks = [f"```latex\n{document}\n```" for document in picks]
                return "Here are the tables.\n\n" + "\n\n".join(blocks)
            blocks = [
                f"```latex\n{_table(topics[i % len(topics)] if topics else 'Trees', rng)}\n```"
                for i in range(wanted)
            ]
            return "Here are the tables.\n\n" + "\n\n".join(blocks)
        if role == "repair" and self.table_documents:
            return f"Fixed:\n```latex\n{self._next_document()}\n```"
        if role == "repair":
            caption = re.search(r"\\caption\{([^}]*)\}", prompt)
            return f"Fixed:\n```latex\n{_table(caption.group(1) if caption else 'Trees', rng)}\n```"
        if role == "questioner":
            return self._questions_for(prompt, rng)
        if role == "juror":
            return _judge(prompt)
        if role == "grader":
            return _grade(prompt)
        return "I am not sure what you are asking."

    def _solve(self, prompt: str, view: str, rng: random.Random) -> str:
        """Right with the view's accuracy; wrong answers are "-1". A question without a
        known truth is answered "unknown"."""
        question = re.search(r"^Question: (.+)$", prompt, re.MULTILINE)
        truth = self.answer_key.get(question.group(1).strip()) if question else None
        right = truth is not None and rng.random() < self.solve_accuracy.get(view, 0.0)
        answer = truth if right else ("-1" if truth is not None else "unknown")
        if right and rng.random() < self.wordy_answers:
            answer = f"{answer}, as the table shows"
        return json.dumps({"reasoning": f"Read it from the {view}.", "answer": answer})

    def _questions_for(self, prompt: str, rng: random.Random) -> str:
        wanted = int(re.search(r"Write (\d+) questions", prompt).group(1))  # type: ignore[union-attr]
        header, rows = _read_table(prompt)
        pairs = []
        for index in range(wanted):
            kind = ("lookup", "ranking", "aggregate")[index % 3]
            column = 1 + index % (len(header) - 1)
            question, answer = _ask(kind, header, rows, column, rng)
            if next(self._questions) % self.wrong_answer_every == self.wrong_answer_every - 1:
                answer = str(int(float(answer)) + 7) if _is_number(answer) else "Nobody"
            pairs.append(
                {
                    "question": question,
                    "reasoning": f"Step 1: read the {header[column]} column. Step 2: compute.",
                    "answer": answer,
                    "kind": kind,
                }
            )
        return "<think>Let me read the table.</think>\n```json\n" + json.dumps(pairs) + "\n```"


_JSON_ROLES = ("inspirer", "questioner", "juror", "solver", "grader")


def _as_structured(text: str, response_format: dict[str, Any]) -> tuple[str, list[str]]:
    """The answer as constrained decoding gives it: bare JSON in the schema's shape (a list of
    questions under the schema's one array field), checked against the schema."""
    found = re.search(r"[\[{].*[\]}]", text, re.DOTALL)
    value: Any = json.loads(found.group(0)) if found else {}
    if response_format.get("type") != "json_schema":
        return json.dumps(value), []
    schema = response_format["json_schema"]["schema"]
    if isinstance(value, list):
        arrays = [k for k, v in schema["properties"].items() if v.get("type") == "array"]
        value = {arrays[0]: value}
    if schema.get("additionalProperties") is False:  # constrained: only the schema's fields
        value = _shaped(value, schema)
    return json.dumps(value), schema_violations(value, schema)


def _shaped(value: Any, schema: dict[str, Any]) -> Any:
    """What a constrained decoder writes from our canned answer: the schema's fields only,
    missing ones filled with an empty value of their type."""
    if schema.get("type") == "object" and isinstance(value, dict):
        empty = {"string": "", "integer": 0, "boolean": False, "array": [], "object": {}}
        shaped = {}
        for key, sub in schema["properties"].items():
            kind = sub.get("type")
            kind = next(k for k in kind if k != "null") if isinstance(kind, list) else kind
            fallback = None if "null" in (sub.get("type") or []) else empty.get(kind)
            shaped[key] = _shaped(value[key], sub) if key in value else fallback
        return shaped
    if schema.get("type") == "array" and isinstance(value, list):
        return [_shaped(item, schema.get("items", {})) for item in value]
    return value


def _prompt_text(messages: list[dict[str, Any]]) -> tuple[str, int]:
    """The last user message's text, and how many PNG images the request carried."""
    text, images = "", 0
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            for part in content:
                if part.get("type") == "text" and message.get("role") == "user":
                    text = part["text"]
                elif part.get("type") == "image_url":
                    url = part["image_url"]["url"]
                    png = base64.b64decode(url.split(",", 1)[1])
                    assert png.startswith(b"\x89PNG"), "an image that is not a PNG"
                    images += 1
        elif (
            message.get("role") == "user"
            and isinstance(content, str)
            and not content.startswith("Your reply could not be used")
        ):
            text = content
    return text, images


def _role_of(prompt: str) -> str:
    if "layout recipe" in prompt and "Propose" in prompt:
        return "inspirer"
    if "failed to render" in prompt:
        return "repair"
    if re.search(r"Write \d+ different tables", prompt):
        return "generator"
    if re.search(r"Write \d+ questions", prompt):
        return "questioner"
    if "Judge the question" in prompt:
        return "juror"
    if "Work it out step by step from the table" in prompt:
        return "solver"
    if "Ground truth:" in prompt and "Predictions:" in prompt:
        return "grader"
    return "unknown"


def _inspire(prompt: str, rng: random.Random) -> str:
    named = re.search(r"from the domain '([^']+)'", prompt)
    domain = named.group(1) if named else rng.choice(["forestry", "urban parks", "nurseries"])
    topics = [
        f"{domain}: {word} survey {rng.randint(2019, 2025)}"
        for word in ("growth", "cost", "health")
    ]
    recipe = {"rows": rng.randint(5, 9), "striped": rng.random() < 0.5, "totals_row": False}
    return "Sure.\n" + json.dumps({"domain": domain, "topics": topics, "recipe": recipe})


def _table(topic: str, rng: random.Random) -> str:
    rows = rng.sample(_ITEMS, rng.randint(5, 8))
    lines = [
        f"{name} & {rng.randint(10, 99)} & {rng.randint(100, 999)} & {rng.randint(1, 9)} \\\\"
        for name in rows
    ]
    safe = re.sub(r"[^A-Za-z0-9 :,-]", "", topic)[:80]
    return (
        "\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n"
        "\\begin{table}[h]\n\\centering\n"
        f"\\caption{{{safe}}}\n"
        "\\begin{tabular}{lrrr}\n\\toprule\n"
        "Species & Height (m) & Cost (EUR) & Plots \\\\\n\\midrule\n"
        + "\n".join(lines)
        + "\n\\bottomrule\n\\end{tabular}\n\\end{table}\n\\end{document}"
    )


def _read_table(prompt: str) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the first tabular in the prompt: the fake's own simple tables, or
    roughly (commands stripped) any other document's first tabular."""
    source = re.search(r"\\midrule(.*?)\\bottomrule", prompt, re.DOTALL)
    head = re.search(r"\\toprule(.*?)\\\\", prompt, re.DOTALL)
    if source is None or head is None:
        return _read_any_table(prompt)
    header = [cell.strip() for cell in head.group(1).split("&")]
    rows = [
        [cell.strip() for cell in line.split("&")]
        for line in source.group(1).split("\\\\")
        if "&" in line
    ]
    return header, rows


def _read_any_table(prompt: str) -> tuple[list[str], list[list[str]]]:
    body = re.search(
        r"\\begin\{(?:tabular\*|tabularx)\}\{[^}]*\}\{(?:[^{}]|\{[^{}]*\})*\}(.*?)\\end\{tabular"
        r"|\\begin\{tabular\}(?:\[[^\]]*\])?\{(?:[^{}]|\{[^{}]*\})*\}(.*?)\\end\{tabular",
        prompt,
        re.DOTALL,
    )
    if body is None:
        return ["Item", "Value"], [["none", "0"]]
    lines = [line for line in (body.group(1) or body.group(2)).split("\\\\") if "&" in line]
    table = [[_plain(cell) for cell in line.split("&")] for line in lines]
    if len(table) < 2 or len(table[0]) < 2:
        return ["Item", "Value"], [["none", "0"]]
    return table[0], table[1:]


# Commands that draw no text, arguments and all: rules and colours between rows.
_NO_TEXT = re.compile(
    r"\\(?:arrayrulecolor|rowcolor|cellcolor|hhline|cline|cmidrule|hline|toprule|midrule"
    r"|bottomrule)\*?(?:\[[^\]]*\])?(?:\([^)]*\))?(?:\{[^{}]*\})?"
)


def _plain(cell: str) -> str:
    text = re.sub(r"%[^\n]*", "", cell)
    text = _NO_TEXT.sub("", text)
    text = re.sub(r"\\(?:multicolumn|multirow)\{[^}]*\}\{[^}]*\}", "", text)
    text = re.sub(r"\\[A-Za-z]+\*?(\[[^\]]*\])?", "", text)
    return re.sub(r"\s+", " ", text.replace("{", "").replace("}", "").replace("$", "")).strip()


def _ask(
    kind: str, header: list[str], rows: list[list[str]], column: int, rng: random.Random
) -> tuple[str, str]:
    values = _numbers(rows, column)
    if not values:  # a table without numbers here: ask for a cell's text
        name, text = next(((r[0], r[column]) for r in rows if len(r) > column), ("none", "0"))
        return f"What is the {header[column]} of {name}?", text
    if kind == "lookup":
        name, value = rng.choice(values)
        return f"What is the {header[column]} of {name}?", f"{value:g}"
    if kind == "ranking":
        name, _ = max(values, key=lambda pair: pair[1])
        return f"Which {header[0]} has the highest {header[column]}?", name
    return f"What is the total {header[column]} over all rows?", f"{sum(v for _, v in values):g}"


def _judge(prompt: str) -> str:
    header, rows = _read_table(prompt)
    question = re.search(r"Question: (.*)", prompt)
    answer = re.search(r"Answer: (.*)", prompt)
    if question is None or answer is None:
        return json.dumps({"verdict": "reject", "failed_criterion": 3, "rationale": "no question"})
    expected = _expected(question.group(1).strip(), header, rows)
    given = answer.group(1).strip()
    if expected is not None and given == expected:
        verdict = {"verdict": "accept", "failed_criterion": None, "rationale": "checks out"}
        return "Verdict follows.\n" + json.dumps(verdict)
    return json.dumps(
        {"verdict": "reject", "failed_criterion": 4, "rationale": f"expected {expected}"}
    )


def _grade(prompt: str) -> str:
    """Correct when the prediction contains the ground truth as a word."""
    truth = re.search(r"^Ground truth: (.+)$", prompt, re.MULTILINE)
    listed = prompt.split("Predictions:\n", 1)[-1].split("\n\n", 1)[0]
    grades = []
    for line in listed.splitlines():
        number, _, said = line.partition(". ")
        found = truth is not None and re.search(
            rf"(?<![\w.-]){re.escape(truth.group(1))}(?![\w])", said
        )
        grades.append(
            {
                "prediction": int(number),
                "verdict": "correct" if found else "incorrect",
                "reason": "compared",
            }
        )
    return json.dumps({"grades": grades})


def _numbers(rows: list[list[str]], column: int) -> list[tuple[str, float]]:
    return [(r[0], float(r[column])) for r in rows if len(r) > column and _is_number(r[column])]


def _expected(question: str, header: list[str], rows: list[list[str]]) -> str | None:
    for column in range(1, len(header)):
        values = _numbers(rows, column)
        name = header[column]
        lookup = re.fullmatch(rf"What is the {re.escape(name)} of (.+)\?", question)
        if lookup and not values:
            found = [r[column] for r in rows if len(r) > column and r[0] == lookup.group(1)]
            return found[0] if found else None
        if not values:
            continue
        if lookup:
            found = [f"{v:g}" for n, v in values if n == lookup.group(1)]
            return found[0] if found else None
        if question == f"Which {header[0]} has the highest {name}?":
            return max(values, key=lambda pair: pair[1])[0]
        if question == f"What is the total {name} over all rows?":
            return f"{sum(v for _, v in values):g}"
    return None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# ---------- running it
class ServerThread:
    """The fake on its own event loop in a thread, so a run in a subprocess can call it."""

    def __init__(self, fake: FakeOpenAI) -> None:
        self.fake = fake
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self._ready = threading.Event()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._start())
        self._ready.set()
        self.loop.run_forever()

    async def _start(self) -> None:
        self._runner = web.AppRunner(self.fake.app(), shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def _shutdown(self) -> None:
        assert self._runner is not None
        await self._runner.cleanup()
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in pending:  # handlers still "hanging" on an injected fault
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    def start(self) -> ServerThread:
        self._thread.start()
        self._ready.wait()
        return self

    def stop(self) -> None:
        assert self._runner is not None
        asyncio.run_coroutine_threadsafe(self._shutdown(), self.loop).result()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


@contextmanager
def serving(fake: FakeOpenAI) -> Iterator[ServerThread]:
    server = ServerThread(fake).start()
    try:
        yield server
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--log", help="append one JSON line per call (start, end, usage)")
    parser.add_argument("--fault-every", type=int, default=0, help="every n-th request fails")
    parser.add_argument("--faults", default="429,500,malformed,hang,length,empty")
    parser.add_argument("--hang", type=float, default=30.0, help="seconds a 'hang' lasts")
    parser.add_argument(
        "--tables-from", help="a folder of .tex documents the generator answers with, in turn"
    )
    parser.add_argument("--answer-key", help="a JSON file: question → truth, for solvers")
    parser.add_argument(
        "--solve-accuracy", default="latex=1,image=1", help="a solver's chance per view"
    )
    parser.add_argument("--wordy", type=float, default=0.0, help="share of wordy right answers")
    parser.add_argument("--tpm-limit", type=int, help="tokens per minute, as providers count")
    args = parser.parse_args()
    documents: tuple[str, ...] = ()
    if args.tables_from:
        paths = sorted(Path(args.tables_from).glob("*.tex"))
        if not paths:
            parser.error(f"--tables-from {args.tables_from}: no .tex files there")
        documents = tuple(path.read_text(encoding="utf-8", errors="replace") for path in paths)
    fake = FakeOpenAI(
        latency_s=args.latency, log_path=args.log, hang_s=args.hang, table_documents=documents
    )
    if args.answer_key:
        fake.answer_key = json.loads(Path(args.answer_key).read_text(encoding="utf-8"))
    fake.solve_accuracy = {
        view: float(share)
        for view, _, share in (pair.partition("=") for pair in args.solve_accuracy.split(","))
    }
    fake.wordy_answers = args.wordy
    fake.tpm_limit = args.tpm_limit
    if args.fault_every:
        fake.fault_every(args.fault_every, args.faults.split(","))
    web.run_app(fake.app(), host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    main()
