#!/usr/bin/env python3
"""Offline jury benchmark: the full jury's majority against a cascade, on one seed.

    python bench/jury.py [--target 300] [--seed 7] [--first skimmer] [--quick checker]

Five simulated jurors of mixed skill: two quick ones (skimmer persona, or `--quick`, on a
sloppy model) and three careful ones (auditor, pedant ×2). "full" asks all five about every
pair and takes the majority; "cascade" asks the `--first` personas first (default: skimmer)
and the others only about pairs the first do not agree on. Both run as variants of one scenario
(same seed, same tables and questions), then: juror calls per accepted pair, and the jury's
precision and recall against the simulation's oracle. Goal (issue 12): precision >= 0.99 at
recall >= 0.95, the cascade at <= 60 % of the full jury's juror calls.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SCENARIO = """\
name: jury-bench
seed: {seed}
target: {{accepted_qa: {target}}}
models:
  sim-careful: {{kind: simulated, skill: 0.95}}
  sim-quick: {{kind: simulated, skill: 0.7}}
agents:
  - {{role: inspirer, persona: cartographer, model: sim-careful}}
  - {{role: generator, persona: analyst, model: sim-careful, count: 2}}
  - {{role: questioner, persona: puzzle-setter, model: sim-careful}}
  - {{role: juror, persona: {quick}, model: sim-quick, count: 2}}
  - {{role: juror, persona: auditor, model: sim-careful}}
  - {{role: juror, persona: pedant, model: sim-careful, count: 2}}
consensus: {{rule: majority}}
max_inflight: 4
variants:
  full: {{}}
  cascade: {{set: {{consensus.rule: cascade, consensus.first: [{first}]}}}}
"""


def figures(run_dir: Path) -> dict[str, float]:
    info = json.loads((run_dir / "run.json").read_text())
    rows = [json.loads(line) for line in (run_dir / "records.jsonl").read_text().splitlines()]
    accepted = [r for r in rows if r["accepted"]]
    truths = [r for r in rows if r.get("ground_truth") is not None]
    right = sum(r["accepted"] and r["ground_truth"] for r in truths)
    juror_calls = sum(
        row["calls"] for row in info["ledger"]["by_model_role"] if row["role"] == "juror"
    )
    return {
        "pairs": len(rows),
        "accepted": len(accepted),
        "juror_calls": juror_calls,
        "calls_per_accepted": juror_calls / max(1, len(accepted)),
        "precision": right / max(1, sum(r["accepted"] for r in truths)),
        "recall": right / max(1, sum(bool(r["ground_truth"]) for r in truths)),
        "escalated": sum(r.get("stage", 1) > 1 for r in rows) / max(1, len(rows)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--target", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--first", default="skimmer", help="the cascade's first juror personas, comma-separated"
    )
    parser.add_argument(
        "--quick", default="skimmer", help="the two quick jurors' persona (checker: with tools)"
    )
    options = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="modswap-jury-"))
    scenario = work / "jury.yaml"
    first = ", ".join(name.strip() for name in options.first.split(","))
    scenario.write_text(
        SCENARIO.format(seed=options.seed, target=options.target, first=first, quick=options.quick)
    )
    command = [sys.executable, str(ROOT / "run.py"), str(scenario), "--quiet"]
    done = subprocess.run(
        [*command, "--out", str(work / "runs")],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        print(done.stdout[-2000:], done.stderr[-2000:])
        return done.returncode
    full, cascade = figures(work / "runs" / "full"), figures(work / "runs" / "cascade")
    print(f"target {options.target}, seed {options.seed}, quick jurors {options.quick}")
    print(f"cascade first [{first}]; runs in {work}")
    print(f"{'':28}{'full majority':>16}{'cascade':>16}")
    for key, label, fmt in (
        ("pairs", "pairs judged", "{:.0f}"),
        ("accepted", "accepted", "{:.0f}"),
        ("juror_calls", "juror calls", "{:.0f}"),
        ("calls_per_accepted", "juror calls per accepted", "{:.2f}"),
        ("precision", "precision (oracle)", "{:.3f}"),
        ("recall", "recall (oracle)", "{:.3f}"),
        ("escalated", "pairs sent to stage 2", "{:.1%}"),
    ):
        print(f"  {label:<26}{fmt.format(full[key]):>16}{fmt.format(cascade[key]):>16}")
    ratio = cascade["calls_per_accepted"] / full["calls_per_accepted"]
    print(f"  cascade juror calls per accepted pair: {ratio:.0%} of the full jury's (goal <= 60%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
