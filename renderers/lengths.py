"""TeX lengths (`3cm`, `0.3\\textwidth`, `2pt`) to CSS pixels at 96 px per inch."""

from __future__ import annotations

import re

PX_PER_PT = 96 / 72.27  # TeX points, not PostScript points

UNIT_PT = {
    "pt": 1.0,
    "bp": 72.27 / 72,
    "mm": 72.27 / 25.4,
    "cm": 72.27 / 2.54,
    "in": 72.27,
    "pc": 12.0,
    "dd": 1238 / 1157,
    "cc": 12 * 1238 / 1157,
    "sp": 1 / 65536,
    "px": 72.27 / 96,
}
_LENGTH = re.compile(
    r"^\s*(-?[0-9]*\.?[0-9]*)\s*(pt|bp|mm|cm|in|pc|dd|cc|sp|px|em|ex|"
    r"\\textwidth|\\linewidth|\\columnwidth|\\hsize|\\paperwidth|\\baselineskip)\s*$"
)


def length_to_px(text: str, *, em_px: float, text_width_px: float, paper_width_px: float) -> float:
    """Pixels for a TeX length; raises ValueError when it is not one."""
    match = _LENGTH.match(text.replace(" ", ""))
    if not match:
        raise ValueError(f"not a TeX length: {text!r}")
    number_text, unit = match.groups()
    number = (
        float(number_text)
        if number_text not in ("", "-", ".")
        else (-1.0 if number_text == "-" else 1.0)
    )
    if unit in UNIT_PT:
        return number * UNIT_PT[unit] * PX_PER_PT
    if unit == "em":
        return number * em_px
    if unit == "ex":
        return number * em_px * 0.43
    if unit == "\\baselineskip":
        return number * em_px * 1.2
    if unit == "\\paperwidth":
        return number * paper_width_px
    return number * text_width_px
