"""Page geometry and fonts from the preamble: class options, `geometry`, `helvet`, `\\pagecolor`.

The page width bounds the layout (paragraphs wrap at the text width, tables may overhang
into the margin as in TeX) and decides when a table is wider than the page.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass

from renderers.lengths import PX_PER_PT, UNIT_PT

TEX_PT_PER_IN = 72.27
# article's \textwidth for each class size, in TeX points, on letter paper.
ARTICLE_TEXT_WIDTH_PT = {10: 345.0, 11: 360.0, 12: 390.0}
PAPERS_IN = {
    "letterpaper": (8.5, 11.0),
    "a4paper": (8.27, 11.69),
    "a5paper": (5.83, 8.27),
    "b5paper": (6.93, 9.84),
    "legalpaper": (8.5, 14.0),
    "executivepaper": (7.25, 10.5),
}


@dataclass
class PageSetup:
    font_size_pt: int = 10
    paper_width_pt: float = 8.5 * TEX_PT_PER_IN
    text_width_pt: float = ARTICLE_TEXT_WIDTH_PT[10]
    sans: bool = False
    page_color: str | None = None

    @property
    def text_width_px(self) -> float:
        return self.text_width_pt * PX_PER_PT

    @property
    def paper_width_px(self) -> float:
        return self.paper_width_pt * PX_PER_PT


def _length_pt(text: str, paper_width_pt: float) -> float | None:
    match = re.fullmatch(r"\s*(-?[\d.]+)\s*(pt|bp|mm|cm|in|pc)\s*", text)
    if match:
        return float(match.group(1)) * UNIT_PT[match.group(2)]
    match = re.fullmatch(r"\s*([\d.]*)\s*\\paperwidth\s*", text)
    if match:
        return float(match.group(1) or 1) * paper_width_pt
    return None


def _options(text: str) -> dict[str, str]:
    options: dict[str, str] = {}
    for part in re.split(r",(?![^{]*\})", text):
        key, _, value = part.partition("=")
        if key.strip():
            options[key.strip()] = value.strip().strip("{}")
    return options


def apply_class_options(setup: PageSetup, options: str) -> None:
    size = re.search(r"\b(10|11|12)pt\b", options)
    if size:
        setup.font_size_pt = int(size.group(1))
        setup.text_width_pt = ARTICLE_TEXT_WIDTH_PT[setup.font_size_pt]
    for paper, (width, _) in PAPERS_IN.items():
        if paper in options:
            setup.paper_width_pt = width * TEX_PT_PER_IN
    if "landscape" in options:
        for paper, (_, height) in PAPERS_IN.items():
            if paper in options or paper == "letterpaper":
                setup.paper_width_pt = height * TEX_PT_PER_IN
                break


def apply_geometry(setup: PageSetup, options_text: str) -> None:
    """`\\usepackage[...]{geometry}` or `\\geometry{...}`: paper and horizontal margins."""
    options = _options(options_text)
    for key in options:
        if key in PAPERS_IN or key == "paper":
            name = options[key] if key == "paper" else key
            if name in PAPERS_IN:
                setup.paper_width_pt = PAPERS_IN[name][0] * TEX_PT_PER_IN
    if "landscape" in options:
        setup.paper_width_pt = max(setup.paper_width_pt * 11 / 8.5, setup.paper_width_pt)
    paper_pt = setup.paper_width_pt
    for key in ("textwidth", "width", "text"):
        if key in options and (width := _length_pt(options[key].split(",")[0], paper_pt)):
            setup.text_width_pt = width
            return
    left: float | None = None
    right: float | None = None
    if "margin" in options:
        left = right = _length_pt(options["margin"].split(",")[0], paper_pt)
    if "hmargin" in options:
        parts = options["hmargin"].split(",")
        left = _length_pt(parts[0], paper_pt)
        right = _length_pt(parts[-1], paper_pt)
    left = _length_pt(options.get("left", options.get("lmargin", "")), paper_pt) or left
    right = _length_pt(options.get("right", options.get("rmargin", "")), paper_pt) or right
    if left is None and right is None:
        if "scale" in options:
            with contextlib.suppress(ValueError):
                setup.text_width_pt = float(options["scale"]) * paper_pt
        else:
            setup.text_width_pt = 0.7 * paper_pt  # geometry's default scale
        return
    left = left if left is not None else right
    right = right if right is not None else left
    assert left is not None and right is not None
    setup.text_width_pt = max(72.0, paper_pt - left - right)
