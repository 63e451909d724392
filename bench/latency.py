#!/usr/bin/env python3
"""Endpoint throughput benchmark: every role on one fake OpenAI-compatible model that takes
`--latency` seconds per call (default 1.0), run to N accepted QA pairs (default 300).

With concurrency C and rpm R the best a client can do is min(C / latency, R / 60) calls/s.
Prints, per configuration: calls/s over the whole run and over its steady middle (first and
last 10 % of the calls' time span left out: the pipeline filling and draining), their ratio
to that bound, and accepted QA/s. Goal (issue 4): >= 85 % of the bound at C = 32.
The fake server runs in its own process, so it does not share the run's event loop. The
scenario keeps 3/4·C inspirations in flight (each keeps ~8 calls busy on average).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SCENARIO = """\
name: latency-bench
seed: 3
target: {{accepted_qa: {target}}}
output: {output}
models:
  fake:
    kind: openai
    base_url: http://127.0.0.1:{port}/v1
    model: fake-1s
    concurrency: {concurrency}
{rpm}    timeout_s: 30
    max_tokens: 4000
agents:
  - {{role: inspirer,   persona: cartographer,  model: fake}}
  - {{role: generator,  persona: analyst,       model: fake, count: 2}}
  - {{role: questioner, persona: puzzle-setter, model: fake}}
  - {{role: juror,      persona: auditor,       model: fake}}
  - {{role: juror,      persona: pedant,        model: fake}}
  - {{role: juror,      persona: skimmer,       model: fake}}
consensus: {{rule: majority}}
tables_per_call: 3
qa_per_table: 3
max_inflight: {inflight}
render: {{pages: 2, scale: 1}}
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    """Readiness of a child server: connect until it accepts (or it died)."""
    for _ in range(200):
        if process.poll() is not None:
            raise SystemExit("the fake server exited")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit("the fake server did not start")


def call_rates(calls: list[dict[str, float]]) -> tuple[float, float]:
    """Calls/s over the calls' whole time span, and over its steady middle (the first and
    last 10 % left out: the pipeline filling and draining)."""
    starts = sorted(call["start"] for call in calls)
    ends = sorted(call["end"] for call in calls)
    span = ends[-1] - starts[0]
    low, high = starts[0] + 0.1 * span, starts[0] + 0.9 * span
    steady = sum(1 for call in calls if low <= call["end"] <= high)
    return len(calls) / span, steady / (high - low)


@contextmanager
def fake_server(latency: float, log: Path, *extra: str) -> Iterator[int]:
    """The fake OpenAI server in its own process (answering in `latency` s, one JSON line
    per call in `log`), on a free port it yields once the port accepts."""
    port = free_port()
    serve = [sys.executable, "-m", "tests.fakes.openai_server", "--port", str(port)]
    server = subprocess.Popen(
        [*serve, "--latency", str(latency), "--log", str(log), *extra],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, server)
        yield port
    finally:
        server.terminate()
        server.wait()


def timed_run(*arguments: str) -> float:
    """`run.py ARGUMENTS` in the project, its wall time; a failure ends the benchmark."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "run.py", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=dict(os.environ),
    )
    if result.returncode != 0:
        raise SystemExit(f"run.py failed ({result.returncode}):\n{result.stderr[-2000:]}")
    return time.perf_counter() - started


def measure(concurrency: int, rpm: int | None, target: int, latency: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as scratch:
        log = Path(scratch) / "calls.jsonl"
        with fake_server(latency, log) as port:
            scenario = Path(scratch) / "bench.yaml"
            scenario.write_text(
                SCENARIO.format(
                    target=target,
                    output=Path(scratch) / "out",
                    port=port,
                    concurrency=concurrency,
                    rpm=f"    rpm: {rpm}\n" if rpm else "",
                    inflight=max(4, concurrency * 3 // 4),
                )
            )
            run_dir = Path(scratch) / "run"
            wall = timed_run(str(scenario), "--quiet", "--no-cache", "--out", str(run_dir))
            info = json.loads((run_dir / "run.json").read_text())
        calls = [json.loads(line) for line in log.read_text().splitlines()]
    whole, steady = call_rates(calls)
    bound = min(concurrency / latency, rpm / 60 if rpm else float("inf"))
    session = info["last_session"]
    by_role: dict[str, int] = {}
    for row in info["ledger"]["by_model_role"]:
        by_role[row["role"]] = by_role.get(row["role"], 0) + row["calls"]
    print(f"  calls by role {by_role}; records {info['summary']['records']}", flush=True)
    return {
        "calls": len(calls),
        "calls_per_s": whole,
        "steady_calls_per_s": steady,
        "bound_calls_per_s": bound,
        "accepted": info["summary"]["accepted"],
        "accepted_qa_per_s": info["summary"]["accepted"] / session["wall_s"],
        "society_wall_s": session["wall_s"],
        "process_wall_s": wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--target", type=int, default=300)
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument(
        "--configs",
        default="32:0,32:600,8:0",
        help="concurrency:rpm pairs (rpm 0 = no limit)",
    )
    args = parser.parse_args()
    print(f"fake endpoint latency {args.latency:g} s, target {args.target} accepted QA pairs")
    for config in args.configs.split(","):
        concurrency, rpm = (int(part) for part in config.split(":"))
        figures = measure(concurrency, rpm or None, args.target, args.latency)
        bound = figures["bound_calls_per_s"]
        print(
            f"C={concurrency:<3} R={rpm or '-':<4} bound {bound:5.1f} calls/s | "
            f"whole run {figures['calls_per_s']:5.1f} calls/s "
            f"({figures['calls_per_s'] / bound:6.1%}) | "
            f"steady {figures['steady_calls_per_s']:5.1f} calls/s "
            f"({figures['steady_calls_per_s'] / bound:6.1%}) | "
            f"{figures['calls']} calls, {figures['accepted']} accepted "
            f"({figures['calls'] / figures['accepted']:.1f} calls each), "
            f"{figures['accepted_qa_per_s']:.2f} accepted QA/s over "
            f"{figures['society_wall_s']:.1f} s",
            flush=True,
        )


if __name__ == "__main__":
    main()
