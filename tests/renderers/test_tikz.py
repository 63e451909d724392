"""TikZ through node-tikzjax: drawn offline as sanitized SVG, failures named with a line."""

from __future__ import annotations

import pytest

from renderers.chromium import ChromiumRenderer
from renderers.errors import LatexRenderError
from renderers.svg_sanitize import sanitize_svg
from tests.conftest import ink_share, png_image

DOCUMENT = r"""\documentclass{article}
\usepackage{tikz}
\usetikzlibrary{arrows.meta}
\begin{document}
\begin{tabular}{lc}
Revenue & \begin{tikzpicture}\draw[-{Stealth}] (0,0) -- (1,0.5) node[right] {up};
\end{tikzpicture} \\
Costs & %PICTURE%
\end{tabular}
\end{document}"""
GOOD = r"\begin{tikzpicture}\fill[red!40] (0,0) rectangle (0.6,0.3);\end{tikzpicture} \\"
BAD = "\\begin{tikzpicture}\n\\draw (0,0) -- ;\n\\end{tikzpicture} \\\\"


async def test_pictures_render_as_inline_svg(renderer: ChromiumRenderer) -> None:
    result = await renderer.render(DOCUMENT.replace("%PICTURE%", GOOD))
    assert result.html.count("<svg") == 2 and "<script" not in result.html
    assert "up" in result.text.replace("\n", "")
    assert ink_share(png_image(result.png)) > 0.01


async def test_a_broken_picture_is_an_error_with_its_line(renderer: ChromiumRenderer) -> None:
    with pytest.raises(LatexRenderError) as caught:
        await renderer.render(DOCUMENT.replace("%PICTURE%", BAD))
    problem = caught.value.problem
    assert problem.construct == "tikzpicture"
    assert problem.message.startswith("TikZ picture 2 failed")
    assert problem.line is not None and 8 <= problem.line <= 10  # TeX reports where it noticed


async def test_partial_renders_keep_the_rest_when_allowed() -> None:
    async with ChromiumRenderer(pages=1, allow_partial=True) as lenient:
        result = await lenient.render(DOCUMENT.replace("%PICTURE%", BAD))
    assert "[picture not rendered]" in result.text
    failed = [w for w in result.warnings if "TikZ picture 2 failed" in w.message]
    assert failed and failed[0].partial and result.partial
    assert result.html.count("<svg") == 1


@pytest.mark.parametrize(
    "hostile",
    [
        '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script><path d="M0 0"/></svg>',
        '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><path d="M0 0"/></svg>',
        '<svg xmlns="http://www.w3.org/2000/svg"><use href="http://evil/x.svg#a"/></svg>',
        '<svg xmlns="http://www.w3.org/2000/svg"><foreignObject><iframe src="x"/>'
        "</foreignObject></svg>",
        '<svg xmlns="http://www.w3.org/2000/svg"><path style="fill:url(http://evil/a)" '
        'fill="url(http://evil/b)" d="M0 0"/></svg>',
    ],
)
def test_svg_is_reduced_to_drawing(hostile: str) -> None:
    cleaned = sanitize_svg(hostile)
    for bad in ("script", "onload", "evil", "foreignObject", "iframe", "style="):
        assert bad not in cleaned


def test_svg_with_entities_is_refused() -> None:
    with pytest.raises(ValueError, match="DTD"):
        sanitize_svg(
            '<!DOCTYPE svg [<!ENTITY a "aaaa">]><svg xmlns="http://www.w3.org/2000/svg">&a;</svg>'
        )
