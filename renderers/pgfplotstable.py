"""`pgfplotstable` without TeX: inline data read, sorted and typeset as the `tabular` the
package would build, so the translator draws it like any other table.

Covered: `\\pgfplotstableread{data}\\name`, `\\pgfplotstablesort[opts]\\result\\table`,
`\\pgfplotstabletypeset[opts]{data}` or `...\\name`; column separators, header detection,
`columns=`, per-column styles (`columns/NAME/.style`, `display columns/I/.style`), string and
numeric columns, the `std`/`fixed`/`sci`/`int detect` number formats with `precision`,
`zerofill`, `use comma` and `1000 sep`, and rules before and after head and last rows. Data in
files cannot be read here (the page has no file system): such a table stays a warning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from renderers.macros import braced_group, optional_group
from renderers.translation import key_values, unbrace

_COMMAND = re.compile(r"\\pgfplotstable(read|typeset|sort|set)(?![A-Za-z@])")
_NAME = re.compile(r"\s*(\\[A-Za-z@]+)")
_INLINE = re.compile(r"\s|\\\\|[,;&]")  # data, not a file name
_SEPARATORS = {
    "space": None,
    "comma": ",",
    "semicolon": ";",
    "colon": ":",
    "tab": "\t",
    "&": "&",
    "ampersand": "&",
}


@dataclass(frozen=True)
class NumberFormat:
    """The keys of `/pgf/number format` this module follows (pgf's defaults)."""

    style: str = "std"  # std | fixed | sci | int detect
    precision: int = 2
    zerofill: bool = False
    decimal_separator: str = "."
    thousands_separator: str = "{,}"

    def with_key(self, key: str, value: str) -> NumberFormat:
        if key in ("fixed", "sci", "std", "int detect"):
            return replace(self, style=key)
        if key == "precision" and value.strip().isdigit():
            return replace(self, precision=min(int(value), 20))
        if key in ("zerofill", "fixed zerofill", "sci zerofill"):
            return replace(self, zerofill=value.strip() != "false")
        if key == "use comma":
            return replace(self, decimal_separator="{,}", thousands_separator=".")
        if key == "use period":
            return replace(self, decimal_separator=".", thousands_separator="{,}")
        if key in ("1000 sep", "set thousands separator"):
            return replace(self, thousands_separator=value.strip())
        if key in ("dec sep", "set decimal separator"):
            return replace(self, decimal_separator=value.strip())
        return self

    def print(self, number: Decimal) -> str:
        """The number as `\\pgfmathprintnumber` writes it, in math mode."""
        if not number.is_finite():
            return "$\\infty$" if number > 0 else "$-\\infty$"
        exponent = number.adjusted() if number else 0
        style = self.style
        if style == "int detect":
            style = "fixed" if number == number.to_integral_value() else "sci"
            if style == "fixed":
                return f"${self._fixed(number, 0)}$"
        if style == "std":  # fixed from 10^(-precision/2) up to below 10^5, else sci
            low = -(self.precision // 2)
            style = "fixed" if low <= exponent <= 4 else "sci"
        if style == "fixed":
            return f"${self._fixed(number, self.precision)}$"
        mantissa = number.scaleb(-exponent)
        rounded = self._fixed(mantissa, self.precision, group=False)
        return f"${rounded} \\cdot 10^{{{exponent}}}$"

    def _fixed(self, number: Decimal, digits: int, group: bool = True) -> str:
        rounded = number.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
        sign = "-" if rounded < 0 else ""
        whole, _, fraction = f"{abs(rounded):f}".partition(".")
        if not self.zerofill:
            fraction = fraction.rstrip("0")
        if group and len(whole) > 3 and self.thousands_separator:
            head = len(whole) % 3 or 3
            parts = [whole[:head]] + [whole[i : i + 3] for i in range(head, len(whole), 3)]
            whole = self.thousands_separator.join(parts)
        return sign + whole + (self.decimal_separator + fraction if fraction else "")


@dataclass
class ColumnStyle:
    name: str | None = None
    alignment: str | None = None
    string: bool | None = None
    verbatim: bool = False
    number: NumberFormat | None = None
    extra: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Table:
    names: list[str]
    rows: list[list[str]]


def _verbatim(text: str) -> str:
    """`verb string type`: the cell as typed, in a `\\verb` whose delimiter it lacks."""
    delimiter = next((c for c in "|!+=/:;@\"'?" if c not in text), None)
    if delimiter is None:
        escaped = re.sub(r"([{}$&#_%])", r"\\\1", text.replace("\\", "\x00"))
        escaped = escaped.replace("^", r"\^{}").replace("~", r"\~{}")
        return r"\texttt{" + escaped.replace("\x00", r"\textbackslash{}") + "}"
    return f"\\verb{delimiter}{text}{delimiter}"


def _number(cell: str, comma_is_period: bool) -> Decimal | None:
    text = cell.strip().replace("{,}", ",")
    if comma_is_period:
        text = text.replace(",", ".")
    if text in ("", "-", "+", "."):
        return None
    text = re.sub(r"^([+-]?)\.", r"\g<1>0.", text)
    text = re.sub(r"\.(?=[eE]|$)", "", text)
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    return number if text.lower() not in ("nan", "snan") else None


def read(data: str, options: dict[str, str]) -> Table:
    """Inline data → column names and rows, as `\\pgfplotstableread` reads them."""
    separator = _SEPARATORS.get(unbrace(options.get("col sep", "space")))
    row_separator = r"\\" if unbrace(options.get("row sep", "newline")) == r"\\" else "\n"
    lines = [line.strip() for line in data.split(row_separator)]
    lines = [line for line in lines if line and not line.startswith(("#", "%"))]
    rows: list[list[str]] = []
    for line in lines:
        cells = line.split() if separator is None else [c.strip() for c in line.split(separator)]
        rows.append([unbrace(cell) for cell in cells])
    header = unbrace(options.get("header", "true"))
    comma = "read comma as period" in options
    if rows and (
        header == "has colnames"
        or (header == "true" and any(_number(c, comma) is None for c in rows[0]))
    ):
        names, rows = rows[0], rows[1:]
    else:
        names = [str(i) for i in range(max((len(r) for r in rows), default=0))]
    width = max([len(names), *(len(r) for r in rows)])
    names += [str(i) for i in range(len(names), width)]
    return Table(names, [r + [""] * (width - len(r)) for r in rows])


def _column_style(settings: str, base: NumberFormat) -> ColumnStyle:
    style = ColumnStyle()
    for key, value in key_values(settings).items():
        if key == "column name":
            style.name = unbrace(value)
        elif key == "column type":
            style.alignment = unbrace(value)
        elif key in ("string type", "verb string type"):
            style.string, style.verbatim = True, key.startswith("verb")
        elif key == "numeric type":
            style.string = False
        else:
            style.number = (style.number or base).with_key(key, value)
    return style


def _row_rules(options: dict[str, str], which: str) -> tuple[str, str]:
    settings = key_values(unbrace(options.get(f"every {which} row/.style", "")))
    return unbrace(settings.get("before row", "")), unbrace(settings.get("after row", ""))


def typeset(table: Table, options: dict[str, str]) -> str:
    """The `tabular` source `\\pgfplotstabletypeset` would build for `table`."""
    comma = "read comma as period" in options
    base = NumberFormat()
    for key, value in options.items():
        base = base.with_key(key, value)
    default = _column_style(
        ",".join(k for k in options if k in ("string type", "verb string type")), base
    )
    alignment = unbrace(options.get("column type", "c"))
    wanted = unbrace(options.get("columns", ""))
    indices = list(range(len(table.names)))
    if wanted:
        by_name = {name: i for i, name in enumerate(table.names)}
        indices = [by_name[n.strip()] for n in wanted.split(",") if n.strip() in by_name]
    styles: list[ColumnStyle] = []
    for shown, index in enumerate(indices):
        style = replace(default)
        for key in (f"columns/{table.names[index]}/.style", f"display columns/{shown}/.style"):
            for suffix in ("", "/.append style"):
                settings = options.get(key.replace("/.style", suffix or "/.style"))
                if settings is not None:
                    own = _column_style(unbrace(settings), base)
                    style = ColumnStyle(
                        own.name or style.name,
                        own.alignment or style.alignment,
                        own.string if own.string is not None else style.string,
                        own.verbatim or style.verbatim,
                        own.number or style.number,
                    )
        styles.append(style)

    def cell(text: str, style: ColumnStyle) -> str:
        number = None if style.string else _number(text, comma)
        if number is None:
            return _verbatim(text) if style.verbatim else text
        return (style.number or base).print(number)

    head_before, head_after = _row_rules(options, "head")
    last_before, last_after = _row_rules(options, "last")
    spec = "".join(style.alignment or alignment for style in styles)
    lines = [f"\\begin{{tabular}}{{{spec}}}"]
    if head_before:
        lines.append(head_before)
    names = [
        style.name if style.name is not None else table.names[i]
        for style, i in zip(styles, indices, strict=True)
    ]
    lines.append(" & ".join(names) + r" \\")
    if head_after:
        lines.append(head_after)
    for number, row in enumerate(table.rows):
        if number == len(table.rows) - 1 and last_before:
            lines.append(last_before)
        cells = [cell(row[i], style) for style, i in zip(styles, indices, strict=True)]
        lines.append(" & ".join(cells) + r" \\")
    if last_after:
        lines.append(last_after)
    lines.append(r"\end{tabular}")
    return " ".join(lines)  # on one line: the document's later line numbers stay right


def _sort(table: Table, options: dict[str, str]) -> Table:
    key = unbrace(options.get("sort key", table.names[0] if table.names else "0"))
    index = table.names.index(key) if key in table.names else 0
    descending = ">" in options.get("sort cmp", "")
    cells = [row[index] if index < len(row) else "" for row in table.rows]
    numbers = [_number(c, False) for c in cells]
    if "string" not in options.get("sort cmp", "") and all(n is not None for n in numbers):
        order = sorted(range(len(cells)), key=lambda i: numbers[i] or 0, reverse=descending)
    else:
        order = sorted(range(len(cells)), key=lambda i: cells[i], reverse=descending)
    return Table(table.names, [table.rows[i] for i in order])


def expand_pgfplotstable(text: str) -> str:
    """Each `pgfplotstable` command with inline data becomes the table it typesets. A
    replacement keeps the command's line count, so later error lines stay right."""
    tables: dict[str, Table] = {}
    defaults: dict[str, str] = {}  # \pgfplotstableset
    out: list[str] = []
    position = 0
    for match in _COMMAND.finditer(text):
        if match.start() < position:
            continue
        kind, cursor = match.group(1), match.end()
        options = dict(defaults)
        found = optional_group(text, cursor)
        if found is not None:
            options.update(key_values(found[0]))
            cursor = found[1]
        replacement: str | None = None
        if kind == "set":
            braced = braced_group(text, cursor)
            if braced is not None:
                defaults.update(key_values(braced[0]))
                cursor, replacement = braced[1], ""
        elif kind == "sort":
            result, source = _NAME.match(text, cursor), None
            if result:
                source = _NAME.match(text, result.end())
            if result and source and source.group(1) in tables:
                tables[result.group(1)] = _sort(tables[source.group(1)], options)
                cursor, replacement = source.end(), ""
        else:
            braced = braced_group(text, cursor)
            name = None if braced else _NAME.match(text, cursor)
            table: Table | None = None
            if braced is not None and _INLINE.search(braced[0].strip()):
                table, cursor = read(braced[0], options), braced[1]
            elif name is not None and name.group(1) in tables:
                table, cursor = tables[name.group(1)], name.end()
            if table is not None and kind == "read":
                target = _NAME.match(text, cursor)
                if target:
                    tables[target.group(1)] = table
                    cursor, replacement = target.end(), ""
            elif table is not None:
                replacement = typeset(table, options)
        if replacement is None:  # a file, or a form not covered: the translator warns
            continue
        consumed = text[match.start() : cursor]
        replacement += "\n" * max(0, consumed.count("\n") - replacement.count("\n"))
        out += [text[position : match.start()], replacement]
        position = cursor
    out.append(text[position:])
    return "".join(out)
