#!/usr/bin/env python3
"""Offline pipeline benchmark: a quickstart run to N accepted QA pairs (default 200).

Prints accepted QA/s, the share of wall time with at least one render in flight, the
agents + bus overhead measured against a render-only baseline in the same process (every
LaTeX draft of the run rendered again with the same page pool and no agents), and peak
memory (PSS of this process plus its Chromium processes, sampled every 50 ms) in one more
run of its own: the sampler reads every process's page tables, which costs this process
about 40 % of a core — charged to the pipeline and not to the baseline, it had inflated
the overhead it was measured beside.
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
import statistics
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

        # Timed from the state the pipeline's wall starts in: pages open, nothing drawn yet.
        # (A page's first renders take 3-4x a warm one's; warming one page here had charged
        # its cold renders, ~0.2 s, to the agents.)
        started = time.perf_counter()

        await asyncio.gather(*(one(latex) for latex in drafts))
        return time.perf_counter() - started


def quickstart_args(run_dir: Path, target: int, seed: int) -> argparse.Namespace:
    """`run.py run scenarios/quickstart.yaml --quiet` into `run_dir`, as parsed arguments."""
    return modswap.parser().parse_args(
        [
            "run",
            str(ROOT / "scenarios" / "quickstart.yaml"),
            "--quiet",
            "--out",
            str(run_dir),
            "--target",
            str(target),
            "--seed",
            str(seed),
        ]
    )


def run_pipeline(run_dir: Path, target: int, seed: int) -> None:
    args = quickstart_args(run_dir, target, seed)
    with contextlib.redirect_stdout(io.StringIO()):
        code = asyncio.run(modswap.run_command(args))
    if code != 0:
        raise SystemExit(f"run failed with exit code {code}")


def peak_memory_mib(target: int, seed: int) -> float:
    """A pipeline run of its own with the memory sampler on."""
    sampler = MemorySampler()
    sampler.start()
    try:
        run_pipeline(Path(tempfile.mkdtemp(prefix="modswap-bench-")) / "run", target, seed)
    finally:
        sampler.stop()
    return sampler.peak / 2**20


def measure(target: int, seed: int) -> dict[str, float]:
    """One pipeline run plus its render-only baseline; returns the figures."""
    run_dir = Path(tempfile.mkdtemp(prefix="modswap-bench-")) / "run"
    before = resource.getrusage(resource.RUSAGE_SELF)
    run_pipeline(run_dir, target, seed)
    after = resource.getrusage(resource.RUSAGE_SELF)
    python_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    info = json.loads((run_dir / "run.json").read_text())
    session = info["last_session"]
    pages = info["scenario"]["render"]["pages"]
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    # Only drafts the pipeline really rendered (drafts dropped at the stop do not count).
    rendered = {
        (e["data"]["table_id"], e["data"]["attempt"])
        for e in events
        if e["kind"] in ("TableRendered", "RenderFailed")
    }
    drafts = [
        e["data"]["latex"]
        for e in events
        if e["kind"] == "TableDrafted" and (e["data"]["table_id"], e["data"]["attempt"]) in rendered
    ]
    before = resource.getrusage(resource.RUSAGE_SELF)
    baseline = asyncio.run(render_only(drafts, pages))
    after = resource.getrusage(resource.RUSAGE_SELF)
    wall = session["wall_s"]
    return {
        "accepted": info["progress"]["accepted"],
        "drafts": len(drafts),
        "failed": session["render_failures"],
        "dropped": sum(1 for e in events if e["kind"] == "TableDrafted") - len(drafts),
        "wall": wall,
        "qa_per_s": info["progress"]["accepted"] / wall,
        "busy": session["render_busy_s"] / wall,
        "in_flight": session["render_page_s"] / wall,
        "baseline": baseline,
        "overhead": max(0.0, wall - baseline) / wall,
        "python_cpu": python_cpu,
        "baseline_cpu": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        "pages": pages,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--target", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3, help="runs; the median is reported")
    options = parser.parse_args()
    runs = [measure(options.target, options.seed) for _ in range(options.repeat)]
    peak_mib = peak_memory_mib(options.target, options.seed)
    for index, figures in enumerate(runs, 1):
        print(
            f"run {index}: wall {figures['wall']:.2f} s, baseline {figures['baseline']:.2f} s, "
            f"overhead {figures['overhead']:.1%}, {figures['qa_per_s']:.1f} accepted QA/s"
        )
    median = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
    print(f"median of {len(runs)} runs (target {options.target}, seed {options.seed}):")
    print(f"  accepted QA pairs        {median['accepted']:.0f}")
    print(
        f"  drafts rendered          {median['drafts']:.0f} ({median['failed']:.0f} failed; "
        f"{median['dropped']:.0f} drafted after the target and dropped)"
    )
    print(f"  pipeline wall            {median['wall']:.2f} s")
    print(f"  accepted QA / s          {median['qa_per_s']:.1f}")
    print(f"  render busy share        {median['busy']:.1%} of wall (>= 1 render in flight)")
    print(
        f"  renders in flight        {median['in_flight']:.2f} on average ({median['pages']:.0f} "
        "pages; drafts are admitted ahead of them so that none waits for a translation)"
    )
    print(f"  render-only baseline     {median['baseline']:.2f} s for the same drafts")
    print(
        f"  agents + bus overhead    {median['overhead']:.1%} of wall "
        "(1 - baseline / pipeline; goal < 10 %)"
    )
    print(
        f"  python CPU               {median['python_cpu']:.2f} s in the pipeline run, "
        f"{median['baseline_cpu']:.2f} s in the render-only baseline"
    )
    print(
        f"  peak memory (PSS)        {peak_mib:.0f} MiB incl. Chromium, in a run of its own "
        "(goal < 1536 MiB)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
