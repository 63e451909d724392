"""Whole runs through run.py with every role on (fake) OpenAI-compatible endpoints over real
HTTP: through injected faults, under a budget, from the cache, never leaking the key."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, start_run_and_wait_for_commits
from tests.fakes.openai_server import FakeOpenAI, ServerThread, serving

KEY = "sk-fake-4f9c2a7e1b3d5a6c8e0f"
PRICE = {"input_per_mtok": 3.0, "output_per_mtok": 15.0}

REAL_SCENARIO = """\
name: fake-endpoints
seed: 11
target: {{accepted_qa: {target}}}
output: {output}
models:
{models}agents:
  - {{role: inspirer, persona: cartographer, model: {inspirer}}}
  - {{role: generator, persona: analyst, model: {generator}}}
  - {{role: questioner, persona: puzzle-setter, model: {questioner}}}
  - {{role: juror, persona: auditor, model: {auditor}}}
  - {{role: juror, persona: pedant, model: {pedant}}}
  - {{role: juror, persona: skimmer, model: {skimmer}}}
consensus: {{rule: majority}}
tables_per_call: 2
qa_per_table: 3
max_inflight: 3
{budget}"""


def endpoint_entry(name: str, url: str, cooldown: float, extra: str) -> str:
    """One fake-served model: the fake answers to `fake-<name>`."""
    return (
        f"  {name}:\n    kind: openai\n    base_url: {url}\n    model: fake-{name}\n"
        "    api_key_env: MODSWAP_FAKE_KEY\n    timeout_s: 2\n    retry_base_s: 0.01\n"
        f"    cooldown_s: {cooldown}\n    price: {json.dumps(PRICE)}\n{extra}"
    )


def write_real_scenario(
    directory: Path,
    url: str,
    *,
    target: int = 8,
    budget: float | None = None,
    simulated_except_generator: bool = False,
    cooldown: float = 2.0,
) -> Path:
    models = (
        endpoint_entry("writer", url, cooldown, "    concurrency: 4\n")
        + endpoint_entry("judge-a", url, cooldown, "    vision: true\n")
        + endpoint_entry("judge-b", url, cooldown, "    vision: true\n")
    )
    roles = {
        "inspirer": "writer",
        "generator": "writer",
        "questioner": "writer",
        "auditor": "judge-a",
        "pedant": "judge-b",
        "skimmer": "judge-a",
    }
    if simulated_except_generator:
        models += "  sim: {kind: simulated, skill: 0.95}\n"
        roles = dict.fromkeys(roles, "sim") | {"generator": "writer"}
    path = directory / "real.yaml"
    path.write_text(
        REAL_SCENARIO.format(
            target=target,
            output=directory / "out",
            models=models,
            budget=f"budget: {{usd: {budget}}}\n" if budget else "",
            **roles,
        )
    )
    return path


def run(*args: str, cwd: Path, key: str | None = KEY) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("MODSWAP_FAKE_KEY", None)
    if key is not None:
        env["MODSWAP_FAKE_KEY"] = key
    return subprocess.run(
        [sys.executable, str(ROOT / "run.py"), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=600,
    )


@pytest.fixture
def fake() -> Iterator[tuple[FakeOpenAI, ServerThread]]:
    server = FakeOpenAI()
    with serving(server) as thread:
        yield server, thread


def kill_9_after_the_first_commit(scenario: Path, run_dir: Path, cwd: Path) -> None:
    env = dict(os.environ, MODSWAP_FAKE_KEY=KEY)
    with start_run_and_wait_for_commits(scenario, run_dir, cwd, env=env) as process:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=60)


def records(run_dir: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (run_dir / "records.jsonl").read_text().splitlines()]


def all_text_written(*roots: Path) -> str:
    return "".join(
        path.read_bytes().decode("utf-8", "replace")
        for root in roots
        for path in root.rglob("*")
        if path.is_file()
    )


def test_every_role_on_endpoints_reaches_the_target_through_faults(
    fake: tuple[FakeOpenAI, ServerThread], tmp_path: Path
) -> None:
    server, thread = fake
    server.fault_every(6, ["429", "500", "malformed", "hang", "length", "empty"])
    scenario = write_real_scenario(tmp_path, thread.base_url, target=8)
    result = run(str(scenario), "--quiet", "--out", str(tmp_path / "run"), cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    run_dir = tmp_path / "run"
    rows = records(run_dir)
    assert sum(bool(row["accepted"]) for row in rows) >= 8
    faults = {call.fault for call in server.calls if call.fault}
    assert faults == {"429", "500", "malformed", "hang", "length", "empty"}
    # Jurors caught the fake questioner's planted wrong answers.
    rejected = [row for row in rows if not row["accepted"]]
    assert rejected and all(
        any(vote["verdict"] is False for vote in row["votes"])  # type: ignore[attr-defined]
        for row in rejected
    )
    # Vision jurors were shown the rendered table.
    assert any(call.images == 1 for call in server.calls if call.role == "juror")
    # JSON roles asked for their schema (and the fake's replies kept to it); LaTeX is free text.
    formats = {
        (call.role, (call.body.get("response_format") or {}).get("type")) for call in server.calls
    }
    assert formats == {
        ("inspirer", "json_schema"),
        ("generator", None),
        ("questioner", "json_schema"),
        ("juror", "json_schema"),
    }
    assert not [error for call in server.calls for error in call.schema_errors]
    # The ledger is right to the cent (to a millionth of a dollar, in fact).
    info = json.loads((run_dir / "run.json").read_text())
    ledger = info["ledger"]
    assert ledger["total_cost_usd"] == pytest.approx(server.cost_usd(**PRICE), abs=1e-6)
    paid_calls = sum(row["calls"] for row in ledger["by_model_role"])
    assert paid_calls == len(server.billed)
    accepted = info["summary"]["accepted"]
    assert ledger["cost_per_accepted_qa_usd"] == pytest.approx(
        ledger["total_cost_usd"] / accepted, abs=1e-6
    )
    events = (run_dir / "events.jsonl").read_text()
    assert '"kind":"ModelIncident"' in events and "retry" in events
    # The key went in the Authorization header and nowhere else.
    assert all(call.authorization == f"Bearer {KEY}" for call in server.calls)
    assert KEY not in all_text_written(run_dir, tmp_path / "out") + result.stdout + result.stderr


def test_a_server_refusing_json_schema_steps_down_once_and_the_run_goes_on(
    fake: tuple[FakeOpenAI, ServerThread], tmp_path: Path
) -> None:
    server, thread = fake
    server.refused_formats = frozenset({"json_schema"})
    scenario = write_real_scenario(tmp_path, thread.base_url, target=4)
    result = run(str(scenario), "--quiet", "--out", str(tmp_path / "run"), cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert sum(bool(row["accepted"]) for row in records(tmp_path / "run")) >= 4
    events = [
        json.loads(line) for line in (tmp_path / "run" / "events.jsonl").read_text().splitlines()
    ]
    incidents = [e["data"] for e in events if e["kind"] == "ModelIncident"]
    degraded = [e for e in incidents if e["kind"] == "degraded"]
    # One step down per model (writer, judge-a, judge-b), each naming what the server said.
    assert sorted(e["model"] for e in degraded) == ["judge-a", "judge-b", "writer"]
    assert all("not supported" in e["detail"] and "json_object" in e["detail"] for e in degraded)
    # Refusals cost no failure: nothing was benched or failed for them.
    assert not [e for e in incidents if e["kind"] in ("benched", "failed")]
    after = [c for c in server.calls if c.status == 200 and c.role in ("questioner", "juror")]
    assert after and all(c.body["response_format"] == {"type": "json_object"} for c in after)


def test_a_budget_stops_the_run_below_the_cap_keeping_what_was_accepted(
    fake: tuple[FakeOpenAI, ServerThread], tmp_path: Path
) -> None:
    server, thread = fake
    cap = 0.3
    scenario = write_real_scenario(tmp_path, thread.base_url, target=500, budget=cap)
    result = run(str(scenario), "--quiet", "--out", str(tmp_path / "run"), cwd=tmp_path)
    assert result.returncode == 3, result.stdout[-3000:] + result.stderr
    assert "budget reached" in result.stdout
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    spent = info["ledger"]["total_cost_usd"]
    assert 0 < spent <= cap
    assert spent == pytest.approx(server.cost_usd(**PRICE), abs=1e-6)
    assert info["last_session"]["stop_reason"] == "budget"
    rows = records(tmp_path / "run")
    assert rows and sum(bool(row["accepted"]) for row in rows) == info["summary"]["accepted"]
    # Later generator calls were shown an accepted table of an earlier round.
    generator_prompts = [call.prompt for call in server.calls if call.role == "generator"]
    assert "earlier round" not in generator_prompts[0]
    assert any("earlier round" in prompt and "\\toprule" in prompt for prompt in generator_prompts)


def test_a_second_identical_run_is_answered_from_the_cache(
    fake: tuple[FakeOpenAI, ServerThread], tmp_path: Path
) -> None:
    server, thread = fake
    scenario = write_real_scenario(tmp_path, thread.base_url, target=5)
    first = run(str(scenario), "--quiet", "--out", str(tmp_path / "first"), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    requests_first = len(server.calls)
    second = run(str(scenario), "--quiet", "--out", str(tmp_path / "second"), cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "answers reused" in second.stdout
    assert records(tmp_path / "second") == records(tmp_path / "first")
    # Not one request: every answer is in the cache, and the replay issues no inspiration
    # past the one where the first run stopped, so it starts no speculative call.
    assert len(server.calls) == requests_first
    info = json.loads((tmp_path / "second" / "run.json").read_text())
    assert info["ledger"]["total_cost_usd"] == 0
    third = run(
        str(scenario), "--quiet", "--no-cache", "--out", str(tmp_path / "third"), cwd=tmp_path
    )
    assert third.returncode == 0 and len(server.calls) > requests_first


def test_a_real_generator_with_simulated_questioner_and_jurors(
    fake: tuple[FakeOpenAI, ServerThread], tmp_path: Path
) -> None:
    server, thread = fake
    scenario = write_real_scenario(
        tmp_path, thread.base_url, target=6, simulated_except_generator=True
    )
    result = run(str(scenario), "--quiet", "--out", str(tmp_path / "run"), cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert {call.role for call in server.calls} == {"generator"}
    rows = records(tmp_path / "run")
    assert sum(bool(row["accepted"]) for row in rows) >= 6
    # Simulated questioners read the fake's tables from the renderer's cell grid.
    assert any(
        name in str(row["question"]) + str(row["answer"])
        for row in rows
        for name in ("Alder", "Birch", "Cedar", "Dogwood", "Elm", "Fir", "Ginkgo", "Hazel")
    )


def test_a_missing_key_is_named_before_anything_runs(
    fake: tuple[FakeOpenAI, ServerThread], tmp_path: Path
) -> None:
    server, thread = fake
    scenario = write_real_scenario(tmp_path, thread.base_url)
    result = run(str(scenario), "--quiet", "--out", str(tmp_path / "run"), cwd=tmp_path, key=None)
    assert result.returncode == 2
    assert "MODSWAP_FAKE_KEY is not set" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists() and not server.calls


def test_the_ready_scenarios_validate(tmp_path: Path) -> None:
    names = ["openrouter-paper.yaml", "vllm-local.yaml", "ollama.yaml", "quickstart.yaml"]
    names += ["local-cpu.yaml", "eval-quickstart.yaml", "eval-vllm.yaml", "eval-openrouter.yaml"]
    paths = [str(ROOT / "scenarios" / name) for name in names]
    result = run("validate", *paths, cwd=tmp_path, key=None)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(": ok") == 8
    assert "eval-openrouter.yaml: ok (eval) — 5 models, 2 solvers (4 views), 3 graders" in (
        result.stdout
    )
    assert "set OPENROUTER_API_KEY before running" in result.stdout
    assert "vllm-local.yaml: ok" in result.stdout


def test_a_dead_juror_endpoint_is_benched_and_its_votes_come_from_a_role_mate(
    fake: tuple[FakeOpenAI, ServerThread], tmp_path: Path
) -> None:
    server, thread = fake
    server.failing_models["fake-judge-b"] = "500"
    scenario = write_real_scenario(tmp_path, thread.base_url, target=6, cooldown=600)
    result = run(str(scenario), "--quiet", "--out", str(tmp_path / "run"), cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    events_text = (tmp_path / "run" / "events.jsonl").read_text()
    events = [json.loads(line) for line in events_text.splitlines()]
    benched = [
        e["data"] for e in events if e["kind"] == "ModelIncident" and e["data"]["kind"] == "benched"
    ]
    assert benched and benched[0]["model"] == "judge-b"
    assert "work goes to the role's other models" in benched[0]["detail"]
    # After the first failures, pedant's votes are cast by judge-a's model.
    pedant_votes = [
        vote
        for row in records(tmp_path / "run")
        for vote in row["votes"]  # type: ignore[attr-defined]
        if vote["persona"] == "pedant"
    ]
    assert pedant_votes and pedant_votes[-1]["model"] == "judge-a"
    assert all(vote["verdict"] is not None for vote in pedant_votes[-3:])
    dead_calls = [call for call in server.calls if call.model == "fake-judge-b"]
    assert len(dead_calls) <= 3 * 6  # bench_after_failures × (1 + max_retries): then rested


def test_kill_9_then_resume_pays_each_answer_once_and_the_ledger_survives(
    fake: tuple[FakeOpenAI, ServerThread], tmp_path: Path
) -> None:
    server, thread = fake
    scenario = write_real_scenario(tmp_path, thread.base_url, target=10)
    run_dir = tmp_path / "killed"
    kill_9_after_the_first_commit(scenario, run_dir, tmp_path)
    answered_before_kill = len(server.answered)
    before = {row["qa_id"]: row for row in records(run_dir) if row["accepted"]}
    resumed = run("run", "--resume", str(run_dir), "--quiet", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr
    after = {row["qa_id"]: row for row in records(run_dir)}
    assert all(after[qa_id] == row for qa_id, row in before.items())
    assert sum(bool(row["accepted"]) for row in after.values()) >= 10
    # Every answer the killed session stored is reused; only calls in flight at the kill
    # (at most the models' concurrency) were asked again.
    answered = [call.digest for call in server.answered]
    asked_twice = len(answered) - len(set(answered))
    assert asked_twice <= 4 + 8 + 8 and asked_twice < answered_before_kill
    # The ledger spans both sessions. What it can miss is only the cost of calls the server
    # answered in the instant before the kill, whose replies never reached the journal:
    # calls in flight then, at most the models' concurrency (4 + 8 + 8), whether the resumed
    # run asked them again or no longer needed them. Bound by the dearest such calls.
    ledger = json.loads((run_dir / "run.json").read_text())["ledger"]
    first_session = sorted(
        (
            call.prompt_tokens * PRICE["input_per_mtok"]
            + call.completion_tokens * PRICE["output_per_mtok"]
        )
        / 1_000_000
        for call in server.answered[:answered_before_kill]
    )
    at_risk = sum(first_session[-(4 + 8 + 8) :])
    gap = server.cost_usd(**PRICE) - ledger["total_cost_usd"]
    assert -1e-6 <= gap <= at_risk + 1e-6


def test_preflight_names_a_dead_server_a_refused_key_and_an_unknown_model(
    fake: tuple[FakeOpenAI, ServerThread], tmp_path: Path
) -> None:
    server, thread = fake
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        dead_url = f"http://127.0.0.1:{probe.getsockname()[1]}/v1"
    dead = write_real_scenario(tmp_path, dead_url)
    result = run(str(dead), "--quiet", "--out", str(tmp_path / "dead"), cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"base_url: cannot reach {dead_url}" in result.stderr
    assert not (tmp_path / "dead").exists()

    server.required_key = "sk-the-right-one-000000"
    scenario = write_real_scenario(tmp_path, thread.base_url)
    result = run(str(scenario), "--quiet", "--out", str(tmp_path / "refused"), cwd=tmp_path)
    assert result.returncode == 2
    assert (
        "api_key_env: " in result.stderr and "refused the key in MODSWAP_FAKE_KEY" in result.stderr
    )
    assert KEY not in result.stderr and not (tmp_path / "refused").exists()

    server.required_key = None
    server.served_models = ("fake-writer", "fake-judge-a", "fake-judge-bb")
    result = run(
        str(scenario), "--quiet", "--target", "3", "--out", str(tmp_path / "ok"), cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert (
        "warning: models.judge-b.model: 'fake-judge-b' is not among the 3 models" in result.stderr
    )
    assert "did you mean fake-judge-bb" in result.stderr


# Documents of the kinds real models and papers write, each drawn only since the renderer
# stopped refusing what pdflatex draws: a tcolorbox panel with coloured rules, a table in
# threeparttable with notes, trimmed \cmidrule forms and a column type of its own.
FOLDER_DOCUMENTS = {
    "panel.tex": r"""\documentclass{article}
\usepackage[table]{xcolor}
\usepackage{tcolorbox}
\begin{document}
\begin{tcolorbox}[colback=blue!5, colframe=blue!60!black, title=Orchard yields]
\begin{tabular}{lrr}
\arrayrulecolor{blue!60}\hline
Tree & Yield & Age \\
% rule colour changes between rows
\arrayrulecolor{black}\hline
Quince & 42 & 7 \\
Medlar & 35 & 12 \\
Loquat & 51 & 4 \\
\hline
\end{tabular}
\end{tcolorbox}
\end{document}""",
    "notes.tex": r"""\documentclass{article}
\usepackage{booktabs,threeparttable,array}
\newcolumntype{R}{>{\raggedleft\arraybackslash}p{1.5cm}}
\begin{document}
\begin{table}\centering
\begin{threeparttable}
\caption{Harbour traffic}
\begin{tabular}{lRR}
\toprule
Harbour & Ships & Berths \\
\cmidrule(lr{0.5em}){2-3}
Kestrel & 18 & 6 \\
Plover & 27 & 9 \\
Heron & 11 & 4 \\
\bottomrule
\end{tabular}
\begin{tablenotes}\item[a] Counted in May.\end{tablenotes}
\end{threeparttable}
\end{table}
\end{document}""",
    "ruled.tex": r"""\documentclass{article}
\usepackage{hhline}
\begin{document}
\begin{tabular}{|l|r|}
\hhline{|=|=|}
Station & Riders \\
\hhline{|-|-|}
Aldgate & 140 \\
Bank & 310 \\
Temple & 95 \\
\hhline{|=|=|}
\end{tabular}
\end{document}""",
}


def test_a_run_driven_by_documents_from_a_folder(tmp_path: Path) -> None:
    folder = tmp_path / "documents"
    folder.mkdir()
    for name, document in FOLDER_DOCUMENTS.items():
        (folder / name).write_text(document)
    documents = tuple(p.read_text() for p in sorted(folder.glob("*.tex")))
    server = FakeOpenAI(table_documents=documents)
    with serving(server) as thread:
        # Three distinct tables (repeats are dropped as near-duplicates), three pairs each,
        # of which the fake answers every fifth wrong on purpose.
        scenario = write_real_scenario(tmp_path, thread.base_url, target=4)
        result = run(str(scenario), "--quiet", "--out", str(tmp_path / "run"), cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    rows = records(tmp_path / "run")
    accepted = [row for row in rows if row["accepted"]]
    assert len(accepted) >= 4
    # Every table in the run is one of the folder's documents, drawn and asked about.
    tables = {row["table_id"] for row in accepted}
    for table_id in tables:
        written = (tmp_path / "run" / "tables" / f"{table_id}.tex").read_text().strip()
        assert written in {document.strip() for document in documents}
        assert (tmp_path / "run" / "images" / f"{table_id}.png").stat().st_size > 1000
    # Every question is about a row, a column or a total of the folder's tables.
    words = {"Quince", "Medlar", "Loquat", "Kestrel", "Plover", "Heron", "Aldgate", "Bank"}
    words |= {"Temple", "Tree", "Harbour", "Station", "total"}
    assert all(any(w in str(row["question"]) for w in words) for row in accepted)
    assert not any(call.role == "repair" for call in server.calls)  # nothing was refused


def _simple_table(caption: str, rows: list[tuple[str, int]]) -> str:
    body = "".join(f"{name} & {value} \\\\\n" for name, value in rows)
    return (
        "\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n"
        f"\\begin{{table}}\\centering\\caption{{{caption}}}\n\\begin{{tabular}}{{lr}}\n"
        f"\\toprule\nName & Count \\\\\n\\midrule\n{body}\\bottomrule\n\\end{{tabular}}\n"
        "\\end{table}\n\\end{document}"
    )


def test_bombs_among_good_tables_cost_repairs_not_the_run(tmp_path: Path) -> None:
    cell = "\\begin{{tabular}}{{l}}\nx \\\\\n{} \\\\\n\\end{{tabular}}"
    documents = (
        _simple_table("Lighthouses", [("Fastnet", 49), ("Skerries", 36), ("Eddystone", 41)]),
        cell.format("\\textbf{" * 300 + "deep" + "}" * 300),  # nesting
        cell.format("a\\vspace{5000cm}"),  # a page that never ends
        cell.format("\\rule{1cm}{99999cm}"),  # used to crash Chromium twice
        _simple_table("Ferries", [("Ionia", 12), ("Minerva", 30), ("Selene", 22)]),
        _simple_table("Mills", [("Kinderdijk", 19), ("Zaanse", 13), ("Schiedam", 20)]),
    )
    server = FakeOpenAI(table_documents=documents)
    with serving(server) as thread:
        scenario = write_real_scenario(tmp_path, thread.base_url, target=5)
        result = run(str(scenario), "--quiet", "--out", str(tmp_path / "run"), cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert "Traceback" not in result.stderr
    rows = records(tmp_path / "run")
    assert sum(bool(row["accepted"]) for row in rows) >= 5
    events = (tmp_path / "run" / "events.jsonl").read_text().splitlines()
    refused = {
        event["data"]["problem"]["construct_name"]
        for event in map(json.loads, events)
        if event["kind"] == "RenderFailed"
    }
    assert {"limit", "length"} <= refused, refused
    assert any(call.role == "repair" for call in server.calls)


def test_a_key_echoed_in_replies_captions_and_errors_is_nowhere(tmp_path: Path) -> None:
    server = FakeOpenAI()
    # The first generator reply puts the key in a caption; others echo it as text or in a 500.
    server.plan_faults(["echo-key", "echo-key", "echo-key-error", "echo-key", "echo-key"])
    with serving(server) as thread:
        scenario = write_real_scenario(tmp_path, thread.base_url, target=4)
        result = run(str(scenario), "--out", str(tmp_path / "run"), cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    echoed = [call for call in server.calls if call.fault and call.fault.startswith("echo-key")]
    assert len(echoed) == 5
    # Not in the run folder, the response cache, the console or any log.
    written = all_text_written(tmp_path / "run", tmp_path / "out")
    assert KEY not in written + result.stdout + result.stderr
    # What carried the key was used redacted (the caption is drawn with the marker) ...
    assert "[redacted]" in (tmp_path / "run" / "events.jsonl").read_text()
    # ... and never cached: a rerun must ask for it again.
    cache = tmp_path / "out" / ".cache" / "responses"
    cached = [path.read_text() for path in cache.rglob("*.json") if path.name != "horizon.json"]
    assert cached and not any("[redacted]" in text for text in cached)


def test_a_killed_run_whose_replies_hold_bombs_resumes_to_its_target(tmp_path: Path) -> None:
    """The resume replays the cached replies, bombs included: each is a refusal again (a
    repair, or the recorded crash), never a dead resume."""
    cell = "\\begin{{tabular}}{{l}}\nx \\\\\n{} \\\\\n\\end{{tabular}}"
    documents = (
        cell.format("\\textbf{" * 300 + "deep" + "}" * 300),
        _simple_table("Lighthouses", [("Fastnet", 49), ("Skerries", 36), ("Eddystone", 41)]),
        cell.format("\\rule{1cm}{99999cm}"),
        _simple_table("Ferries", [("Ionia", 12), ("Minerva", 30), ("Selene", 22)]),
        cell.format("a\\vspace{5000cm}"),
        _simple_table("Mills", [("Kinderdijk", 19), ("Zaanse", 13), ("Schiedam", 20)]),
    )
    server = FakeOpenAI(table_documents=documents)
    with serving(server) as thread:
        scenario = write_real_scenario(tmp_path, thread.base_url, target=5)
        run_dir = tmp_path / "killed"
        kill_9_after_the_first_commit(scenario, run_dir, tmp_path)
        resumed = run("run", "--resume", str(run_dir), "--quiet", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr
    assert "Traceback" not in resumed.stderr
    saved = records(run_dir)
    assert sum(bool(row["accepted"]) for row in saved) >= 5
    assert len({row["qa_id"] for row in saved}) == len(saved)


def test_a_tool_checking_juror_in_a_cascade_on_an_endpoint_calls_tools_all_metered(
    fake: tuple[FakeOpenAI, ServerThread], tmp_path: Path
) -> None:
    server, thread = fake
    server.wrong_answer_every = 2
    scenario = write_real_scenario(tmp_path, thread.base_url, target=6)
    text = scenario.read_text().replace("persona: skimmer", "persona: checker")
    cascade = "consensus: {rule: cascade, first: [checker, auditor]}"
    scenario.write_text(text.replace("consensus: {rule: majority}", cascade))
    run_dir = tmp_path / "run"
    result = run(str(scenario), "--quiet", "--out", str(run_dir), cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    rows = records(run_dir)
    checks = [
        vote
        for row in rows
        for vote in row["votes"]  # type: ignore[attr-defined]
        if vote["juror"] == "checker"
    ]
    assert len(checks) == len(rows) and all(vote["tools"] for vote in checks)  # first stage
    for row in rows:  # the pedant is asked only where the first stage split
        asked = any(vote["juror"] == "pedant" for vote in row["votes"])  # type: ignore[attr-defined]
        assert asked == (row["stage"] == 2)
    looked_up = [json.loads(use["result"]) for vote in checks for use in vote["tools"]]
    assert all(isinstance(found, list | dict) for found in looked_up)  # the grid, read
    assert any(vote["verdict"] is False for vote in checks)  # a planted wrong answer caught
    asked_tools = [call for call in server.calls if call.body.get("tools")]
    assert asked_tools and all(call.model == "fake-judge-a" for call in asked_tools)
    sent_back = [call for call in server.calls if call.tool_results]
    assert sent_back and all(
        not result.startswith("Error") for c in sent_back for result in c.tool_results
    )
    ledger = json.loads((run_dir / "run.json").read_text())["ledger"]
    assert sum(row["calls"] for row in ledger["by_model_role"]) == len(server.billed)
