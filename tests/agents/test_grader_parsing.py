"""Grader replies as real models write them, mapped to the predictions they grade."""

from __future__ import annotations

import json

import pytest

from agents.grader import build_prompt, parse_grades
from agents.parsing import OutputParseError
from environment.models.protocol import GradeeInputs, GraderInputs

GRADEES = (
    GradeeInputs(label="1", key="reader/latex", answer="14109"),
    GradeeInputs(label="2", key="reader/image", answer="9062.0, according to the table"),
)

PLACEHOLDER = "the prediction's number"


def reply(*grades: tuple[str, object, str, str]) -> str:
    rows = [
        {field: named, "verdict": verdict, "reason": reason}
        for field, named, verdict, reason in grades
    ]
    return json.dumps({"grades": rows})


def test_grades_by_number_by_answer_text_or_in_order() -> None:
    by_number = reply(("prediction", 2, "correct", "same"), ("prediction", 1, "incorrect", "no"))
    assert parse_grades(by_number, GRADEES) == {
        "reader/latex": (False, "no"),
        "reader/image": (True, "same"),
    }
    # Measured on Qwen2.5-Coder-1.5B: the answer's text as the key, or a placeholder.
    by_text = reply(
        ("key", "14109", "incorrect", "a"),
        ("key", "9062.0, according to the table", "correct", "b"),
    )
    assert parse_grades(by_text, GRADEES)["reader/image"] == (True, "b")
    in_order = reply((("key", PLACEHOLDER, "incorrect", "a")), ("key", PLACEHOLDER, "correct", "b"))
    assert parse_grades(in_order, GRADEES)["reader/latex"] == (False, "a")


def test_a_prediction_left_ungraded_is_named_for_the_re_ask() -> None:
    one = reply(("key", PLACEHOLDER, "incorrect", "a"))
    with pytest.raises(OutputParseError, match="prediction 1, 2"):
        parse_grades(one, GRADEES)
    lone = '{"verdict": "correct", "reason": "same"}'
    assert parse_grades(lone, GRADEES[:1]) == {"reader/latex": (True, "same")}


def test_the_prompt_spells_out_each_prediction_number() -> None:
    prompt = build_prompt(
        GraderInputs(item_id="e1", question="Total?", truth="9062.0", predictions=GRADEES)
    )
    assert '{"prediction": 1, "verdict"' in prompt and '{"prediction": 2, "verdict"' in prompt
    assert "reader" not in prompt and "image" not in prompt  # graders see no solver or view
