"""The pre-grader: what it settles without a model, and what it leaves to the jury."""

from __future__ import annotations

import pytest

from environment.core.grading import final_answer_line, pre_grade


@pytest.mark.parametrize(
    ("prediction", "truth", "verdict", "rule"),
    [
        ("1,234", "1234", True, "number"),  # thousands separators
        ("1 234 567", "1234567", True, "number"),
        ("12.46", "12.5", True, "number"),  # rounded to the truth's precision
        ("12.44", "12.5", False, "number"),
        ("12.45", "12.5", True, "number"),  # half-up, not banker's
        ("3.0", "3", True, "number"),
        ("12.5%", "12.5", True, "number"),  # a percent sign on one side only
        ("-4.2%", "−4.2%", True, "number"),  # the minus sign as typeset
        ("$1,200", "1200", True, "number"),
        ("1200 km", "1200", True, "number"),
        ("**42**", "42", True, "number"),  # decoration
        ("\\boxed{7}", "7", True, "number"),
        ("41", "42", False, "number"),
        ("12", "12.5", None, "jury"),  # less precise, and 12.5 rounds to 12 half-even
        ("13", "12.5", None, "jury"),  # ... or to 13 half-up: a judgement either way
        ("9062", "9062.0", True, "number"),
        ("14109", "9062.0", False, "number"),  # wrong even at its own precision
        ("11.4% higher", "+47.1%", False, "number"),  # one number, of another size
        ("13, according to the table", "10", False, "number"),
        ("about 1,250 in total", "1300", False, "number"),
        ("9062.0, according to the table", "9062.0", None, "jury"),  # same number, in words
        ("47.1% lower", "-47.1%", None, "jury"),  # the sign is in the words
        ("In 2023 it was 12", "15", None, "jury"),  # two numbers: which is the answer?
        ("12 km", "12 mi", None, "jury"),  # other units
        ("about 12", "12", None, "jury"),
        ("The answer is 12.5.", "12.5", True, "number"),  # a lead-in
        ("Answer: Berlin", "Berlin", True, "text"),
        ("the final answer is **B**", "B", True, "option"),
        ("(B)", "b", True, "option"),
        ("Option C", "B", False, "option"),
        ("Berlin", "berlin.", True, "text"),
        ("Lodge  Geothermal", "Lodge Geothermal", True, "text"),
        ("Berlin, Germany", "Berlin", None, "jury"),
        ("", "3", False, "empty"),
        ("  ", "Berlin", False, "empty"),
    ],
)
def test_pre_grader_settles_only_what_needs_no_judgement(
    prediction: str, truth: str, verdict: bool | None, rule: str
) -> None:
    graded = pre_grade(prediction, truth)
    assert (graded.verdict, graded.rule) == (verdict, rule)


def test_the_last_final_answer_line_is_the_answer() -> None:
    text = "Final answer: 3 is wrong, so...\nWe recount.\nFinal Answer: 4\n"
    assert final_answer_line(text) == "4"
    assert final_answer_line("no conclusion") is None
