"""An evaluation's figures: accuracy per solver and view with 95% intervals, the modality
gap (LaTeX − image) with a paired test over the same items, how much the pre-grader
settled, how far the graders agree, and — in simulation — how right the grading was.

Failed calls count as wrong answers: a solver that often fails is a worse solver, and
leaving its failures out of the denominator would flatter it (the reference pipeline does)."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

from environment.core.messages import EvalRecord, GradedPrediction
from environment.outputs.compare import Z95, Share, mcnemar_p
from environment.outputs.report import fleiss_kappa


def share_dict(share: Share) -> dict[str, Any]:
    low, high = share.interval()
    return {
        "correct": share.hits,
        "items": share.total,
        "accuracy": round(share.value or 0.0, 4),
        "ci95": [round(low, 4), round(high, 4)],
    }


@dataclass(frozen=True)
class Gap:
    """LaTeX accuracy minus image accuracy over the items answered from both views."""

    items: int
    text_only: int  # right from the LaTeX, wrong from the image
    image_only: int  # right from the image, wrong from the LaTeX

    @property
    def gap(self) -> float:
        return (self.text_only - self.image_only) / self.items if self.items else 0.0

    def interval(self) -> tuple[float, float]:
        """95% interval of a paired difference of proportions (Wald, on the discordant
        pairs): the same items on both sides, so only the items they disagree on count."""
        if not self.items:
            return (-1.0, 1.0)
        n, b, c = self.items, self.text_only, self.image_only
        spread = math.sqrt(max(0.0, b + c - (b - c) ** 2 / n)) / n
        return (max(-1.0, self.gap - Z95 * spread), min(1.0, self.gap + Z95 * spread))

    def p_value(self) -> float:
        """McNemar's exact test: under no gap, each discordant item is a fair coin."""
        return mcnemar_p(self.text_only, self.image_only)

    def as_dict(self) -> dict[str, Any]:
        low, high = self.interval()
        return {
            "items": self.items,
            "gap": round(self.gap, 4),
            "ci95": [round(low, 4), round(high, 4)],
            "text_right_image_wrong": self.text_only,
            "image_right_text_wrong": self.image_only,
            "mcnemar_p": round(self.p_value(), 6),
        }


def _predictions(records: Iterable[EvalRecord]) -> list[tuple[EvalRecord, GradedPrediction]]:
    return [(record, p) for record in records for p in record.predictions]


def accuracy_table(
    records: Sequence[EvalRecord], by: str | None = None
) -> dict[tuple[str, ...], Share]:
    """(solver, view[, kind or topic]) → share right; every item counts, failures as wrong."""
    tally: dict[tuple[str, ...], list[int]] = defaultdict(lambda: [0, 0])
    for record, prediction in _predictions(records):
        key: tuple[str, ...] = (prediction.solver, prediction.view)
        if by is not None:
            key += (getattr(record, by) or "?",)
        tally[key][0] += prediction.correct and not prediction.undecided
        tally[key][1] += 1
    return {key: Share(hits, total) for key, (hits, total) in sorted(tally.items())}


def modality_gaps(records: Sequence[EvalRecord]) -> dict[str, Gap]:
    pairs: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    for record in records:
        views = {(p.solver, p.view): p.correct and not p.undecided for p in record.predictions}
        for solver in sorted({solver for solver, _ in views}):
            if (solver, "latex") in views and (solver, "image") in views:
                pairs[solver].append((views[(solver, "latex")], views[(solver, "image")]))
    return {
        solver: Gap(
            len(found),
            sum(1 for text, image in found if text and not image),
            sum(1 for text, image in found if image and not text),
        )
        for solver, found in sorted(pairs.items())
    }


def grader_agreement(records: Sequence[EvalRecord]) -> dict[str, Any]:
    """On the predictions the jury graded: Fleiss' κ, pairwise agreement, and each
    grader's agreement with the verdict."""
    juried = [p for _, p in _predictions(records) if p.graded_by == "jury"]
    with_verdict: dict[str, Share] = {}
    hits: Counter[str] = Counter()
    seen: Counter[str] = Counter()
    pairs: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    complete: list[list[bool]] = []
    for prediction in juried:
        cast = {v.grader: v.verdict for v in prediction.votes if v.verdict is not None}
        for grader, verdict in cast.items():
            seen[grader] += 1
            hits[grader] += verdict == prediction.correct
        for first, second in combinations(sorted(cast), 2):
            pairs[(first, second)][0] += cast[first] == cast[second]
            pairs[(first, second)][1] += 1
        if len(cast) == len(prediction.votes):
            complete.append(
                [cast[v.grader] for v in sorted(prediction.votes, key=lambda v: v.grader)]
            )
    for grader in sorted(seen):
        with_verdict[grader] = Share(hits[grader], seen[grader])
    kappa = fleiss_kappa(complete)
    return {
        "graded_by_jury": len(juried),
        "fleiss_kappa": round(kappa, 4) if kappa is not None else None,
        "pairwise": {
            f"{a} ~ {b}": round(agree / total, 4) for (a, b), (agree, total) in pairs.items()
        },
        "with_verdict": {
            grader: round(share.value or 0.0, 4) for grader, share in with_verdict.items()
        },
    }


def summarise(
    records: Sequence[EvalRecord], ledger: dict[str, Any] | None = None
) -> dict[str, Any]:
    """summary.json of an eval folder."""
    predictions = [p for _, p in _predictions(records)]
    answered = [p for p in predictions if p.failed is None]
    settled = Counter(p.graded_by for p in answered if p.graded_by.startswith("pre:"))
    known = [p for p in predictions if p.oracle_correct is not None and p.failed is None]
    juried_known = [p for p in known if p.graded_by == "jury"]
    calls = sum(p.calls for p in predictions) + sum(r.grader_calls for r in records)
    cost = float((ledger or {}).get("total_cost_usd", 0.0))
    return {
        "items": len(records),
        "predictions": len(predictions),
        "failed_predictions": len(predictions) - len(answered),
        "accuracy": {
            f"{solver}/{view}": share_dict(share)
            for (solver, view), share in accuracy_table(records).items()
        },
        "accuracy_by_kind": {
            f"{solver}/{view}/{kind}": share_dict(share)
            for (solver, view, kind), share in accuracy_table(records, "kind").items()
        },
        "accuracy_by_topic": {
            f"{solver}/{view}/{topic}": share_dict(share)
            for (solver, view, topic), share in accuracy_table(records, "topic").items()
        },
        "modality_gap": {solver: gap.as_dict() for solver, gap in modality_gaps(records).items()},
        "pre_grader": {
            "settled": sum(settled.values()),
            "share_settled": round(sum(settled.values()) / len(answered), 4) if answered else 0.0,
            "by_rule": dict(sorted(settled.items())),
        },
        "graders": grader_agreement(records),
        # Simulation only: how often the grade agrees with the oracle's truth.
        "grading_vs_oracle": {
            "all": share_dict(Share(sum(p.correct == p.oracle_correct for p in known), len(known)))
            if known
            else None,
            "jury": share_dict(
                Share(sum(p.correct == p.oracle_correct for p in juried_known), len(juried_known))
            )
            if juried_known
            else None,
        },
        "model_calls": calls,
        "calls_per_item": round(calls / len(records), 3) if records else 0.0,
        "cost_usd": round(cost, 6),
        "cost_per_item_usd": round(cost / len(records), 6) if records else 0.0,
    }


def summary_text(summary: dict[str, Any]) -> str:
    """The console's view of summary.json."""
    lines = [
        f"{summary['items']} items graded ({summary['failed_predictions']} failed answers "
        "counted wrong)"
    ]
    lines.append("accuracy (95% interval):")
    for key, row in summary["accuracy"].items():
        low, high = row["ci95"]
        lines.append(
            f"  {key:<32} {row['accuracy']:6.1%}  [{low:.1%}, {high:.1%}]  "
            f"({row['correct']}/{row['items']})"
        )
    for solver, gap in summary["modality_gap"].items():
        low, high = gap["ci95"]
        lines.append(
            f"modality gap {solver} (latex − image): {gap['gap']:+.1%} [{low:+.1%}, {high:+.1%}] "
            f"over {gap['items']} items, McNemar p = {gap['mcnemar_p']:.3g}"
        )
    pre = summary["pre_grader"]
    lines.append(
        f"pre-grader settled {pre['settled']} answers ({pre['share_settled']:.0%}); "
        f"the jury graded {summary['graders']['graded_by_jury']}"
    )
    kappa = summary["graders"]["fleiss_kappa"]
    if kappa is not None:
        lines.append(f"grader agreement: Fleiss κ = {kappa:.3f}")
    oracle = summary["grading_vs_oracle"]
    if oracle["all"] is not None:
        jury = oracle["jury"]
        lines.append(
            f"grading right (against the simulation's truth): {oracle['all']['accuracy']:.1%}"
            + (f"; the jury's part {jury['accuracy']:.1%}" if jury else "")
        )
    lines.append(
        f"model calls {summary['model_calls']} ({summary['calls_per_item']:.2f} per item); "
        f"cost ${summary['cost_usd']:.4f} (${summary['cost_per_item_usd']:.5f} per item)"
    )
    return "\n".join(lines)
