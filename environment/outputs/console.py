"""The run as people watch it: a live conversation view with progress bars, or plain lines.

Both read the same events as events.jsonl holds, so `run.py replay` shows a finished run
exactly as it was shown live.
"""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Callable
from typing import Any, TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table
from rich.text import Text

from environment.core.messages import RenderProblem
from environment.outputs.run_stats import RunStats

ROLE_STYLES = {
    "inspirer": "magenta",
    "generator": "cyan",
    "renderer": "blue",
    "questioner": "green",
    "juror": "yellow",
    "curator": "bright_white",
    "director": "red",
    "system": "dim",
}
_LINES = 16


def _short(text: str, limit: int = 110) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def preview(event: dict[str, Any]) -> str:
    """One line saying what happened."""
    kind, d = event["kind"], event["data"]
    match kind:
        case "RunStarted":
            goal = d.get("goal", "accepted QA pairs")
            return f"run {d['run_id']} aims for {d['target']} {goal}"
        case "ItemPosed":
            item = d["item"]
            asked = f"[{item['kind'] or '?'}] {item['question']}"
            return f"{item['item_id']} {asked} (truth: {item['answer']})"
        case "GradesRequested":
            count = len(d["predictions"])
            return f"{d['item_id']}: {count} answer(s) for the jury (truth: {d['truth']})"
        case "InspirationRequested":
            return f"{d['inspiration_id']}: {d['inspirer']} → ideas for {d['generator']}"
        case "InspirationOffered":
            return f"{d['domain']}: {'; '.join(d['topics'])}"
        case "InspirationFailed" | "DraftingFailed" | "TableAbandoned" | "QuestioningFailed":
            return f"{d.get('table_id') or d.get('inspiration_id')}: {d['reason']}"
        case "TableDrafted":
            lines = d["latex"].count("\n") + 1
            repair = f" (repair, attempt {d['attempt']})" if d["attempt"] > 1 else ""
            return f"{d['table_id']} “{d['topic']}”, {lines} lines of LaTeX{repair}"
        case "TableRendered":
            return (
                f"{d['table_id']} → {d['image']} {d['width']}×{d['height']} px, "
                f"{len(d['grid'])} cells"
            )
        case "RenderFailed":
            problem = RenderProblem.model_validate(d["problem"])
            return f"{d['table_id']}: {problem.describe()} — asking for a repair"
        case "OutputRejected":
            return f"{d['subject_id']}: unusable output ({d['reason']}) — re-asking"
        case "VotesRequested":
            return (
                f"{d['table_id']}: stage {d['stage']} — {', '.join(d['jurors'])} asked about "
                f"{len(d['pairs'])} pair(s) the first jurors split on"
            )
        case "InspirationCommitted":
            return (
                f"{d['inspiration_id']}: {len(d['records'])} records saved; "
                f"{d['accepted_total']} accepted so far"
            )
        case "DuplicatesDropped":
            near = f" (near-duplicate of {d['duplicate_of']})" if d["duplicate_of"] else ""
            return f"{d['table_id']}: dropped {d['count']} {d['kind']}(s){near}"
        case "RunStopping":
            detail = f": {d['detail']}" if d.get("detail") else ""
            counted = d.get("counted", "accepted")
            return f"stopping ({d['reason']}) with {d['accepted']} {counted}{detail}"
        case "ModelIncident":
            return f"{d['model']} {d['kind']}: {d['detail']}"
        case "BudgetReached":
            return f"{d['detail']} — stopping"
    return kind


_VOTE_MARKS = {True: "✓", False: "✗", None: "–"}


def previews(event: dict[str, Any]) -> list[str]:
    """What happened, one line per item: a table's questions, votes and verdicts travel in
    one message each but are read one by one."""
    kind, d = event["kind"], event["data"]
    match kind:
        case "QuestionsProposed":
            lines = [f"[{p['kind']}] {p['question']} → {p['answer']}" for p in d["pairs"]]
        case "VotesCast":
            lines = [f"{_VOTE_MARKS[v['verdict']]} {v['qa_id']}: {v['reason']}" for v in d["votes"]]
        case "PredictionsMade":
            lines = [
                f"{d['item_id']} from the {p['view']}: "
                + (f"no answer ({p['failed']})" if p["failed"] else p["answer"])
                for p in d["predictions"]
            ]
        case "GradesCast":
            lines = [
                f"{_VOTE_MARKS[g['verdict']]} {d['item_id']} {g['key']}: {g['reason']}"
                for g in d["grades"]
            ]
        case "ItemsCommitted":
            lines = [
                f"{r['item_id']} graded: "
                + ", ".join(
                    f"{p['solver']}/{p['view']} {'right' if p['correct'] else 'wrong'}"
                    for p in r["predictions"]
                )
                for r in d["records"]
            ]
        case "VerdictsReached":
            lines = [
                f"{'ACCEPTED' if r['accepted'] else 'rejected'} {r['qa_id']} "
                f"({r['confidence']:.0%} agree)"
                for r in d["records"]
            ]
        case _:
            lines = [preview(event)]
    return lines or [kind]


GENERATION_BARS = (
    ("accepted", "accepted / target"),
    ("rendered", "tables rendered"),
    ("failures", "render failures"),
    ("repairs", "repairs"),
    ("votes", "votes"),
)
EVAL_BARS = (("accepted", "graded / items"), ("votes", "grader votes"))


class RunConsole:
    def __init__(
        self,
        *,
        quiet: bool,
        stream: TextIO | None = None,
        spending: Callable[[], tuple[float, float | None]] | None = None,
        bars: tuple[tuple[str, str], ...] = GENERATION_BARS,
    ) -> None:
        self.quiet = quiet
        self.bars = bars  # the live view's progress bars: (statistic, label)
        self.spending = spending  # (spent, cap) in US$, read at each refresh of the live view
        self.stream = stream or sys.stdout
        self.console = Console(
            file=self.stream, highlight=False, force_terminal=None if not quiet else False
        )
        self.stats = RunStats()
        self.lines: deque[Text] = deque(maxlen=_LINES)
        self._live: Live | None = None
        self._progress = Progress(
            TextColumn("{task.description:<18}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=self.console,
        )
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> RunConsole:
        if not self.quiet:
            for key, label in self.bars:
                self._tasks[key] = self._progress.add_task(label, total=None)
            self._live = Live(
                self._view(), console=self.console, refresh_per_second=8, transient=False
            )
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.update(self._view())
            self._live.__exit__(None, None, None)
            self._live = None
            if not self.console.is_terminal:  # rich leaves the last frame's line open
                self.console.line()

    def on_event(self, event: dict[str, Any]) -> None:
        self.stats.observe(event)
        role, sender = event.get("role", "system"), event.get("sender", "")
        if self.quiet:
            for said in previews(event):
                print(
                    f"{event.get('t', 0):8.2f}  {role:<10} {sender:<16} {event['kind']:<20} "
                    f"{_short(said, 140)}",
                    file=self.stream,
                    flush=True,
                )
            return
        style = ROLE_STYLES.get(role, "white")
        for said in previews(event):
            line = Text()
            line.append(f"{sender:<14} ", style=f"bold {style}")
            line.append(f"{role:<10} ", style=style)
            line.append(f"{event['kind']:<20} ", style="dim")
            # One screen line per item: the fixed columns take 48 cells, the panel border 4.
            line.append(_short(said, max(20, self.console.width - 52)))
            self.lines.append(line)
        self._refresh()

    def _refresh(self) -> None:
        if self._live is None:
            return
        s = self.stats
        shown = {
            "accepted": (s.accepted, s.target or None),
            "rendered": (s.tables_rendered, s.tables_drafted or None),
            "failures": (s.render_failures, s.tables_drafted + s.repairs or None),
            "repairs": (s.repairs, s.render_failures or None),
            "votes": (s.votes, None),
        }
        for key, task in self._tasks.items():
            completed, total = shown[key]
            self._progress.update(task, completed=completed, total=total)
        self._live.update(self._view())

    def _view(self) -> Group:
        conversation = Table.grid()
        for line in self.lines:
            conversation.add_row(line)
        parts: list[Any] = [
            Panel(conversation, title="agents on the bus", border_style="dim"),
            self._progress,
        ]
        if self.spending is not None:
            spent, cap = self.spending()
            if spent or cap:
                of_cap = f" of ${cap:.2f} budget" if cap else ""
                money = Table.grid()
                money.add_row(Text(f"{'spent':<18} ${spent:.4f}{of_cap}", style="bold"))
                parts.append(money)
        return Group(*parts)

    def summary(self, extra: dict[str, Any]) -> None:
        """Counts, acceptance per generator and questioner, and the jury against the oracle."""
        s = self.stats
        if self.quiet:
            fields = {**s.as_dict(), **extra}
            print(
                "summary: " + " ".join(f"{k}={_fmt(v, k)}" for k, v in fields.items()),
                file=self.stream,
                flush=True,
            )
            for title, table in (("generator", s.by_generator), ("questioner", s.by_questioner)):
                for name, counts in sorted(table.items()):
                    total = counts["accepted"] + counts["rejected"]
                    print(
                        f"summary: {title}={name} accepted={counts['accepted']}/{total}",
                        file=self.stream,
                        flush=True,
                    )
            return
        overview = Table(title="run summary", show_header=False)
        for key, value in {**s.as_dict(), **extra}.items():
            overview.add_row(key.replace("_", " "), _fmt(value, key))
        rates = Table(title="acceptance by agent")
        for column in ("role", "agent", "accepted", "of", "rate"):
            rates.add_column(column)
        for role, table in (("generator", s.by_generator), ("questioner", s.by_questioner)):
            for name, counts in sorted(table.items()):
                total = counts["accepted"] + counts["rejected"]
                rates.add_row(
                    role,
                    name,
                    str(counts["accepted"]),
                    str(total),
                    f"{counts['accepted'] / total:.0%}" if total else "–",
                )
        self.console.print(overview)
        self.console.print(rates)

    def message(self, text: str) -> None:
        if self.quiet:
            print(text, file=self.stream, flush=True)
        else:
            self.console.print(text)


def _fmt(value: Any, key: str = "") -> str:
    if key.endswith("_usd") and isinstance(value, (int, float)):
        return f"${value:.4f}"  # cents matter: a pair can cost a fraction of one
    if isinstance(value, float):
        return f"{value:.3f}"
    return "–" if value is None else str(value)
