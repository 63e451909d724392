#!/usr/bin/env python3
"""The whole command, cold: `run.py render DIR/*.tex --out …` against pdflatex + pdftoppm.

What a user waits for when rendering a folder: our command from process start (imports,
Chromium and TikZ start-up, every document at 200 dpi) against `pdflatex` (nonstop mode) +
`pdftoppm -r 200` on the same files with two jobs at a time, both measured in this run, a few
times each, alternating. Prints wall times, the ratio, and how many documents each side drew.
Goal (issue 9) on the 69 outside documents: ours >= 2x faster.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import pdflatex  # noqa: E402

DPI = 200


async def ours(files: list[Path], out: Path) -> tuple[float, int]:
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "run.py"),
        "render",
        *map(str, files),
        "--out",
        str(out),
        "--json",
        "--scale",
        f"{DPI / 96:.4f}",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    output, _ = await process.communicate()
    wall = time.perf_counter() - started
    drawn = sum(json.loads(line)["ok"] for line in output.decode().splitlines() if line)
    return wall, drawn


async def theirs(files: list[Path], jobs: int) -> tuple[float, int]:
    gate = asyncio.Semaphore(jobs)

    async def one(path: Path) -> bool:
        async with gate:
            source = await asyncio.to_thread(path.read_text, encoding="utf-8", errors="replace")
            result = await pdflatex.render(source, DPI, halt_on_error=False, all_pages=True)
            return result.ok

    started = time.perf_counter()
    drawn = sum(await asyncio.gather(*(one(path) for path in files)))
    return time.perf_counter() - started, drawn


async def main_async(corpus: Path, repeat: int, jobs: int) -> int:
    if not pdflatex.available():
        print(f"needs pdflatex and poppler: {pdflatex.INSTALL}")
        return 1
    files = sorted(await asyncio.to_thread(lambda: list(corpus.glob("*.tex"))))
    if not files:
        print(f"no .tex files in {corpus}")
        return 1
    our_walls: list[float] = []
    their_walls: list[float] = []
    with tempfile.TemporaryDirectory(prefix="modswap-render-command-") as scratch:
        for attempt in range(repeat):
            out = Path(scratch) / f"run{attempt}"
            wall, our_drawn = await ours(files, out)
            our_walls.append(wall)
            await asyncio.to_thread(shutil.rmtree, out, True)
            wall, their_drawn = await theirs(files, jobs)
            their_walls.append(wall)
            print(
                f"pass {attempt + 1}: ours {our_walls[-1]:.1f} s ({our_drawn} drawn), "
                f"pdflatex+pdftoppm x{jobs} {their_walls[-1]:.1f} s ({their_drawn} drawn)"
            )
    best_ours, best_theirs = min(our_walls), min(their_walls)
    print(
        f"\n{len(files)} documents at {DPI} dpi, best of {repeat}: ours {best_ours:.1f} s, "
        f"pdflatex+pdftoppm with {jobs} jobs {best_theirs:.1f} s → {best_theirs / best_ours:.2f}x "
        f"(median of passes {statistics.median(their_walls) / statistics.median(our_walls):.2f}x)"
        "; goal >= 2x"
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", default=str(ROOT / "bench" / "corpus"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2, help="pdflatex jobs at a time")
    arguments = parser.parse_args()
    return asyncio.run(main_async(Path(arguments.corpus), arguments.repeat, arguments.jobs))


if __name__ == "__main__":
    sys.exit(main())
