#!/usr/bin/env python3
"""Offline benchmark: a tool-checking juror against the same juror unaided, on the same pairs.

    python bench/tool_juror.py [--target 300] [--seed 7] [--skill 0.7] [--wrong 0.3]
    python bench/tool_juror.py --base-url http://127.0.0.1:8090/v1 --target 6

One run, two jurors with the same persona (checker) on models of the same skill (two names,
so the ledger counts their calls apart): one checks each pair with the grid tools
(tool_rounds 3), the other votes unaided (tool_rounds 0). Both vote on every pair, so their
rates are paired. Prints each juror's false-accept rate on wrong answers and false-reject
rate on right ones (against the oracle), tool and model calls per vote, and the pairs the two
disagree on. Figures for issue 12 (a).

What it measures offline is the wiring (tools offered, called, read, the vote cast after)
and the simulated juror's rule that checking removes its own slips; a real model's gain is
for bench/real_model.py with a checker persona on a real endpoint.
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
name: tool-juror-bench
seed: {seed}
target: {{accepted_qa: {target}}}
models:
  sim-careful: {{kind: simulated, skill: 0.95}}
{juror_models}personas:
  unaided: {{extends: checker, tool_rounds: 0}}
  puzzle-setter: {{behaviour: {{faults: {{wrong_answer: {wrong}}}}}}}
agents:
  - {{role: inspirer, persona: cartographer, model: sim-careful}}
  - {{role: generator, persona: analyst, model: sim-careful, count: 2}}
  - {{role: questioner, persona: puzzle-setter, model: sim-careful}}
  - {{role: juror, persona: checker, model: juror-t}}
  - {{role: juror, persona: unaided, model: juror-u}}
  - {{role: juror, persona: auditor, model: sim-careful}}
consensus: {{rule: majority}}
max_inflight: 4
"""


def juror_figures(rows: list[dict], juror: str) -> dict[str, float]:
    cast = [vote for row in rows for vote in row["votes"] if vote["juror"] == juror]
    votes = [
        (vote, row["ground_truth"])
        for row in rows
        if row.get("ground_truth") is not None
        for vote in row["votes"]
        if vote["juror"] == juror and vote["verdict"] is not None
    ]
    wrong = [vote for vote, truth in votes if not truth]
    right = [vote for vote, truth in votes if truth]
    return {
        "votes": len(votes),
        "false_accept": sum(v["verdict"] for v in wrong) / max(1, len(wrong)),
        "false_reject": sum(not v["verdict"] for v in right) / max(1, len(right)),
        "tool_calls_per_vote": sum(len(v["tools"]) for v, _ in votes) / max(1, len(votes)),
        "wrong_pairs": len(wrong),
        "all_votes": len(cast),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--target", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--skill", type=float, default=0.7)
    parser.add_argument(
        "--wrong", type=float, default=0.3, help="the questioner's share of wrong answers"
    )
    parser.add_argument("--base-url", help="put the two jurors on this endpoint instead")
    parser.add_argument("--model", default="qwen2.5-coder-1.5b", help="its model name")
    options = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="modswap-tool-juror-"))
    scenario = work / "tool-juror.yaml"
    # One request at a time, as a CPU-served model needs; a verdict or a tool call fits in
    # 200 tokens, and a small model that runs on in blank lines stops there.
    if options.base_url:
        model = (
            f"{{kind: openai, base_url: '{options.base_url}', model: '{options.model}', "
            "temperature: 0.2, max_tokens: 200, concurrency: 1, timeout_s: 600, "
            "max_retries: 2, bench_after_failures: 5, cooldown_s: 30}"
        )
    else:
        model = f"{{kind: simulated, skill: {options.skill}}}"
    juror_models = f"  juror-t: {model}\n  juror-u: {model}\n"
    scenario.write_text(
        SCENARIO.format(
            seed=options.seed,
            target=options.target,
            juror_models=juror_models,
            wrong=options.wrong,
        )
    )
    run_dir = work / "run"
    command = [sys.executable, str(ROOT / "run.py"), str(scenario), "--quiet", "--out"]
    done = subprocess.run([*command, str(run_dir)], capture_output=True, text=True)
    if done.returncode != 0:
        print(done.stdout[-2000:], done.stderr[-2000:])
        return done.returncode
    rows = [json.loads(line) for line in (run_dir / "records.jsonl").read_text().splitlines()]
    ledger = json.loads((run_dir / "run.json").read_text())["ledger"]["by_model_role"]
    calls = {row["model"]: row["calls"] for row in ledger if row["role"] == "juror"}
    tools, unaided = juror_figures(rows, "checker"), juror_figures(rows, "unaided")
    juror = options.model if options.base_url else f"simulated, skill {options.skill}"
    print(f"target {options.target}, seed {options.seed}, wrong answers {options.wrong:.0%}")
    print(f"jurors: {juror}")
    print(f"run in {run_dir}")
    print(f"{'':34}{'with tools':>12}{'unaided':>12}")
    for key, label, fmt in (
        ("votes", "votes on pairs with a truth", "{:.0f}"),
        ("wrong_pairs", "of which on wrong answers", "{:.0f}"),
        ("false_accept", "false accepts of wrong answers", "{:.1%}"),
        ("false_reject", "false rejects of right answers", "{:.1%}"),
        ("tool_calls_per_vote", "tool calls per vote", "{:.2f}"),
    ):
        print(f"  {label:<32}{fmt.format(tools[key]):>12}{fmt.format(unaided[key]):>12}")
    per_vote = [
        calls.get(model, 0) / max(1, figures["all_votes"])
        for model, figures in (("juror-t", tools), ("juror-u", unaided))
    ]
    print(f"  {'model calls per vote':<32}{per_vote[0]:>12.2f}{per_vote[1]:>12.2f}")
    disagree = [
        (by["checker"], row["ground_truth"])
        for row in rows
        if row.get("ground_truth") is not None
        for by in [{v["juror"]: v["verdict"] for v in row["votes"]}]
        if None not in (by.get("checker"), by.get("unaided")) and by["checker"] != by["unaided"]
    ]
    checker_right = sum(verdict == truth for verdict, truth in disagree)
    print(f"  pairs the two disagree on: {len(disagree)}; the tool juror right on {checker_right}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
