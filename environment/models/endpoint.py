"""One client for every OpenAI-compatible chat completions endpoint.

OpenAI, OpenRouter, vLLM, Ollama, llama.cpp server, Groq, Together, DeepSeek, Mistral and the
compatibility endpoints of Gemini and Anthropic all accept `POST {base_url}/chat/completions`.
Written on aiohttp rather than an SDK so that every retry, `Retry-After`, timeout and usage
figure is ours to decide and to report.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import random
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn

import aiohttp

from environment.config.scenario import OpenAIModelSettings
from environment.core.messages import IncidentKind, Message, ModelIncident
from environment.models.images import ImageOutsideRun, RunImages
from environment.models.protocol import Completion, ModelCallFailed, ModelRequest, ToolCall
from environment.models.rate_limit import (
    AdaptiveSlots,
    RequestPacer,
    TokenBucket,
    remaining_tokens,
    requests_left,
)
from environment.models.secrets import Redactor

RETRYABLE_STATUS = {408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529}
BACKOFF_CAP_S = 60.0
# Image tokens are not in the text. A worst case for one rendered table: Qwen-VL counts a
# token per 28×28 patch (~3,800 for a 2,000×1,500 px table at scale 2), OpenAI's high
# detail ~1,100, Gemini 258 per tile.
IMAGE_TOKENS_CEILING = 5000
# Benched this many times in a row without one success, a model is down for the run: its
# calls fail at once, so a run against a dead endpoint ends instead of waiting forever.
DOWN_AFTER_BENCHES = 5


@dataclass
class RunLink:
    """What endpoint clients share with the run: where incidents go and whether it stops."""

    publish: Callable[[Message], Awaitable[None]] | None = None
    redact: Redactor = field(default_factory=Redactor)
    _stopped: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def stopping(self) -> bool:
        return self._stopped.is_set()

    def stop(self) -> None:
        """The run halts: no new request, and every wait below ends now."""
        self._stopped.set()

    async def pause(self, seconds: float) -> None:
        """Waits (a backoff, a rate-limit turn, a cool-down) unless the run stops first,
        so a stopping run does not sit out minutes of waits for work it will drop."""
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), timeout=seconds)

    async def report(self, incident: ModelIncident) -> None:
        if self.publish is not None:
            await self.publish(incident.model_copy(update={"detail": self.redact(incident.detail)}))


@dataclass
class Health:
    """An endpoint model's recent record, shared by every agent that calls it: failed
    requests in a row bench it (429s excepted: a rate limit means slow down, not broken)."""

    bench_after: int
    cooldown_s: float
    failures_in_a_row: int = 0
    benched_until: float = 0.0
    benches_in_a_row: int = 0

    @property
    def benched(self) -> bool:
        return time.monotonic() < self.benched_until

    @property
    def down(self) -> bool:
        return self.benches_in_a_row >= DOWN_AFTER_BENCHES

    def note_success(self) -> None:
        self.failures_in_a_row = self.benches_in_a_row = 0

    def note_failure(self) -> bool:
        """Counts a failure; True if it just benched the model."""
        self.failures_in_a_row += 1
        if self.failures_in_a_row >= self.bench_after and not self.benched:
            self.benched_until = time.monotonic() + self.cooldown_s
            self.benches_in_a_row += 1
            return True
        return False

    def back_from_bench(self) -> bool:
        """The first call after a cool-down gets a clean slate; True for that call only."""
        if self.failures_in_a_row == 0:
            return False
        self.failures_in_a_row = 0
        return True


class Stopping(ModelCallFailed):
    """The run halts: the call was not sent. Not the model's fault."""


class Benched(ModelCallFailed):
    """The model rests after repeated failures; the call was not sent (again)."""


class _FormatRefused(Exception):
    """The server refused the request's `response_format` (HTTP 400/422 naming it)."""

    def __init__(self, status: int, says: str) -> None:
        self.reason = f"HTTP {status}{says}"
        super().__init__(self.reason)
        self.says = says


# A server that does not take `tools` says so in a 400 naming them (llama.cpp without --jinja,
# older vLLM without a tool parser).
_TOOL_WORDS = re.compile(r"\btool|function.?call", re.IGNORECASE)
# A refusal that is about the response format, not about the prompt or the model name.
_FORMAT_WORDS = re.compile(
    r"response_format|json_schema|json_object|schema|structured|grammar", re.I
)
_WEAKER_FORMAT = {"json_schema": "json_object", "json_object": "none"}


class _Retry(Exception):
    def __init__(
        self,
        reason: str,
        retry_after_s: float | None = None,
        slow_down: bool = False,
        tokens_left: float | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after_s = retry_after_s
        self.slow_down = slow_down  # a 429: the model works, we ask too often
        self.tokens_left = tokens_left  # what the provider says is left of its minute


def retry_after_seconds(value: str | None) -> float | None:
    """`Retry-After` as seconds (a number or an HTTP date); None if absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class EndpointModel:
    """A named model of a scenario, on an OpenAI-compatible endpoint."""

    def __init__(
        self,
        name: str,
        settings: OpenAIModelSettings,
        api_key: str | None,
        images: RunImages,
        link: RunLink,
        jitter_seed: int = 0,
        answers_as: str | list[str] | None = None,
    ) -> None:
        self.name = name
        self.health = Health(settings.bench_after_failures, settings.cooldown_s)
        self.settings = settings
        # One of several endpoints of a model: named by its address in incidents, and
        # answering for the model's whole list of endpoints in the response cache.
        self.answers_as = answers_as if answers_as is not None else settings.base_url
        self.label = name if answers_as is None else f"{name} at {settings.urls[0]}"
        self.in_flight = 0  # calls given to this endpoint and not yet over
        self.figures = Counter[str]()  # calls, failures, retries, benched: run.json's
        self.images = images
        self.link = link
        self._headers = {"Content-Type": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self.address = settings.urls[0]  # this endpoint's (settings.at(url) for one of several)
        self._url = self.address + "/chat/completions"
        self._slots = AdaptiveSlots(settings.concurrency)  # halved by 429s, regrown by successes
        self._pacer = RequestPacer(settings.rpm)
        self._tokens = TokenBucket(settings.tpm) if settings.tpm else None
        self._jitter = random.Random(jitter_seed)  # backoff only; never shapes the data
        self._session: aiohttp.ClientSession | None = None
        # What this server is sent as `response_format`: stepped down when it refuses one.
        self.structured_output: str = (
            "json_schema" if settings.structured_output == "auto" else settings.structured_output
        )

    @property
    def cache_identity(self) -> str:
        """What, besides the request, decides the answer: the response cache's namespace."""
        s = self.settings
        return json.dumps(
            [
                self.answers_as,
                s.model,
                s.temperature,
                s.max_tokens,
                s.shown,
                s.extra_body,
                s.structured_output,
            ],
            separators=(",", ":"),
            sort_keys=True,
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _session_now(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.settings.concurrency),
                timeout=aiohttp.ClientTimeout(total=self.settings.timeout_s),
            )
        return self._session

    # ---------- the request body
    async def _payload(
        self, request: ModelRequest, response_format: dict[str, Any] | None
    ) -> dict[str, Any]:
        """The JSON body: text messages, and the rendered table as a data URL for vision."""
        messages: list[dict[str, Any]] = []
        for message in request.messages:
            if message.image is not None and self.settings.vision:
                try:
                    url = await self.images.data_url(message.image)
                except (OSError, ImageOutsideRun) as error:
                    raise ModelCallFailed(
                        self.name, f"cannot send the table image: {error}"
                    ) from None
                content: Any = [
                    {"type": "text", "text": message.content},
                    {"type": "image_url", "image_url": {"url": url}},
                ]
            else:
                content = message.content
            entry: dict[str, Any] = {"role": message.role, "content": content}
            if message.tool_calls:
                entry["tool_calls"] = [
                    {
                        "id": call.call_id,
                        "type": "function",
                        "function": {"name": call.name, "arguments": call.arguments},
                    }
                    for call in message.tool_calls
                ]
            if message.tool_call_id is not None:
                entry["tool_call_id"] = message.tool_call_id
            messages.append(entry)
        settings = self.settings
        body: dict[str, Any] = {
            **settings.extra_body,
            "model": settings.model,
            "messages": messages,
            settings.max_tokens_param: settings.max_tokens,
            "stream": False,
        }
        if settings.temperature is not None:
            body["temperature"] = settings.temperature
        if response_format is not None:
            body["response_format"] = response_format
        if request.tools and request.tool_choice != "auto":
            body["tool_choice"] = request.tool_choice
        if request.tools:
            body["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": tool.name,
                        "description": tool.description,
                        "parameters": json.loads(tool.parameters),
                    },
                }
                for tool in request.tools
            ]
        return body

    def _response_format(self, request: ModelRequest) -> dict[str, Any] | None:
        """Ours to send, at the level this server takes; None when the scenario's
        `extra_body` sets its own response_format, or the role writes free text."""
        schema = request.response_schema
        if (
            schema is None
            or request.tools  # constrained to the schema, a model could not call a tool
            or self.structured_output == "none"
            or "response_format" in self.settings.extra_body
        ):
            return None
        if self.structured_output == "json_object":
            return {"type": "json_object"}
        return {
            "type": "json_schema",
            "json_schema": {"name": schema.name, "schema": schema.parsed(), "strict": True},
        }

    def prompt_ceiling(self, request: ModelRequest) -> int:
        """The prompt's tokens, over-estimated: 1 per 2 bytes, images at their ceiling."""
        text = sum(len(m.content.encode("utf-8")) for m in request.messages) // 2 + 16
        tools = sum(len(t.description) + len(t.parameters) for t in request.tools) // 2
        images = sum(
            IMAGE_TOKENS_CEILING for m in request.messages if m.image and self.settings.vision
        )
        return text + tools + images

    def worst_case_usd(self, request: ModelRequest) -> float:
        """The prompt's ceiling plus the whole max_tokens: what this call could cost at most."""
        return self.cost_usd(self.prompt_ceiling(request), self.settings.max_tokens)

    def cost_usd(self, prompt_tokens: int, completion_tokens: int) -> float:
        price = self.settings.price
        return (
            prompt_tokens * price.input_per_mtok + completion_tokens * price.output_per_mtok
        ) / 1_000_000

    # ---------- calling
    async def complete(self, request: ModelRequest) -> Completion:
        self.in_flight += 1
        try:
            completion = await self._complete_in_format(request)
        finally:
            self.in_flight -= 1
        self.figures["calls"] += 1
        return completion

    async def _complete_in_format(self, request: ModelRequest) -> Completion:
        while True:
            response_format = self._response_format(request)
            body = await self._payload(request, response_format)
            try:
                completion = await self._complete(
                    request, body, response_format is not None, bool(request.tools)
                )
                if completion.truncated and _only_blank_was_cut(request, completion.text):
                    completion = completion.model_copy(
                        update={"truncated": False, "text": completion.text.rstrip()}
                    )
                if request.tools and not completion.tool_calls:
                    offered = {tool.name for tool in request.tools}
                    written = calls_written_as_text(completion.text, offered)
                    completion = completion.model_copy(update={"tool_calls": written})
                return completion
            except _FormatRefused as refused:
                sent = str(response_format["type"]) if response_format else "none"
                if self.settings.structured_output != "auto":  # declared: the user's to fix
                    await self._count_failure(request, refused.reason)
                    await self._give_up(
                        request, f"{refused.reason} (structured_output: {sent} in the scenario)"
                    )
                if self.structured_output == sent:  # not yet stepped down by another call
                    self.structured_output = _WEAKER_FORMAT[sent]
                    await self._incident(
                        request,
                        "degraded",
                        f"the server refused response_format {sent}{refused.says}; "
                        f"sending {self.structured_output} from now on",
                    )

    async def _complete(
        self, request: ModelRequest, body: dict[str, Any], uses_format: bool, uses_tools: bool
    ) -> Completion:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        attempts = self.settings.max_retries + 1
        for attempt in range(1, attempts + 1):
            if self.link.stopping:
                raise Stopping(self.name, "the run is stopping")
            if self.health.down:
                raise ModelCallFailed(self.name, "down for this run after repeated benching")
            if self.health.benched:  # benched while this call waited: let a role-mate take it
                raise Benched(self.name, "resting after repeated failures")
            try:
                async with self._slots:
                    await self._pacer.wait_turn(self.link.pause)
                    completion = await self._post_within_tpm(request, data, uses_format, uses_tools)
                self.health.note_success()
                await self._slots.speed_up()
                return completion
            except _Retry as retry:
                if retry.slow_down:
                    self._slots.slow_down()
                if not retry.slow_down:  # rate limits back off; they do not bench
                    await self._count_failure(request, retry.reason)
                if attempt == attempts:
                    await self._give_up(
                        request, f"{retry.reason}; gave up after {attempts} attempts"
                    )
                delay = self._delay(attempt, retry.retry_after_s)
                if delay > self.settings.cooldown_s and retry.retry_after_s is not None:
                    await self._give_up(
                        request, f"{retry.reason}; the server asks to wait {delay:.0f} s"
                    )
                self.figures["retries"] += 1
                await self._incident(
                    request,
                    "retry",
                    f"{retry.reason}; retry {attempt}/{attempts - 1} in {delay:.1f} s",
                )
                await self.link.pause(delay)  # backoff: waiting is the point
            except Stopping:
                raise
            except ModelCallFailed as failure:
                await self._count_failure(request, failure.reason)
                await self._incident(request, "failed", failure.reason)
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _post_within_tpm(
        self, request: ModelRequest, data: bytes, uses_format: bool, uses_tools: bool
    ) -> Completion:
        """The call, with its worst case reserved in the tokens-per-minute bucket first
        (when the model has `tpm`) and the reservation settled to what it used."""
        reserved = 0.0
        if self._tokens is not None:
            worst = self.prompt_ceiling(request) + self.settings.max_tokens
            reserved = await self._tokens.reserve(worst, self._pause_unless_stopping)
        if self.link.stopping:
            if self._tokens is not None:
                self._tokens.settle(reserved, 0)
            raise Stopping(self.name, "the run is stopping")
        try:
            completion, left = await self._post(data, uses_format, uses_tools)
        except _Retry as retry:
            if self._tokens is not None and retry.slow_down:  # refused: nothing was counted
                self._tokens.settle(reserved, 0)
                if retry.tokens_left is not None:
                    self._tokens.learn(retry.tokens_left)
            raise  # other failures may have been counted: the reservation stands
        if self._tokens is not None:
            self._tokens.settle(reserved, completion.prompt_tokens + completion.completion_tokens)
            if left is not None:  # after settling: the provider's count already has this call
                self._tokens.learn(left)
        return completion

    async def _pause_unless_stopping(self, seconds: float) -> None:
        await self.link.pause(seconds)
        if self.link.stopping:
            raise Stopping(self.name, "the run is stopping")

    async def _give_up(self, request: ModelRequest, reason: str) -> NoReturn:
        await self._incident(request, "failed", reason)
        raise ModelCallFailed(self.name, self.link.redact(reason)) from None

    async def _count_failure(self, request: ModelRequest, reason: str) -> None:
        self.figures["failures"] += 1
        if self.health.note_failure():
            self.figures["benched"] += 1
            detail = f"{self.health.failures_in_a_row} failed requests in a row (last: {reason}); "
            if self.health.down:
                detail += (
                    f"benched {DOWN_AFTER_BENCHES} times without a success: down for this "
                    "run, its calls now fail"
                )
            else:
                detail += (
                    f"resting {self.health.cooldown_s:g} s, its work goes to the role's other "
                    "models"
                )
            await self._incident(request, "benched", detail)

    def report_unusable(self) -> None:
        """Output unusable even after the re-ask counts against the model too."""
        self.health.note_failure()

    def _delay(self, attempt: int, retry_after_s: float | None) -> float:
        if retry_after_s is not None:
            return retry_after_s
        ceiling = min(BACKOFF_CAP_S, self.settings.retry_base_s * 2 ** (attempt - 1))
        return ceiling * (0.5 + 0.5 * self._jitter.random())  # jitter spreads the herd

    async def _incident(self, request: ModelRequest, kind: IncidentKind, detail: str) -> None:
        await self.link.report(
            ModelIncident(model=self.label, agent=request.agent, kind=kind, detail=detail)
        )

    async def _post(
        self, data: bytes, uses_format: bool = False, uses_tools: bool = False
    ) -> tuple[Completion, float | None]:
        """The reply, and the tokens the provider's headers say are left (if they say)."""
        started = time.perf_counter()
        try:
            async with self._session_now().post(
                self._url, data=data, headers=self._headers
            ) as response:
                raw = await response.read()
                status = response.status
                retry_after = retry_after_seconds(response.headers.get("Retry-After"))
                left = remaining_tokens(response.headers)
                self._pacer.learn(*requests_left(response.headers))
        except TimeoutError:
            raise _Retry(f"no reply within {self.settings.timeout_s:g} s") from None
        except aiohttp.ClientError as error:
            raise _Retry(f"connection error: {type(error).__name__}: {error}") from None
        says = self.link.redact(server_says(raw))
        if status in RETRYABLE_STATUS:
            raise _Retry(f"HTTP {status}{says}", retry_after, status == 429, left)
        if status in (400, 422) and uses_format and _FORMAT_WORDS.search(says):
            raise _FormatRefused(status, says)
        if status in (400, 422) and uses_tools and _TOOL_WORDS.search(says):
            raise ModelCallFailed(
                self.name,
                f"HTTP {status}{says}: this endpoint refuses tool calls; set `tool_calling: "
                "false` on the model and give its jurors a persona without `tool_rounds`",
            )
        if status >= 400:
            hint = {
                401: " (check the key in api_key_env)",
                403: " (the key lacks access to this model?)",
                404: " (check base_url and model)",
            }.get(status, "")
            raise ModelCallFailed(self.name, f"HTTP {status}{says}{hint}")
        return self._completion(raw, len(data), time.perf_counter() - started), left

    def _completion(self, raw: bytes, request_bytes: int, seconds: float = 0.0) -> Completion:
        try:
            reply = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise _Retry(f"malformed JSON in the reply ({len(raw)} bytes)") from None
        choices = reply.get("choices") if isinstance(reply, dict) else None
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise _Retry("a reply without choices")
        choice = choices[0]
        message = choice.get("message")
        if not isinstance(message, dict):
            message = {}
        text = message.get("content")
        if isinstance(text, list):  # some servers send content parts
            text = "".join(part.get("text", "") for part in text if isinstance(part, dict))
        truncated = choice.get("finish_reason") == "length"
        tool_calls = _tool_calls(message.get("tool_calls"))
        if not truncated and not tool_calls and (not isinstance(text, str) or not text.strip()):
            raise _Retry("an empty reply")
        usage = reply.get("usage")
        if isinstance(usage, dict) and isinstance(usage.get("prompt_tokens"), int):
            prompt_tokens = _count(usage.get("prompt_tokens"))
            completion_tokens = _count(usage.get("completion_tokens"))
        else:  # a server that reports no usage: estimate (≈4 bytes a token) rather than 0
            prompt_tokens, completion_tokens = request_bytes // 4, len(raw) // 4
        # The one place a reply enters the run: a secret it echoes is gone before any agent,
        # cache, renderer or file sees the text.
        text = text if isinstance(text, str) else ""
        clean = self.link.redact(text)
        calls = tuple(
            call.model_copy(update={"arguments": self.link.redact(call.arguments)})
            for call in tool_calls
        )
        return Completion(
            text=clean,
            tool_calls=calls,
            redacted=clean != text or calls != tool_calls,
            model=self.name,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost_usd=self.cost_usd(prompt_tokens, completion_tokens),
            truncated=truncated,
            seconds=round(seconds, 3),
        )


_WRITTEN_CALL = re.compile(
    r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)|```(?:json)?\s*(.*?)```", re.DOTALL
)


def calls_written_as_text(text: str, offered: set[str]) -> tuple[ToolCall, ...]:
    """Tool calls a model wrote into its text instead of the protocol's field, as small
    models do (a fenced `{"name": ..., "arguments": {...}}`, or Hermes' `<tool_call>` tags
    the server did not parse). Only names of offered tools count: a verdict is not a call."""
    pieces = [a or b for a, b in _WRITTEN_CALL.findall(text)] or [text]
    calls: list[ToolCall] = []
    for piece in pieces:
        try:
            value = json.loads(piece.strip())
        except ValueError:
            continue
        for entry in value if isinstance(value, list) else [value]:
            if not isinstance(entry, dict) or entry.get("name") not in offered:
                continue
            arguments = entry.get("arguments", entry.get("parameters", {}))
            if not isinstance(arguments, str):
                arguments = json.dumps(arguments, ensure_ascii=False)
            calls.append(
                ToolCall(call_id=f"written_{len(calls)}", name=entry["name"], arguments=arguments)
            )
    return tuple(calls)


def _only_blank_was_cut(request: ModelRequest, text: str) -> bool:
    """A JSON reply that closed, then ran on in blank lines until max_tokens (small models
    do, when nothing constrains their decoding): what was cut was only whitespace. Not for
    free text, where a closing brace can sit mid-document."""
    if request.response_schema is None and not request.tools:
        return False
    kept = text.rstrip()
    return len(kept) < len(text) and kept.endswith(("}", "]", "```"))


def _tool_calls(raw: Any) -> tuple[ToolCall, ...]:
    """The reply's tool calls in the OpenAI shape; entries without a function name are
    dropped (there is nothing to run), arguments are kept as the model wrote them."""
    if not isinstance(raw, list):
        return ()
    calls: list[ToolCall] = []
    for index, entry in enumerate(raw):
        function = entry.get("function") if isinstance(entry, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            continue
        arguments = function.get("arguments", "")
        if not isinstance(arguments, str):  # some servers send the object itself
            arguments = json.dumps(arguments, ensure_ascii=False)
        call_id = entry.get("id") if isinstance(entry.get("id"), str) else f"call_{index}"
        calls.append(ToolCall(call_id=call_id, name=function["name"], arguments=arguments))
    return tuple(calls)


def _count(value: Any) -> int:
    return value if isinstance(value, int) and value >= 0 else 0


def server_says(raw: bytes) -> str:
    """The server's own error message, short: `: rate limit exceeded`."""
    try:
        body = json.loads(raw)
        error = body.get("error") if isinstance(body, dict) else None
        text = error.get("message") if isinstance(error, dict) else error
    except (UnicodeDecodeError, json.JSONDecodeError):
        text = raw[:200].decode("utf-8", "replace")
    text = " ".join(str(text or "").split())[:200]
    return f": {text}" if text else ""
