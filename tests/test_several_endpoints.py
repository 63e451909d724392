"""A model served at several endpoints: calls spread over them, and one that dies is benched
while the others finish the run. Real run.py, real HTTP to two fake servers."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.conftest import run_cli as run
from tests.conftest import start_run_and_wait_for_commits
from tests.fakes.openai_server import FakeOpenAI, ServerThread
from tests.test_real_models import KEY, write_real_scenario


def test_calls_spread_over_two_endpoints_and_one_dying_costs_nothing(tmp_path: Path) -> None:
    first, second = FakeOpenAI(latency_s=0.05), FakeOpenAI(latency_s=0.05)
    first_thread, second_thread = ServerThread(first).start(), ServerThread(second).start()
    try:
        both = f"[{first_thread.base_url}, {second_thread.base_url}]"
        scenario = write_real_scenario(tmp_path, both, target=24, cooldown=600)
        run_dir = tmp_path / "run"
        env = {**os.environ, "MODSWAP_FAKE_KEY": KEY}
        process = start_run_and_wait_for_commits(scenario, run_dir, tmp_path, 1, env)
        served_before = (writer_calls(first), writer_calls(second))
        cut_off = first.in_flight  # calls the dying server may have answered, undelivered
        first_thread.stop()  # the first endpoint dies mid-run
        out, err = process.communicate(timeout=600)
    finally:
        second_thread.stop()
    assert process.returncode == 0, out[-3000:] + err
    # Both endpoints worked while both were up (the least busy one gets each call).
    assert min(served_before) > 0, served_before
    info = json.loads((run_dir / "run.json").read_text())
    rows = [json.loads(line) for line in (run_dir / "records.jsonl").read_text().splitlines()]
    assert sum(row["accepted"] for row in rows) >= 24
    # The run finished on the second endpoint; the first was benched, not the run.
    figures = {entry["base_url"]: entry for entry in info["endpoints"]["writer"]}
    assert figures[first_thread.base_url]["benched"] >= 1
    assert figures[second_thread.base_url]["calls"] == writer_calls(second)
    assert writer_calls(second) > served_before[1]  # it went on alone
    events = (run_dir / "events.jsonl").read_text()
    assert f"writer at {first_thread.base_url}" in events  # incidents name the endpoint
    # The ledger holds every delivered answer of both, and nothing else.
    ledger = info["ledger"]
    paid = sum(row["calls"] for row in ledger["by_model_role"])
    billed = len(first.billed) + len(second.billed)
    assert paid <= billed <= paid + cut_off


def test_the_same_endpoint_twice_is_refused_with_its_line(tmp_path: Path) -> None:
    url = "http://127.0.0.1:9/v1"
    scenario = write_real_scenario(tmp_path, f"[{url}, {url}/]", target=4)
    result = run("validate", str(scenario), cwd=tmp_path)
    assert result.returncode == 2
    assert f"{url} is listed twice" in result.stderr
    assert "real.yaml:" in result.stderr and "Traceback" not in result.stderr


def test_of_several_endpoints_one_unreachable_is_a_warning(tmp_path: Path) -> None:
    server = FakeOpenAI()
    thread = ServerThread(server).start()
    try:
        urls = f"[{thread.base_url}, http://127.0.0.1:9/v1]"
        scenario = write_real_scenario(tmp_path, urls, target=3)
        result = run(
            str(scenario),
            "--quiet",
            "--out",
            str(tmp_path / "run"),
            cwd=tmp_path,
            env={**os.environ, "MODSWAP_FAKE_KEY": KEY},
        )
    finally:
        thread.stop()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert "cannot reach http://127.0.0.1:9/v1" in result.stderr
    assert "the run goes on with the others" in result.stderr


def writer_calls(server: FakeOpenAI) -> int:
    return sum(1 for call in server.calls if call.model == "fake-writer" and call.status == 200)
