"""An eval folder's report: one self-contained HTML page with the figures of summary.json
as inline SVG charts and tables, and a gallery of every item with its predictions from the
LaTeX and from the image side by side."""

from __future__ import annotations

import base64
import html
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from environment.core.messages import EvalRecord, GradedPrediction
from environment.outputs.eval_figures import summarise
from environment.outputs.report import PAGE_HEAD
from environment.storage.eval_dataset import read_eval_records
from environment.storage.store import RunStore, write_atomic

_MIME = {".png": "image/png", ".jpg": "image/jpeg", ".gif": "image/gif", ".webp": "image/webp"}


def _interval_chart(title: str, rows: list[tuple[str, float, float, float]], signed: bool) -> str:
    """Bars with their 95% interval as a whisker: (label, value, low, high); values in
    [0, 1], or in [-1, 1] around a zero line when `signed`."""
    if not rows:
        return ""
    width, left, top = 300, 220, 26
    height = top + 24 * len(rows) + 8

    def x(value: float) -> float:
        return left + (width * (value + 1) / 2 if signed else width * value)

    zero = x(0.0)
    parts = [
        f'<svg class="chart" width="{left + width + 170}" height="{height}" role="img" '
        f'aria-label="{html.escape(title)}"><text x="0" y="14" class="t">{html.escape(title)}'
        f'</text><line x1="{zero:.1f}" y1="{top - 4}" x2="{zero:.1f}" y2="{height - 4}" '
        'stroke="#999"/>'
    ]
    for index, (label, value, low, high) in enumerate(rows):
        y = top + 24 * index
        start, end = sorted((zero, x(value)))
        caption = f"{value:+.1%}" if signed else f"{value:.1%}"
        parts.append(
            f'<text x="0" y="{y + 13}">{html.escape(label[:30])}</text>'
            f'<rect x="{start:.1f}" y="{y}" width="{end - start:.1f}" height="16" '
            f'fill="{"#b5654a" if signed and value < 0 else "#4a78b5"}"/>'
            f'<line x1="{x(low):.1f}" y1="{y + 8}" x2="{x(high):.1f}" y2="{y + 8}" '
            'stroke="#222" stroke-width="1.5"/>'
            f'<text x="{left + width + 8}" y="{y + 13}">{caption} '
            f"[{low:.0%}, {high:.0%}]</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(cell)}</th>" for cell in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _figures(summary: dict[str, Any], info: dict[str, Any]) -> str:
    accuracy = [
        (key, row["accuracy"], row["ci95"][0], row["ci95"][1])
        for key, row in summary["accuracy"].items()
    ]
    gaps = [
        (solver, gap["gap"], gap["ci95"][0], gap["ci95"][1])
        for solver, gap in summary["modality_gap"].items()
    ]
    gap_rows = [
        [
            solver,
            f"{gap['gap']:+.1%}",
            f"{gap['text_right_image_wrong']} / {gap['image_right_text_wrong']}",
            f"{gap['mcnemar_p']:.3g}",
            str(gap["items"]),
        ]
        for solver, gap in summary["modality_gap"].items()
    ]
    kinds = sorted({key.rsplit("/", 1)[1] for key in summary["accuracy_by_kind"]})
    columns = list(summary["accuracy"])
    by_kind = [
        [kind]
        + [
            f"{row['accuracy']:.0%} ({row['correct']}/{row['items']})"
            if (row := summary["accuracy_by_kind"].get(f"{column}/{kind}"))
            else "–"
            for column in columns
        ]
        for kind in kinds
    ]
    graders = summary["graders"]
    pre = summary["pre_grader"]
    scenario = info.get("eval_scenario", {})
    oracle = summary["grading_vs_oracle"]["all"]
    facts = [
        ["eval", str(info.get("run_id", "?"))],
        ["dataset", str(info.get("dataset", "?"))],
        ["items graded", str(summary["items"])],
        ["failed answers (counted wrong)", str(summary["failed_predictions"])],
        ["settled by the pre-grader", f"{pre['settled']} ({pre['share_settled']:.0%})"],
        ["graded by the jury", str(graders["graded_by_jury"])],
        ["jury rule", str(scenario.get("consensus", {}).get("rule", "majority"))],
        [
            "Fleiss' κ (graders)",
            f"{graders['fleiss_kappa']:.3f}" if graders["fleiss_kappa"] is not None else "–",
        ],
        ["model calls per item", f"{summary['calls_per_item']:.2f}"],
        ["cost per item", f"${summary['cost_per_item_usd']:.5f}"],
    ]
    if oracle is not None:
        facts.append(["grades matching the simulation's truth", f"{oracle['accuracy']:.1%}"])
    agreement = [[grader, f"{share:.1%}"] for grader, share in graders["with_verdict"].items()]
    return (
        f"<section><h2>Eval</h2>{_table(['', ''], facts)}</section>"
        f"<section><h2>Accuracy</h2>{_interval_chart('per solver and view', accuracy, False)}"
        "</section>"
        + (
            f"<section><h2>Modality gap (LaTeX − image)</h2>"
            f"{_interval_chart('same items, 95% paired interval', gaps, True)}"
            f"{_table(['solver', 'gap', 'text only / image only', 'McNemar p', 'items'], gap_rows)}"
            "</section>"
            if gaps
            else ""
        )
        + f"<section><h2>By question kind</h2>{_table(['kind', *columns], by_kind)}</section>"
        + (
            f"<section><h2>Graders' agreement with the verdict</h2>"
            f"{_table(['grader', 'agreement'], agreement)}</section>"
            if agreement
            else ""
        )
    )


def _prediction(prediction: GradedPrediction) -> str:
    mark = "right" if prediction.correct and not prediction.undecided else "wrong"
    said = prediction.answer or f"no answer ({prediction.failed})"
    votes = "".join(
        f"<li>{html.escape(v.grader)}: "
        f"{'correct' if v.verdict else 'abstained' if v.verdict is None else 'incorrect'} — "
        f"{html.escape(v.reason)}</li>"
        for v in prediction.votes
    )
    details = (
        f"<details><summary>reasoning{' and votes' if votes else ''}</summary>"
        f"<p>{html.escape(prediction.reasoning)}</p><ul>{votes}</ul></details>"
        if prediction.reasoning or votes
        else ""
    )
    return (
        f'<td class="{mark}"><b>{mark}</b> · {html.escape(prediction.graded_by)}<br>'
        f"{html.escape(said)}{details}</td>"
    )


def _item(record: EvalRecord) -> str:
    by_solver: dict[str, dict[str, GradedPrediction]] = defaultdict(dict)
    for prediction in record.predictions:
        by_solver[prediction.solver][prediction.view] = prediction
    rows = "".join(
        f"<tr><th>{html.escape(solver)}</th>"
        + "".join(
            _prediction(views[view]) if view in views else "<td>–</td>"
            for view in ("latex", "image")
        )
        + "</tr>"
        for solver, views in by_solver.items()
    )
    gap = any(
        "latex" in views
        and "image" in views
        and views["latex"].correct
        and not views["image"].correct
        for views in by_solver.values()
    )
    wrong = any(not p.correct for p in record.predictions)
    return (
        f'<div class="item" data-gap="{int(gap)}" data-wrong="{int(wrong)}">'
        f'<p class="prov">{html.escape(record.item_id)} · {html.escape(record.source_id)} · '
        f"{html.escape(record.kind or '?')}</p>"
        f'<p class="q">{html.escape(record.question)}</p>'
        f'<p class="a">truth: {html.escape(record.answer)}</p>'
        f"<table><tr><th></th><th>from the LaTeX</th><th>from the image</th></tr>{rows}</table>"
        "</div>"
    )


def _card(directory: Path, records: list[EvalRecord]) -> str:
    """One table image, embedded once, with every item asked about it."""
    image_path = directory / records[0].image
    image = ""
    if image_path.is_file():
        data = base64.b64encode(image_path.read_bytes()).decode()
        mime = _MIME.get(image_path.suffix, "image/png")
        image = f'<img alt="table" src="data:{mime};base64,{data}">'
    items = "".join(_item(record) for record in records)
    return (
        f'<article class="card"><p class="prov">{html.escape(records[0].topic)}</p>'
        f"{image}{items}</article>"
    )


def write_eval_report(
    directory: Path, out: Path | None = None, skipped: list[int] | None = None
) -> tuple[Path, dict[str, Any]]:
    """summary.json and report.html of an eval folder (each via a temporary name: no
    partial file on failure); returns the report's path and the summary. With `skipped`,
    corrupt lines of records.jsonl are left out and their numbers put there."""
    store = RunStore.existing(directory)
    info = store.read_run_info()
    records = sorted(read_eval_records(directory, skipped), key=lambda r: r.index)
    summary = summarise(records, info.get("ledger"))
    text = json.dumps(summary, indent=2, ensure_ascii=False)
    write_atomic(directory / "summary.json", text.encode("utf-8"))
    title = html.escape(f"modswap eval — {info.get('run_id', directory.name)}")
    by_image: dict[str, list[EvalRecord]] = defaultdict(list)
    for record in records:
        by_image[record.image].append(record)
    page = _PAGE.format(
        title=title,
        figures=_figures(summary, info),
        gallery="".join(_card(directory, group) for group in by_image.values()),
        script=_SCRIPT,
    )
    target = out or directory / "report.html"
    write_atomic(target, page.encode("utf-8"))
    return target, summary


_SCRIPT = """
function apply() {
  const wanted = document.getElementById("f-show").value;
  let shown = 0;
  for (const item of document.querySelectorAll("div.item")) {
    const ok = !wanted || item.dataset[wanted] === "1";
    item.hidden = !ok;
    shown += ok;
  }
  for (const card of document.querySelectorAll("article.card")) {
    card.hidden = !card.querySelector("div.item:not([hidden])");
  }
  document.getElementById("f-count").textContent = shown + " items shown";
}
document.getElementById("f-show").addEventListener("change", apply);
apply();
"""

_PAGE = (
    PAGE_HEAD
    + """\
td {{ vertical-align: top; }}
article.card {{ width: 520px; border: 1px solid #ddd; border-radius: 6px; padding: 0.6em; }}
td.right b {{ color: #1b7f3b; }} td.wrong b {{ color: #b3261e; }}
div.item {{ border-top: 1px solid #eee; margin-top: 0.4em; }}
</style></head><body>
<h1>{title}</h1>
{figures}
<h2>Items</h2>
<p><select id="f-show"><option value="">all items</option>
<option value="gap">right from the LaTeX, wrong from the image</option>
<option value="wrong">wrong somewhere</option></select> <span id="f-count"></span></p>
<div id="gallery">{gallery}</div>
<script>{script}</script>
</body></html>
"""
)
