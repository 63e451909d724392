"""`run.py jury-study RUN_DIR`: the votes a run already cast, decided again under every rule
and every subset of its jurors — no model is called — to find a jury that is as right for
fewer calls.

For each jury (a subset of the run's jurors) and rule (majority, unanimous, k of n,
cascades: some jurors first, the rest only on a split, and votes weighted by each juror's
reliability as one-coin Dawid–Skene estimates it from these votes alone) it counts, over
the pairs every juror of the run voted on: juror calls per pair, acceptance, and precision
and recall against the truth — the simulation's oracle when the run has one, else the run's
own verdicts (then the study says how often a cheaper jury agrees with the full one). The
rules on the Pareto front (no other as precise, with as much recall, for fewer calls) are
listed, with the run's own rule, which the study must reproduce exactly, and the best rule
that costs no more than it.
"""

from __future__ import annotations

import html
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from environment.core.consensus import Ballot, decide, settled
from environment.core.messages import QARecord
from environment.core.reliability import RunningReliability, estimate, weighted_verdict
from environment.errors import UserInputError
from environment.outputs.report import RunReport

# Past this many jurors the subsets are too many to list; the study keeps the whole jury.
MAX_JURORS = 9


@dataclass(frozen=True)
class Outcome:
    jury: tuple[str, ...]
    rule: str
    calls_per_pair: float
    acceptance: float
    precision: float | None
    recall: float | None
    accepted: tuple[bool, ...]  # per studied pair

    @property
    def name(self) -> str:
        return f"{self.rule} of {{{', '.join(self.jury)}}}"


@dataclass
class Study:
    pairs: int  # pairs every juror voted on: the ones studied
    skipped: int  # pairs some juror did not vote on (a cascade's settled ones)
    truth: str  # "oracle" or "the run's verdicts"
    own: Outcome
    outcomes: list[Outcome]
    reproduced: bool | None  # the run's rule replayed gives its own verdicts (None: a cascade)

    def front(self) -> list[Outcome]:
        """Outcomes no other beats: as precise, as much recall, fewer calls (or equal
        calls and better on one)."""

        def score(o: Outcome) -> tuple[float, float, float]:
            return (o.precision or 0.0, o.recall or 0.0, -o.calls_per_pair)

        front = []
        for outcome in self.outcomes:
            mine = score(outcome)
            if not any(
                all(a >= b for a, b in zip(score(other), mine, strict=True))
                and score(other) != mine
                for other in self.outcomes
            ):
                front.append(outcome)
        unique = {(o.calls_per_pair, o.precision, o.recall): o for o in front}
        return sorted(unique.values(), key=lambda o: o.calls_per_pair)

    def best_at_own_cost(self) -> Outcome:
        """The most precise rule with at least the run's recall for no more calls (else
        the run's own)."""
        cheaper = [
            o
            for o in self.outcomes
            if o.calls_per_pair <= self.own.calls_per_pair + 1e-9
            and (o.recall or 0) >= (self.own.recall or 0) - 1e-9
        ]
        return max(
            cheaper or [self.own],
            key=lambda o: (o.precision or 0, o.recall or 0, -o.calls_per_pair),
        )

    def text(self) -> str:
        def row(outcome: Outcome, mark: str = "") -> str:
            def pct(v: float | None) -> str:
                return "–" if v is None else f"{v:.3f}"

            return (
                f"  {outcome.name[:58]:<60}{outcome.calls_per_pair:>7.2f}"
                f"{outcome.acceptance:>9.1%}{pct(outcome.precision):>10}"
                f"{pct(outcome.recall):>8}  {mark}"
            )

        lines = [
            f"jury study: {self.pairs} pairs every juror voted on"
            + (f" ({self.skipped} others left out)" if self.skipped else "")
            + f"; truth: {self.truth}",
            f"  {'jury and rule':<60}{'calls':>7}{'accepted':>9}{'precision':>10}{'recall':>8}",
        ]
        best = self.best_at_own_cost()
        for outcome in self.front():
            lines.append(row(outcome, "front"))
        lines.append(row(self.own, "the run's own rule"))
        if best is not self.own:
            lines.append(row(best, "best for no more calls"))
        if self.reproduced is not None:
            lines.append(
                "the run's rule replayed on its votes gives its verdicts: "
                + ("yes" if self.reproduced else "NO — a bug worth reporting")
            )
        lines.append(
            "(calls: juror model calls per pair, a tool juror's rounds and re-asks included; a "
            "cascade's later jurors count only where they were asked)"
        )
        return "\n".join(lines)


def _ballots(record: QARecord, jury: Sequence[str]) -> list[Ballot]:
    votes = {v.juror: v for v in record.votes}
    return [Ballot(j, votes[j].persona, votes[j].verdict) for j in jury]


def _score(
    jury: tuple[str, ...],
    rule: str,
    decisions: list[tuple[bool, float]],
    truth: list[bool],
) -> Outcome:
    accepted = tuple(d for d, _ in decisions)
    calls = sum(c for _, c in decisions) / len(decisions)
    right = sum(a and t for a, t in zip(accepted, truth, strict=True))
    predicted, actual = sum(accepted), sum(truth)
    return Outcome(
        jury,
        rule,
        calls,
        predicted / len(accepted),
        right / predicted if predicted else None,
        right / actual if actual else None,
        accepted,
    )


def study_run(directory: Path) -> Study:
    report = RunReport(directory)
    if not report.records:
        raise UserInputError(f"{directory}: no judged pairs to study")
    try:
        return study_records(report.records, report.info)
    except UserInputError as why:
        raise UserInputError(f"{directory}: {why}") from None


def study_records(records: list[QARecord], info: dict[str, Any]) -> Study:
    """The study of these records (run.json's `info` gives the run's rule)."""
    jurors = sorted({v.juror for r in records for v in r.votes})
    complete = [r for r in records if {v.juror for v in r.votes} == set(jurors)]
    if not complete:
        raise UserInputError(
            "no pair has a vote from every juror (a cascade whose first stage settled "
            "everything?); nothing to compare juries on"
        )
    oracle = all(r.ground_truth is not None for r in complete)
    truth = [bool(r.ground_truth) if oracle else r.accepted for r in complete]
    consensus = info.get("scenario", {}).get("consensus", {})
    quorum = consensus.get("quorum") or len(jurors) // 2 + 1
    tiebreaker = consensus.get("tiebreaker")
    own_rule = consensus.get("rule", "majority")
    own = _score(
        tuple(jurors),
        f"the run's {own_rule}",
        [(r.accepted, sum(v.calls for v in r.votes)) for r in complete],
        truth,
    )
    outcomes = []
    pool = jurors if len(jurors) <= MAX_JURORS else []
    juries = [
        tuple(c) for size in range(1, len(pool) + 1) for c in itertools.combinations(pool, size)
    ] or [tuple(jurors)]
    # What each vote cost in model calls: a tool juror's rounds, a re-ask.
    costs = [{v.juror: v.calls for v in r.votes} for r in complete]
    for jury in juries:
        n = len(jury)
        ballots = [_ballots(r, jury) for r in complete]
        spent = [sum(cost[j] for j in jury) for cost in costs]
        rules: dict[str, list[tuple[bool, float]]] = {
            "majority": [
                (decide(b, "majority", tiebreaker=tiebreaker, quorum=n // 2 + 1).accepted, c)
                for b, c in zip(ballots, spent, strict=True)
            ],
            "unanimous": [
                (decide(b, "unanimous", quorum=n).accepted, c)
                for b, c in zip(ballots, spent, strict=True)
            ],
        }
        for k in range(1, n):
            rules[f"{k} of {n}"] = [
                (decide(b, "k_of_n", k=k).accepted, c) for b, c in zip(ballots, spent, strict=True)
            ]
        if n >= 3:  # reliabilities need jurors to compare with each other
            pairs = [{ballot.juror: ballot.verdict for ballot in b} for b in ballots]
            reliability = estimate(pairs)
            rules["weighted (Dawid–Skene)"] = [
                (weighted_verdict(pair, reliability), c)
                for pair, c in zip(pairs, spent, strict=True)
            ]
        for size in range(1, n):
            for first in itertools.combinations(jury, size):
                rules[f"cascade first {{{', '.join(first)}}}"] = [
                    _cascade(b, first, tiebreaker, cost)
                    for b, cost in zip(ballots, costs, strict=True)
                ]
        outcomes += [_score(jury, rule, decisions, truth) for rule, decisions in rules.items()]
    reproduced = None
    if own_rule in ("majority", "k_of_n", "unanimous", "weighted"):
        # The weighted rule learnt as the run went: replay it with what it knew then.
        running = RunningReliability(
            int(info.get("scenario", {}).get("max_inflight", 4)),
            int(consensus.get("weights_after") or 30),
        )
        for r in records:
            running.add(r.seq, {r.qa_id: {v.juror: v.verdict for v in r.votes}})
        replayed = tuple(
            decide(
                _ballots(r, jurors),
                own_rule,
                k=consensus.get("k"),
                tiebreaker=tiebreaker,
                quorum=quorum,
                reliability=running.at(r.seq) if own_rule == "weighted" else None,
            ).accepted
            for r in complete
        )
        reproduced = replayed == own.accepted
    return Study(
        pairs=len(complete),
        skipped=len(records) - len(complete),
        truth="oracle" if oracle else "the run's verdicts",
        own=own,
        outcomes=outcomes,
        reproduced=reproduced,
    )


def _cascade(
    ballots: list[Ballot], first: tuple[str, ...], tiebreaker: str | None, cost: dict[str, int]
) -> tuple[bool, float]:
    early = [b for b in ballots if b.juror in first]
    if settled(early, len(first)):
        return bool(early[0].verdict), sum(cost[b.juror] for b in early)
    quorum = len(ballots) // 2 + 1
    accepted = decide(ballots, "majority", tiebreaker=tiebreaker, quorum=quorum).accepted
    return accepted, sum(cost[b.juror] for b in ballots)


def pareto_chart(study: Study) -> str:
    """Inline SVG: every jury and rule by juror calls per pair and precision; the front in
    blue and named, the run's own rule in red."""
    width, height, left, bottom = 560, 300, 60, 40
    shown = [o for o in study.outcomes if o.precision is not None]
    if not shown:
        return ""
    most_calls = max(o.calls_per_pair for o in shown) or 1.0
    lowest = min(o.precision or 0 for o in shown)
    floor = max(0.0, min(lowest, (study.own.precision or 1.0)) - 0.01)
    span = (1.0 - floor) or 1.0

    def x(calls: float) -> float:
        return left + (width - left - 20) * calls / most_calls

    def y(precision: float) -> float:
        return height - bottom - (height - bottom - 20) * (precision - floor) / span

    parts = [
        f'<svg class="chart" width="{width}" height="{height}" role="img" '
        'aria-label="jury study: precision against juror calls">',
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - 10}" y2="{height - bottom}" '
        'stroke="#999"/>',
        f'<line x1="{left}" y1="20" x2="{left}" y2="{height - bottom}" stroke="#999"/>',
        f'<text x="{left}" y="{height - 8}">juror calls per pair (0 – {most_calls:.1f})</text>',
        f'<text x="4" y="16">precision ({floor:.2f} – 1.00)</text>',
    ]
    for outcome in shown:
        parts.append(
            f'<circle cx="{x(outcome.calls_per_pair):.1f}" '
            f'cy="{y(outcome.precision or 0):.1f}" r="2" fill="#bbb"/>'
        )
    front = study.front()
    for number, outcome in enumerate(front, 1):
        cx, cy = x(outcome.calls_per_pair), y(outcome.precision or 0)
        parts.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="4" fill="#4a78b5"/>')
        parts.append(f'<text x="{cx + 5:.1f}" y="{cy + 14:.1f}">{number}</text>')
    own = study.own
    parts.append(
        f'<circle cx="{x(own.calls_per_pair):.1f}" cy="{y(own.precision or 0):.1f}" r="5" '
        'fill="none" stroke="#b3261e" stroke-width="2"/>'
    )
    parts.append("</svg>")
    legend = "".join(
        f"<li>{html.escape(o.name)}: {o.calls_per_pair:.2f} calls, precision "
        f"{o.precision or 0:.3f}, recall {o.recall or 0:.3f}</li>"
        for o in front
    )
    return (
        "".join(parts)
        + f"<p>The front (blue, numbered; the run's rule in red):</p><ol>{legend}</ol>"
    )
