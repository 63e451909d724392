"""Evaluation runs through run.py: offline, against the fake endpoint, on our exports."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli, write_scenario
from tests.fakes.openai_server import FakeOpenAI, serving

EVAL = """\
name: tiny-eval
seed: 3
output: {output}
models:
  sim: {{kind: simulated, skill: 0.95}}
solvers:
  - {{persona: reader, model: sim, view: both}}
  - {{persona: glancer, model: sim, view: image}}
graders:
  - {{persona: grader, model: sim, count: 2}}
  - {{persona: lenient-grader, model: sim}}
consensus: {{rule: majority}}
max_inflight: {inflight}
"""

ENDPOINT_EVAL = """\
name: endpoint-eval
output: {output}
models:
  vlm:
    kind: openai
    base_url: {base_url}
    model: fake-1
    api_key_env: MODSWAP_FAKE_KEY
    vision: true
    max_retries: 1
    retry_base_s: 0.01
    price: {{input_per_mtok: 100, output_per_mtok: 100}}
    max_tokens: {max_tokens}
solvers:
  - {{persona: reader, model: vlm, view: both}}
graders:
  - {{persona: grader, model: vlm}}
{extra}
"""


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One small offline generation run, the dataset the evals read."""
    folder = tmp_path_factory.mktemp("generated")
    scenario = write_scenario(folder, seed=11, target=12)
    result = run_cli(str(scenario), "--quiet", "--out", str(folder / "run"), cwd=folder)
    assert result.returncode == 0, result.stderr
    return folder / "run"


@contextmanager
def serving_eval(
    server: FakeOpenAI, generated: Path, folder: Path, extra: str = "", max_tokens: int = 4000
) -> Iterator[Path]:
    """The fake VLM, knowing the truth of the generated run's questions, serving while the
    test runs; yields an eval scenario on it (`extra`: top-level keys to add)."""
    server.answer_key = {str(row["question"]): str(row["answer"]) for row in accepted(generated)}
    with serving(server) as thread:
        scenario = folder / "endpoint.yaml"
        scenario.write_text(
            ENDPOINT_EVAL.format(
                output=folder / "out", base_url=thread.base_url, extra=extra, max_tokens=max_tokens
            )
        )
        yield scenario


def fake_env() -> dict[str, str]:
    return dict(os.environ, MODSWAP_FAKE_KEY="sk-fake")


def eval_scenario(folder: Path, inflight: int = 4) -> Path:
    path = folder / "eval.yaml"
    path.write_text(EVAL.format(output=folder / "out", inflight=inflight))
    return path


def accepted(run_dir: Path) -> list[dict[str, object]]:
    lines = (run_dir / "records.jsonl").read_text().splitlines()
    return [row for row in map(json.loads, lines) if row["accepted"]]


def graded(eval_dir: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (eval_dir / "records.jsonl").read_text().splitlines()]


def test_offline_eval_grades_every_item_per_view_and_measures_the_gap(
    generated: Path, tmp_path: Path
) -> None:
    scenario = eval_scenario(tmp_path)
    out = tmp_path / "eval"
    result = run_cli(
        "eval", str(generated), str(scenario), "--quiet", "--out", str(out), cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    rows = graded(out)
    assert [row["source_id"] for row in rows] == [row["qa_id"] for row in accepted(generated)]
    for row in rows:
        views = [(p["solver"], p["view"]) for p in row["predictions"]]
        assert views == [("reader", "latex"), ("reader", "image"), ("glancer", "image")]
        for prediction in row["predictions"]:
            assert prediction["graded_by"] in ("jury", "pre:number", "pre:text", "pre:option")
            if prediction["graded_by"] == "jury":
                assert len(prediction["votes"]) == 3
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["accuracy"]) == {"reader/latex", "reader/image", "glancer/image"}
    assert set(summary["modality_gap"]) == {"reader"}  # glancer reads only the image
    gap = summary["modality_gap"]["reader"]
    assert gap["items"] == len(rows)
    assert gap["ci95"][0] <= gap["gap"] <= gap["ci95"][1]
    assert summary["pre_grader"]["settled"] + summary["graders"]["graded_by_jury"] == 3 * len(rows)
    assert summary["grading_vs_oracle"]["all"]["items"] == 3 * len(rows)
    assert "modality gap reader (latex − image)" in result.stdout
    assert f"aims for {len(rows)} graded items" in result.stdout
    assert f"stopping (target) with {len(rows)} graded" in result.stdout
    # Answers written alike are put to the graders once; each is still graded on its own.
    asked = [
        event["data"]["predictions"]
        for event in map(json.loads, (out / "events.jsonl").read_text().splitlines())
        if event["kind"] == "GradesRequested"
    ]
    assert asked
    for shown in asked:
        answers = [" ".join(p["answer"].casefold().split()) for p in shown]
        assert len(answers) == len(set(answers))
    assert sum(map(len, asked)) <= summary["graders"]["graded_by_jury"]
    # The report: the figures as inline SVG, each table image once, every item beside it.
    page = (out / "report.html").read_text()
    assert f"report: {out / 'report.html'}" in result.stdout
    assert "Modality gap (LaTeX − image)" in page and "<svg" in page
    images = {row["image"] for row in rows}
    assert len(images) < len(rows)  # several questions per table
    assert page.count("<img ") == len(images) == len(list((out / "images").iterdir()))
    assert page.count('<div class="item"') == len(rows)
    assert "http://" not in page and "https://" not in page
    assert "reader/latex" in result.stdout

    again = run_cli(
        "eval",
        str(generated),
        str(scenario),
        "--quiet",
        "--out",
        str(tmp_path / "again"),
        cwd=tmp_path,
    )
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "again" / "records.jsonl").read_bytes() == (
        out / "records.jsonl"
    ).read_bytes()


def test_eval_killed_then_resumed_asks_nothing_graded_again(
    generated: Path, tmp_path: Path
) -> None:
    """The fake endpoint hangs on one late call: the eval is killed while it waits, with
    earlier items committed; the resume asks the endpoint only about the rest."""
    server = FakeOpenAI(hang_s=60)
    items = accepted(generated)
    env = fake_env()
    with serving_eval(server, generated, tmp_path, "max_inflight: 1") as scenario:
        out = tmp_path / "eval"
        # One item at a time (max_inflight 1); the fake answers every question right, so
        # the pre-grader settles all and each item costs two calls (its two views): the
        # 10th call is item 4's, after four commits. It hangs until the kill.
        server.fault_every(10, ["hang"])
        with (tmp_path / "log").open("w") as log:
            process = subprocess.Popen(
                [
                    sys.executable,
                    str(ROOT / "run.py"),
                    "eval",
                    str(generated),
                    str(scenario),
                    "--quiet",
                    "--out",
                    str(out),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=tmp_path,
                env=env,
            )
            assert server.hanging.wait(timeout=600), "the planned hang never came"
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=60)
        done = graded(out)
        assert 0 < len(done) < len(items)
        server.fault_every(0, [])
        before = len(server.calls)
        resumed = run_cli("eval", "--resume", str(out), "--quiet", cwd=tmp_path, env=env)
        assert resumed.returncode == 0, resumed.stderr
        asked_again = [call.prompt for call in server.calls[before:]]
    finished = {str(row["question"]) for row in done}
    assert not any(
        f"Question: {question}\n" in prompt for prompt in asked_again for question in finished
    )
    rows = graded(out)
    assert [row["source_id"] for row in rows] == [row["qa_id"] for row in items]
    assert rows[: len(done)] == done


def test_ctrl_c_stops_an_eval_cleanly_and_says_how_to_resume(
    generated: Path, tmp_path: Path
) -> None:
    server = FakeOpenAI(hang_s=3)  # the call in flight at Ctrl-C ends on its own (a 504)
    items = accepted(generated)
    env = fake_env()
    with serving_eval(server, generated, tmp_path, "max_inflight: 1") as scenario:
        out = tmp_path / "eval"
        server.fault_every(8, ["hang"])  # item 4's image call: three items are graded
        command = [sys.executable, str(ROOT / "run.py"), "eval", str(generated), str(scenario)]
        process = subprocess.Popen(
            [*command, "--quiet", "--out", str(out)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path,
            env=env,
        )
        assert server.hanging.wait(timeout=600), "the planned hang never came"
        process.send_signal(signal.SIGINT)
        said, errors = process.communicate(timeout=600)
        assert process.returncode == 130, said + errors
        assert f"resume with: python run.py eval --resume {out}" in said
        assert "graded items are saved" in errors and "Traceback" not in errors
        assert 0 < len(graded(out)) < len(items)
        server.fault_every(0, [])
        resumed = run_cli("eval", "--resume", str(out), "--quiet", cwd=tmp_path, env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert [row["source_id"] for row in graded(out)] == [row["qa_id"] for row in items]


def test_image_views_send_the_png_and_latex_views_the_source(
    generated: Path, tmp_path: Path
) -> None:
    server = FakeOpenAI(solve_accuracy={"latex": 1.0, "image": 0.0})
    items = accepted(generated)
    env = fake_env()
    with serving_eval(server, generated, tmp_path) as scenario:
        out = tmp_path / "eval"
        result = run_cli(
            "eval",
            str(generated),
            str(scenario),
            "--quiet",
            "--out",
            str(out),
            cwd=tmp_path,
            env=env,
        )
    assert result.returncode == 0, result.stderr
    solver_calls = [call for call in server.calls if call.role == "solver"]
    assert len(solver_calls) == 2 * len(items)
    for call in solver_calls:
        if call.images:
            assert call.images == 1 and "\\begin{" not in call.prompt
        else:
            assert "\\begin{tabular}" in call.prompt or "\\begin{" in call.prompt
    assert sum(1 for call in solver_calls if call.images) == len(items)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["accuracy"]["reader/latex"]["accuracy"] == 1.0
    assert summary["accuracy"]["reader/image"]["accuracy"] == 0.0
    assert summary["modality_gap"]["reader"]["gap"] == 1.0
    assert summary["modality_gap"]["reader"]["mcnemar_p"] < 0.01


def test_the_budget_cap_holds_and_the_rest_waits_for_a_resume(
    generated: Path, tmp_path: Path
) -> None:
    server = FakeOpenAI()
    items = accepted(generated)
    env = fake_env()
    budget = "budget: {usd: 0.6}"
    with serving_eval(server, generated, tmp_path, budget, max_tokens=300) as scenario:
        out = tmp_path / "eval"
        result = run_cli(
            "eval",
            str(generated),
            str(scenario),
            "--quiet",
            "--out",
            str(out),
            cwd=tmp_path,
            env=env,
        )
    assert result.returncode == 3, result.stdout + result.stderr
    assert "budget reached" in result.stdout
    info = json.loads((out / "run.json").read_text())
    assert info["ledger"]["total_cost_usd"] <= 0.6
    assert len(graded(out)) < len(items)
    assert server.cost_usd(100, 100) == pytest.approx(info["ledger"]["total_cost_usd"], rel=1e-6)


def export_then_eval(
    generated: Path, folder: Path, fmt: str
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """`export --format FMT` of the generated run, then the offline eval of the export."""
    exported = folder / fmt
    result = run_cli("export", str(generated), "--format", fmt, "--out", str(exported), cwd=folder)
    assert result.returncode == 0, result.stderr
    out = folder / "eval"
    scenario = str(eval_scenario(folder))
    result = run_cli("eval", str(exported), scenario, "--quiet", "--out", str(out), cwd=folder)
    assert result.returncode == 0, result.stderr
    return result, out


def test_an_hf_parquet_export_is_evaluated_with_its_latex(generated: Path, tmp_path: Path) -> None:
    _, out = export_then_eval(generated, tmp_path, "hf")
    rows = graded(out)
    assert sorted(row["source_id"] for row in rows) == sorted(
        str(row["qa_id"]) for row in accepted(generated)
    )
    assert all(p["failed"] is None for row in rows for p in row["predictions"])


def test_a_llava_export_is_evaluated_with_the_latex_beside_its_images(
    generated: Path, tmp_path: Path
) -> None:
    # The export writes each table's LaTeX beside its image; eval reads it from there.
    result, out = export_then_eval(generated, tmp_path, "llava")
    assert "no table LaTeX" not in result.stderr
    exported = tmp_path / "llava"
    for image in (exported / "images").iterdir():
        assert (exported / "tables" / f"{image.stem}.tex").read_text() == (
            generated / "tables" / f"{image.stem}.tex"
        ).read_text()
    rows = graded(out)
    truths = {str(row["qa_id"]): str(row["answer"]) for row in accepted(generated)}
    assert {str(row["source_id"]): str(row["answer"]) for row in rows} == truths
    assert all(p["failed"] is None for row in rows for p in row["predictions"])


def test_every_split_of_an_internvl_export_is_evaluated(generated: Path, tmp_path: Path) -> None:
    # One object a line, one file a split: all of them are read, with the LaTeX beside.
    exported = tmp_path / "internvl"
    result = run_cli(
        "export", str(generated), "--format", "internvl", "--split", "train=0.5,test=0.5",
        "--out", str(exported), cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    for split in ("train", "test"):
        assert (exported / f"{split}.jsonl").read_text().strip(), f"{split} is empty"
    out = tmp_path / "eval"
    scenario = str(eval_scenario(tmp_path))
    result = run_cli("eval", str(exported), scenario, "--quiet", "--out", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = graded(out)
    assert sorted(str(row["source_id"]) for row in rows) == sorted(
        str(row["qa_id"]) for row in accepted(generated)
    )
    assert all(p["failed"] is None for row in rows for p in row["predictions"])
    # One split file is that split alone.
    lines = (exported / "test.jsonl").read_text().splitlines()
    test_ids = [json.loads(line)["id"] for line in lines]
    out = tmp_path / "eval-test"
    args = ("eval", str(exported / "test.jsonl"), scenario, "--quiet", "--out", str(out))
    assert run_cli(*args, cwd=tmp_path).returncode == 0
    assert sorted(str(row["source_id"]) for row in graded(out)) == sorted(test_ids)


def test_an_export_without_latex_is_evaluated_from_its_images(
    generated: Path, tmp_path: Path
) -> None:
    # A LLaVA/ShareGPT folder made elsewhere has no tables/: the image views still answer.
    exported = tmp_path / "sharegpt"
    result = run_cli(
        "export", str(generated), "--format", "sharegpt", "--out", str(exported), cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    shutil.rmtree(exported / "tables")
    # LLaMA-Factory reads a sharegpt folder through the dataset_info.json users add to it.
    (exported / "dataset_info.json").write_text('{"tables": {"file_name": "train.json"}}')
    out = tmp_path / "eval"
    scenario = str(eval_scenario(tmp_path))
    result = run_cli("eval", str(exported), scenario, "--quiet", "--out", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "no table LaTeX" in result.stderr
    for row in graded(out):
        failed = {p["view"]: p["failed"] for p in row["predictions"]}
        assert failed["latex"] and failed["image"] is None


def write_parquet(path: Path, rows: dict[str, list[object]]) -> None:
    from datasets import Dataset

    Dataset.from_dict(rows).to_parquet(str(path))


def png_bytes(generated: Path) -> bytes:
    return next((generated / "images").glob("*.png")).read_bytes()


def test_bad_datasets_are_named_by_row_and_field_or_skipped_and_counted(
    generated: Path, tmp_path: Path
) -> None:
    scenario = str(eval_scenario(tmp_path))
    no_answer = tmp_path / "no-answer.parquet"
    write_parquet(no_answer, {"image": [png_bytes(generated)], "question": ["How many?"]})
    result = run_cli("eval", str(no_answer), scenario, "--quiet", cwd=tmp_path)
    assert result.returncode == 2
    assert "no answer column" in result.stderr and "Traceback" not in result.stderr

    garbage = tmp_path / "garbage.parquet"
    garbage.write_bytes(b"PAR1 this is not a parquet file")
    result = run_cli("eval", str(garbage), scenario, "--quiet", cwd=tmp_path)
    assert result.returncode == 2
    assert "not a readable parquet file" in result.stderr and "Traceback" not in result.stderr

    broken = tmp_path / "broken.parquet"
    good = png_bytes(generated)
    write_parquet(
        broken,
        {
            "image": [good, good[:200], b"not an image", good],
            "question": ["Q1?", "Q2?", "Q3?", ""],
            "answer": ["1", "2", "3", "4"],
            "id": ["a", "b", "c", "d"],
        },
    )
    result = run_cli(
        "eval", str(broken), scenario, "--quiet", "--out", str(tmp_path / "e1"), cwd=tmp_path
    )
    assert result.returncode == 2
    assert "row 1: the image does not decode" in result.stderr
    assert not (tmp_path / "e1").exists()  # nothing half-made is left behind

    skipped = run_cli(
        "eval",
        str(broken),
        scenario,
        "--quiet",
        "--skip-bad",
        "--out",
        str(tmp_path / "e2"),
        cwd=tmp_path,
    )
    assert skipped.returncode == 0, skipped.stderr
    assert "skipped 3 bad rows" in skipped.stderr
    assert "row 3: question is empty" in skipped.stderr
    assert [row["source_id"] for row in graded(tmp_path / "e2")] == ["a"]
    assert "no table LaTeX" in skipped.stderr  # latex views cannot be answered here


def test_eval_scenario_mistakes_name_the_file_line_and_key(generated: Path, tmp_path: Path) -> None:
    blind = tmp_path / "blind.yaml"
    blind.write_text(
        "name: blind\nmodels:\n  text-only: {kind: openai, base_url: 'http://127.0.0.1:9', "
        "model: m}\nsolvers:\n  - {persona: reader, model: text-only, view: image}\n"
        "graders:\n  - {persona: grader, model: text-only}\n"
    )
    result = run_cli("eval", str(generated), str(blind), cwd=tmp_path)
    assert result.returncode == 2
    assert f"{blind}:5" in result.stderr and "solvers.0.view" in result.stderr
    assert "no vision" in result.stderr

    wrong_role = tmp_path / "wrong-role.yaml"
    wrong_role.write_text(
        "name: w\nmodels:\n  sim: {kind: simulated}\nsolvers:\n  - {persona: auditor, "
        "model: sim}\ngraders:\n  - {persona: grader, model: sim}\n"
    )
    result = run_cli("eval", str(generated), str(wrong_role), cwd=tmp_path)
    assert result.returncode == 2 and "is a juror, not a solver" in result.stderr

    generation = write_scenario(tmp_path)
    result = run_cli("eval", str(generated), str(generation), cwd=tmp_path)
    assert result.returncode == 2 and "this is a generation scenario" in result.stderr

    unread = tmp_path / "unread.yaml"
    unread.write_text(
        "name: u\nmodels:\n  sim: {kind: simulated}\nsolvers:\n  - {persona: reader, model: sim}"
        "\ngraders:\n  - {persona: grader, model: sim}\npersonas:\n  reader: {behaviour: "
        "{complexity: 0.9}}\n"
    )
    result = run_cli("validate", str(unread), cwd=tmp_path)
    assert result.returncode == 0
    assert "sets behaviour.complexity, which a simulated solver does not read" in result.stdout


DIFFICULTY = """\
difficulty:
  solver: {persona: glancer, model: sim-careful}
  graders: [{persona: grader, model: sim-careful, count: 3}]
"""


def test_a_run_with_a_difficulty_solver_exports_only_the_modality_hard(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path, seed=4, target=12)
    scenario.write_text(scenario.read_text() + DIFFICULTY)
    run_dir = tmp_path / "run"
    result = run_cli(str(scenario), "--quiet", "--out", str(run_dir), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    labelled = graded(run_dir / "difficulty")
    assert [row["source_id"] for row in labelled] == [row["qa_id"] for row in accepted(run_dir)]
    views = {
        str(row["source_id"]): {p["view"]: p["correct"] for p in row["predictions"]}
        for row in labelled
    }
    modality_hard = {qa for qa, seen in views.items() if seen["latex"] and not seen["image"]}
    assert modality_hard, "the glancer should miss some from the image that it reads as text"

    out = tmp_path / "hard"
    exported = run_cli(
        "export",
        str(run_dir),
        "--format",
        "hf",
        "--out",
        str(out),
        "--difficulty",
        "modality_hard",
        cwd=tmp_path,
    )
    assert exported.returncode == 0, exported.stderr
    import pyarrow.parquet as parquet

    table = parquet.read_table(next((out / "data").glob("*.parquet"))).to_pylist()
    assert {row["qa_id"] for row in table} == modality_hard
    assert all(row["difficulty"] == "modality_hard" for row in table)
    assert all(row["solved_from_text"] and not row["solved_from_image"] for row in table)

    report = run_cli("report", str(run_dir), cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    page = (run_dir / "report.html").read_text()
    assert "Difficulty (the modality swap)" in page and "modality_hard" in page

    wrong = run_cli(
        "export",
        str(run_dir),
        "--format",
        "llava",
        "--out",
        str(tmp_path / "x"),
        "--difficulty",
        "medium",
        cwd=tmp_path,
    )
    assert wrong.returncode == 2 and "unknown label 'medium'" in wrong.stderr


def test_export_by_difficulty_needs_the_labels(generated: Path, tmp_path: Path) -> None:
    result = run_cli(
        "export",
        str(generated),
        "--format",
        "llava",
        "--out",
        str(tmp_path / "x"),
        "--difficulty",
        "hard",
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "have no difficulty label" in result.stderr and "Traceback" not in result.stderr


def test_a_difficulty_solver_without_vision_is_refused_at_its_key(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path)
    text_only = "models:\n  text-only: {kind: openai, base_url: 'http://127.0.0.1:9', model: m}\n"
    scenario.write_text(
        scenario.read_text().replace("models:\n", text_only)
        + DIFFICULTY.replace("model: sim-careful}\n  graders", "model: text-only}\n  graders")
    )
    result = run_cli("validate", str(scenario), cwd=tmp_path)
    assert result.returncode == 2
    assert "difficulty.solver.model" in result.stderr and "no vision" in result.stderr


def test_run_commands_refuse_an_eval_folder_and_eval_refuses_a_run(
    generated: Path, tmp_path: Path
) -> None:
    out = tmp_path / "eval"
    scenario = str(eval_scenario(tmp_path))
    made = run_cli("eval", str(generated), scenario, "--quiet", "--out", str(out), cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    for command in (
        ["export", str(out), "--format", "llava", "--out", str(tmp_path / "x")],
        ["show", str(out), "e00001"],
        ["jury-study", str(out)],
        ["compare", str(generated), str(out)],
        ["run", "--resume", str(out)],
    ):
        result = run_cli(*command, cwd=tmp_path)
        assert result.returncode == 2, command
        assert "is an eval folder" in result.stderr and "Traceback" not in result.stderr
    result = run_cli("eval", "--resume", str(generated), cwd=tmp_path)
    assert result.returncode == 2 and "not an eval folder" in result.stderr
    assert (generated / "records.jsonl").read_text()  # the run is untouched
