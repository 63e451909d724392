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
import json
import os
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import run as modswap  # noqa: E402
from bench.pipeline import _pss_bytes, _tree, quickstart_args  # noqa: E402


class ProgressSampler(threading.Thread):
    """(accepted, PSS bytes) about every half second, accepted read from run.json."""

    def __init__(self, run_json: Path) -> None:
        super().__init__(daemon=True)
        self.run_json = run_json
        self.samples: list[tuple[int, int]] = []
        self._halt = threading.Event()

    def run(self) -> None:
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
    args = quickstart_args(run_dir, options.target, options.seed)
    sampler = ProgressSampler(run_dir / "run.json")
    sampler.start()
    # To /dev/null, not a StringIO: a buffer holding every log line would be the leak.
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
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
    print("  accepted up to   PSS MiB: median   max   (samples in that tenth)")
    for tenth in range(1, 11):
        low, high = options.target * (tenth - 1) // 10, options.target * tenth // 10
        window = sorted(pss for accepted, pss in samples if low < accepted <= high)
        if window:
            median, peak = window[len(window) // 2] / 2**20, window[-1] / 2**20
            print(f"  {high:>14}   {median:15.0f} {peak:5.0f}   ({len(window)})")
    warm = [(a, p / 2**20) for a, p in samples if a >= options.target // 5]
    if len(warm) >= 3:  # least-squares slope: one sample's noise does not decide it
        mean_a = sum(a for a, _ in warm) / len(warm)
        mean_p = sum(p for _, p in warm) / len(warm)
        spread = sum((a - mean_a) ** 2 for a, _ in warm) or 1.0
        slope = sum((a - mean_a) * (p - mean_p) for a, p in warm) / spread * 1000
        print(f"  after warm-up: {slope:+.1f} MiB per 1,000 accepted pairs (goal: flat)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
