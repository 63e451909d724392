#!/usr/bin/env python3
"""A small all-real run against one OpenAI-compatible model, and what it shows per role.

    python bench/real_model.py --base-url http://127.0.0.1:8090/v1 --model qwen2.5-coder-1.5b

Every role (inspirer, generator, questioner, three jurors) on the one model, one request at a
time, to `--target` accepted pairs. Then, from the run folder: per role, calls, first-try
parse rate, re-asks, seconds and tokens per call; renders (first try, after repair, given
up, partial); acceptance, juror agreement and abstentions; tables lost to unusable output.
Goals (issue 16): first-try parse rate >= 95 % per role, no table lost to invalid JSON.
Slow on a CPU (a table takes about a minute): a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agents.base import MAX_ATTEMPTS  # noqa: E402
from environment.storage.store import iter_events  # noqa: E402

SCENARIO = """\
name: real-model-bench
seed: {seed}
target: {{accepted_qa: {target}}}
output: {out}
models:
  real:
    kind: openai
    base_url: {base_url}
    model: {model}
    temperature: 0.3
    max_tokens: {max_tokens}
    concurrency: 1
    timeout_s: {timeout}
    max_retries: 2
    bench_after_failures: 5
    cooldown_s: 30
    structured_output: {structured}
agents:
  - {{role: inspirer,   persona: cartographer,  model: real}}
  - {{role: generator,  persona: analyst,       model: real}}
  - {{role: questioner, persona: puzzle-setter, model: real}}
  - {{role: juror,      persona: auditor,       model: real}}
  - {{role: juror,      persona: pedant,        model: real}}
  - {{role: juror,      persona: skimmer,       model: real}}
consensus: {{rule: majority}}
tables_per_call: 1
qa_per_table: 2
max_inflight: 1
"""


def read_lines(path: Path) -> list[dict[str, Any]]:
    """A run file's JSON lines, a torn or corrupt line left out (the run may have been cut)."""
    return list(iter_events(path, skipped=[])) if path.exists() else []


def role_table(run: Path) -> list[str]:
    calls: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in read_lines(run / "ledger.jsonl"):
        calls[row["role"]].append(row["completion"])
    rejected: dict[str, Counter[int]] = defaultdict(Counter)
    for event in read_lines(run / "events.jsonl"):
        if event["kind"] == "OutputRejected":
            rejected[event["data"]["role"]][event["data"]["attempt"]] += 1
    lines = [
        f"{'role':<11}{'calls':>6}{'first-try ok':>14}{'re-asks':>9}{'s/call':>8}"
        f"{'prompt tok':>12}{'reply tok':>11}"
    ]
    for role in ("inspirer", "generator", "questioner", "juror"):
        made = calls.get(role, [])
        re_asks = sum(n for attempt, n in rejected[role].items() if attempt < MAX_ATTEMPTS)
        asks = max(len(made) - re_asks, 0)
        first_ok = 1 - rejected[role][1] / asks if asks else float("nan")
        seconds = statistics.mean(c.get("seconds", 0.0) for c in made) if made else 0.0
        prompt = statistics.mean(c["prompt_tokens"] for c in made) if made else 0
        reply = statistics.mean(c["completion_tokens"] for c in made) if made else 0
        lines.append(
            f"{role:<11}{len(made):>6}{first_ok:>13.0%} {re_asks:>8}{seconds:>8.1f}"
            f"{prompt:>12.0f}{reply:>11.0f}"
        )
    return lines


def outcome_lines(run: Path) -> list[str]:
    events = read_lines(run / "events.jsonl")
    kinds = Counter(event["kind"] for event in events)
    rendered = [e["data"] for e in events if e["kind"] == "TableRendered"]
    partial = sum(1 for r in rendered if any("partial" in w for w in r.get("warnings", ())))
    first_try = sum(1 for r in rendered if r["attempt"] == 1)
    leaks_kept = sum(1 for r in rendered if any("source drawn as text" in w for w in r["warnings"]))
    leaks_refused = sum(
        1
        for e in events
        if e["kind"] == "RenderFailed" and "source drawn as text" in e["data"]["problem"]["message"]
    )
    records = read_lines(run / "records.jsonl")
    accepted = sum(1 for r in records if r["accepted"])
    votes = [[v["verdict"] for v in r["votes"]] for r in records]
    cast = [[v for v in vs if v is not None] for vs in votes]
    agreeing = sum(1 for vs in cast if vs and len(set(vs)) == 1)
    abstained = sum(v is None for vs in votes for v in vs)
    lost_to_output = [
        e["data"]["reason"]
        for e in events
        if e["kind"] in ("DraftingFailed", "QuestioningFailed", "InspirationFailed")
    ]
    return [
        f"tables drawn {len(rendered)} (first try {first_try}, after repair "
        f"{len(rendered) - first_try}, partial {partial}); render failures "
        f"{kinds['RenderFailed']}; abandoned {kinds['TableAbandoned']}",
        f"command names drawn as text: {leaks_refused} renders sent back for it, {leaks_kept} kept",
        f"pairs judged {len(records)}, accepted {accepted}"
        + (f" ({accepted / len(records):.0%})" if records else ""),
        f"jurors agreeing on a pair: {agreeing}/{len(records)}; abstentions {abstained} of "
        f"{sum(len(vs) for vs in votes)} votes",
        f"work lost to unusable output: {len(lost_to_output)}"
        + "".join(f"\n  - {reason[:150]}" for reason in lost_to_output[:8]),
        "structured-output step-downs: "
        + str(
            [
                e["data"]["detail"][:120]
                for e in events
                if e["kind"] == "ModelIncident" and e["data"]["kind"] == "degraded"
            ]
        ),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--target", type=int, default=10)
    parser.add_argument("--out", default="out/bench-real-model")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--max-tokens", type=int, default=2500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--structured-output",
        default="auto",
        choices=("auto", "json_schema", "json_object", "none"),
    )
    parser.add_argument("--report-only", action="store_true", help="read an earlier run's folder")
    options = parser.parse_args()
    out = Path(options.out).resolve()
    run = out / "run"
    if not options.report_only:
        if run.exists():  # its figures would be an earlier run's, printed as this one's
            raise SystemExit(f"{run} exists: give another --out, or --report-only to read it")
        out.mkdir(parents=True, exist_ok=True)
        scenario = out / "scenario.yaml"
        scenario.write_text(
            SCENARIO.format(
                seed=options.seed,
                target=options.target,
                out=out / "data",
                base_url=options.base_url,
                model=options.model,
                max_tokens=options.max_tokens,
                timeout=options.timeout,
                structured=options.structured_output,
            ),
            encoding="utf-8",
        )
        command = [
            sys.executable,
            str(ROOT / "run.py"),
            str(scenario),
            "--quiet",
            "--out",
            str(run),
        ]
        finished = subprocess.run(command, cwd=out, check=False)
        print(f"run.py exit status {finished.returncode}")
    print("\n".join(role_table(run)))
    print("\n".join(outcome_lines(run)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
