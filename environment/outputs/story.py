"""`run.py show RUN ITEM_ID`: one item's whole story from its run folder — the inspiration
it came from, each draft of its table and how it rendered or failed, what the models wrote
that could not be used, the questions, every vote and the verdict."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from environment.errors import UserInputError
from environment.storage.store import RunStore, iter_events

_ID_FIELDS = ("qa_id", "table_id", "subject_id", "inspiration_id")  # most specific first
_LONG_FIELDS = ("latex", "reply", "reasoning", "text")  # printed as indented blocks
_SKIPPED_FIELDS = {"grid"}  # the cell grid is in the image
# A table's pairs, votes and verdicts travel in one message each: shown one item per line,
# only the items the story is about. A verdict shows its outcome; its pair and votes precede.
_ITEM_LISTS = {"pairs": None, "votes": None, "records": ("accepted", "confidence", "undecided")}


def _lineage(item_id: str) -> set[str]:
    """An item and what it belongs to: i00001-t0-q2 → itself, i00001-t0, i00001."""
    parts = item_id.split("-")
    return {"-".join(parts[: n + 1]) for n in range(len(parts))}


def _concerns(data: dict[str, Any], item_id: str, lineage: set[str]) -> bool:
    """By the event's most specific id: about this item, what it belongs to (its table, its
    inspiration) or what belongs to it (a table's pairs) — not about a sibling table."""
    specific = next((str(data[field]) for field in _ID_FIELDS if field in data), None)
    if specific is None:
        return False
    return specific in lineage or specific.startswith(item_id + "-")


def _block(text: str, indent: str = "        ") -> str:
    return "\n".join(indent + line for line in text.splitlines() or [""])


def _short(data: dict[str, Any]) -> dict[str, Any]:
    """An event's (or item's) fields that fit on its line."""
    return {
        key: value
        for key, value in data.items()
        if key not in _LONG_FIELDS
        and key not in _SKIPPED_FIELDS
        and key not in _ID_FIELDS
        and key not in _ITEM_LISTS
    }


def _long_fields(data: dict[str, Any], indent: str) -> list[str]:
    out = []
    for field in _LONG_FIELDS:
        if data.get(field):
            out.append(f"{indent}{field}:")
            out.append(_block(str(data[field]), indent + "  "))
    return out


def item_story(run_dir: Path, item_id: str, skip_corrupt: bool = False) -> str:
    store = RunStore.existing(run_dir)
    lineage = _lineage(item_id)
    skipped: list[int] = []
    out: list[str] = []
    for event in iter_events(store.events_path, skipped if skip_corrupt else None):
        data = event.get("data", {})
        if not isinstance(data, dict) or not _concerns(data, item_id, lineage):
            continue
        out.append(
            f"{float(event.get('t', 0)):8.2f}s  {event.get('kind', '?'):<20} "
            f"{event.get('sender', '?'):<14} {json.dumps(_short(data), ensure_ascii=False)}"
        )
        out += _long_fields(data, "      ")
        if event.get("kind") == "InspirationCommitted":  # its records are the verdicts again
            continue
        for field, shown in _ITEM_LISTS.items():
            items = data.get(field)
            for item in items if isinstance(items, list) else []:
                if not isinstance(item, dict) or not _concerns(item, item_id, lineage):
                    continue
                summary = _short(item) if shown is None else {k: item.get(k) for k in shown}
                out.append(
                    f"{'':10}{item.get('qa_id', '?')}: {json.dumps(summary, ensure_ascii=False)}"
                )
                if shown is None:
                    out += _long_fields(item, "          ")
    if not out:
        raise UserInputError(
            f"{run_dir}: no event concerns '{item_id}'; ids look like i00001 (an inspiration), "
            "i00001-t0 (a table) or i00001-t0-q0 (a QA pair)"
        )
    table_id = next((i for i in sorted(lineage, key=len) if "-t" in i), None)
    if table_id is not None:
        for suffix, what in ((".tex", "LaTeX"), (".png", "image")):
            folder = store.tables if suffix == ".tex" else store.images
            path = folder / f"{table_id}{suffix}"
            if path.is_file():
                out.append(f"{what}: {path}")
    out.append(
        "(prompts are not kept in the run folder; real models' replies are also in "
        "<output>/.cache/responses)"
    )
    if skipped:
        out.append(f"skipped corrupt lines of events.jsonl: {skipped}")
    return "\n".join(out)
