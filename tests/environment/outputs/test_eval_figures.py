"""Evaluation figures on constructed cases whose answers are known."""

from __future__ import annotations

import math

import pytest

from environment.core.messages import EvalRecord, GradedPrediction, GraderVote
from environment.outputs.compare import Share
from environment.outputs.eval_figures import Gap, summarise


def test_wilson_interval_matches_the_textbook_case() -> None:
    # 81 of 263, a case Newcombe (1998) tabulates: 0.2553 to 0.3662.
    low, high = Share(81, 263).interval()
    assert low == pytest.approx(0.2553, abs=5e-4)
    assert high == pytest.approx(0.3662, abs=5e-4)
    assert Share(0, 10).interval()[0] == 0.0
    assert Share(10, 10).interval()[1] == pytest.approx(1.0)


def test_the_gap_counts_only_discordant_items_and_mcnemar_is_exact() -> None:
    gap = Gap(items=100, text_only=15, image_only=5)
    assert gap.gap == pytest.approx(0.10)
    # Exact two-sided binomial test of 5 of 20 at one half.
    expected = 2 * sum(math.comb(20, k) for k in range(6)) / 2**20
    assert gap.p_value() == pytest.approx(expected)
    low, high = gap.interval()
    spread = math.sqrt(15 + 5 - 10**2 / 100) / 100
    assert (low, high) == pytest.approx((0.10 - 1.959964 * spread, 0.10 + 1.959964 * spread))
    assert Gap(50, 0, 0).p_value() == 1.0


def prediction(view: str, correct: bool, **extra: object) -> GradedPrediction:
    fields: dict[str, object] = {
        "solver": "s",
        "persona": "reader",
        "model": "m",
        "view": view,
        "answer": "x",
        "correct": correct,
        "graded_by": "pre:number",
    }
    fields.update(extra)
    return GradedPrediction.model_validate(fields)


def record(index: int, *predictions: GradedPrediction) -> EvalRecord:
    return EvalRecord(
        item_id=f"e{index:05d}",
        index=index,
        source_id=str(index),
        question="q",
        answer="a",
        kind="lookup" if index % 2 else "structural",
        topic="t",
        image="images/x.png",
        predictions=predictions,
        grader_calls=1,
    )


def test_summary_counts_failures_as_wrong_and_pairs_views_by_item() -> None:
    vote = GraderVote(grader="g", persona="grader", model="m", verdict=True, reason="")
    records = [
        record(0, prediction("latex", True), prediction("image", False)),
        record(1, prediction("latex", True), prediction("image", True)),
        record(
            2,
            prediction("latex", False, failed="timeout", graded_by="failed"),
            prediction("image", True, graded_by="jury", votes=(vote,)),
        ),
        record(3, prediction("latex", True), prediction("image", False)),
    ]
    summary = summarise(records, {"total_cost_usd": 0.8})
    assert summary["accuracy"]["s/latex"]["accuracy"] == 0.75  # the failure is in the 4
    assert summary["accuracy"]["s/image"]["accuracy"] == 0.5
    gap = summary["modality_gap"]["s"]
    assert (gap["items"], gap["text_right_image_wrong"], gap["image_right_text_wrong"]) == (4, 2, 1)
    assert gap["gap"] == 0.25
    assert summary["failed_predictions"] == 1
    assert summary["pre_grader"]["settled"] == 6  # of the 7 answered; one went to the jury
    assert summary["graders"]["graded_by_jury"] == 1
    assert summary["accuracy_by_kind"]["s/image/structural"]["accuracy"] == 0.5
    assert summary["cost_per_item_usd"] == 0.2
