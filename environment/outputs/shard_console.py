"""One console over a sharded run's shards.

Each shard is a run.py process whose console is a ShardReporter: instead of drawing, it
writes its figures as JSON lines on stdout. The driver reads those lines (nothing is
polled) into ShardConsole, which shows one table: each shard's progress, acceptance and
spending, and the total.
"""

from __future__ import annotations

import json
import sys
from collections import deque
from dataclasses import dataclass, field
from typing import Any, TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from environment.outputs.console import RunConsole

# Events after which a shard reports its figures: they are the ones that move them.
_REPORTED = {"RunStarted", "InspirationCommitted", "RunStopping", "ModelIncident"}


class ShardReporter(RunConsole):
    """A shard's console: its figures and messages as JSON lines for the driver."""

    def __init__(self, stream: TextIO | None = None, **kwargs: Any) -> None:
        super().__init__(quiet=True, stream=stream, **kwargs)

    def __enter__(self) -> ShardReporter:
        return self

    def on_event(self, event: dict[str, Any]) -> None:
        self.stats.observe(event)
        if event["kind"] in _REPORTED:
            self._send({"figures": self.figures()})

    def figures(self) -> dict[str, Any]:
        s = self.stats
        spent, cap = self.spending() if self.spending else (0.0, None)
        return {
            "accepted": s.accepted,
            "target": s.target,
            "records": s.records,  # judged this session
            "records_accepted": sum(c["accepted"] for c in s.by_generator.values()),
            "tables": s.tables_rendered,
            "votes": s.votes,
            "retries": s.model_retries,
            "spent_usd": round(spent, 6),
            "cap_usd": cap,
            "stop_reason": s.stop_reason,
        }

    def summary(self, extra: dict[str, Any]) -> None:
        self._send({"figures": self.figures(), "summary": extra})

    def message(self, text: str) -> None:
        self._send({"message": text})

    def _send(self, line: dict[str, Any]) -> None:
        print(json.dumps(line, default=str), file=self.stream, flush=True)


@dataclass
class ShardView:
    index: int
    state: str = "starting"
    figures: dict[str, Any] = field(default_factory=dict)
    starts: int = 0  # how many times its process was started this session


class ShardConsole:
    """The driver's live view; with `quiet`, plain lines instead."""

    def __init__(self, count: int, *, quiet: bool, stream: TextIO | None = None) -> None:
        self.quiet = quiet
        self.stream = stream or sys.stdout
        self.console = Console(file=self.stream, highlight=False, force_terminal=None)
        self.shards = [ShardView(index) for index in range(count)]
        self.lines: deque[Text] = deque(maxlen=12)
        self._live: Live | None = None

    def __enter__(self) -> ShardConsole:
        if not self.quiet:
            self._live = Live(self._view(), console=self.console, refresh_per_second=4)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.update(self._view())
            self._live.__exit__(None, None, None)
            self._live = None

    def started(self, index: int) -> None:
        self.shards[index].starts += 1
        self.shards[index].state = "running"
        self._refresh()

    def ended(self, index: int, state: str) -> None:
        self.shards[index].state = state
        if self.quiet:
            self._plain(f"shard {index}: {state} ({self._figures_text(self.shards[index])})")
        self._refresh()

    def on_line(self, index: int, line: str) -> None:
        """One line of a shard's stdout: its figures, a message, or (not JSON) plain text."""
        try:
            data = json.loads(line)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            self.message(f"shard {index}: {line.rstrip()}")
            return
        if isinstance(data.get("figures"), dict):
            before = self.shards[index].figures.get("accepted")
            self.shards[index].figures = data["figures"]
            if self.quiet and data["figures"].get("accepted") != before:
                self._plain(f"shard {index}: {self._figures_text(self.shards[index])}")
            self._refresh()
        if isinstance(data.get("message"), str):
            self.message(f"shard {index}: {data['message']}")

    def message(self, text: str) -> None:
        if self._live is None:
            self._plain(text)
            return
        self.lines.append(Text(text))
        self._refresh()

    def totals(self) -> dict[str, Any]:
        keys = (
            "accepted",
            "target",
            "records",
            "records_accepted",
            "tables",
            "votes",
            "retries",
            "spent_usd",
        )
        return {k: sum(s.figures.get(k) or 0 for s in self.shards) for k in keys}

    def _plain(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def _refresh(self) -> None:
        if self._live is not None:
            self._live.update(self._view())

    @staticmethod
    def _figures_text(shard: ShardView) -> str:
        f = shard.figures
        return f"{f.get('accepted', 0)}/{f.get('target', '?')} accepted"

    def _view(self) -> Group:
        table = Table(title="shards", expand=False)
        for column in ("shard", "state", "accepted", "pairs judged", "acceptance", "tables"):
            table.add_column(column, justify="right" if column != "state" else "left")
        table.add_column("votes", justify="right")
        table.add_column("spent", justify="right")
        rows = [(str(s.index), s.state, s.figures, s.starts) for s in self.shards]
        rows.append(("all", "", self.totals(), 0))
        for name, state, f, starts in rows:
            records = f.get("records") or 0
            shown_state = state + (f" (start {starts})" if starts > 1 else "")
            table.add_row(
                name,
                shown_state,
                f"{f.get('accepted', 0)}/{f.get('target') or '?'}",
                str(records),
                f"{(f.get('records_accepted') or 0) / records:.0%}" if records else "–",
                str(f.get("tables", 0)),
                str(f.get("votes", 0)),
                f"${f.get('spent_usd') or 0:.4f}",
            )
        parts: list[Any] = [table]
        if self.lines:
            messages = Table.grid()
            for line in self.lines:
                messages.add_row(line)
            parts.append(Panel(messages, title="shards say", border_style="dim"))
        return Group(*parts)
