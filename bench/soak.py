"""Soak: one long offline run (default 5,000 accepted pairs) with its memory sampled as it
goes. A run's memory must be flat after warm-up: nothing may be kept per table, pair or
event for the whole run. Prints the memory (PSS, Chromium included) at each tenth of the
target and the growth per 1,000 accepted pairs after the first fifth.

    .venv/bin/python bench/soak.py [--target 5000] [--seed 7]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import run as modswap  # noqa: E402
from bench.pipeline import _pss_bytes, _tree  # noqa: E402


class ProgressSampler(threading.Thread):
    """(accepted, PSS bytes) about every half second, accepted read from run.json."""

    def __init__(self, run_json: Path) -> None:
        super().__init__(daemon=True)
        self.run_json = run_json
        self.samples: list[tuple[int, int]] = []
        self._halt = threading.Event()

    def run(self) -> None:
        import os

        while not self._halt.wait(0.5):
            try:
                accepted = json.loads(self.run_json.read_text())["progress"]["accepted"]
            except (OSError, ValueError, KeyError):
                continue  # not written yet, or mid-rename
            total = sum(_pss_bytes(pid) for pid in _tree(os.getpid()))
            self.samples.append((int(accepted), total))

    def stop(self) -> None:
        self._halt.set()
        self.join()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--target", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=7)
    options = parser.parse_args()
    run_dir = Path(tempfile.mkdtemp(prefix="modswap-soak-")) / "run"
    args = modswap.parser().parse_args(
        [
            "run",
            str(ROOT / "scenarios" / "quickstart.yaml"),
            "--quiet",
            "--out",
            str(run_dir),
            "--target",
            str(options.target),
            "--seed",
            str(options.seed),
        ]
    )
    sampler = ProgressSampler(run_dir / "run.json")
    sampler.start()
    with contextlib.redirect_stdout(io.StringIO()):
        code = asyncio.run(modswap.run_command(args))
    sampler.stop()
    if code != 0:
        raise SystemExit(f"run failed with exit code {code}")
    info = json.loads((run_dir / "run.json").read_text())
    samples = sampler.samples
    if len(samples) < 10:
        raise SystemExit("too few samples: raise --target")
    print(
        f"soak: {info['progress']['accepted']} accepted in {info['last_session']['wall_s']:.0f} s "
        f"(seed {options.seed}), {len(samples)} samples"
    )
    print("  accepted   PSS MiB (peak up to here)")
    for tenth in range(1, 11):
        upto = options.target * tenth // 10
        seen = [pss for accepted, pss in samples if accepted <= upto]
        if seen:
            print(f"  {upto:>8}   {max(seen) / 2**20:7.0f}")
    warm = [(a, p) for a, p in samples if a >= options.target // 5]
    if len(warm) >= 2:
        (a0, p0), (a1, p1) = warm[0], warm[-1]
        slope = (p1 - p0) / 2**20 / max(1, a1 - a0) * 1000
        print(f"  after warm-up: {slope:+.1f} MiB per 1,000 accepted pairs (goal: flat)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
