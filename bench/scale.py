#!/usr/bin/env python3
"""Sharded runs: throughput at K = 1 and 2, Ray's costs, a killed worker, tokens per minute.

Prints, each measured in this run against a baseline of this run:
1. Simulated models (the quickstart society; CPU-bound: Chromium and Python): accepted
   pairs/s of a plain run, of --shards 1 and --shards 2 as local processes, and of
   --shards 2 on a local Ray cluster; the scaling efficiency rate(K=2) / (2 · rate(K=1));
   where the time goes (each shard's society time, the rest: start-up, merge).
2. The same with every role on the fake OpenAI server answering in --latency s (I/O-bound,
   as real models are): K = 1 against K = 2.
3. Ray: start-up of a local cluster (ray.init to ready, then shutdown) and the memory of
   each shard (its worker, its run.py process and Chromium: summed PSS, read when the
   shard first commits).
4. A shard's Ray worker SIGKILLed after its first commit (fake server): seconds until the
   shard runs again and until it commits again; the requests the server saw twice (same
   body), and when their first answers left the server against the kill. Want: none
   answered well before it (those are in the response cache).
5. Tokens per minute: every role on the fake with a tokens-per-minute limit and the model's
   `tpm` set to it: tokens served per minute once the first minute's full bucket is spent,
   as a share of the limit (want >= 90 %), and the 429s (want 0).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.latency import ROOT, fake_server

SIMULATED = ROOT / "scenarios" / "quickstart.yaml"

FAKE_SCENARIO = """\
name: scale-bench
seed: 5
target: {{accepted_qa: {target}}}
output: {output}
models:
  fake:
    kind: openai
    base_url: http://127.0.0.1:{port}/v1
    model: fake-1s
    api_key_env: SCALE_BENCH_KEY
    concurrency: {concurrency}
{tpm}    timeout_s: 60
    max_tokens: {max_tokens}
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


def environment(ray_dir: str) -> dict[str, str]:
    return {**os.environ, "RAY_TMPDIR": ray_dir, "SCALE_BENCH_KEY": "sk-bench-0000"}


def run_command(arguments: list[str], env: dict[str, str]) -> tuple[float, list[str]]:
    """run.py ARGUMENTS --quiet: its wall time and its output lines; a failure ends it."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "run.py", *arguments, "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
    )
    if result.returncode != 0:
        raise SystemExit(f"run.py {arguments} failed:\n{result.stdout[-2000:]}{result.stderr}")
    return time.perf_counter() - started, result.stdout.splitlines()


def accepted_of(run_dir: Path) -> int:
    info = json.loads((run_dir / "run.json").read_text())
    return int(info["progress"]["accepted"])


def shard_walls(run_dir: Path) -> list[float]:
    return [
        float(json.loads((d / "run.json").read_text())["last_session"]["wall_s"])
        for d in sorted((run_dir / "shards").iterdir())
    ]


def throughput(scenario: Path, scratch: Path, env: dict[str, str], target: int) -> None:
    rows = []
    configurations = [
        ("plain run", []),
        ("--shards 1", ["--shards", "1"]),
        ("--shards 2", ["--shards", "2"]),
        ("--shards 2 --ray local", ["--shards", "2", "--ray", "local"]),
    ]
    for name, flags in configurations:
        run_dir = scratch / re.sub(r"\W+", "-", name)
        wall, _ = run_command(
            [str(scenario), "--target", str(target), "--out", str(run_dir), *flags], env
        )
        accepted = accepted_of(run_dir)
        walls = shard_walls(run_dir) if flags else []
        rows.append((name, wall, accepted, walls))
        society = ", ".join(f"{w:.1f}" for w in walls) or "–"
        print(
            f"  {name:<24} {accepted:>4} accepted in {wall:6.1f} s = {accepted / wall:5.2f} "
            f"pairs/s; shards' society time {society} s; the rest (start-up, merge) "
            f"{wall - max(walls, default=wall):.1f} s",
            flush=True,
        )
    rate = {name: accepted / wall for name, wall, accepted, _ in rows}
    print(
        f"  scaling efficiency, local: {rate['--shards 2'] / (2 * rate['--shards 1']):.0%}; "
        f"on Ray: {rate['--shards 2 --ray local'] / (2 * rate['--shards 1']):.0%}; "
        f"--shards 1 against a plain run: {rate['--shards 1'] / rate['plain run']:.0%}",
        flush=True,
    )


def fake_scenario(scratch: Path, port: int, target: int, **settings: object) -> Path:
    path = scratch / f"fake-{port}-{target}.yaml"
    values: dict[str, object] = {"concurrency": 8, "tpm": "", "max_tokens": 2000, "inflight": 6}
    values.update(settings)
    path.write_text(
        FAKE_SCENARIO.format(target=target, output=scratch / "out", port=port, **values)
    )
    return path


def io_bound(scratch: Path, env: dict[str, str], target: int, latency: float) -> None:
    log = scratch / "io-calls.jsonl"
    with fake_server(latency, log) as port:
        scenario = fake_scenario(scratch, port, target)
        rates = {}
        for shards in (1, 2):
            run_dir = scratch / f"io-{shards}"
            wall, _ = run_command(
                [str(scenario), "--shards", str(shards), "--no-cache", "--out", str(run_dir)], env
            )
            rates[shards] = accepted_of(run_dir) / wall
            print(
                f"  fake server ({latency} s a call), --shards {shards}: "
                f"{accepted_of(run_dir)} accepted in {wall:.1f} s = {rates[shards]:.2f} pairs/s",
                flush=True,
            )
    print(f"  scaling efficiency: {rates[2] / (2 * rates[1]):.0%}", flush=True)


def ray_costs(env: dict[str, str]) -> None:
    probe = (
        "import time, ray; t = time.perf_counter(); "
        "ray.init(address='local', include_dashboard=False, log_to_driver=False); "
        "up = time.perf_counter() - t; ray.shutdown(); "
        "print(up, time.perf_counter() - t)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True
    )
    up, total = (float(x) for x in result.stdout.split()[-2:])
    print(f"  Ray local cluster: ready in {up:.1f} s, up and shut down in {total:.1f} s")


def tree_pss_mb(pid: int) -> float:
    """Memory of a process and its descendants, in MiB: their proportional set sizes, so
    pages Chromium's processes share are counted once, not once per process."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            rollup = Path(f"/proc/{current}/smaps_rollup").read_text()
            total += int(re.search(r"^Pss:\s+(\d+)", rollup, re.M).group(1))  # type: ignore[union-attr]
            for task in Path(f"/proc/{current}/task").iterdir():
                children = (task / "children").read_text().split()
                pending += [int(child) for child in children]
        except (OSError, AttributeError):
            continue
    return total / 1024


def killed_worker(scratch: Path, env: dict[str, str], target: int, latency: float) -> None:
    """Shard 0's Ray worker SIGKILLed after its first commit, against the fake server."""
    log = scratch / "kill-calls.jsonl"
    with fake_server(latency, log) as port:
        scenario = fake_scenario(scratch, port, target)
        command = [sys.executable, "run.py", str(scenario), "--shards", "2", "--ray", "local"]
        command += ["--quiet", "--out", str(scratch / "killed")]
        workers: dict[str, int] = {}
        memory: dict[str, float] = {}
        marks: dict[str, float] = {}
        with subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        ) as process:
            assert process.stdout is not None
            for line in process.stdout:
                now = time.monotonic()
                if placed := re.match(r"shard (\d): on node \w+, worker pid (\d+)", line):
                    workers[placed.group(1)] = int(placed.group(2))
                    if "kill" in marks and placed.group(1) == "0" and "back" not in marks:
                        marks["back"] = now
                progress = re.match(r"shard (\d): (\d+)/\d+ accepted", line)
                if not progress or int(progress.group(2)) == 0:
                    continue
                shard = progress.group(1)
                if shard not in memory:
                    memory[shard] = tree_pss_mb(workers[shard])
                if shard == "0" and "kill" not in marks:
                    os.kill(workers["0"], signal.SIGKILL)
                    marks["kill"] = time.monotonic()
                elif shard == "0" and "back" in marks and "commit" not in marks:
                    marks["commit"] = now
            if process.wait() != 0:
                raise SystemExit("the killed run did not finish")
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    seen: dict[str, list[dict[str, float]]] = {}
    for call in calls:
        seen.setdefault(str(call.get("digest")), []).append(call)
    twice = [group for group in seen.values() if len(group) > 1]
    # When the first answer of each repeated request left the server, against the kill:
    # an answer still on its way (or not yet cached) when the worker died is asked again.
    gaps = sorted(group[0]["end"] - marks["kill"] for group in twice)
    print(
        "  memory per shard (its Ray worker + run.py + Chromium): "
        + ", ".join(f"shard {s} {mb:.0f} MiB" for s, mb in sorted(memory.items())),
        flush=True,
    )
    print(
        f"  killed shard 0's worker: running again after {marks['back'] - marks['kill']:.1f} s, "
        f"committing again after {marks.get('commit', float('nan')) - marks['kill']:.1f} s; "
        f"{len(calls)} requests, {len(twice)} asked twice"
        + (
            f", whose first answers left the server {gaps[0]:+.2f} to {gaps[-1]:+.2f} s from "
            "the kill"
            if gaps
            else ""
        ),
        flush=True,
    )


def tokens_per_minute(scratch: Path, env: dict[str, str], target: int, limit: int) -> None:
    log = scratch / "tpm-calls.jsonl"
    with fake_server(0.2, log, "--tpm-limit", str(limit)) as port:
        scenario = fake_scenario(
            scratch, port, target, tpm=f"    tpm: {limit}\n", max_tokens=600, concurrency=16
        )
        run_command([str(scenario), "--no-cache", "--out", str(scratch / "tpm")], env)
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    refused = sum(1 for call in calls if call.get("status") == 429)
    served = [c for c in calls if c.get("status") == 200]
    ends = sorted(c["end"] for c in served)
    # The bucket starts full (a minute's worth): the limit binds only once that is spent,
    # so the steady window starts a minute in and leaves out the last 10 % (draining).
    low, high = ends[0] + 60.0, ends[0] + 0.9 * (ends[-1] - ends[0])
    if high - low < 30:
        raise SystemExit("the tpm run was too short to pass its first minute: raise --tpm-target")
    # The fake counts what was asked for, as providers do: the prompt plus max_tokens is
    # reserved, then settled to what was used; this is the settled figure.
    tokens = sum(
        c["prompt_tokens"] + c["completion_tokens"] for c in served if low <= c["end"] <= high
    )
    per_minute = tokens / (high - low) * 60
    print(
        f"  tpm limit {limit}: {per_minute:.0f} tokens/min served from the first minute on "
        f"({high - low:.0f} s) = {per_minute / limit:.0%} of the limit; {refused} answered 429 "
        f"of {len(calls)}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--target", type=int, default=150, help="accepted pairs per run")
    parser.add_argument("--latency", type=float, default=1.0, help="fake server, s a call")
    parser.add_argument("--tpm", type=int, default=20_000, help="fake server's tokens/min")
    parser.add_argument("--tpm-target", type=int, default=30, help="pairs of the tpm run")
    parser.add_argument(
        "--only", help="comma-separated parts: simulated,io,ray,kill,tpm (default: all)"
    )
    args = parser.parse_args()
    parts = set((args.only or "simulated,io,ray,kill,tpm").split(","))
    with tempfile.TemporaryDirectory(prefix="scale") as scratch_name:
        scratch = Path(scratch_name)
        ray_dir = tempfile.mkdtemp(prefix="ray", dir="/tmp")
        env = environment(ray_dir)
        if "simulated" in parts:
            print(f"1. simulated models, target {args.target}", flush=True)
            throughput(SIMULATED, scratch, env, args.target)
        if "io" in parts:
            print(f"2. fake server, target {args.target}", flush=True)
            io_bound(scratch, env, args.target, args.latency)
        if "ray" in parts:
            print("3. Ray", flush=True)
            ray_costs(env)
        if "kill" in parts:
            print("4. a killed Ray worker", flush=True)
            killed_worker(scratch, env, args.target, args.latency)
        if "tpm" in parts:
            print("5. tokens per minute", flush=True)
            tokens_per_minute(scratch, env, args.tpm_target, args.tpm)


if __name__ == "__main__":
    main()
