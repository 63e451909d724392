"""Tolerant extraction of JSON and LaTeX from model output. Pure functions.

Models wrap payloads in prose, fences and `<think>` blocks; these functions find the
payload or raise OutputParseError with a message the re-ask prompt can quote.
"""

from __future__ import annotations

import json
import re
from typing import Any

from json_repair import repair_json

from environment.models.protocol import ResponseSchema

_THINK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\n(.*?)```", re.DOTALL)


def strict_object(properties: dict[str, Any]) -> dict[str, Any]:
    """A JSON schema object with every field required and no others: what OpenAI's strict
    mode accepts, and what every other server's schema-constrained decoding understands."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def response_schema(name: str, properties: dict[str, Any]) -> ResponseSchema:
    return ResponseSchema(name=name, definition=json.dumps(strict_object(properties)))


class OutputParseError(ValueError):
    """The output has no usable payload; the message says what was expected."""


def strip_thinking(text: str) -> str:
    text = _THINK.sub("", text)
    # An unclosed <think> (cut-off reasoning) hides everything after it.
    if "<think>" in text.lower():
        text = text[: text.lower().index("<think>")]
    return text


def extract_json(text: str) -> Any:
    """The first JSON value in fences, or bare, or after prose. JSON as models get it wrong
    (single quotes, trailing commas, unquoted keys or words, a missing bracket at the end)
    is repaired rather than re-asked: a re-ask costs a call and often fails the same way."""
    text = strip_thinking(text)
    candidates = [body for lang, body in _FENCE.findall(text) if lang.lower() in ("", "json")]
    candidates.append(text)
    decoder = json.JSONDecoder()
    first_error: str | None = None
    for candidate in candidates:
        for start in (m.start() for m in re.finditer(r"[\[{]", candidate)):
            try:
                value, _ = decoder.raw_decode(candidate[start:])
                return value
            except json.JSONDecodeError as error:
                repaired = repair_json(candidate[start:], return_objects=True)
                if isinstance(repaired, dict | list) and repaired:
                    return repaired
                first_error = first_error or _described(error, candidate, start)
                break  # the first opening bracket decides; later ones are nested parts
    raise OutputParseError(first_error or "no JSON object or array found")


def _described(error: json.JSONDecodeError, text: str, start: int) -> str:
    """The parse error with the reply's line it is on, for the re-ask prompt to quote."""
    number = text.count("\n", 0, start + error.pos) + 1
    shown = text.split("\n")[number - 1].strip()[:160]
    return f"invalid JSON: {error.msg} at line {number}" + (
        f" (the line: {shown!r})" if shown else ""
    )


_MARKED = re.compile(r"BEGIN_LATEX(.*?)END_LATEX", re.DOTALL)
_COMMAND_BACKSLASHES = re.compile(r"(\\+)([A-Za-z])")


def unescape_json_latex(document: str) -> str:
    """LaTeX written as a JSON string (`\\\\begin{tabular}`, `\\n`) back to LaTeX. Only when
    every command has an even run of backslashes: real LaTeX has single ones."""
    runs = []
    for match in _COMMAND_BACKSLASHES.finditer(document):
        run = len(match.group(1))
        if run % 2 and match.group(2) in "ntr":  # the last one is JSON's \n, \t or \r
            run -= 1
        if run:
            runs.append(run)
    if not runs or any(run % 2 for run in runs) or 2 not in runs:
        return document
    try:
        decoded = json.loads('"' + document.replace("\n", "\\n").replace("\r", "") + '"')
        if isinstance(decoded, str):
            return decoded
    except json.JSONDecodeError:
        pass
    return re.sub(r"\\\\", lambda _: "\\", document).replace("\\n", "\n")


def _latex_in_json(text: str) -> list[str]:
    """Documents given as JSON string values (`{"table_1": "\\documentclass…"}`)."""
    try:
        data = extract_json(text)
    except OutputParseError:
        return []
    values = data.values() if isinstance(data, dict) else data if isinstance(data, list) else []
    return [v.strip() for v in values if isinstance(v, str) and "\\begin{" in v]


def extract_latex_documents(text: str) -> list[str]:
    """Complete LaTeX documents (or bare tabulars) from fenced blocks, the reference
    pipeline's `BEGIN_LATEX … END_LATEX` form, JSON string values, or plain text."""
    text = strip_thinking(text)
    found = [unescape_json_latex(body.strip()) for body in _MARKED.findall(text)]
    if not found:
        for lang, body in _FENCE.findall(text):
            if lang.lower() in ("", "latex", "tex") and ("\\begin{" in body):
                found.append(unescape_json_latex(body.strip()))
    if not found and text.lstrip()[:1] in ("{", "["):
        found = _latex_in_json(text)  # BEGIN_LATEX-marked values were found above
    if not found:
        for match in re.finditer(r"\\+documentclass.*?\\+end\{document\}", text, re.DOTALL):
            found.append(unescape_json_latex(match.group(0).strip()))
    if not found and text.count("```") % 2 == 1:
        raise OutputParseError("a ```latex block was opened but never closed (output cut off?)")
    if not found:
        raise OutputParseError("no LaTeX document found; put each document in a ```latex block")
    for document in found:
        if "\\documentclass" in document and "\\end{document}" not in document:
            raise OutputParseError("a LaTeX document is missing \\end{document} (cut off?)")
    return found
