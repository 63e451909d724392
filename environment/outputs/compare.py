"""`run.py compare RUN…`: runs side by side — what a change of persona or scenario did to
acceptance, renders, the question and table mix, the jury and the cost, and whether each
difference is more than chance.

The first run is the reference. Every figure that is a share (accepted pairs of those
judged, failed renders of those attempted…) is compared to the reference's: item by item
(exact McNemar) where both runs judged the same items — runs on one seed do — else with a
two-proportion z-test; the page shows the difference in points and its p-value. The keys
of the scenario and personas that differ between the runs head the comparison, so a
reader sees what was changed before what it did.
"""

from __future__ import annotations

import hashlib
import html
import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from environment.errors import UserInputError
from environment.outputs.report import RunReport
from environment.storage.store import write_atomic

Z95 = 1.959963984540054  # the normal quantile of a two-sided 95% interval


@dataclass(frozen=True)
class Share:
    """hits of total; `items` (what was counted, by a key naming it and its content → hit)
    lets two runs that judged the same items be compared item by item."""

    hits: int
    total: int
    items: dict[str, bool] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def of(cls, items: dict[str, bool]) -> Share:
        return cls(sum(items.values()), len(items), items)

    @property
    def value(self) -> float | None:
        return self.hits / self.total if self.total else None

    def __str__(self) -> str:
        return f"{self.value:.1%} ({self.hits}/{self.total})" if self.total else "–"

    def interval(self) -> tuple[float, float]:
        """Wilson's 95% interval: sound near 0 and 1 and for small counts, where the
        normal approximation gives impossible bounds."""
        if not self.total:
            return (0.0, 1.0)
        n, p, z = self.total, self.hits / self.total, Z95
        centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
        half = z * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
        return (max(0.0, centre - half), min(1.0, centre + half))


def two_proportion_p(first: Share, second: Share) -> float | None:
    """Two-sided p-value of a pooled two-proportion z-test; None where it says nothing
    (an empty side, or both sides all hits or all misses)."""
    if not first.total or not second.total:
        return None
    pooled = (first.hits + second.hits) / (first.total + second.total)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / first.total + 1 / second.total))
    if spread == 0:
        return None
    z = abs(first.hits / first.total - second.hits / second.total) / spread
    return math.erfc(z / math.sqrt(2))


def mcnemar_p(only_first: int, only_second: int) -> float:
    """Exact two-sided McNemar test: of the items whose outcome changed, are the changes
    one way more than a fair coin would make them?"""
    changed = only_first + only_second
    if changed == 0:
        return 1.0
    tail = sum(math.comb(changed, k) for k in range(min(only_first, only_second) + 1))
    return min(1.0, 2 * tail / 2**changed)


def compare_p(first: Share, second: Share) -> tuple[float | None, bool]:
    """The p-value of a difference, and whether it is paired. Runs on one seed judge the
    same pairs (and draw the same tables): when both shares count the very same items, the
    test looks at the items whose outcome changed, which sees a change far sooner than
    comparing two proportions as if they came from unrelated samples. A share over a subset
    that the change itself moves (precision: over the accepted pairs) is not paired: items
    in one run only would be left out."""
    if first.items and second.items and first.items.keys() == second.items.keys():
        only_first = sum(first.items[k] and not second.items[k] for k in first.items)
        only_second = sum(second.items[k] and not first.items[k] for k in first.items)
        return mcnemar_p(only_first, only_second), True
    return two_proportion_p(first, second), False


Value = Share | float | None


@dataclass
class Figure:
    section: str
    name: str
    values: list[Value] = field(default_factory=list)
    unit: str = ""  # for plain numbers: "$", "s"


# What a table's LaTeX shows of the constructs that make a table hard to read.
CONSTRUCTS = {
    "colour": r"\\(?:cellcolor|rowcolor|columncolor|textcolor|color)\b",
    "multirow": r"\\multirow\b",
    "multicolumn": r"\\multicolumn\b",
    "math": r"\$|\\\(|\\\[",
    "booktabs rules": r"\\(?:toprule|midrule|bottomrule|cmidrule)\b",
    "footnotes": r"\\(?:footnote|tnote)\b|\\begin\{tablenotes\}",
    "TikZ": r"\\begin\{tikzpicture\}",
}


class RunFigures:
    """The figures of one run folder that a comparison puts side by side."""

    def __init__(self, directory: Path) -> None:
        if not directory.is_dir():
            raise UserInputError(f"{directory}: not a folder")
        self.report = RunReport(directory)
        self.directory = directory
        self.info = self.report.info
        self.records = self.report.records

    def figures(self) -> dict[tuple[str, str], Value]:
        found: dict[tuple[str, str], Value] = {}
        records = self.records
        keys = {r.qa_id: _item_key(r.qa_id, r.question, r.answer) for r in records}
        found[("acceptance", "accepted pairs")] = Share.of(
            {keys[r.qa_id]: r.accepted for r in records}
        )
        for role in ("generator", "questioner"):
            for name in sorted({getattr(r, role) for r in records}):
                found[("acceptance", f"{role} {name}")] = Share.of(
                    {keys[r.qa_id]: r.accepted for r in records if getattr(r, role) == name}
                )
        for juror in sorted({v.juror for r in records for v in r.votes}):
            votes = {keys[r.qa_id]: v.verdict for r in records for v in r.votes if v.juror == juror}
            found[("jury", f"juror {juror} votes accept")] = Share.of(
                {key: bool(verdict) for key, verdict in votes.items() if verdict is not None}
            )
            found[("jury", f"juror {juror} abstains")] = Share.of(
                {key: verdict is None for key, verdict in votes.items()}
            )
        self._jury(found, keys)
        self._renders(found)
        for kind in sorted({r.kind for r in records}):
            found[("questions", f"kind {kind}")] = Share.of(
                {keys[r.qa_id]: r.kind == kind for r in records}
            )
        domains = self._domains()
        for domain in sorted({domains.get(r.inspiration_id, "?") for r in records}):
            found[("topics", f"domain {domain}")] = Share.of(
                {keys[r.qa_id]: domains.get(r.inspiration_id, "?") == domain for r in records}
            )
        found[("topics", "distinct topics")] = float(len({r.topic for r in records}))
        self._tables(found)
        truths = [r for r in records if r.ground_truth is not None]
        if truths:
            found[("oracle", "jury precision")] = Share.of(
                {keys[r.qa_id]: bool(r.ground_truth) for r in truths if r.accepted}
            )
            found[("oracle", "jury recall")] = Share.of(
                {keys[r.qa_id]: r.accepted for r in truths if r.ground_truth}
            )
        ledger = self.info.get("ledger", {})
        calls: Counter[str] = Counter()
        for row in ledger.get("by_model_role", []):
            calls[row["role"]] += int(row.get("calls", 0))
        unusable = Counter(
            event["data"].get("role", "?")
            for event in self.report.events
            if event.get("kind") == "OutputRejected"
        )
        for role, count in calls.items():
            found[("models", f"{role} replies unusable (re-asked)")] = Share(unusable[role], count)
        accepted = sum(r.accepted for r in records)
        cost = float(ledger.get("total_cost_usd", 0.0) or 0.0)
        found[("cost", "cost per accepted pair")] = cost / accepted if accepted else None
        found[("cost", "total cost")] = cost
        wall = self.info.get("last_session", {}).get("wall_s")
        found[("cost", "wall time of the last session")] = float(wall) if wall else None
        return found

    def _jury(self, found: dict[tuple[str, str], Value], keys: dict[str, str]) -> None:
        agreeing: dict[str, bool] = {}
        for record in self.records:
            cast = {v.verdict for v in record.votes if v.verdict is not None}
            if sum(v.verdict is not None for v in record.votes) >= 2:
                agreeing[keys[record.qa_id]] = len(cast) == 1
        found[("jury", "pairs all jurors agree on")] = Share.of(agreeing)
        found[("jury", "undecided pairs")] = Share.of(
            {keys[r.qa_id]: r.undecided for r in self.records}
        )
        found[("jury", "Fleiss' kappa")] = self.report.juror_figures()["kappa"]

    def _renders(self, found: dict[tuple[str, str], Value]) -> None:
        """Per generator: drafts that failed to render, and failures a repair fixed. Keyed
        by draft, so a draft written again after a resume counts once."""
        failed: dict[str, dict[str, bool]] = defaultdict(dict)
        repaired: dict[str, dict[str, bool]] = defaultdict(dict)
        drafts: dict[tuple[str, int], str] = {}
        for event in self.report.events:
            data = event.get("data", {})
            kind = event.get("kind")
            if kind not in ("TableDrafted", "RenderFailed", "TableRendered"):
                continue
            draft = (data["table_id"], int(data.get("attempt", 1)))
            if kind == "TableDrafted":
                drafts[draft] = _item_key(*map(str, draft), data.get("latex", ""))
                failed[data["generator"]][drafts[draft]] = False
            elif kind == "RenderFailed" and draft in drafts:
                failed[data["generator"]][drafts[draft]] = True
                repaired[data["generator"]][data["table_id"]] = False
            elif kind == "TableRendered" and draft[1] > 1:
                repaired[data["generator"]][data["table_id"]] = True
        for generator in sorted(failed):
            found[("renders", f"generator {generator} renders failed")] = Share.of(
                failed[generator]
            )
            found[("renders", f"generator {generator} failures repaired")] = Share.of(
                repaired[generator]
            )

    def _domains(self) -> dict[str, str]:
        return {
            event["data"]["inspiration_id"]: event["data"]["domain"]
            for event in self.report.events
            if event.get("kind") == "InspirationOffered"
        }

    def _tables(self, found: dict[tuple[str, str], Value]) -> None:
        latex = {
            event["data"]["table_id"]: event["data"]["latex"]
            for event in self.report.events
            if event.get("kind") == "TableRendered"
        }
        judged = {r.table_id for r in self.records}
        tables = {
            _item_key(table_id, text): text
            for table_id, text in latex.items()
            if table_id in judged
        }
        for construct, pattern in CONSTRUCTS.items():
            found[("tables", f"tables with {construct}")] = Share.of(
                {key: re.search(pattern, text) is not None for key, text in tables.items()}
            )


def _item_key(*parts: str) -> str:
    """An item's id and a digest of its content: two runs' items pair only when the same."""
    digest = hashlib.blake2b("\n".join(parts[1:]).encode(), digest_size=8).hexdigest()
    return f"{parts[0]}:{digest}"


SECTIONS = (
    "acceptance",
    "renders",
    "questions",
    "topics",
    "tables",
    "jury",
    "oracle",
    "models",
    "cost",
)


@dataclass
class Comparison:
    runs: list[Path]
    differences: list[tuple[str, list[str]]]  # scenario/persona key → value per run
    warnings: list[str]
    figures: list[Figure]

    def text(self) -> str:
        names = [run.name for run in self.runs]
        lines = [f"compare: {', '.join(names)} (reference: {names[0]})"]
        lines += [f"warning: {warning}" for warning in self.warnings]
        lines.append("what differs:" if self.differences else "what differs: nothing")
        for key, values in self.differences:
            lines.append(f"  {key}: " + " | ".join(values))
        width = max((len(f.name) for f in self.figures), default=10) + 2
        for section in SECTIONS:
            rows = [f for f in self.figures if f.section == section]
            if not rows:
                continue
            lines.append(f"\n{section}")
            for figure in rows:
                cells = [_shown(figure.values[0], figure.unit)]
                for value in figure.values[1:]:
                    cells.append(_shown(value, figure.unit) + _versus(figure.values[0], value))
                lines.append(f"  {figure.name:<{width}}" + "   ".join(f"{c:<34}" for c in cells))
        lines.append(
            "\n(* p < 0.05, ** p < 0.01 against the reference: paired = the same items judged "
            "in both runs, exact McNemar test; else a two-proportion z-test. Without a star "
            "the difference may be chance)"
        )
        return "\n".join(line.rstrip() for line in lines)

    def page(self) -> str:
        names = [html.escape(run.name) for run in self.runs]
        head = "".join(f"<th>{name}</th>" for name in names)
        parts = [f"<h1>modswap comparison: {', '.join(names)}</h1>"]
        parts += [f'<p class="warn">{html.escape(w)}</p>' for w in self.warnings]
        parts.append("<h2>What differs</h2>")
        if self.differences:
            body = "".join(
                f"<tr><th>{html.escape(key)}</th>"
                + "".join(f"<td>{html.escape(v)}</td>" for v in values)
                + "</tr>"
                for key, values in self.differences
            )
            parts.append(f"<table><tr><th></th>{head}</tr>{body}</table>")
        else:
            parts.append("<p>nothing in the scenario or personas</p>")
        for section in SECTIONS:
            rows = [f for f in self.figures if f.section == section]
            if not rows:
                continue
            body = ""
            for figure in rows:
                cells = f"<td>{html.escape(_shown(figure.values[0], figure.unit))}</td>"
                for value in figure.values[1:]:
                    p, _ = _p(figure.values[0], value)
                    marked = ' class="sig"' if p is not None and p < 0.05 else ""
                    cells += (
                        f"<td{marked}>{html.escape(_shown(value, figure.unit))}"
                        f"<small>{html.escape(_versus(figure.values[0], value))}</small></td>"
                    )
                body += f"<tr><th>{html.escape(figure.name)}</th>{cells}</tr>"
            parts.append(
                f"<h2>{html.escape(section)}</h2><table><tr><th></th>{head}</tr>{body}</table>"
            )
        parts.append(
            "<p class='note'>Highlighted: p &lt; 0.05 against the first run — paired: the "
            "same items judged in both runs, exact McNemar test; else a two-proportion "
            "z-test. Differences without it may be chance.</p>"
        )
        return _PAGE.format(title=", ".join(names), body="".join(parts))


def _shown(value: Value, unit: str) -> str:
    if value is None:
        return "–"
    if isinstance(value, Share):
        return str(value)
    if unit == "$":
        return f"${value:.4f}"
    if unit == "count":
        return f"{value:.0f}"
    return f"{value:.1f} s" if unit == "s" else f"{value:.3f}"


def _p(reference: Value, value: Value) -> tuple[float | None, bool]:
    if isinstance(reference, Share) and isinstance(value, Share):
        return compare_p(reference, value)
    return None, False


def _versus(reference: Value, value: Value) -> str:
    """` +12.3 pts p=0.004 paired **` against the reference, for shares."""
    if not isinstance(reference, Share) or not isinstance(value, Share):
        return ""
    if reference.value is None or value.value is None:
        return ""
    p, paired = _p(reference, value)
    points = 100 * (value.value - reference.value)
    stars = "**" if p is not None and p < 0.01 else "*" if p is not None and p < 0.05 else ""
    tested = f" p={p:.3f}{' paired' if paired else ''}" if p is not None else ""
    return f" {points:+.1f} pts{tested}{' ' + stars if stars else ''}"


def _flat(data: Any, prefix: str = "") -> dict[str, str]:
    if isinstance(data, dict | list):
        found: dict[str, str] = {}
        items = data.items() if isinstance(data, dict) else enumerate(data)
        for key, value in items:
            found.update(_flat(value, f"{prefix}{key}."))
        return found
    shown = json.dumps(data, ensure_ascii=False)
    return {prefix.rstrip("."): shown if len(shown) <= 60 else shown[:59] + "…"}


def _differences(infos: Sequence[dict[str, Any]]) -> list[tuple[str, list[str]]]:
    """Scenario keys, and the knobs of personas every run has, whose values are not the
    same in every run; a persona some runs lack is one line."""
    flats = [_flat(info.get("scenario", {}), "scenario.") for info in infos]
    everywhere = set.intersection(*(set(info.get("personas", {})) for info in infos))
    for flat, info in zip(flats, infos, strict=True):
        for name, persona in info.get("personas", {}).items():
            if name in everywhere:
                flat.update(_flat(persona, f"personas.{name}."))
            else:
                flat[f"personas.{name}"] = "used"
    keys = sorted(set().union(*flats))
    return [
        (key, [flat.get(key, "(absent)") for flat in flats])
        for key in keys
        if len({flat.get(key) for flat in flats}) > 1 and key != "scenario.name"
    ]


def compare_runs(directories: Sequence[Path]) -> Comparison:
    if len(directories) < 2:
        raise UserInputError("compare needs two run folders or more")
    runs = [RunFigures(directory) for directory in directories]
    warnings = []
    for what, read in (
        ("seed", lambda info: info.get("seed")),
        ("target", lambda info: info.get("scenario", {}).get("target")),
    ):
        values = [read(run.info) for run in runs]
        if len({json.dumps(v) for v in values}) > 1:
            shown = " vs ".join(json.dumps(v) for v in values)
            warnings.append(
                f"the runs differ in {what} ({shown}): their differences mix the change "
                "with chance and run length"
            )
    tables: list[dict[tuple[str, str], Value]] = [run.figures() for run in runs]
    keys: dict[tuple[str, str], None] = {}
    for table in tables:
        keys.update(dict.fromkeys(table))
    by_section: dict[str, list[Figure]] = defaultdict(list)
    for section, name in keys:
        values = [table.get((section, name)) for table in tables]
        by_section[section].append(Figure(section, name, values, _unit(section, name)))
    figures = [
        figure
        for section in SECTIONS
        for figure in sorted(by_section[section], key=lambda f: _order(f.name))
    ]
    return Comparison(
        list(directories), _differences([run.info for run in runs]), warnings, figures
    )


def _unit(section: str, name: str) -> str:
    if section == "cost":
        return "s" if "wall" in name else "$"
    return "count" if name == "distinct topics" else ""


def _order(name: str) -> tuple[int, str]:
    """The headline figures first, then by name."""
    first = ("accepted pairs", "pairs all jurors agree on", "Fleiss' kappa", "undecided pairs")
    return (first.index(name) if name in first else len(first), name)


def write_comparison(directories: Sequence[Path], out: Path) -> Comparison:
    comparison = compare_runs(directories)
    write_atomic(out, comparison.page().encode("utf-8"))
    return comparison


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>modswap comparison: {title}</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }}
table {{ border-collapse: collapse; margin-bottom: 1em; }}
th, td {{ padding: 2px 10px; text-align: left; border-bottom: 1px solid #eee; }}
td small {{ color: #666; margin-left: 0.5em; }}
td.sig {{ background: #fff3c4; }}
p.warn {{ color: #b3261e; }} p.note {{ color: #666; }}
</style></head><body>{body}</body></html>
"""
