"""TikZ through node-tikzjax: drawn offline as sanitized SVG, failures named with a line."""

from __future__ import annotations

import asyncio
import json
import os
import re
import select
import subprocess
import sys
from pathlib import Path

import pytest

from renderers import tikz
from renderers.chromium import ChromiumRenderer
from renderers.errors import LatexRenderError
from renderers.pgfpie import pie_tikz
from renderers.svg_sanitize import sanitize_svg
from renderers.tikz import TikzFailure, TikzRenderer
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


async def test_picture_text_reads_back_as_words_and_lines(renderer: ChromiumRenderer) -> None:
    # TeX writes kerned runs as separate glyphs in its fonts' own code points (cmmi's period
    # is ':'); a questioner reading the table's text needs "4.2", not "4", ":", "2".
    picture = r"""\begin{tikzpicture}
\node at (0,1) {Revenue grew $4.2 \times 10$, efficient};
\node[rotate=90] at (-3,0) {Margin (\%) $-1.5$};
\end{tikzpicture}"""
    result = await renderer.render(picture)
    lines = result.text.splitlines()
    assert "Revenue grew 4.2 × 10, efficient" in lines
    assert "Margin (%) −1.5" in lines


async def test_clip_paths_of_pictures_on_one_page_keep_to_their_own_picture(
    renderer: ChromiumRenderer,
) -> None:
    # TeX numbers every picture's clip paths from the same name; inlined side by side, the
    # second picture would be clipped by the first one's path.
    picture = (
        r"\begin{tikzpicture}\clip (0,0) circle (%s);"
        r"\fill[blue] (-1,-1) rectangle (1,1);\end{tikzpicture}"
    )
    result = await renderer.render(
        "\\begin{tabular}{ll}\n"
        + " & ".join(picture % radius for radius in ("0.2", "0.5"))
        + " \\\\\n\\end{tabular}"
    )
    svgs = result.html.split("<svg")[1:]
    assert len(svgs) == 2
    ids = [set(re.findall(r'\bid="([^"]+)"', svg)) for svg in svgs]
    assert all(ids) and not ids[0] & ids[1]
    for own, svg in zip(ids, svgs, strict=True):
        used = set(re.findall(r"url\(#([^)]+)\)", svg))
        assert used and used <= own  # every clip the picture uses is one it defines


async def test_symbols_in_the_soft_hyphen_slot_read_back(renderer: ChromiumRenderer) -> None:
    # Omega and otimes sit where a browser draws nothing; they are drawn from the slot before
    # it, and the text read back from the picture must still name them.
    result = await renderer.render(
        r"\begin{tikzpicture}\node {$\Omega \otimes x$};\end{tikzpicture}"
    )
    assert "Ω⊗x" in result.text.replace(" ", "")


async def test_a_broken_picture_is_an_error_with_its_line(renderer: ChromiumRenderer) -> None:
    with pytest.raises(LatexRenderError) as caught:
        await renderer.render(DOCUMENT.replace("%PICTURE%", BAD))
    problem = caught.value.problem
    assert problem.construct == "tikzpicture"
    assert problem.message.startswith("TikZ picture 2")
    assert problem.line == 9  # the document's line of `\draw (0,0) -- ;`


BY_NAME = r"""\documentclass{article}
\usepackage{tikz}
\newcommand{\valA}{1.5}
\newcommand{\valB}{0.4}
\begin{document}
\begin{tikzpicture}[x=1cm, every node/.style={font=\small}]
\foreach \k [count=\i] in {A,B} {
  \fill (\i,0) rectangle ++(0.5,\csname val\k\endcsname) node[above] {\k};
}
%BROKEN%
\end{tikzpicture}
\end{document}"""


async def test_a_picture_reaches_the_documents_macros_by_name(
    renderer: ChromiumRenderer,
) -> None:
    # Data kept in macros and looked up by a built name: TeX needs the definitions, which
    # textual expansion alone cannot give (the lookup loops in pgf when they are missing).
    result = await renderer.render(BY_NAME.replace("%BROKEN%", ""))
    assert not result.warnings and result.html.count("<svg") == 1
    assert "A" in result.text and "B" in result.text
    # The definitions ride on the picture's first line: TeX's lines still match ours.
    with pytest.raises(LatexRenderError) as caught:
        await renderer.render(BY_NAME.replace("%BROKEN%", r"\draw (0,0) -- ;"))
    assert caught.value.problem.line == 10


async def test_partial_renders_keep_what_tex_drew_and_mark_what_it_could_not() -> None:
    # TeX goes on after an error, as pdflatex in nonstop mode: the broken picture is drawn as
    # far as TeX got. One that ends TeX (a hundred errors) is a placeholder. Both are partial.
    hopeless = (
        r"\begin{tikzpicture}\node {\foreach \i in {1,...,150}{\undefinedmacro}};"
        r"\end{tikzpicture} \\"
    )
    async with ChromiumRenderer(pages=1, allow_partial=True) as lenient:
        broken = await lenient.render(DOCUMENT.replace("%PICTURE%", BAD))
        ended = await lenient.render(DOCUMENT.replace("%PICTURE%", hopeless))
    drawn = [w for w in broken.warnings if w.message.startswith("TikZ picture 2 drawn as far")]
    assert drawn and drawn[0].partial and broken.partial
    assert broken.html.count("<svg") == 2 and "[picture not rendered]" not in broken.text
    failed = [w for w in ended.warnings if w.message.startswith("TikZ picture 2 failed")]
    # TeX's own message, not our time-out: the engine saw that TeX had stopped.
    assert failed and failed[0].message.endswith("Undefined control sequence.")
    assert "[picture not rendered]" in ended.text and ended.html.count("<svg") == 1


async def test_text_symbols_in_pictures_draw_without_the_missing_fonts(
    renderer: ChromiumRenderer,
) -> None:
    # The engine has no text-companion fonts; `\$` or `\textdegree` in a label failed whole.
    symbols = (
        r"\begin{tikzpicture}\node {5\textdegree C, \$3, \S 2, \copyright, \textbullet,"
        r" \textmu m, \pounds 4, \dag};\end{tikzpicture} \\"
    )
    result = await renderer.render(DOCUMENT.replace("%PICTURE%", symbols))
    assert not result.warnings and result.html.count("<svg") == 2


async def test_a_font_the_engine_lacks_fails_one_picture_not_the_engine() -> None:
    tikz = TikzRenderer()
    try:
        yen = await tikz.render(r"\begin{tikzpicture}\node {\textyen};\end{tikzpicture}")
        after = await tikz.render(r"\begin{tikzpicture}\node {ok};\end{tikzpicture}")
        assert isinstance(yen, TikzFailure) and "font" in yen.message
        assert isinstance(after, str) and after.startswith("<svg")
        assert tikz.engine_starts == 1
    finally:
        await tikz.close()


async def test_a_picture_that_loops_is_stopped_and_the_engine_lives_on() -> None:
    # TeX cannot be interrupted in its own thread; ending the engine's TeX thread at the
    # budget keeps the process, its compiled engine and its memory images.
    tikz = TikzRenderer(timeout_s=2)
    try:
        looping = await tikz.render(r"\begin{tikzpicture}\def\x{\x}\x\end{tikzpicture}")
        after = await tikz.render(r"\begin{tikzpicture}\node {ok};\end{tikzpicture}")
        assert isinstance(looping, TikzFailure) and "longer than 2 s" in looping.message
        assert isinstance(after, str) and after.startswith("<svg")
        assert tikz.engine_starts == 1
    finally:
        await tikz.close()


async def test_once_going_on_after_errors_is_safe_one_pass_draws_the_next() -> None:
    # Under a preamble where TeX went on after an error without looping, the next picture
    # with an error is drawn in one pass: the same failure, line and drawing as two passes.
    first, second = (
        rf"\begin{{tikzpicture}}\node {{{label}}};"
        "\n"
        rf"\undefinedmacro\node at (1,0) {{{label}2}};\end{{tikzpicture}}"
        for label in ("a", "b")
    )
    warmed, fresh = TikzRenderer(), TikzRenderer()
    try:
        await warmed.render(first)
        once = await warmed.render(second)
        twice = await fresh.render(second)
        assert isinstance(once, TikzFailure) and once.svg is not None
        assert once == twice and once.line == 2
        assert (warmed.single_pass_pictures, fresh.single_pass_pictures) == (1, 0)
        # What is known of a preamble is kept for the most recent few only (a long run
        # meets a new preamble with almost every document).
        warmed.CONTEXTS_KEPT = 1
        await warmed.render(r"\begin{tikzpicture}\draw (0,0) -- (1,1);\end{tikzpicture}", "calc")
        third = first.replace("a}", "c}")
        assert isinstance(await warmed.render(third), TikzFailure)
        assert warmed.single_pass_pictures == 1
    finally:
        await warmed.close()
        await fresh.close()


ENGINE_CALLER = """
import asyncio, sys
from renderers.tikz import TikzRenderer

async def main():
    tikz = TikzRenderer(threads=2)
    plot = r"\\begin{tikzpicture}\\begin{axis}\\addplot coordinates {(0,%d) (1,2)};"
    plot += r"\\end{axis}\\end{tikzpicture}"
    pictures = [
        asyncio.ensure_future(tikz.render(plot % n, "calc", {"pgfplots": ""})) for n in range(60)
    ]
    await asyncio.wait(pictures, return_when=asyncio.FIRST_COMPLETED)  # the engine is busy
    print(tikz._engine.process.pid, flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


def test_the_engine_does_not_outlive_a_caller_killed_outright() -> None:
    # SIGKILL: the caller cannot stop the engine, which has pictures still queued. It used
    # to draw them all for nobody and then linger (it ended only every second TeX thread at
    # the end of its input); it now ends with its caller.
    with subprocess.Popen(
        [sys.executable, "-c", ENGINE_CALLER],
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.PIPE,
        text=True,
    ) as caller:
        try:
            assert caller.stdout is not None
            handle = os.pidfd_open(int(caller.stdout.readline()))
        finally:
            caller.kill()
    try:  # wait on the engine's exit itself, not on a clock
        ready, _, _ = select.select([handle], [], [], 60)
        assert ready, "the TikZ engine outlived its caller"
    finally:
        os.close(handle)


def test_the_engine_ends_when_its_input_ends() -> None:
    # Two overlapping pictures leave two TeX threads; at the end of its input the engine
    # ends them all and exits (it used to end every second one and stay alive).
    picture = "\\begin{document}\\begin{tikzpicture}\\draw (0,0) -- (1,0);"
    picture += "\\end{tikzpicture}\\end{document}"
    with subprocess.Popen(
        tikz.engine_command(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as engine:
        assert engine.stdin is not None and engine.stdout is not None
        try:
            for request_id in (1, 2):
                request = {"id": request_id, "source": picture, "libraries": "", "packages": {}}
                engine.stdin.write(json.dumps(request) + "\n")
            engine.stdin.flush()
            replies = [json.loads(engine.stdout.readline()) for _ in range(2)]
            assert sorted(reply["id"] for reply in replies) == [1, 2]
            assert all(reply["svg"].startswith("<svg") for reply in replies)
            engine.stdin.close()
            assert engine.wait(timeout=60) == 0  # a bound on its exit, not a clock it races
        finally:
            engine.kill()


async def test_an_engine_started_in_the_background_draws_and_closes_with_the_renderer() -> None:
    # `start(warm_tikz=True)` returns once the browser is up while TeX may still be starting;
    # a picture waits for it, and closing the renderer ends it.
    renderer = ChromiumRenderer(pages=1, allow_partial=False)
    await renderer.start(warm_tikz=True)
    try:
        result = await renderer.render(DOCUMENT.replace("%PICTURE%", GOOD))
        assert result.html.count("<svg") == 2 and renderer.tikz.engine_starts == 1
        engine = renderer.tikz._engine.process
        assert engine is not None and engine.returncode is None
    finally:
        await renderer.close()
    assert engine.returncode is not None
    with pytest.raises(ProcessLookupError):  # ended and reaped
        os.kill(engine.pid, 0)


def _plot(n: int) -> str:
    return (
        r"\begin{tikzpicture}\begin{axis}[width=4cm]"
        rf"\addplot coordinates {{(0,{n}) (1,{n + 2}) (2,{n + 1})}};\end{{axis}}\end{{tikzpicture}}"
    )


async def test_pictures_drawn_at_once_match_those_drawn_one_by_one() -> None:
    # Two TeX threads in one engine: pictures that overlap share the packages' image (read
    # once, the libraries on top of it) and come out byte for byte as drawn one at a time.
    # Without set-up's pgfplots image, so that the engine reads pgfplots here.
    plots = [_plot(n) for n in (3, 5, 8)]
    packages = {"pgfplots": ""}
    together, alone = TikzRenderer(threads=2, baked=False), TikzRenderer(threads=1, baked=False)
    try:
        at_once = await asyncio.gather(
            *(together.render(plot, "calc", packages) for plot in plots[:2])
        )
        at_once.append(await together.render(plots[2], "positioning", packages))
        one_by_one = [await alone.render(plots[0], "calc", packages)]
        one_by_one.append(await alone.render(plots[1], "calc", packages))
        one_by_one.append(await alone.render(plots[2], "positioning", packages))
        assert all(isinstance(svg, str) and svg.startswith("<svg") for svg in at_once)
        assert at_once == one_by_one
        # pgfplots read once: the second picture waited for the first's image, and the
        # third read only its library on top of the packages' image.
        assert together.preambles_read == 1
        assert together.preloaded_pictures == 3
        assert together.engine_starts == 1
    finally:
        await together.close()
        await alone.close()


async def test_pictures_that_would_loop_after_an_error_cost_one_budget_not_one_each() -> None:
    # Each stops at an undefined macro; going on after it, each loops. The first to go on
    # is the probe; its siblings wait for it instead of looping on the other thread.
    tikz = TikzRenderer(threads=2)
    tikz.SCROLL_BUDGET_S = 1.0
    pictures = [
        rf"\begin{{tikzpicture}}\node {{{n}}};\undefinedmacro\def\x{{\x}}\x\end{{tikzpicture}}"
        for n in range(4)
    ]
    try:
        drawn = await asyncio.gather(*(tikz.render(picture) for picture in pictures))
        assert all(isinstance(failure, TikzFailure) for failure in drawn)
        assert all("Undefined control sequence" in str(failure) for failure in drawn)
        assert tikz.looping_pictures == 1
        assert tikz.engine_starts == 1
    finally:
        await tikz.close()


async def test_pgfplots_pictures_start_from_an_image_with_pgfplots_loaded(
    renderer: ChromiumRenderer,
) -> None:
    plots = "\n".join(
        r"\begin{tikzpicture}\begin{axis}[width=4cm]"
        rf"\addplot coordinates {{(0,{n}) (1,{n + 2}) (2,{n + 1})}};\end{{axis}}\end{{tikzpicture}}"
        for n in (3, 7)
    )
    document = "\\usepackage{pgfplots}\\pgfplotsset{compat=1.18}\n\\begin{document}\n"
    before = renderer.tikz.preloaded_pictures
    result = await renderer.render(f"{document}{plots}\n\\end{{document}}")
    assert not result.warnings and result.html.count("<svg") == 2
    assert renderer.tikz.preloaded_pictures - before == 2
    assert "9" in result.text  # the second axis runs to 9: its tick labels are drawn


async def test_pgfplots_pictures_start_from_the_image_set_up_baked() -> None:
    # Set-up reads pgfplots once into an image; a new engine's pgfplots pictures start from
    # it without reading the package, and TeX draws them as from an image it made itself.
    plots = [_plot(4), _plot(6)]
    packages = {"pgfplots": ""}
    baked, made_here = TikzRenderer(), TikzRenderer(baked=False)
    try:
        from_baked = [await baked.render(plot, "", packages) for plot in plots]
        from_made = [await made_here.render(plot, "", packages) for plot in plots]
        assert all(isinstance(svg, str) and svg.startswith("<svg") for svg in from_baked)
        assert from_baked == from_made
        assert baked.preambles_read == 0 and baked.preloaded_pictures == 2
        assert made_here.preambles_read == 1
    finally:
        await baked.close()
        await made_here.close()


async def test_a_library_the_engine_lacks_is_a_warning_and_the_picture_draws(
    renderer: ChromiumRenderer,
) -> None:
    document = DOCUMENT.replace(
        r"\usetikzlibrary{arrows.meta}", r"\usetikzlibrary{arrows.meta,calc,nosuchlib}"
    )
    result = await renderer.render(document.replace("%PICTURE%", GOOD))
    assert [(w.construct, w.partial) for w in result.warnings] == [("usetikzlibrary", False)]
    assert "nosuchlib" in result.warnings[0].message and result.html.count("<svg") == 2


async def test_a_picture_cannot_read_files_outside_the_engine(renderer: ChromiumRenderer) -> None:
    secret = await asyncio.to_thread(
        lambda: (
            hostname.read_text().strip() if (hostname := Path("/etc/hostname")).is_file() else ""
        )
    )
    reading = r"\begin{tikzpicture}\node {\input{/etc/hostname}};\end{tikzpicture} \\"
    async with ChromiumRenderer(pages=1, allow_partial=True) as lenient:
        result = await lenient.render(DOCUMENT.replace("%PICTURE%", reading))
    assert any("not found" in w.message for w in result.warnings)
    if secret:
        assert secret not in result.text


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


def test_pie_slices_follow_pgf_pie_conventions() -> None:
    drawn = pie_tikz("rotate=90", "30/Rent, 70/{Food, drink}")
    assert drawn is not None
    # Counter-clockwise from `rotate`, shares of 100 by default, numbers shown with a %.
    assert "arc (90.000:198.000:3.0)" in drawn and "arc (198.000:450.000:3.0)" in drawn
    assert "node {30\\%}" in drawn and "label={144.000:{Food, drink}}" not in drawn
    assert "{Food, drink}" in drawn
    auto = pie_tikz("sum=auto, after number=, radius=2", "1/a, 3/b")
    assert auto is not None and "arc (0.000:90.000:2.0)" in auto and "node {1}" in auto
    assert pie_tikz("", r"\x/a") is None  # not numbers: left to TeX, which names the problem


async def test_a_pgf_pie_chart_draws_with_its_legend(renderer: ChromiumRenderer) -> None:
    source = r"""\documentclass{article}
\usepackage{pgf-pie}
\begin{document}
\begin{tikzpicture}
\pie[text=legend, radius=2, color={red, blue, green}]{50/North, 30/South, 20/East}
\end{tikzpicture}
\end{document}"""
    result = await renderer.render(source)
    assert not result.warnings, result.warnings
    words = set(result.text.split())
    assert {"North", "South", "East", "50%", "30%", "20%"} <= words
    assert ink_share(png_image(result.png)) > 0.05  # the slices are filled
