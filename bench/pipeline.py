#!/usr/bin/env python3
"""Offline pipeline benchmark: a quickstart run to N accepted QA pairs (default 200).

Prints accepted QA/s, the share of wall time with at least one render in flight, the
agents + bus overhead measured against a render-only baseline in the same process (every
LaTeX draft of the run rendered again with the same page pool and no agents), and peak
memory (PSS of this process plus its Chromium processes, sampled every 50 ms).
Goal (issue 2): overhead under 10 % of wall time; peak under 1.5 GB with 2 render pages.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import run as modswap  # noqa: E402
from renderers.chromium import ChromiumRenderer  # noqa: E402
from renderers.errors import LatexRenderError  # noqa: E402


def _tree(root: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            parents.setdefault(parent, []).append(int(entry))
    found, queue = [root], [root]
    while queue:
        for child in parents.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def _pss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class MemorySampler(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(0.05):
            total = sum(_pss_bytes(pid) for pid in _tree(os.getpid()))
            self.peak = max(self.peak, total)

    def stop(self) -> None:
        self._halt.set()
        self.join()


async def render_only(drafts: list[str], pages: int) -> float:
    async with ChromiumRenderer(pages=pages) as renderer:
        async def one(latex: str) -> None:
            with contextlib.suppress(LatexRenderError):
                await renderer.render(latex)

        await one(drafts[0])  # warm, like the pipeline's first table
        started = time.perf_counter()

        await asyncio.gather(*(one(latex) for latex in drafts))
        return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--target", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    options = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="modswap-bench-"))
    run_dir = workdir / "run"
    sampler = MemorySampler()
    sampler.start()
    args = modswap.parser().parse_args(
        ["run", str(ROOT / "scenarios" / "quickstart.yaml"), "--quiet", "--out", str(run_dir),
         "--target", str(options.target), "--seed", str(options.seed)])
    started = time.perf_counter()
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    with contextlib.redirect_stdout(io.StringIO()):
        code = asyncio.run(modswap.run_command(args))
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    total = time.perf_counter() - started
    python_cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime -
                                                               cpu_before.ru_stime)
    sampler.stop()
    if code != 0:
        print(f"run failed with exit code {code}")
        return 1
    info = json.loads((run_dir / "run.json").read_text())
    session = info["last_session"]
    pages = info["scenario"]["render"]["pages"]
    accepted = info["progress"]["accepted"]
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    # Only drafts the pipeline really rendered (drafts dropped at the stop do not count).
    rendered = {(e["data"]["table_id"], e["data"]["attempt"]) for e in events
                if e["kind"] in ("TableRendered", "RenderFailed")}
    drafts = [e["data"]["latex"] for e in events if e["kind"] == "TableDrafted"
              and (e["data"]["table_id"], e["data"]["attempt"]) in rendered]
    dropped = sum(1 for e in events if e["kind"] == "TableDrafted") - len(drafts)
    before = resource.getrusage(resource.RUSAGE_SELF)
    baseline = asyncio.run(render_only(drafts, pages))
    after = resource.getrusage(resource.RUSAGE_SELF)
    baseline_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    wall = session["wall_s"]
    overhead = max(0.0, wall - baseline) / wall
    print(f"accepted QA pairs        {accepted} (target {options.target}, seed {options.seed})")
    print(f"records                  {sum(1 for _ in (run_dir / 'records.jsonl').open())}")
    print(f"drafts rendered          {len(drafts)} ({session['render_failures']} failed; "
          f"{dropped} drafted after the target was reached and dropped)")
    print(f"pipeline wall            {wall:.2f} s (process incl. Chromium start: {total:.2f} s)")
    print(f"accepted QA / s          {accepted / wall:.1f}")
    print(f"render busy share        {session['render_busy_s'] / wall:.1%} of wall "
          "(≥ 1 render in flight)")
    print(f"page utilisation         {session['render_page_s'] / (wall * pages):.1%} "
          f"(mean renders in flight / {pages} pages)")
    print(f"render-only baseline     {baseline:.2f} s for the same {len(drafts)} drafts, "
          f"{pages} pages")
    print(f"agents + bus overhead    {overhead:.1%} of wall  (1 − baseline / pipeline; "
          "goal < 10 %)")
    print(f"python process CPU       {python_cpu:.2f} s ({python_cpu / total:.0%} of one core "
          f"over the whole process run; render-only baseline: {baseline_cpu:.2f} s)")
    print(f"peak memory (PSS)        {sampler.peak / 2**20:.0f} MiB incl. Chromium "
          "(goal < 1536 MiB)")
    print(f"run folder               {run_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
