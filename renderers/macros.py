"""User macros (`\\newcommand`, `\\renewcommand`, `\\providecommand`, `\\def`) expanded in the
source before parsing, as TeX would: each use with the definition in force where it stands (a
macro redefined further on means the new text from there on). Definitions are blanked out
line for line, so error line numbers still point into the user's document; expansion is
bounded against runaway macros.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from renderers.errors import LatexProblem, LatexRenderError

MAX_EXPANSIONS = 5000
MAX_OUTPUT = 2_000_000
_DEFINE = re.compile(
    r"\\(newcommand|renewcommand|providecommand|DeclareRobustCommand)\*?\s*"
    r"|\\def\s*(?=\\)"
)
_NAME = re.compile(r"\\([A-Za-z@]+)")  # @ is a letter inside \makeatletter


@dataclass(frozen=True)
class Macro:
    name: str
    arity: int
    default: str | None  # default of the first argument, if optional
    body: str
    provide_only: bool = False  # \providecommand: defines only a name not yet defined


@dataclass(frozen=True)
class Definition:
    """A macro and where its definition stood in the text left after blanking definitions."""

    at: int
    macro: Macro


def _line(source: str, position: int) -> int:
    return source.count("\n", 0, position) + 1


def _closing(source: str, start: int, closer: str) -> int | None:
    """Where `closer` stands outside braces from `start` on (escaped characters skipped)."""
    depth = 0
    position = start
    while position < len(source):
        char = source[position]
        if char == "\\":
            position += 2
            continue
        if char == closer and depth == 0:
            return position
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        position += 1
    return None


def _group(source: str, start: int, opener: str, blanks: str) -> tuple[str, int] | None:
    index = start
    while index < len(source) and source[index] in blanks:
        index += 1
    if index >= len(source) or source[index] != opener:
        return None
    end = _closing(source, index + 1, "}" if opener == "{" else "]")
    return None if end is None else (source[index + 1 : end], end + 1)


def braced_group(source: str, start: int) -> tuple[str, int] | None:
    """`{...}` at start (after spaces) → (content, end), braces balanced, escapes skipped."""
    return _group(source, start, "{", " \t\n")


def optional_group(source: str, start: int) -> tuple[str, int] | None:
    """`[...]` at start (after spaces on its line) → (content, end). It ends at the first `]`
    outside braces, as TeX reads an optional argument: `[label={[red]x}]` is one group."""
    return _group(source, start, "[", " \t")


def _blank(text: str) -> str:
    return "\n" * text.count("\n")


def collect_definitions(source: str) -> tuple[str, list[Definition]]:
    """Removes macro definitions from the source; returns the rest and the definitions in
    document order."""
    definitions: list[Definition] = []
    out: list[str] = []
    written = 0  # characters in `out`
    position = 0
    for match in _DEFINE.finditer(source):
        if match.start() < position:
            continue
        start = match.end()
        is_def = match.group(1) is None
        if is_def:
            name_match = _NAME.match(source, start)
            if name_match is None:
                continue
            name, cursor = name_match.group(1), name_match.end()
            params = re.match(r"(#\d)*", source[cursor:])
            arity = len(params.group(0)) // 2 if params else 0
            cursor += len(params.group(0)) if params else 0
            default = None
        else:
            braced = braced_group(source, start)
            if braced is not None:
                name_text, cursor = braced
            else:
                name_match = _NAME.match(source, start)
                if name_match is None:
                    raise LatexRenderError(
                        LatexProblem(
                            f"\\{match.group(1)} needs a macro name such as \\mycmd",
                            _line(source, match.start()),
                            f"\\{match.group(1)}",
                        )
                    )
                name_text, cursor = name_match.group(0), name_match.end()
            name_match = _NAME.fullmatch(name_text.strip())
            if name_match is None:
                raise LatexRenderError(
                    LatexProblem(
                        f"bad macro name '{name_text.strip()}'",
                        _line(source, match.start()),
                        f"\\{match.group(1)}",
                    )
                )
            name = name_match.group(1)
            arity, default = 0, None
            count = optional_group(source, cursor)
            if count is not None:
                try:
                    arity = int(count[0].strip())
                except ValueError:
                    raise LatexRenderError(
                        LatexProblem(
                            f"argument count '{count[0]}' of \\{name} is not a number",
                            _line(source, match.start()),
                            f"\\{match.group(1)}",
                        )
                    ) from None
                cursor = count[1]
                optional_default = optional_group(source, cursor)
                if optional_default is not None:
                    default, cursor = optional_default
        body = braced_group(source, cursor)
        if body is None:
            raise LatexRenderError(
                LatexProblem(
                    f"definition of \\{name} has no {{body}} or unbalanced braces",
                    _line(source, match.start()),
                    f"\\{match.group(1) or 'def'}",
                )
            )
        if not 0 <= arity <= 9:
            raise LatexRenderError(
                LatexProblem(
                    f"\\{name} takes {arity} arguments; at most 9",
                    _line(source, match.start()),
                    "\\newcommand",
                )
            )
        out.append(source[position : match.start()])
        written += match.start() - position
        macro = Macro(name, arity, default, body[0], match.group(1) == "providecommand")
        definitions.append(Definition(written, macro))
        out.append(_blank(source[match.start() : body[1]]))
        written += len(out[-1])
        position = body[1]
    out.append(source[position:])
    return "".join(out), definitions


def expand(source: str) -> str:
    """The source with user macros defined in it expanded, each use by the definition in
    force where it stands."""
    text, definitions = collect_definitions(source)
    if not definitions:
        return text
    expanded: list[str] = []
    macros: dict[str, Macro] = {}
    budget = _ExpansionBudget()
    start = 0
    for definition in definitions:
        piece = _expand_with(text[start : definition.at], macros, budget, expanded)
        expanded.append(_define_in_pictures(piece, macros))
        start = definition.at
        macro = definition.macro
        if not (macro.provide_only and macro.name in macros):
            macros = {**macros, macro.name: macro}
    piece = _expand_with(text[start:], macros, budget, expanded)
    expanded.append(_define_in_pictures(piece, macros))
    return "".join(expanded)


_PICTURE_BEGIN = re.compile(r"\\begin\s*\{(tikzpicture|circuitikz)\}")
_BY_NAME = re.compile(r"\\csname(?![A-Za-z@])|\\@nameuse(?![A-Za-z@])")


def _mentions_by_name(text: str) -> bool:
    return "csname" in text or "nameuse" in text


def _pictures_by_name(text: str) -> Iterator[tuple[re.Match[str], int]]:
    """The pictures in `text` that reach macros by name: each one's `\\begin` and end."""
    if not _mentions_by_name(text):
        return
    for begin in _PICTURE_BEGIN.finditer(text):
        end = text.find(f"\\end{{{begin.group(1)}}}", begin.end())
        end = len(text) if end < 0 else end
        if _BY_NAME.search(text, begin.end(), end):
            yield begin, end


def _in_picture_by_name(text: str, position: int) -> bool:
    return any(begin.start() < position <= end for begin, end in _pictures_by_name(text))


def _define_in_pictures(text: str, macros: dict[str, Macro]) -> str:
    """Pictures that reach macros by name (`\\csname ...\\endcsname`, `\\@nameuse`) cannot
    have them expanded beforehand: TeX looks the name up as it draws, and an undefined
    path or value makes pgf loop. Such a picture gets the macros in force as TeX
    definitions, on its first line after its options (its lines keep their numbers)."""
    if not macros:
        return text
    out: list[str] = []
    position = 0
    for begin, _ in _pictures_by_name(text):
        if begin.start() < position:  # a picture inside one already given them
            continue
        options = optional_group(text, begin.end())
        after_options = options[1] if options else begin.end()
        out.append(text[position:after_options])
        out.append(_tex_definitions(macros))
        position = after_options
    out.append(text[position:])
    return "".join(out)


def _one_line(body: str) -> str:
    """A definition's body on one line, read as TeX reads it: a line's end is a space unless
    a comment ends it, a blank line inside is \\par, leading blanks are skipped."""
    lines = body.split("\n")
    out: list[str] = []
    for index, line in enumerate(lines):
        if not line.strip() and 0 < index < len(lines) - 1:
            out.append("\\par ")
            continue
        code = re.sub(r"(?<!\\)%.*", "", line)
        last = index == len(lines) - 1
        out.append(code.lstrip() + ("" if code != line or last else " "))
    return "".join(out)


def _tex_definitions(macros: dict[str, Macro]) -> str:
    """The macros as TeX defines them, on one line, their bodies as written: TeX expands them
    as it draws, with every one of them defined."""
    parts: list[str] = []
    for macro in macros.values():
        body = _one_line(macro.body)
        if macro.default is not None:
            parts.append(
                f"\\let\\{macro.name}\\relax"
                f"\\newcommand\\{macro.name}[{macro.arity}][{macro.default}]{{{body}}}"
            )
        else:
            parameters = "".join(f"#{n}" for n in range(1, macro.arity + 1))
            parts.append(f"\\def\\{macro.name}{parameters}{{{body}}}")
    return "\\makeatletter" + "".join(parts) + "\\makeatother "


@dataclass
class _ExpansionBudget:
    """Expansions left for the whole document, against runaway definitions."""

    left: int = MAX_EXPANSIONS


def _expand_with(
    text: str, macros: dict[str, Macro], budget: _ExpansionBudget, before: list[str]
) -> str:
    """`text` with `macros` expanded; `before` (the text already expanded) places its lines."""
    if not macros:
        return text
    pattern = re.compile(
        r"\\(" + "|".join(sorted(map(re.escape, macros), key=len, reverse=True)) + r")(?![A-Za-z@])"
    )
    # Pictures are looked for at each use only where a name lookup can occur at all.
    by_name = any(_mentions_by_name(piece) for piece in (text, *(m.body for m in macros.values())))
    position = 0
    while True:
        match = pattern.search(text, position)
        if match is None:
            return text
        if by_name and _in_picture_by_name(text, match.start()):
            position = match.end()  # TeX expands it there, with the definitions it is given
            continue
        macro = macros[match.group(1)]
        cursor = match.end()
        if macro.arity == 0:  # TeX skips the blanks after a control word (on its line)
            while cursor < len(text) and text[cursor] in " \t":
                cursor += 1
        arguments: list[str] = []
        for index in range(macro.arity):
            if index == 0 and macro.default is not None:
                optional = optional_group(text, cursor)
                if optional is not None:
                    arguments.append(optional[0])
                    cursor = optional[1]
                else:
                    arguments.append(macro.default)
                continue
            braced = braced_group(text, cursor)
            if braced is not None:
                arguments.append(braced[0])
                cursor = braced[1]
            else:
                token = re.match(r"\s*(\\[A-Za-z]+|\S)", text[cursor:])
                if token is None:
                    raise LatexRenderError(
                        LatexProblem(
                            f"\\{macro.name} expects {macro.arity} arguments",
                            _line_after(before, text, match.start()),
                            f"\\{macro.name}",
                        )
                    )
                arguments.append(token.group(1))
                cursor += token.end()
        pieces = re.split(r"#(\d)", macro.body)
        body = pieces[0]
        for number, after in zip(pieces[1::2], pieces[2::2], strict=True):
            index = int(number) - 1
            argument = arguments[index] if 0 <= index < len(arguments) else "#" + number
            body = _joined(_joined(body, argument), after)
        text = _joined(_joined(text[: match.start()], body), text[cursor:])
        position = match.start()  # the body may use other macros
        budget.left -= 1
        if budget.left < 0 or len(text) > MAX_OUTPUT:
            raise LatexRenderError(
                LatexProblem(
                    f"expanding \\{macro.name} does not terminate (recursive definition?)",
                    _line_after(before, text, match.start()),
                    f"\\{macro.name}",
                )
            )


# A control word at the end of a text: `\alpha`, not the line break `\\` then letters.
_ENDS_IN_CONTROL_WORD = re.compile(r"(?<!\\)(?:\\\\)*\\[A-Za-z]+$")


def _joined(left: str, right: str) -> str:
    """`left + right` as TeX's tokens: a body's `\\alpha` before the text `y` is two tokens
    to TeX, but pasted as `\\alphay` it would be one (undefined) name. A space between keeps
    them apart, and TeX skips a space after a control word."""
    if re.match(r"[A-Za-z]", right) and _ENDS_IN_CONTROL_WORD.search(left[-80:]):
        return left + " " + right
    return left + right


def _line_after(before: list[str], text: str, position: int) -> int:
    return sum(piece.count("\n") for piece in before) + _line(text, position)


_TIKZ = re.compile(r"\\tikz(?![A-Za-z])")


def expand_tikz_shorthand(text: str) -> str:
    """`\\tikz[opts]{...}` and `\\tikz[opts] \\draw ...;` → a tikzpicture environment."""
    out: list[str] = []
    position = 0
    for match in _TIKZ.finditer(text):
        if match.start() < position:
            continue
        cursor = match.end()
        options = optional_group(text, cursor)
        opts = ""
        if options is not None:
            opts, cursor = f"[{options[0]}]", options[1]
        braced = braced_group(text, cursor)
        if braced is not None:
            body, end = braced
        else:  # up to the first ';' outside braces
            depth, end = 0, cursor
            while end < len(text):
                char = text[end]
                depth += (char == "{") - (char == "}")
                end += 1
                if char == ";" and depth == 0:
                    break
            body = text[cursor:end]
        out.append(text[position : match.start()])
        out.append(f"\\begin{{tikzpicture}}{opts}{body}\\end{{tikzpicture}}")
        position = end
    out.append(text[position:])
    return "".join(out)
