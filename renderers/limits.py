"""What one document may cost the renderer. Checked before the work they bound starts, so a
table a model writes can fail, but never stall or crash a run."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RenderLimits:
    """Past a limit a document is refused (construct `limit`), except lengths: a `\\vspace`,
    `\\rule` or row skip longer than `max_length_px` is drawn at that length and the render is
    marked partial, as the rest of the page is still worth having."""

    max_input_bytes: int = 400_000
    max_nesting: int = 100  # braces and environments inside each other
    max_rows: int | None = 400  # per table; None: any length
    max_length_px: float = 2_000.0  # one vertical or horizontal length (about two pages)
    max_height_px: int = 40_000  # the laid-out content, in CSS pixels
    max_megapixels: float = 80.0  # the image, after scaling


UNLIMITED_ROWS = RenderLimits(max_rows=None)


def nesting_depth(source: str) -> int:
    """The deepest nesting of `{...}` and `\\begin...\\end` in a source, in one linear pass."""
    depth = deepest = 0
    index = 0
    length = len(source)
    while index < length:
        char = source[index]
        if char == "\\":
            if source.startswith("begin", index + 1):
                depth += 1
            elif source.startswith("end", index + 1) and depth > 0:
                depth -= 1
            index += 2  # an escaped brace is not a group
            continue
        if char == "{":
            depth += 1
        elif char == "}" and depth > 0:
            depth -= 1
        elif char == "%":  # a comment runs to the end of its line
            newline = source.find("\n", index)
            index = length if newline < 0 else newline
            continue
        deepest = max(deepest, depth)
        index += 1
    return deepest
