#!/usr/bin/env python3
"""Render throughput: modswap (Chromium + KaTeX, 1 and 2 pages) against pdflatex + pdftoppm.

Renders a corpus (default bench/corpus; `--corpus DIR` for outside documents) at equal
resolution (200 dpi: scale 200/96 for us, `pdftoppm -r 200` of every page for pdflatex in
nonstop mode), each side with 1 and with 2 jobs in parallel, in the same run. Prints
documents/s, p50/p95 latency and peak memory, and the one-at-a-time seconds of documents
with and without TikZ/pgfplots pictures apart (TeX in WebAssembly against Chromium). Goal
(issue 9): >= 4x pdflatex at one page, >= 3x at two.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import pdflatex  # noqa: E402
from bench.pipeline import MemorySampler  # noqa: E402
from renderers.chromium import ChromiumRenderer  # noqa: E402
from renderers.errors import LatexRenderError  # noqa: E402
from renderers.latex_html import translate  # noqa: E402
from renderers.limits import UNLIMITED_ROWS  # noqa: E402

DPI = 200


async def timed_all(
    sources: list[str],
    jobs: int,
    one: Callable[[str], Awaitable[bool]],
    spent: dict[int, float] | None = None,
) -> tuple[float, list[float], int]:
    """Wall seconds, per-document latencies, failures; `jobs` documents in flight. `spent`
    receives each document's seconds by its index in `sources`."""
    queue = list(enumerate(sources))
    latencies: list[float] = []
    failures = 0

    async def worker() -> None:
        nonlocal failures
        while queue:
            index, source = queue.pop()
            started = time.perf_counter()
            ok = await one(source)
            latencies.append(time.perf_counter() - started)
            if spent is not None:
                spent[index] = latencies[-1]
            failures += not ok

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(jobs)))
    return time.perf_counter() - started, latencies, failures


def describe(name: str, count: int, wall: float, latencies: list[float], failures: int) -> str:
    ordered = sorted(latencies)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return (
        f"{name:<26} {count / wall:6.1f} tables/s   p50 {statistics.median(ordered) * 1000:6.0f} ms"
        f"   p95 {p95 * 1000:6.0f} ms   failed {failures}"
    )


async def main_async(corpus: Path, repeat: int) -> int:
    paths = sorted(await asyncio.to_thread(lambda: list(corpus.glob("*.tex"))))
    texts = [await asyncio.to_thread(p.read_text, errors="replace") for p in paths]
    sources = texts * repeat
    print(f"corpus: {len(sources)} documents ({len(sources) // repeat} files x {repeat})")
    ours: dict[int, float] = {}
    ours_each: dict[int, float] = {}  # seconds per document, one page
    for pages in (1, 2):
        sampler = MemorySampler()
        sampler.start()
        # As `run.py render` draws: partial renders kept, tables of any length.
        async with ChromiumRenderer(
            pages=pages, scale=DPI / 96, allow_partial=True, limits=UNLIMITED_ROWS
        ) as renderer:

            async def one(source: str, renderer: ChromiumRenderer = renderer) -> bool:
                try:
                    await renderer.render(source)
                    return True
                except LatexRenderError:
                    return False

            # Warm-up, as in a long run: the pages and each TikZ engine (about a second),
            # with a picture not in the corpus, so the picture cache gives nothing away.
            warm = (
                r"\begin{tikzpicture}\draw (0,0) circle (1pt);\end{tikzpicture}"
                r"\begin{tabular}{l}warm\\\end{tabular}"
            )
            await asyncio.gather(*(one(warm.replace("1pt", f"{i + 1}pt")) for i in range(pages)))
            wall, latencies, failures = await timed_all(
                sources, pages, one, ours_each if pages == 1 else None
            )
        sampler.stop()
        ours[pages] = len(sources) / wall
        print(
            describe(f"modswap, {pages} page(s)", len(sources), wall, latencies, failures)
            + f"   peak {sampler.peak / 2**20:.0f} MiB"
        )
    if not pdflatex.available():
        print(f"pdflatex not installed; for the comparison run: {pdflatex.INSTALL}")
        return 0
    theirs: dict[int, float] = {}
    theirs_each: dict[int, float] = {}  # seconds per document, one job
    for jobs in (1, 2):

        async def compile_one(source: str) -> bool:
            # Every page, nonstop, as a user runs it: we draw whole documents too.
            return (await pdflatex.render(source, DPI, halt_on_error=False, all_pages=True)).ok

        wall, latencies, failures = await timed_all(
            sources, jobs, compile_one, theirs_each if jobs == 1 else None
        )
        theirs[jobs] = len(sources) / wall
        print(
            describe(f"pdflatex+pdftoppm, {jobs} job(s)", len(sources), wall, latencies, failures)
        )
    for jobs in (1, 2):
        goal = {1: 4, 2: 3}[jobs]
        print(f"speed-up at {jobs} in parallel: {ours[jobs] / theirs[jobs]:.1f}x (goal >= {goal}x)")
    # Where the time goes: TeX draws pictures in WebAssembly; the rest is Chromium's.
    with_pictures = {index for index, source in enumerate(sources) if _has_pictures(source)}
    for label, chosen in (
        ("with TikZ/pgfplots pictures", with_pictures),
        ("without pictures", set(range(len(sources))) - with_pictures),
    ):
        if chosen:
            mine = sum(ours_each[index] for index in chosen)
            pdflatex_s = sum(theirs_each[index] for index in chosen)
            print(
                f"one at a time, {len(chosen)} documents {label}: ours {mine:.1f} s, "
                f"pdflatex+pdftoppm {pdflatex_s:.1f} s → {pdflatex_s / mine:.1f}x"
            )
    return 0


def _has_pictures(source: str) -> bool:
    """Whether the renderer sends any of this document's pictures to TeX."""
    try:
        return bool(translate(source, UNLIMITED_ROWS).pictures)
    except LatexRenderError:
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", default=str(ROOT / "bench" / "corpus"))
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="passes over the corpus (later passes hit the TikZ cache)",
    )
    options = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(main_async(Path(options.corpus), options.repeat))
    return 130


if __name__ == "__main__":
    sys.exit(main())
