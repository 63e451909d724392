"""A render can fail; it can never stall, crash or stop a run. Bombs a model could write,
each small to write, against a real Chromium, and a seeded fuzz over the same ground."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import pytest_asyncio
from autogen_core import MessageContext, message_handler

from environment.core.bus import Bus, BusAgent
from environment.core.event_log import make_event
from environment.core.messages import RenderFailed, RenderProblem, TableDrafted
from environment.core.rendering import RenderService
from environment.storage.store import RunStore
from renderers.chromium import ChromiumRenderer, RenderResult
from renderers.errors import LatexRenderError
from renderers.latex_html import translate
from renderers.limits import RenderLimits
from renderers.translation_process import TranslationProcess
from tests.conftest import png_image

GOOD = "\\begin{tabular}{lr}\nAlder & 12 \\\\\nBirch & 7 \\\\\n\\end{tabular}"


def in_cell(content: str) -> str:
    return f"\\begin{{tabular}}{{l}}\nbefore \\\\\n{content} \\\\\nafter \\\\\n\\end{{tabular}}"


@pytest_asyncio.fixture(scope="module")
async def lenient() -> ChromiumRenderer:
    async with ChromiumRenderer(pages=1, allow_partial=True, timeout_s=20) as shared:
        yield shared  # type: ignore[misc]


@pytest.mark.parametrize(
    "bomb",
    [
        "\\textbf{" * 200 + "x" + "}" * 200,
        "{" * 400 + "x" + "}" * 400,
        "$" + "\\frac{" * 200 + "1" + "}{2}" * 200 + "$",
        "\\begin{center}" * 120 + "x" + "\\end{center}" * 120,
    ],
    ids=["bold", "braces", "fractions", "environments"],
)
async def test_nesting_bombs_are_refused_before_parsing(
    renderer: ChromiumRenderer, bomb: str
) -> None:
    with pytest.raises(LatexRenderError) as caught:
        await renderer.render(in_cell(bomb))
    assert caught.value.problem.construct == "limit"
    assert "nest" in caught.value.problem.message
    assert (await renderer.render(GOOD)).grid[0].text == "Alder"


def test_a_nesting_built_by_macros_is_refused_not_a_traceback() -> None:
    # 60 levels in the definition, used 60 levels deep: only the expansion is too deep.
    source = "\\newcommand{\\deep}{" + "\\textbf{" * 60 + "x" + "}" * 60 + "}\n"
    source += in_cell("\\textbf{" * 60 + "\\deep" + "}" * 60)
    with pytest.raises(LatexRenderError) as caught:
        translate(source)
    assert caught.value.problem.construct == "limit"
    shallow = "\\newcommand{\\deep}{" + "\\textbf{" * 30 + "x" + "}" * 30 + "}\n"
    assert "x" in translate(shallow + in_cell("\\textbf{" * 30 + "\\deep" + "}" * 30)).html


async def test_an_input_over_the_size_limit_is_refused(renderer: ChromiumRenderer) -> None:
    rows = "cell & value \\\\\n" * 40_000
    with pytest.raises(LatexRenderError) as caught:
        await renderer.render(f"\\begin{{tabular}}{{ll}}\n{rows}\\end{{tabular}}")
    assert caught.value.problem.construct == "limit" and "bytes" in caught.value.problem.message


@pytest.mark.parametrize(
    "bomb",
    ["a\\vspace{5000cm}", "\\rule{1cm}{99999cm}", "x \\\\[99999cm] y", "\\hspace{9000cm}z"],
    ids=["vspace", "rule", "row-skip", "hspace"],
)
async def test_huge_lengths_are_clamped_partial_and_refused_in_runs(
    renderer: ChromiumRenderer, lenient: ChromiumRenderer, bomb: str
) -> None:
    with pytest.raises(LatexRenderError) as caught:
        await renderer.render(in_cell(bomb))
    assert caught.value.problem.construct == "length"
    result = await lenient.render(in_cell(bomb))
    assert result.partial and any(w.construct == "length" for w in result.warnings)
    limit_px = RenderLimits().max_length_px * lenient.scale
    assert result.height < limit_px + 400 and result.width < limit_px + 1200
    assert png_image(result.png).size == (result.width, result.height)


async def test_a_page_taller_than_the_limit_is_refused_and_the_pool_lives() -> None:
    limits = RenderLimits(max_rows=None, max_height_px=3_000)
    rows = "".join(f"row {n} & {n} \\\\\n" for n in range(400))
    async with ChromiumRenderer(pages=1, limits=limits) as renderer:
        with pytest.raises(LatexRenderError) as caught:
            await renderer.render(f"\\begin{{longtable}}{{lr}}\n{rows}\\end{{longtable}}")
        assert caught.value.problem.construct == "limit"
        assert "px high" in caught.value.problem.message
        assert (await renderer.render(GOOD)).grid[0].text == "Alder"


async def test_a_browser_that_dies_is_relaunched_every_time() -> None:
    async with ChromiumRenderer(pages=1) as renderer:
        for crash in range(3):
            browser = renderer._browser
            assert browser is not None
            await browser.close()  # as a crash or an OOM kill would leave it
            result = await renderer.render(GOOD)
            assert result.grid[0].text == "Alder"
            assert renderer.relaunches == crash + 1


def a_draft(latex: str) -> TableDrafted:
    return TableDrafted(
        table_id="i1-t0",
        inspiration_id="i1",
        seq=0,
        index=0,
        count=1,
        topic="t",
        latex=latex,
        generator="g",
        questioner="q",
    )


def an_empty_run(folder: Path) -> RunStore:
    store = RunStore(folder)
    store.tables.mkdir(parents=True)
    store.images.mkdir(parents=True)
    return store


class _Exploding:
    """A renderer with a bug no document should be able to trigger: the service must turn it
    into a failed render, not a dead run."""

    async def render(self, latex: str) -> RenderResult:
        raise RuntimeError("bug in the renderer")


class _Collector(BusAgent):
    def __init__(self) -> None:
        super().__init__("collector")
        self.failed: list[RenderFailed] = []

    @message_handler
    async def on_failed(self, message: RenderFailed, ctx: MessageContext) -> None:
        self.failed.append(message)
        assert self.bus is not None
        self.bus.halt()


async def test_no_exception_escapes_the_render_service(tmp_path: Path) -> None:
    bus = Bus()
    collector = _Collector()
    store = an_empty_run(tmp_path)
    await bus.add(RenderService(_Exploding(), store, slots=1))
    await bus.add(collector)
    bus.start()
    draft = a_draft(GOOD)
    await bus.publish(draft)
    await bus.run_until_done()  # raises AgentFailure if the exception escaped
    [failed] = collector.failed
    assert failed.problem.construct_name == "crash"
    assert "RuntimeError: bug in the renderer" in failed.problem.message


def _fuzz_document(rng: random.Random) -> str:
    pieces = [
        lambda: "\\textbf{" * rng.randrange(1, 300) + "x",
        lambda: "{" * rng.randrange(1, 500),
        lambda: "}" * rng.randrange(1, 50),
        lambda: f"\\vspace{{{rng.choice([1, 50, 5000, 99999])}cm}}",
        lambda: f"\\rule{{{rng.randrange(1, 999)}cm}}{{{rng.randrange(1, 99999)}cm}}",
        lambda: "\\\\[" + str(rng.randrange(1, 99999)) + "pt]",
        lambda: rng.choice(["&", "\\hline", "\\multicolumn{9}{c}{x}", "\\multirow{-99}{*}{y}"]),
        lambda: rng.choice(["\\begin{tabular}{l}", "\\end{tabular}", "\\begin{foo}", "$"]),
        lambda: rng.choice(["\\def\\a{\\a}\\a", "\\newcommand{\\b}[1]{#1#1}\\b{\\b{\\b{z}}}"]),
        lambda: "\\bfseries " * rng.randrange(1, 2000),
        lambda: rng.choice(["\\cellcolor{-red!200!nope}", "\\color{}", "\\scalebox{x}{y}"]),
        lambda: "word " * rng.randrange(1, 400),
    ]
    body = " ".join(rng.choice(pieces)() for _ in range(rng.randrange(1, 6)))
    return f"\\begin{{tabular}}{{ll}}\n{body} & b \\\\\n\\end{{tabular}}"


async def test_fuzz_gets_only_structured_results_and_a_live_pool(
    lenient: ChromiumRenderer,
) -> None:
    rng = random.Random(20261201)
    outcomes = {"drawn": 0, "refused": 0}
    for _ in range(60):
        try:
            result = await lenient.render(_fuzz_document(rng))
        except LatexRenderError as error:
            assert error.problem.construct and error.problem.message
            outcomes["refused"] += 1
        else:
            assert result.png.startswith(b"\x89PNG")
            outcomes["drawn"] += 1
    assert outcomes["drawn"] and outcomes["refused"]  # the fuzz reached both sides
    assert (await lenient.render(GOOD)).grid[0].text == "Alder"


async def test_translation_runs_in_a_process_with_a_deadline_and_a_memory_cap() -> None:
    process = TranslationProcess(memory_mb=1536)
    try:
        prose = ("lorem ipsum dolor sit amet " * 3) + "\n"
        long_source = "\\begin{document}\n" + prose * 40_000 + "\\end{document}"  # ~3 MB
        big = RenderLimits(max_input_bytes=10**8)
        with pytest.raises(LatexRenderError) as caught:
            await process.translate(long_source, big, strict=False, deadline_s=0.5)
        assert caught.value.problem.construct == "timeout"
        assert process.restarts == 1  # the stuck worker was killed, not waited for
        done = await process.translate(GOOD, RenderLimits(), strict=True)
        assert "Alder" in done.html
    finally:
        process.close()
    starved = TranslationProcess(memory_mb=64)
    try:
        with pytest.raises(LatexRenderError) as caught:
            await starved.translate(long_source, big, strict=False, deadline_s=120)
        assert caught.value.problem.construct in ("limit", "crash")
        assert "MB" in caught.value.problem.message or "died" in caught.value.problem.message
    finally:
        starved.close()


async def test_a_translator_that_dies_is_replaced() -> None:
    process = TranslationProcess()
    try:
        assert "Alder" in (await process.translate(GOOD, RenderLimits(), strict=True)).html
        assert process._process is not None
        process._process.kill()  # as the OOM killer would
        with pytest.raises(LatexRenderError) as caught:
            await process.translate(GOOD, RenderLimits(), strict=True)
        assert caught.value.problem.construct == "crash"
        assert "Alder" in (await process.translate(GOOD, RenderLimits(), strict=True)).html
    finally:
        process.close()


class _Counting:
    """The real renderer, counting what it is asked to draw."""

    def __init__(self, inner: ChromiumRenderer) -> None:
        self.inner = inner
        self.drawn: list[str] = []

    async def render(self, latex: str) -> RenderResult:
        self.drawn.append(latex)
        return await self.inner.render(latex)


async def test_a_draft_that_crashed_the_renderer_is_not_drawn_again_on_resume(
    tmp_path: Path, renderer: ChromiumRenderer
) -> None:
    poison = in_cell("\\rule{1cm}{99999cm}")
    draft = a_draft(poison)
    store = an_empty_run(tmp_path)
    # What an earlier session of this run wrote when this draft crashed the browser.
    crashed = RenderFailed(
        **draft.model_dump(exclude={"count"}),
        problem=RenderProblem(
            message="the browser crashed 2 times", line=None, construct_name="crash"
        ),
    )
    event = make_event(1, 0.1, crashed, "renderer", {})
    store.events_path.write_text(json.dumps(event) + "\n")
    counting = _Counting(renderer)
    bus = Bus()
    collector = _Collector()
    await bus.add(RenderService(counting, store, slots=1))
    await bus.add(collector)
    bus.start()
    await bus.publish(draft)
    await bus.run_until_done()
    [failed] = collector.failed
    assert failed.problem.construct_name == "crash" and "not drawn again" in failed.problem.message
    assert counting.drawn == []
