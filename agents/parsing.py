"""Tolerant extraction of JSON and LaTeX from model output. Pure functions.

Models wrap payloads in prose, fences and `<think>` blocks; these functions find the
payload or raise OutputParseError with a message the re-ask prompt can quote.
"""

from __future__ import annotations

import json
import re
from typing import Any

_THINK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\n(.*?)```", re.DOTALL)


class OutputParseError(ValueError):
    """The output has no usable payload; the message says what was expected."""


def strip_thinking(text: str) -> str:
    text = _THINK.sub("", text)
    # An unclosed <think> (cut-off reasoning) hides everything after it.
    if "<think>" in text.lower():
        text = text[: text.lower().index("<think>")]
    return text


def extract_json(text: str) -> Any:
    """The first JSON value in fences, or bare, or after prose."""
    text = strip_thinking(text)
    candidates = [body for lang, body in _FENCE.findall(text) if lang.lower() in ("", "json")]
    candidates.append(text)
    decoder = json.JSONDecoder()
    last_error = "no JSON object or array found"
    for candidate in candidates:
        for start in (m.start() for m in re.finditer(r"[\[{]", candidate)):
            try:
                value, _ = decoder.raw_decode(candidate[start:])
                return value
            except json.JSONDecodeError as error:
                last_error = f"invalid JSON: {error.msg} at line {error.lineno}"
                break  # the first opening bracket decides; later ones are nested parts
    raise OutputParseError(last_error)


def extract_latex_documents(text: str) -> list[str]:
    """Complete LaTeX documents (or bare tabulars) from fenced blocks or plain text."""
    text = strip_thinking(text)
    found: list[str] = []
    for lang, body in _FENCE.findall(text):
        if lang.lower() in ("", "latex", "tex") and ("\\begin{" in body):
            found.append(body.strip())
    if not found:
        for match in re.finditer(r"\\documentclass.*?\\end\{document\}", text, re.DOTALL):
            found.append(match.group(0).strip())
    if not found and text.count("```") % 2 == 1:
        raise OutputParseError("a ```latex block was opened but never closed (output cut off?)")
    if not found:
        raise OutputParseError("no LaTeX document found; put each document in a ```latex block")
    for document in found:
        if "\\documentclass" in document and "\\end{document}" not in document:
            raise OutputParseError("a LaTeX document is missing \\end{document} (cut off?)")
    return found
