"""`run.py report RUN_DIR`: one self-contained HTML file to judge a run by.

A gallery (each table image with its QA pairs, verdicts, every vote and its rationale, and
provenance; filters and search) and the quality figures the reference paper reports (juror
agreement, Fleiss' kappa, each juror's agreement with the verdict), plus acceptance, render
repair and distributions. Images are embedded, charts are inline SVG, nothing is fetched.
"""

from __future__ import annotations

import base64
import html
import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from environment.core.messages import QARecord, ToolUse
from environment.errors import UserInputError
from environment.outputs.difficulty import LABELS, difficulty_labels, label_counts
from environment.storage.store import RunStore, iter_events, iter_records, write_atomic

# A vote as the gallery shows it: (CSS class, word).
_VOTE_SHOWN = {True: ("yes", "accept"), False: ("no", "reject"), None: ("abstained", "abstained")}


def fleiss_kappa(ratings: Sequence[Sequence[bool]]) -> float | None:
    """Fleiss' kappa for items each rated yes/no by the same number of raters."""
    items = [r for r in ratings if len(r) >= 2]
    if not items:
        return None
    raters = len(items[0])
    if any(len(r) != raters for r in items):
        raise ValueError("every item needs the same number of ratings")
    agreement = 0.0
    yes_total = 0
    for item in items:
        yes = sum(item)
        no = raters - yes
        agreement += (yes * yes + no * no - raters) / (raters * (raters - 1))
        yes_total += yes
    observed = agreement / len(items)
    p_yes = yes_total / (len(items) * raters)
    expected = p_yes**2 + (1 - p_yes) ** 2
    if expected == 1:
        return 1.0 if observed == 1 else None
    return (observed - expected) / (1 - expected)


def _bar_chart(title: str, rows: list[tuple[str, float, str]], unit: str = "") -> str:
    """Horizontal bars as inline SVG: label, value (0–1 scale or counts), caption text."""
    if not rows:
        return ""
    top = max(value for _, value, _ in rows) or 1
    height = 22 * len(rows) + 30
    parts = [
        f'<svg class="chart" width="720" height="{height}" role="img" '
        f'aria-label="{html.escape(title)}"><text x="0" y="14" class="t">'
        f"{html.escape(title)}</text>"
    ]
    for index, (label, value, caption) in enumerate(rows):
        y = 26 + 22 * index
        width = 280 * value / top
        parts.append(
            f'<text x="0" y="{y + 13}">{html.escape(label[:28])}</text>'
            f'<rect x="200" y="{y}" width="{width:.1f}" height="16" fill="#4a78b5"/>'
            f'<text x="{205 + width:.1f}" y="{y + 13}">{html.escape(caption)}{unit}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _rate(accepted: int, total: int) -> str:
    return f"{accepted}/{total} ({accepted / total:.0%})" if total else "–"


class RunReport:
    def __init__(self, directory: Path, skip_corrupt: bool = False) -> None:
        store = RunStore.existing(directory)
        self.directory = directory
        self.info = store.read_run_info()
        # Corrupt lines: an error naming file and line, or with skip_corrupt left out here.
        self.skipped_records: list[int] = []
        self.skipped_events: list[int] = []
        self.records: list[QARecord] = list(
            iter_records(store.records_path, self.skipped_records if skip_corrupt else None)
        )
        self.events = (
            list(iter_events(store.events_path, self.skipped_events if skip_corrupt else None))
            if store.events_path.exists()
            else []
        )

    # ---------- figures
    def juror_figures(self) -> dict[str, Any]:
        jurors = sorted({vote.juror for record in self.records for vote in record.votes})
        with_verdict: dict[str, list[bool]] = defaultdict(list)
        pair_agree: dict[tuple[str, str], list[bool]] = defaultdict(list)
        ratings: list[list[bool]] = []
        abstained: Counter[str] = Counter()
        for record in self.records:
            abstained.update(v.juror for v in record.votes if v.verdict is None)
            votes = {v.juror: v.verdict for v in record.votes if v.verdict is not None}
            if set(votes) == set(jurors):
                ratings.append([votes[j] for j in jurors])
            for juror, verdict in votes.items():
                with_verdict[juror].append(verdict == record.accepted)
            for a in jurors:
                for b in jurors:
                    if a in votes and b in votes:
                        pair_agree[(a, b)].append(votes[a] == votes[b])
        return {
            "jurors": jurors,
            "kappa": fleiss_kappa(ratings),
            "with_verdict": {j: sum(v) / len(v) for j, v in with_verdict.items() if v},
            "matrix": {key: sum(v) / len(v) for key, v in pair_agree.items() if v},
            "abstained": {j: abstained[j] for j in jurors},
            "undecided": sum(1 for record in self.records if record.undecided),
        }

    def _duplicates(self) -> str:
        counts: Counter[str] = Counter()
        for event in self.events:
            if event["kind"] == "DuplicatesDropped":
                counts[event["data"]["kind"]] += event["data"]["count"]
        return f"{counts['table']} tables, {counts['question']} questions"

    def render_figures(self) -> dict[str, Counter[str]]:
        drafted: Counter[str] = Counter()
        failed: Counter[str] = Counter()
        repaired: Counter[str] = Counter()
        for event in self.events:
            data = event["data"]
            if event["kind"] == "TableDrafted" and data["attempt"] == 1:
                drafted[data["generator"]] += 1
            elif event["kind"] == "RenderFailed":
                failed[data["generator"]] += 1
            elif event["kind"] == "TableRendered" and data["attempt"] > 1:
                repaired[data["generator"]] += 1
        return {"drafted": drafted, "failed": failed, "repaired": repaired}

    # ---------- page
    def build(self) -> str:
        records = self.records
        accepted = [r for r in records if r.accepted]
        jury = self.juror_figures()
        renders = self.render_figures()
        cost = float(self.info.get("ledger", {}).get("total_cost_usd", 0.0))
        scenario = self.info.get("scenario", {})
        summary = [
            ("run", self.info.get("run_id", self.directory.name)),
            ("scenario", f"{scenario.get('name', '?')} (seed {self.info.get('seed', '?')})"),
            ("QA pairs", str(len(records))),
            ("accepted", _rate(len(accepted), len(records))),
            ("tables", str(len({r.table_id for r in records}))),
            ("consensus", json.dumps(scenario.get("consensus", {}))),
            ("cost per accepted QA", f"${cost / len(accepted):.4f}" if accepted else "–"),
            ("near-duplicates dropped", self._duplicates()),
            ("Fleiss' kappa (jury)", f"{jury['kappa']:.3f}" if jury["kappa"] is not None else "–"),
        ]
        truths = [r for r in records if r.ground_truth is not None]
        if truths:
            tp = sum(r.accepted and bool(r.ground_truth) for r in truths)
            predicted = sum(r.accepted for r in truths)
            actual = sum(bool(r.ground_truth) for r in truths)
            summary.append(
                (
                    "jury precision / recall (oracle)",
                    f"{tp / predicted if predicted else 0:.3f} / "
                    f"{tp / actual if actual else 0:.3f}",
                )
            )
        figures = [
            self._summary_table(summary),
            self._acceptance(records),
            self._render_table(renders),
            self._jury_tables(jury),
            self._jury_study(),
            self._distributions(accepted),
            self._difficulty(accepted),
            self._rejects(),
        ]
        return _PAGE.format(
            title=html.escape(f"modswap report — {summary[0][1]}"),
            figures="".join(figures),
            filters=self._filters(),
            gallery=self._gallery(),
            script=_SCRIPT,
        )

    @staticmethod
    def _summary_table(rows: list[tuple[str, str]]) -> str:
        body = "".join(
            f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows
        )
        return f'<section><h2>Run</h2><table class="kv">{body}</table></section>'

    @staticmethod
    def _acceptance(records: list[QARecord]) -> str:
        out = ["<section><h2>Acceptance</h2>"]
        for field in ("generator", "questioner"):
            totals: Counter[str] = Counter(getattr(r, field) for r in records)
            yes: Counter[str] = Counter(getattr(r, field) for r in records if r.accepted)
            out.append(
                _bar_chart(
                    f"accepted share by {field}",
                    [
                        (name, yes[name] / totals[name], _rate(yes[name], totals[name]))
                        for name in sorted(totals)
                    ],
                )
            )
        out.append("</section>")
        return "".join(out)

    def _jury_study(self) -> str:
        """The run's votes under every rule and jury subset (run.py jury-study), charted."""
        from environment.outputs.jury_study import pareto_chart, study_records

        try:
            study = study_records(self.records, self.info)
        except UserInputError as why:  # no pair every juror voted on
            return f"<section><h2>Jury study</h2><p>{html.escape(str(why))}</p></section>"
        best = study.best_at_own_cost()
        lines = [
            f"{study.pairs} pairs every juror voted on; truth: {study.truth}.",
            f"The run's rule: precision {study.own.precision or 0:.3f}, recall "
            f"{study.own.recall or 0:.3f}, {study.own.calls_per_pair:.2f} juror calls a pair.",
            f"Best for no more calls: {best.name} — precision {best.precision or 0:.3f}, recall "
            f"{best.recall or 0:.3f}, {best.calls_per_pair:.2f} calls.",
        ]
        text = "".join(f"<p>{html.escape(line)}</p>" for line in lines)
        return f"<section><h2>Jury study</h2>{text}{pareto_chart(study)}</section>"

    def _rejects(self) -> str:
        """rejects.jsonl: what models wrote that could not be used, and tables not drawn."""
        path = self.directory / "rejects.jsonl"
        # A corrupt line is left out: the rest still tells the story.
        rejects = list(iter_events(path, skipped=[])) if path.is_file() else []
        if not rejects:
            return "<section><h2>Rejected outputs</h2><p>none</p></section>"
        rows = "".join(
            f"<tr><td>{html.escape(str(r.get('kind', '')))}</td>"
            f"<td>{html.escape(str(r.get('role', '')))}</td>"
            f"<td>{html.escape(str(r.get('agent', '')))}</td>"
            f"<td>{html.escape(str(r.get('subject_id', '')))} #{r.get('attempt', '')}</td>"
            f"<td>{html.escape(str(r.get('reason', ''))[:300])}</td>"
            f"<td><details><summary>reply</summary><pre>"
            f"{html.escape(str(r.get('reply', ''))[:4000])}</pre></details></td></tr>"
            for r in rejects[-500:]
        )
        shown = f" (the last 500 of {len(rejects)})" if len(rejects) > 500 else ""
        return (
            f"<section><h2>Rejected outputs{shown}</h2><table><tr><th>kind</th><th>role</th>"
            "<th>agent</th><th>item</th><th>reason</th><th>what was written</th></tr>"
            f"{rows}</table></section>"
        )

    @staticmethod
    def _render_table(renders: dict[str, Counter[str]]) -> str:
        rows = "".join(
            f"<tr><td>{html.escape(g)}</td><td>{renders['drafted'][g]}</td>"
            f"<td>{renders['failed'][g]}</td><td>{renders['repaired'][g]}</td></tr>"
            for g in sorted(renders["drafted"])
        )
        return (
            "<section><h2>Rendering</h2><table><tr><th>generator</th><th>tables drafted"
            "</th><th>render failures</th><th>repaired</th></tr>" + rows + "</table></section>"
        )

    @staticmethod
    def _jury_tables(jury: dict[str, Any]) -> str:
        jurors = jury["jurors"]
        header = "".join(f"<th>{html.escape(j)}</th>" for j in jurors)
        rows = "".join(
            f"<tr><th>{html.escape(a)}</th>"
            + "".join(f"<td>{jury['matrix'].get((a, b), 0):.0%}</td>" for b in jurors)
            + "</tr>"
            for a in jurors
        )
        chart = _bar_chart(
            "each juror's agreement with the verdict",
            [(j, v, f"{v:.1%}") for j, v in sorted(jury["with_verdict"].items())],
        )
        abstentions = ", ".join(f"{html.escape(j)} {n}" for j, n in jury["abstained"].items())
        return (
            f"<section><h2>Jury</h2><table><tr><th>agreement</th>{header}</tr>{rows}"
            f"</table>{chart}<p>abstentions per juror: {abstentions}; pairs undecided (fewer "
            f"votes than the quorum): {jury['undecided']}</p></section>"
        )

    @staticmethod
    def _distributions(accepted: list[QARecord]) -> str:
        kinds = Counter(r.kind for r in accepted).most_common()
        topics = Counter(r.topic for r in accepted).most_common(12)
        return (
            "<section><h2>Accepted pairs</h2>"
            + _bar_chart("question kinds", [(k, n, str(n)) for k, n in kinds])
            + _bar_chart("top topics", [(t, n, str(n)) for t, n in topics])
            + "</section>"
        )

    def _difficulty(self, accepted: list[QARecord]) -> str:
        """The difficulty pass's split of the accepted pairs, overall and per question kind
        (empty without one)."""
        labels = difficulty_labels(self.directory)
        if not labels:
            return ""
        counts = label_counts(labels)
        rows: list[tuple[str, float, str]] = [
            (label, n, f"{n} ({n / len(labels):.0%})") for label, n in counts.items()
        ]
        by_kind: dict[str, Counter[str]] = {}
        for record in accepted:
            if record.qa_id in labels:
                by_kind.setdefault(record.kind, Counter())[labels[record.qa_id].label] += 1
        header = "".join(f"<th>{label}</th>" for label in LABELS)
        body = "".join(
            f"<tr><th>{html.escape(kind)}</th>"
            + "".join(f"<td>{found[label]}</td>" for label in LABELS)
            + "</tr>"
            for kind, found in sorted(by_kind.items())
        )
        missing = len(accepted) - sum(r.qa_id in labels for r in accepted)
        note = f"<p>{missing} accepted pairs not labelled yet.</p>" if missing else ""
        return (
            "<section><h2>Difficulty (the modality swap)</h2>"
            "<p>easy: solved from the image; modality_hard: solved from the LaTeX only; "
            "hard: from neither.</p>"
            + _bar_chart(f"{len(labels)} labelled pairs", rows)
            + f"<table><tr><th>kind</th>{header}</tr>{body}</table>{note}</section>"
        )

    def _filters(self) -> str:
        def options(values: set[str]) -> str:
            return "".join(
                f'<option value="{html.escape(v)}">{html.escape(v)}</option>'
                for v in sorted(values)
            )

        records = self.records
        return (
            '<select id="f-verdict"><option value="">all verdicts</option>'
            '<option value="accepted">accepted</option><option value="rejected">rejected'
            "</option></select>"
            f'<select id="f-generator"><option value="">all generators</option>'
            f"{options({r.generator for r in records})}</select>"
            f'<select id="f-questioner"><option value="">all questioners</option>'
            f"{options({r.questioner for r in records})}</select>"
            f'<select id="f-kind"><option value="">all kinds</option>'
            f"{options({r.kind for r in records})}</select>"
            f'<select id="f-topic"><option value="">all topics</option>'
            f"{options({r.topic for r in records})}</select>"
            '<input id="f-search" type="search" placeholder="search questions and answers">'
            '<span id="f-count"></span>'
        )

    def _gallery(self) -> str:
        """One card per table (its image embedded once) holding its QA pairs."""
        by_table: dict[str, list[QARecord]] = defaultdict(list)
        for record in self.records:
            by_table[record.table_id].append(record)
        cards = []
        for table_id, records in by_table.items():
            image_path = self.directory / records[0].image
            image = ""
            if image_path.is_file():
                data = base64.b64encode(image_path.read_bytes()).decode()
                image = (
                    f'<img alt="table {html.escape(table_id)}" src="data:image/png;base64,{data}">'
                )
            pairs = "".join(self._pair(record) for record in records)
            cards.append(
                f'<article class="card"><p class="prov">{html.escape(table_id)} · '
                f"{html.escape(records[0].topic)}</p>{image}{pairs}</article>"
            )
        return "".join(cards)

    @staticmethod
    def _pair(record: QARecord) -> str:
        votes = "".join(
            f'<li class="{_VOTE_SHOWN[v.verdict][0]}">{html.escape(v.juror)} '
            f"({html.escape(v.persona)}, {html.escape(v.model)}): "
            f"{_VOTE_SHOWN[v.verdict][1]} — {html.escape(v.reason)}{_checks(v.tools)}</li>"
            for v in record.votes
        )
        verdict = "accepted" if record.accepted else "rejected"
        attrs = " ".join(
            f'data-{key}="{html.escape(value)}"'
            for key, value in (
                ("verdict", verdict),
                ("generator", record.generator),
                ("questioner", record.questioner),
                ("kind", record.kind),
                ("topic", record.topic),
            )
        )
        search = html.escape(f"{record.question} {record.answer}".lower())
        return (
            f'<div class="pair {verdict}" {attrs} data-search="{search}">'
            f'<p class="badge">{verdict} · {record.confidence:.0%} · '
            f"{html.escape(record.kind)}</p>"
            f'<p class="q">{html.escape(record.question)}</p>'
            f'<p class="a">→ {html.escape(record.answer)}</p>'
            f"<details><summary>reasoning and votes</summary>"
            f"<p>{html.escape(record.reasoning)}</p><ul>{votes}</ul></details>"
            f'<p class="prov">{html.escape(record.qa_id)} · generator '
            f"{html.escape(record.generator)} · questioner {html.escape(record.questioner)} · "
            f"attempt {record.attempt}</p></div>"
        )


def write_report(
    directory: Path, out: Path | None = None, skip_corrupt: bool = False
) -> tuple[Path, int]:
    """Writes the report (via a temporary name: a failed write leaves no partial file);
    returns its path and how many corrupt lines were skipped."""
    target = out or directory / "report.html"
    report = RunReport(directory, skip_corrupt)
    write_atomic(target, report.build().encode("utf-8"))
    return target, len(report.skipped_records) + len(report.skipped_events)


_SCRIPT = """
const fields = ["verdict", "generator", "questioner", "kind", "topic"];
function apply() {
  const wanted = Object.fromEntries(fields.map(f => [f, document.getElementById("f-" + f).value]));
  const text = document.getElementById("f-search").value.toLowerCase();
  let shown = 0;
  for (const pair of document.querySelectorAll("div.pair")) {
    const ok = fields.every(f => !wanted[f] || pair.dataset[f] === wanted[f])
      && (!text || pair.dataset.search.includes(text));
    pair.hidden = !ok;
    shown += ok;
  }
  for (const card of document.querySelectorAll("article.card")) {
    card.hidden = !card.querySelector("div.pair:not([hidden])");
  }
  document.getElementById("f-count").textContent = shown + " pairs shown";
}
for (const f of fields) document.getElementById("f-" + f).addEventListener("change", apply);
document.getElementById("f-search").addEventListener("input", apply);
apply();
"""

# The head every page of ours shares: nothing may load from anywhere (images are data:
# URLs), and the layout of figures, tables and charts.
PAGE_HEAD = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy"
 content="default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>{title}</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }}
section {{ display: inline-block; vertical-align: top; margin: 0 2em 1.5em 0; }}
table {{ border-collapse: collapse; }} th, td {{ padding: 2px 8px; text-align: left; }}
table.kv th {{ color: #555; font-weight: normal; }}
svg.chart {{ display: block; margin: 0.6em 0; font-size: 12px; }} svg .t {{ font-weight: bold; }}
#gallery {{ display: flex; flex-wrap: wrap; gap: 1em; }}
article.card img {{ max-width: 100%; }}
.q {{ font-weight: 600; }} .prov {{ color: #777; font-size: 12px; }}
"""

_PAGE = (
    PAGE_HEAD
    + """\
#filters {{ position: sticky; top: 0; background: #fff; padding: 0.5em 0; z-index: 1; }}
#filters select, #filters input {{ margin-right: 0.5em; }}
article.card {{ width: 420px; border: 1px solid #ddd; border-radius: 6px; padding: 0.6em; }}
div.pair {{ border-top: 1px solid #eee; margin-top: 0.4em; }}
div.accepted .badge {{ color: #1b7f3b; }} div.rejected .badge {{ color: #b3261e; }}
li.yes {{ color: #1b7f3b; }} li.no {{ color: #b3261e; }} li.abstained {{ color: #777; }}
ol.tools {{ font-size: 0.85em; color: #444; margin: 2px 0 4px; }}
li.tool-error {{ color: #b3261e; }}
</style></head><body>
<h1>{title}</h1>
{figures}
<h2>Gallery</h2>
<div id="filters">{filters}</div>
<div id="gallery">{gallery}</div>
<script>{script}</script>
</body></html>
"""
)


def _checks(tools: tuple[ToolUse, ...]) -> str:
    """A tool-checking juror's calls under its vote: what it looked up, what it got."""
    if not tools:
        return ""
    rows = "".join(
        f'<li class="{"tool-error" if use.is_error else "tool"}"><code>'
        f"{html.escape(use.name)}({html.escape(use.arguments)})</code> → "
        f"<code>{html.escape(use.result)}</code></li>"
        for use in tools
    )
    return f'<ol class="tools">{rows}</ol>'
