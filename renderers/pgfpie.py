"""`pgf-pie`'s `\\pie` as plain TikZ, since the TeX engine has no pgf-pie: the slices, their
numbers and labels (or a legend) drawn as the package draws them, from its documented
options (`radius`, `color`, `sum`, `rotate`, `explode`, `pos`, `text`, `before number`,
`after number`, `hide number`, `hide label`, `change direction`). The `square`, `cloud` and
`polar` layouts are drawn as an ordinary pie.
"""

from __future__ import annotations

import re

from renderers.macros import braced_group, optional_group
from renderers.translation import key_values, split_top_level, unbrace

_PIE = re.compile(r"\\pie(?![A-Za-z@])")
_DEFAULT_COLORS = (
    "blue!60, cyan!60, yellow!60, orange!60, red!60, blue!60!cyan!60, cyan!60!yellow!60, "
    "red!60!cyan!60, red!60!blue!60, orange!60!cyan!60"
)


def _number(text: str) -> float | None:
    try:
        return float(text.strip())
    except ValueError:
        return None


def pie_tikz(options: str, data: str) -> str | None:
    """The TikZ for one `\\pie[options]{data}`, or None when its data are not numbers."""
    settings = key_values(options)
    slices: list[tuple[str, float, str]] = []
    for item in split_top_level(data):
        value, _, label = item.partition("/")
        number = _number(value)
        if number is None:
            return None
        slices.append((value.strip(), number, unbrace(label)))
    if not slices:
        return None
    radius = _number(unbrace(settings.get("radius", "3"))) or 3.0
    colors = split_top_level(unbrace(settings.get("color", _DEFAULT_COLORS))) or split_top_level(
        _DEFAULT_COLORS
    )
    explodes = [_number(e) or 0.0 for e in split_top_level(unbrace(settings.get("explode", "0")))]
    explodes = explodes or [0.0]
    sum_setting = unbrace(settings.get("sum", "100"))
    total = sum(n for _, n, _ in slices) if sum_setting == "auto" else _number(sum_setting)
    total = total or 100.0
    after_default = r"\%" if sum_setting == "100" else ""
    before = unbrace(settings.get("before number", ""))
    after = unbrace(settings.get("after number", after_default))
    text = unbrace(settings.get("text", "label"))
    style = unbrace(settings.get("style", "thick"))
    direction = -1 if "change direction" in settings else 1
    angle = _number(unbrace(settings.get("rotate", "0"))) or 0.0
    position = unbrace(settings.get("pos", "0,0"))
    out = [f"\\begin{{scope}}[shift={{({position})}}]"]
    for index, (written, share, label) in enumerate(slices):
        span = direction * share / total * 360
        start, end = angle, angle + span
        angle = end
        middle = (start + end) / 2
        explode = explodes[index % len(explodes)]
        fill = colors[index % len(colors)]
        origin = f"({middle:.3f}:{explode:.3f})"
        out.append(
            f"\\draw[line join=round,fill={{{fill}}},{style}] {origin} -- ++({start:.3f}:{radius})"
            f" arc ({start:.3f}:{end:.3f}:{radius}) -- cycle;"
        )
        inner = (max(min((abs(span) - 10) / 110 * -0.3, 0), -0.5) + 0.8) * radius
        shown = "" if "hide number" in settings else f"{before}{written}{after}"
        if text == "inside":
            out.append(
                f"\\path {origin} -- ++({middle:.3f}:{inner:.3f}) node[align=center] "
                f"{{{'' if 'hide label' in settings else label}\\\\{shown}}};"
            )
            continue
        if text in ("label", "pin") and "hide label" not in settings:
            out.append(
                f"\\path {origin} -- ++({middle:.3f}:{radius}) "
                f"node[inner sep=0, {text}={{{middle:.3f}:{{{label}}}}}] {{}};"
            )
        out.append(f"\\path {origin} -- ++({middle:.3f}:{inner:.3f}) node {{{shown}}};")
    if text == "legend" and "hide label" not in settings:
        out.append(
            "\\coordinate[xshift=0.8cm, yshift={"
            f"{(len(slices) * 0.5 + 1) * 0.5:.3f}cm}}] (pie legend) at (current bounding box.east);"
        )
        for index, (_, _, label) in enumerate(slices):
            fill = colors[index % len(colors)]
            out.append(
                f"\\node[draw, fill={{{fill}}}, {style}, below of=pie legend, node distance=0.5cm,"
                f" label={{0:{{{label}}}}}] (pie legend) {{}};"
            )
    out.append("\\end{scope}")
    return " ".join(out)


def expand_pie(picture: str) -> str:
    """Each `\\pie` of a picture as TikZ, on its own line count (error lines stay right)."""
    out: list[str] = []
    position = 0
    for match in _PIE.finditer(picture):
        if match.start() < position:
            continue
        cursor, options = match.end(), ""
        found = optional_group(picture, cursor)
        if found is not None:
            options, cursor = found
        braced = braced_group(picture, cursor)
        if braced is None:
            continue
        drawn = pie_tikz(options, braced[0])
        if drawn is None:
            continue
        consumed = picture[match.start() : braced[1]]
        out += [picture[position : match.start()], drawn + "\n" * consumed.count("\n")]
        position = braced[1]
    out.append(picture[position:])
    return "".join(out)
