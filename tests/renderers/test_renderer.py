"""The renderer through real Chromium: grid, image, errors with lines, sandbox, crash relaunch."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp import web

from renderers.chromium import KATEX_DIR, ChromiumRenderer
from renderers.errors import LatexRenderError
from renderers.grid import GridCell
from renderers.latex_html import translate
from tests.conftest import ink_share, png_image

SAMPLE = r"""\documentclass[11pt]{article}
\usepackage{booktabs,multirow}
\usepackage[table]{xcolor}
\definecolor{hl}{HTML}{FFF2CC}
\begin{document}
\begin{table}[h]
\centering
\caption{Quarterly revenue by region}
\begin{tabular}{llrr}
\toprule
\multicolumn{2}{c}{Where} & \multicolumn{2}{c}{Revenue (M\$)} \\
\cmidrule(lr){1-2} \cmidrule(lr){3-4}
Region & City & Q1 & Q2 \\
\midrule
\multirow{2}{*}{North} & Oslo & 12.5 & \cellcolor{hl}\textbf{14.1} \\
 & Bergen & 8.0 & $9.3 \pm 0.2$ \\
South & Rome -- Italy & 7 & 8 \\
\bottomrule
\end{tabular}
\end{table}
\end{document}
"""


def cell(grid: tuple[GridCell, ...], text: str) -> GridCell:
    return next(c for c in grid if c.text == text)


async def test_sample_table_grid_and_image(renderer: ChromiumRenderer) -> None:
    result = await renderer.render(SAMPLE)
    assert cell(result.grid, "Where").colspan == 2
    assert cell(result.grid, "North").rowspan == 2
    assert cell(result.grid, "14.1").background == "rgb(255, 242, 204)"
    assert cell(result.grid, "14.1").bold
    assert cell(result.grid, "9.3±0.2").col == 3
    assert cell(result.grid, "Rome – Italy").row == 4
    assert "Table 1: Quarterly revenue by region" in result.text
    image = png_image(result.png)
    assert (image.width, image.height) == (result.width, result.height)
    assert 300 < image.width < 1600 and 200 < image.height < 1000
    assert ink_share(image) > 0.02


@pytest.mark.parametrize(
    "source, line, construct, message",
    [
        (
            "\\begin{tabular}{ll}\na & b \\\\\nc & d & e \\\\\n\\end{tabular}",
            3,
            "&",
            "more cells than the 2 columns",
        ),
        ("\\begin{document}\n\\caption{open\n\\end{document}", None, "syntax", "unbalanced"),
        (
            "\\documentclass{article}\n\\begin{tabular}{l}\nx\n\\end{tabular}",
            1,
            "document",
            "without \\begin{document}",
        ),
    ],
)
async def test_errors_name_line_and_construct(
    renderer: ChromiumRenderer, source: str, line: int | None, construct: str, message: str
) -> None:
    with pytest.raises(LatexRenderError) as caught:
        await renderer.render(source)
    problem = caught.value.problem
    assert message in problem.message
    assert problem.construct == construct
    if line is not None:
        assert problem.line == line


@pytest.mark.parametrize(
    "source, line, construct, message, drawn",
    [
        (
            "\\begin{document}\n\\begin{tabularr}{l}\nx\n\\end{tabularr}\n\\end{document}",
            2,
            "\\begin{tabularr}",
            "environment 'tabularr' drawn as its body",
            "x",
        ),
        (
            "\\begin{tabular}{lq}\na & b\n\\end{tabular}",
            1,
            "column spec",
            "unknown column type 'q'",
            "a\tb",
        ),
        (
            "\\begin{tabular}{ll}\n\\cmidrule{2-5}\na & b\n\\end{tabular}",
            2,
            "\\cmidrule",
            "outside 1-2",
            "a\tb",
        ),
    ],
)
async def test_what_tex_draws_anyway_is_drawn_with_a_warning(
    renderer: ChromiumRenderer, source: str, line: int, construct: str, message: str, drawn: str
) -> None:
    result = await renderer.render(source)
    assert drawn in result.text
    warning = next(w for w in result.warnings if w.construct == construct)
    assert message in warning.message and warning.line == line and not warning.partial


async def test_bad_math_is_an_error(renderer: ChromiumRenderer) -> None:
    with pytest.raises(LatexRenderError) as caught:
        await renderer.render("\\begin{tabular}{l}\n$x^2^3$ \\\\\n\\end{tabular}")
    assert caught.value.problem.construct == "math"


async def test_markup_in_latex_is_inert_text(renderer: ChromiumRenderer) -> None:
    source = (
        "\\begin{tabular}{l}\n<script>document.title='pwned'</script> \\\\\n"
        "<img src=x onerror=alert(1)> \\\\\n\\href{javascript:alert(1)}{click} \\\\\n"
        "\\end{tabular}"
    )
    result = await renderer.render(source)
    assert "<script>document.title='pwned'</script>" in result.text
    assert "<img src=x onerror=alert(1)>" in result.text
    assert "<script" not in result.html and "<img" not in result.html
    assert "href" not in result.html and "javascript" not in result.html


async def test_file_and_shell_macros_are_inert(renderer: ChromiumRenderer, tmp_path: Path) -> None:
    marker = tmp_path / "written"
    source = (
        "\\input{/etc/passwd}\\include{/etc/hostname}\\openin{/etc/shadow}"
        f"\\immediate\\write18{{touch {marker}}}\\write{{{marker}}}"
        "\\begin{tabular}{l}\nsafe \\\\\n\\end{tabular}"
    )
    result = await renderer.render(source)
    assert "root:" not in result.text and "/etc/passwd" not in result.text
    assert "touch" not in result.text and not marker.exists()
    for name in ("input", "include", "openin", "write18"):
        assert any(f"\\{name} ignored" in w.message for w in result.warnings), name


async def test_a_render_that_times_out_is_an_error_and_the_page_recovers() -> None:
    async with ChromiumRenderer(pages=1, timeout_s=0.001) as slow:
        with pytest.raises(LatexRenderError) as caught:
            await slow.render(SAMPLE)
        assert caught.value.problem.construct == "timeout"
        slow.timeout_s = 20
        result = await slow.render(SAMPLE)
        assert cell(result.grid, "North").rowspan == 2


def test_runaway_table_is_an_error() -> None:
    rows = "x \\\\\n" * 450
    with pytest.raises(LatexRenderError) as caught:
        translate(f"\\begin{{tabular}}{{l}}\n{rows}\\end{{tabular}}")
    assert "more than the limit of 400" in caught.value.problem.message
    assert caught.value.problem.line == 1


async def test_fifty_renders_do_not_grow_memory(renderer: ChromiumRenderer) -> None:
    def tree_pss_mib() -> float:
        total = 0
        for pid in [os.getpid(), *_descendants(os.getpid())]:
            try:
                for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
            except OSError:
                continue
        return total / 1024

    for _ in range(10):  # warm caches and JIT first
        await renderer.render(SAMPLE)
    before = tree_pss_mib()
    for index in range(50):
        await renderer.render(SAMPLE.replace("Oslo", f"Oslo {index}"))
    growth = tree_pss_mib() - before
    # Observed here: 20-30 MiB of warm-up growth; a leak of the images themselves or of
    # pages would add far more.
    assert growth < 48, f"memory grew by {growth:.1f} MiB over 50 renders"


async def test_pages_are_recycled_after_many_renders(monkeypatch: pytest.MonkeyPatch) -> None:
    import renderers.chromium as chromium

    monkeypatch.setattr(chromium, "RECYCLE_AFTER", 3)
    async with ChromiumRenderer(pages=1) as small:
        first = small._pages._queue[0]  # type: ignore[attr-defined]
        for _ in range(3):
            await small.render(SAMPLE)
        assert small._pages._queue[0] is not first  # type: ignore[attr-defined]
        assert cell((await small.render(SAMPLE)).grid, "North").rowspan == 2


@pytest_asyncio.fixture
async def counting_server() -> AsyncIterator[tuple[str, list[str]]]:
    hits: list[str] = []

    async def record(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(text="leaked")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}", hits
    await runner.cleanup()


async def test_render_page_has_no_network_and_no_files(
    renderer: ChromiumRenderer, counting_server: tuple[str, list[str]]
) -> None:
    url, hits = counting_server
    # A link inside the allowed assets folder must not lead out of it.
    link = KATEX_DIR / "modswap-test-link-out"
    link.unlink(missing_ok=True)
    link.symlink_to("/etc/passwd")
    page = await renderer._pages.get()
    try:
        outcome = await page.evaluate(
            """async ([url, link]) => {
                const results = [];
                try { const r = await fetch(url + '/fetch'); results.push(await r.text()); }
                catch (e) { results.push('blocked'); }
                // fetch() refuses file:// by itself; a script tag loads files unless the
                // guard aborts the request (onload fires even for a file that is no script).
                for (const target of ['file:///etc/passwd', link]) {
                    const script = document.createElement('script');
                    script.src = target;
                    results.push(await new Promise(resolve => {
                        script.onload = () => resolve('loaded');
                        script.onerror = () => resolve('blocked');
                        document.head.appendChild(script);
                    }));
                    script.remove();
                }
                const img = new Image(); img.src = url + '/image';
                await new Promise(resolve => { img.onload = img.onerror = resolve; });
                return results;
            }""",
            [url, link.as_uri()],
        )
    finally:
        renderer._pages.put_nowait(page)
        link.unlink()
    assert outcome == ["blocked", "blocked", "blocked"]
    assert hits == []


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found, queue = [], [root]
    while queue:
        pid = queue.pop()
        for child in children.get(pid, []):
            found.append(child)
            queue.append(child)
    return found


def _browser_pids() -> list[int]:
    pids = []
    for pid in _descendants(os.getpid()):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if (
            command
            and command[0].endswith(b"chromium")
            and not any(part.startswith(b"--type=") for part in command)
        ):
            pids.append(pid)
    return pids


async def test_browser_killed_mid_run_is_relaunched() -> None:
    async with ChromiumRenderer(pages=1) as fresh:
        await fresh.render(SAMPLE)
        pids = _browser_pids()
        assert pids, "no Chromium process found under this test"
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        result = await fresh.render(SAMPLE)
        assert cell(result.grid, "North").rowspan == 2
        assert fresh.relaunches == 1


def dark_rows(png: bytes) -> list[int]:
    """Pixel rows that are mostly black: the rules of a table."""
    image = png_image(png).convert("L")
    rows = []
    for y in range(image.height):
        line = [image.getpixel((x, y)) for x in range(image.width)]
        if sum(value < 100 for value in line) > 0.5 * image.width:
            rows.append(y)
    return rows


async def test_every_booktabs_rule_is_drawn(renderer: ChromiumRenderer) -> None:
    source = (
        "\\begin{tabular}{lr}\n\\toprule\nName & Value \\\\\n\\midrule\na & 1 \\\\\n"
        "b & 2 \\\\\n\\bottomrule\n\\end{tabular}"
    )
    for _ in range(3):  # the first paint after a layout once dropped inner rules
        rows = dark_rows((await renderer.render(source)).png)
        bands = [y for i, y in enumerate(rows) if i == 0 or rows[i - 1] != y - 1]
        assert len(bands) == 3, f"expected top, mid and bottom rules, got bands at {bands}"


async def test_the_browser_sends_no_dns_query_and_opens_no_tcp_connection(
    tmp_path: Path,
) -> None:
    """Read from Chromium's own net log over renders and a relaunch. This build still starts
    background requests (update.googleapis.com, accounts.google.com) despite the flags; the
    resolver rule ends each of them in the browser: no DNS transaction, no TCP connect."""
    log_path = tmp_path / "netlog.json"
    async with ChromiumRenderer(pages=1, extra_args=(f"--log-net-log={log_path}",)) as renderer:
        linked = SAMPLE.replace("North", "\\href{https://example.com/x}{North}")
        for source in (SAMPLE, linked, SAMPLE):
            await renderer.render(source)
    log = json.loads(log_path.read_text())
    types = log["constants"]["logEventTypes"]
    kinds = [event["type"] for event in log["events"]]
    assert kinds.count(types["TCP_CONNECT"]) == 0
    assert kinds.count(types["DNS_TRANSACTION"]) == 0
    resolved = [
        event["params"]
        for event in log["events"]
        if event["type"] == types["HOST_RESOLVER_MANAGER_REQUEST"]
        and "host" in event.get("params", {})
    ]
    assert all("~notfound" in params["host"] for params in resolved), resolved
