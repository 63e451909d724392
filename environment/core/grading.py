"""The pre-grader: decides, without a model, the predictions whose grade is not a matter of
judgement — equal numbers, option letters, identical strings — so the grading jury is asked
only about the rest. Pure: prediction and ground truth in, a verdict or "ask the jury" out."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Literal

PreRule = Literal["empty", "option", "number", "text", "jury"]

# A number as tables and models write it: sign, thousands separators (comma, thin or
# narrow no-break space, apostrophe), decimals; currency before, a unit or percent after.
_NUMBER = re.compile(
    r"^(?P<sign>[-+−]?)\s*(?P<currency>[$€£¥])?\s*"
    r"(?P<int>\d{1,3}(?:[,\u2009\u202f' ]\d{3})+|\d+)?(?P<frac>\.\d+)?"
    r"\s*(?P<unit>%|[A-Za-zµ°/²³]{1,12}\.?)?$"
)
_OPTION = re.compile(r"^(?:option\s+)?\(?([A-Ha-h])\)?[.:)]?$", re.IGNORECASE)
_LEAD_IN = re.compile(r"^(?:(?:the\s+)?(?:final\s+)?answer(?:\s+is)?\s*[:：]?|it\s+is)\s+", re.I)
_WRAPPERS = re.compile(r"^(?:\\boxed\{(.*)\}|\*\*(.*)\*\*|\$(.*)\$|`(.*)`|\"(.*)\"|'(.*)')$")


@dataclass(frozen=True)
class PreGrade:
    verdict: bool | None  # None: a matter of judgement, for the jury
    rule: PreRule


@dataclass(frozen=True)
class Quantity:
    value: Decimal
    decimals: int
    unit: str  # "%", "km", "" …; currency signs count as units


def unwrap(text: str) -> str:
    """The answer without the decoration models put around it: a lead-in ("The answer
    is", "Answer:"), \\boxed{}, bold, math dollars, backticks, quotes, a closing full stop,
    surrounding space."""
    text = _LEAD_IN.sub("", text.strip())
    for _ in range(3):
        match = _WRAPPERS.match(text)
        if match is None:
            break
        text = next(group for group in match.groups() if group is not None).strip()
    return text.removesuffix(".").strip()


def read_quantity(text: str) -> Quantity | None:
    """One number with its precision and unit, or None when the text is not just that."""
    match = _NUMBER.match(unwrap(text))
    if match is None or (match["int"] is None and match["frac"] is None):
        return None
    digits = re.sub(r"[,\u2009\u202f' ]", "", match["int"] or "0") + (match["frac"] or "")
    try:
        value = Decimal(digits)
    except InvalidOperation:  # pragma: no cover - the pattern only lets digits through
        return None
    if match["sign"] in ("-", "−"):
        value = -value
    decimals = len(match["frac"]) - 1 if match["frac"] else 0
    unit = (match["currency"] or "") + (match["unit"] or "").rstrip(".").casefold()
    return Quantity(value, decimals, unit)


def _folded(text: str) -> str:
    return " ".join(unwrap(text).casefold().split())


def _same_number(given: Quantity, wanted: Quantity) -> bool | None:
    """Equal at the truth's precision (True), clearly not (False), or a judgement (None):
    a prediction less precise than the truth that agrees with it rounded ("12" for 12.5)."""
    if len({given.unit, wanted.unit} - {""}) > 1:
        return None  # "12 km" against "12 mi": units are the jury's to weigh
    if given.value == wanted.value:
        return True
    if given.decimals >= wanted.decimals:
        step = Decimal(1).scaleb(-wanted.decimals)
        return given.value.quantize(step, rounding=ROUND_HALF_UP) == wanted.value.quantize(step)
    coarse = Decimal(1).scaleb(-given.decimals)
    roundings = {
        wanted.value.quantize(coarse, rounding=way) for way in (ROUND_HALF_UP, ROUND_HALF_EVEN)
    }
    if given.value not in roundings:
        return False  # wrong even at the prediction's own precision, however it rounds
    return None


_NUMBER_IN_TEXT = re.compile(r"[-+−]?[$€£¥]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?\s?%?")


def _lone_number(text: str) -> Quantity | None:
    """The one number of a worded answer ("11.4% higher"), or None if it has none or several."""
    found = _NUMBER_IN_TEXT.findall(text)
    return read_quantity(found[0].strip()) if len(found) == 1 else None


def pre_grade(prediction: str, truth: str) -> PreGrade:
    """Correct or incorrect when no judgement is needed; otherwise `rule="jury"`.

    Numbers: equal after dropping thousands separators, currency, a unit or percent sign,
    at the truth's precision (the prediction rounded half-up to the truth's decimals); a
    less precise prediction is wrong when it is wrong even at its own precision, else the
    jury's. A worded answer with a single number ("11.4% higher") is wrong when that
    number's size differs from the truth's (its sign may be in the words: "47.1% lower").
    Option letters: equal or not. Text: equal after case-folding and spacing is correct;
    anything else is for the jury ("Berlin, Germany" may well be right)."""
    said = unwrap(prediction)
    if not said:
        return PreGrade(False, "empty")
    expected = unwrap(truth)
    option_truth, option_said = _OPTION.match(expected), _OPTION.match(said)
    if option_truth is not None and option_said is not None:
        return PreGrade(option_truth[1].casefold() == option_said[1].casefold(), "option")
    wanted, given = read_quantity(expected), read_quantity(said)
    if wanted is not None and given is not None:
        same = _same_number(given, wanted)
        return PreGrade(same, "number" if same is not None else "jury")
    if wanted is not None and (lone := _lone_number(said)) is not None:
        size = _same_number(
            Quantity(abs(lone.value), lone.decimals, lone.unit),
            Quantity(abs(wanted.value), wanted.decimals, wanted.unit),
        )
        if size is False:
            return PreGrade(False, "number")
    if _folded(said) == _folded(expected):
        return PreGrade(True, "text")
    return PreGrade(None, "jury")


_FINAL = re.compile(r"final answer\s*(?:is)?\s*[:：]\s*(.+)", re.IGNORECASE)


def final_answer_line(text: str) -> str | None:
    """The answer after the last "Final answer:" of a free-text reply, to its line's end."""
    found = _FINAL.findall(text)
    return found[-1].strip() if found else None
