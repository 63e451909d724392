"""Whole offline runs through run.py, real Chromium and real files."""

from __future__ import annotations

import contextlib
import html
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import (
    ROOT,
    ink_share,
    png_image,
    start_resume_and_wait_for_commits,
    start_run_and_wait_for_commits,
    write_scenario,
)
from tests.conftest import (
    run_cli as run,
)


def records(run_dir: Path) -> list[dict[str, object]]:
    lines = (run_dir / "records.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_offline_run_writes_a_voted_dataset(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path, target=6)
    result = run(str(scenario), "--quiet", "--out", str(tmp_path / "run"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    run_dir = tmp_path / "run"
    rows = records(run_dir)
    accepted = [row for row in rows if row["accepted"]]
    assert len(accepted) >= 6
    assert len({row["qa_id"] for row in rows}) == len(rows)
    for row in rows:
        assert set(row) >= {
            "qa_id",
            "table_id",
            "image",
            "topic",
            "question",
            "answer",
            "reasoning",
            "kind",
            "accepted",
            "confidence",
            "votes",
            "generator",
            "questioner",
            "attempt",
        }
        votes = row["votes"]
        assert isinstance(votes, list) and [v["persona"] for v in votes] == [
            "auditor",
            "pedant",
            "skimmer",
        ]
        agreeing = sum(v["verdict"] == row["accepted"] for v in votes)
        assert row["confidence"] == round(agreeing / 3, 4)
        assert row["accepted"] == (sum(v["verdict"] for v in votes) >= 2)
        image = png_image((run_dir / str(row["image"])).read_bytes())
        assert 300 < image.width < 3000 and 150 < image.height < 2500
        assert ink_share(image) > 0.02
        assert (run_dir / "tables" / f"{row['table_id']}.tex").is_file()
    info = json.loads((run_dir / "run.json").read_text())
    assert info["progress"]["accepted"] == len(accepted)
    assert info["scenario"]["name"] == "tiny" and info["ledger"]["by_model_role"]
    events = (run_dir / "events.jsonl").read_text().splitlines()
    kinds = {json.loads(line)["kind"] for line in events}
    assert {
        "RunStarted",
        "InspirationOffered",
        "TableDrafted",
        "TableRendered",
        "QuestionsProposed",
        "VotesCast",
        "VerdictsReached",
        "InspirationCommitted",
        "RunStopping",
    } <= kinds
    out = result.stdout
    assert "generator  analyst-1" in out and "juror      auditor" in out
    assert f"summary: accepted={len(accepted)}" in out
    assert "jury_precision=" in out and "summary: generator=analyst-1" in out
    replay = run("replay", str(run_dir), "--quiet", cwd=tmp_path)
    assert replay.returncode == 0
    assert f"summary: accepted={len(accepted)}" in replay.stdout
    committed = [
        line.split(None, 1)[1] for line in out.splitlines() if "InspirationCommitted" in line
    ]
    assert committed and all(line in replay.stdout for line in committed)


def test_same_seed_same_records_other_seed_other_records(tmp_path: Path) -> None:
    outputs = []
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        scenario = (
            write_scenario(tmp_path / name, seed=seed, target=5)
            if (tmp_path / name).mkdir() is None
            else None
        )
        assert scenario is not None
        result = run(str(scenario), "--quiet", "--out", str(tmp_path / name / "run"), cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        outputs.append((tmp_path / name / "run" / "records.jsonl").read_text())
    assert outputs[0] == outputs[1]
    assert outputs[0] != outputs[2]


def test_kill_9_then_resume_finishes_without_duplicates_or_losses(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path, seed=5, target=24)
    run_dir = tmp_path / "killed"
    with start_run_and_wait_for_commits(scenario, run_dir, tmp_path, commits=2) as process:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    before = records(run_dir)
    accepted_before = {row["qa_id"]: row for row in before if row["accepted"]}
    assert accepted_before, "the run was killed before anything was accepted"

    resumed = run("run", "--resume", str(run_dir), "--quiet", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    after = records(run_dir)
    ids = [row["qa_id"] for row in after]
    assert len(ids) == len(set(ids))
    by_id = {row["qa_id"]: row for row in after}
    assert all(by_id[qa_id] == row for qa_id, row in accepted_before.items())
    assert sum(row["accepted"] for row in after) >= 24

    uninterrupted = run(str(scenario), "--quiet", "--out", str(tmp_path / "whole"), cwd=tmp_path)
    assert uninterrupted.returncode == 0
    assert (tmp_path / "whole" / "records.jsonl").read_text() == (
        run_dir / "records.jsonl"
    ).read_text()


def test_resume_of_a_folder_that_is_not_a_run(tmp_path: Path) -> None:
    result = run("run", "--resume", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 2
    assert "not a run folder" in result.stderr and "Traceback" not in result.stderr


def test_missing_chromium_or_assets_say_how_to_fix(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path)
    for variable, value, fragment in (
        ("MODSWAP_CHROMIUM", "/nonexistent/chromium", "Chromium"),
        ("MODSWAP_KATEX_DIR", str(tmp_path / "nokatex"), "KaTeX"),
    ):
        result = subprocess.run(
            [sys.executable, str(ROOT / "run.py"), str(scenario), "--quiet"],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=60,
            env={**os.environ, variable: value},
        )
        assert result.returncode == 2
        assert fragment in result.stderr and "make setup" in result.stderr
        assert "Traceback" not in result.stderr
        assert not (tmp_path / "out").exists()


def test_ctrl_c_stops_cleanly_and_says_how_to_resume(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path, seed=9, target=40)
    run_dir = tmp_path / "stopped"
    with start_run_and_wait_for_commits(scenario, run_dir, tmp_path) as process:
        process.send_signal(signal.SIGINT)
        rest, errors = process.communicate(timeout=120)
    assert process.returncode == 130, errors
    assert f"Resume with: python run.py run --resume {run_dir}" in rest
    assert "work in flight finishes first" in errors
    assert "Traceback" not in errors
    saved = records(run_dir)
    assert saved and sum(row["accepted"] for row in saved) < 40
    resumed = run("run", "--resume", str(run_dir), "--quiet", cwd=tmp_path)
    assert resumed.returncode == 0
    assert sum(row["accepted"] for row in records(run_dir)) >= 40


def test_render_command_reports_each_file(tmp_path: Path) -> None:
    good = tmp_path / "good.tex"
    good.write_text("\\begin{tabular}{lr}\nA & 1 \\\\\nB & 2 \\\\\n\\end{tabular}\n")
    bad = tmp_path / "bad.tex"
    bad.write_text("\\begin{tabular}{l}\nA & 1 \\\\\n\\end{tabular}\n")
    # By default a partial render is written with its warnings, as pdflatex goes on.
    lenient = run(
        "render", str(good), str(bad), "--out", str(tmp_path / "png"), "--json", cwd=tmp_path
    )
    assert lenient.returncode == 0
    first, second = (json.loads(line) for line in lenient.stdout.splitlines())
    assert first["ok"] and not first["partial"] and first["error"] is None and "A" in first["text"]
    assert png_image((tmp_path / "png" / "good.png").read_bytes()).width == first["width"]
    assert second["ok"] and second["partial"]
    assert [(w["line"], w["construct"]) for w in second["warnings"]] == [(2, "&")]
    # --strict refuses it, with the line and the construct.
    strict = run(
        "render", str(bad), "--strict", "--out", str(tmp_path / "strict"), "--json", cwd=tmp_path
    )
    assert strict.returncode == 1
    refused = json.loads(strict.stdout)
    assert not refused["ok"] and refused["error"]["line"] == 2
    assert refused["error"]["construct"] == "&"


def test_render_loads_no_agents_models_or_exporters(tmp_path: Path) -> None:
    """`run.py render` is a command people run on folders: it starts without the run stack."""
    table = tmp_path / "t.tex"
    table.write_text("\\begin{tabular}{l}\nA \\\\\n\\end{tabular}\n")
    probe = (
        "import sys, runpy\n"
        f"sys.argv = ['run.py', 'render', {str(table)!r}, '--out', {str(tmp_path / 'png')!r}]\n"
        "try:\n"
        f"    runpy.run_path({str(ROOT / 'run.py')!r}, run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = ('agents', 'datasets', 'autogen_core')\n"
        "rooms = ('environment.models', 'environment.simulation', 'environment.core.world',\n"
        "         'environment.outputs')\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in heavy or m.startswith(rooms)]\n"
        "print(loaded)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "png" / "t.png").is_file()
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_render_command_with_a_picture_starts_the_tikz_engine_with_the_browser(
    tmp_path: Path,
) -> None:
    picture = tmp_path / "picture.tex"
    picture.write_text(
        "\\begin{tabular}{ll}\nTrend & \\tikz \\draw[->] (0,0) -- (0.4,0.3); \\\\\n\\end{tabular}\n"
    )
    result = run("render", str(picture), "--out", str(tmp_path / "png"), "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    entry = json.loads(result.stdout)
    assert entry["ok"] and not entry["partial"] and entry["warnings"] == []


@pytest.mark.parametrize("command", ["run", "render", "export"])
def test_an_out_that_is_a_file_is_named_not_a_traceback(tmp_path: Path, command: str) -> None:
    taken = tmp_path / "taken"
    taken.write_text("not a folder")
    table = tmp_path / "t.tex"
    table.write_text("\\begin{tabular}{l}\nA \\\\\n\\end{tabular}\n")
    args = {
        "run": [str(ROOT / "scenarios" / "quickstart.yaml"), "--quiet"],
        "render": ["render", str(table)],
        "export": ["export", str(tmp_path), "--format", "llava"],
    }[command]
    result = run(*args, "--out", str(taken), cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "is a file" in result.stderr and "Traceback" not in result.stderr
    assert taken.read_text() == "not a folder"


@contextlib.contextmanager
def small_disk(folder: Path) -> Iterator[tuple[Path, Callable[[], None]]]:
    """A folder on a real 400 kB tmpfs, and what makes room on it. Mounting needs root (the
    set-up and CI run as root); a per-file size limit is no stand-in: Chromium's own files
    outgrow it before the run's do."""
    mount_point = folder / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip()}")

    def make_room() -> None:
        subprocess.run(["mount", "-o", "remount,size=64m", str(mount_point)], check=True)

    try:
        yield mount_point, make_room
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_a_full_disk_stops_the_run_in_one_line_and_the_folder_resumes(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path, target=40)
    with small_disk(tmp_path) as (disk, make_room):
        run_dir = disk / "run"
        first = subprocess.run(
            [sys.executable, str(ROOT / "run.py"), str(scenario), "--quiet", "--out", str(run_dir)],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=300,
        )
        assert first.returncode == 1, first.stdout[-2000:] + first.stderr
        assert first.stderr.count("\n") == 1 and "Traceback" not in first.stderr
        assert f"cannot write to {run_dir}" in first.stderr
        assert f"python run.py run --resume {run_dir}" in first.stderr
        make_room()
        resumed = run("run", "--resume", str(run_dir), "--quiet", cwd=tmp_path)
        assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr
        saved = records(run_dir)
        assert sum(bool(row["accepted"]) for row in saved) >= 40
        assert len({row["qa_id"] for row in saved}) == len(saved)  # nothing twice


def test_a_second_writer_is_refused_while_a_run_holds_its_folder(tmp_path: Path) -> None:
    # A target the first run cannot reach before it is interrupted: it holds the folder
    # for the whole test, however fast this machine is.
    scenario = write_scenario(tmp_path, target=100_000)
    run_dir = tmp_path / "run"
    first = start_run_and_wait_for_commits(scenario, run_dir, tmp_path, commits=1)
    try:
        second = run("run", "--resume", str(run_dir), "--quiet", cwd=tmp_path)
        assert second.returncode == 2, second.stdout[-2000:] + second.stderr
        assert f"another modswap run is writing this folder (process {first.pid})" in (
            second.stderr
        )
        readable = run("report", str(run_dir), "--out", str(tmp_path / "r.html"), cwd=tmp_path)
        assert readable.returncode == 0, readable.stderr  # readers never wait for the lock
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=120)
    assert first.returncode == 130
    saved = records(run_dir)
    assert saved and len({row["qa_id"] for row in saved}) == len(saved)
    # The lock went with the first process: the folder is free to resume.
    again = start_resume_and_wait_for_commits(run_dir, tmp_path)
    again.send_signal(signal.SIGINT)
    again.communicate(timeout=120)
    assert again.returncode == 130
    resaved = records(run_dir)
    assert len(resaved) > len(saved) and len({row["qa_id"] for row in resaved}) == len(resaved)


def test_inputs_with_the_same_name_get_distinct_images(tmp_path: Path) -> None:
    for folder, word in (("a", "Apples"), ("b", "Bananas")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "t.tex").write_text(
            f"\\begin{{tabular}}{{l}}\n{word} \\\\\n\\end{{tabular}}\n"
        )
    result = run(
        "render", "a/t.tex", "b/t.tex", "--out", str(tmp_path / "png"), "--json", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    entries = [json.loads(line) for line in result.stdout.splitlines()]
    assert [entry["text"].strip() for entry in entries] == ["Apples", "Bananas"]
    pngs = [Path(str(entry["png"])) for entry in entries]
    assert len(set(pngs)) == 2 and all(png.is_file() for png in pngs)


def test_export_and_report_on_a_full_disk_leave_no_partial_file(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path, target=12)
    run_dir = tmp_path / "run"
    done = run(str(scenario), "--quiet", "--out", str(run_dir), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    with small_disk(tmp_path) as (disk, _):
        (disk / "filler").write_bytes(b"x" * 380_000)  # a disk nearly full already
        exported = run(
            "export", str(run_dir), "--format", "llava", "--out", str(disk / "ds"), cwd=tmp_path
        )
        reported = run("report", str(run_dir), "--out", str(disk / "r.html"), cwd=tmp_path)
        for result in (exported, reported):
            assert result.returncode == 1, result.stdout + result.stderr
            assert "Traceback" not in result.stderr and result.stderr.startswith("error: cannot")
        left = [p.relative_to(disk) for p in disk.rglob("*") if p.is_file()]
        assert all(p.name == "filler" or p.suffix == ".png" for p in left), left


def test_unusable_replies_and_failed_renders_are_kept_in_rejects(tmp_path: Path) -> None:
    """The simulated personas make the faults real models make; what they wrote is kept."""
    scenario = write_scenario(tmp_path, target=40)
    run_dir = tmp_path / "run"
    result = run(str(scenario), "--quiet", "--out", str(run_dir), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rejects = [json.loads(line) for line in (run_dir / "rejects.jsonl").read_text().splitlines()]
    kinds = {reject["kind"] for reject in rejects}
    assert kinds == {"unusable output", "failed render"}, kinds
    for reject in rejects:
        assert reject["reason"] and reject["reply"] and reject["agent"] and reject["attempt"] >= 1
    unusable = next(r for r in rejects if r["kind"] == "unusable output")
    events = (run_dir / "events.jsonl").read_text()
    assert json.dumps(unusable["reply"])[1:40] in events  # the very text the model wrote
    failed = next(r for r in rejects if r["kind"] == "failed render")
    assert "\\begin{" in failed["reply"] and "(" in failed["reason"]  # the LaTeX and the problem
    report = run("report", str(run_dir), cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    page = (run_dir / "report.html").read_text()
    assert "Rejected outputs" in page and html.escape(failed["reason"][:60]) in page


def test_show_tells_an_items_whole_story(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path, target=6)
    run_dir = tmp_path / "run"
    assert run(str(scenario), "--quiet", "--out", str(run_dir), cwd=tmp_path).returncode == 0
    record = next(row for row in records(run_dir) if row["accepted"])
    shown = run("show", str(run_dir), str(record["qa_id"]), cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    story = shown.stdout
    order = [
        "InspirationOffered",
        "TableDrafted",
        "TableRendered",
        "QuestionsProposed",
        "VerdictsReached",
    ]
    assert [story.index(kind) for kind in order] == sorted(story.index(kind) for kind in order)
    assert story.count("VotesCast") == len(record["votes"])  # type: ignore[arg-type]
    assert json.dumps(record["question"])[1:-1] in story
    # The table's other pairs travel in the same messages but are not this item's story.
    siblings = [
        row
        for row in records(run_dir)
        if row["table_id"] == record["table_id"] and row["qa_id"] != record["qa_id"]
    ]
    assert siblings, "the scenario asks for several pairs per table"
    assert all(f"{row['qa_id']}:" not in story for row in siblings)
    assert story.count(f"{record['qa_id']}:") >= 2 + len(record["votes"])  # pair, votes, verdict
    assert "\\begin{tabular}" in story and f"images/{record['table_id']}.png" in story
    sibling = f"{record['inspiration_id']}-t{int(str(record['table_id']).rsplit('-t', 1)[1]) + 1}"
    assert f'"table_id": "{sibling}"' not in story and f"{sibling}.png" not in story
    missing = run("show", str(run_dir), "i99999-t0-q0", cwd=tmp_path)
    assert missing.returncode == 2 and "no event concerns 'i99999-t0-q0'" in missing.stderr


def test_a_users_personas_and_set_flags_are_kept_in_the_run_folder(tmp_path: Path) -> None:
    """run.json holds the resolved personas: a resume runs the same agents even after the
    user's persona folder changed (here: broke)."""
    scenario = write_scenario(tmp_path, target=3)
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "lenient.yaml").write_text("name: lenient\nextends: auditor\n")
    with scenario.open("a") as text:
        text.write("personas_dir: mine\n")
    run_dir = tmp_path / "run"
    flags = [
        "--set",
        "agents.3.persona=lenient",
        "--set",
        "consensus.tiebreaker=lenient",
        "--set",
        "personas.lenient.behaviour.false_accept=0.4",
    ]
    first = run(str(scenario), "--quiet", "--out", str(run_dir), *flags, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    info = json.loads((run_dir / "run.json").read_text())
    assert info["personas"]["lenient"]["behaviour"]["false_accept"] == 0.4
    assert info["personas"]["lenient"]["role"] == "juror"
    assert sorted(info["personas"]) == [
        "analyst",
        "cartographer",
        "lenient",
        "pedant",
        "puzzle-setter",
        "skimmer",
    ]
    assert info["scenario"]["agents"][3]["persona"] == "lenient"
    assert any(row["votes"][0]["persona"] == "lenient" for row in records(run_dir))  # type: ignore[index]
    # The folder alone runs it again: same scenario, same personas, same records.
    again_dir = tmp_path / "again"
    rerun = run(str(run_dir), "--quiet", "--out", str(again_dir), cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    assert (again_dir / "records.jsonl").read_text() == (run_dir / "records.jsonl").read_text()
    shown = run("personas", "lenient", "--scenario", str(scenario), *flags[-2:], cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    knobs = {line.split()[0]: line for line in shown.stdout.splitlines()[2:]}
    assert "0.4" in knobs["behaviour.false_accept"]
    assert knobs["behaviour.false_accept"].endswith(flags[-1])
    assert "inherited from auditor: package agents/personas/auditor.yaml" in knobs["role"]
    (folder / "lenient.yaml").write_text("name: lenient\nextends: nobody\n")
    again = run("run", "--resume", str(run_dir), "--quiet", "--target", "6", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert len([r for r in records(run_dir) if r["accepted"]]) >= 6
    refused = run("run", "--resume", str(run_dir), "--set", "seed=3", cwd=tmp_path)
    assert refused.returncode == 2 and "drop the scenario file, --out and --set" in refused.stderr
    broken = run("validate", str(scenario), cwd=tmp_path)
    assert broken.returncode == 2 and "extends: unknown persona 'nobody'" in broken.stderr
    listing = run("personas", "lenient", "--scenario", str(scenario), cwd=tmp_path)
    assert listing.returncode == 2 and "Traceback" not in listing.stderr


def test_a_cascade_calls_its_later_juror_only_where_the_first_split(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path, target=12)
    run_dir = tmp_path / "run"
    cascade = ["consensus.rule=cascade", "consensus.first=[auditor, pedant]"]
    flags = [part for flag in cascade for part in ("--set", flag)]
    result = run(str(scenario), "--quiet", "--out", str(run_dir), *flags, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = records(run_dir)
    first = [row for row in rows if row["stage"] == 1]
    later = [row for row in rows if row["stage"] == 2]
    assert first and all(len(row["votes"]) == 2 for row in first)  # type: ignore[arg-type]
    for row in first:  # settled: the two first jurors cast the same vote
        assert len({vote["verdict"] for vote in row["votes"]}) == 1  # type: ignore[union-attr]
    assert later, "the first two jurors never split: the second stage went untried"
    assert all(len(row["votes"]) == 3 for row in later)  # type: ignore[arg-type]
    # From the event log, not the records: pairs still in flight when the target is reached
    # are voted on but never recorded, and how many there are depends on timing.
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    cast = [e["data"] for e in events if e["kind"] == "VotesCast"]
    first_verdicts: dict[str, set[str]] = {}
    for data in cast:
        if data["juror"] in ("auditor", "pedant"):
            for vote in data["votes"]:
                first_verdicts.setdefault(vote["qa_id"], set()).add(vote["verdict"])
    skimmer_votes = [
        vote["qa_id"] for data in cast if data["juror"] == "skimmer" for vote in data["votes"]
    ]
    asked = [
        pair["qa_id"]
        for e in events
        if e["kind"] == "VotesRequested"
        for pair in e["data"]["pairs"]
    ]
    assert len(asked) == len(set(asked))  # each pair asked once
    assert all(len(first_verdicts[qa_id]) == 2 for qa_id in asked)  # only where they split
    assert len(skimmer_votes) == len(set(skimmer_votes)) and set(skimmer_votes) <= set(asked)
    assert {str(row["qa_id"]) for row in later} <= set(skimmer_votes)


def test_a_tool_checking_juror_in_a_cascade_votes_on_what_its_tools_read(
    tmp_path: Path,
) -> None:
    scenario = write_scenario(tmp_path, target=8)
    run_dir, again_dir = tmp_path / "run", tmp_path / "again"
    settings = [
        "agents.4.persona=checker",
        "consensus.rule=cascade",
        "consensus.first=[checker, pedant]",
    ]
    flags = [part for setting in settings for part in ("--set", setting)]
    result = run(str(scenario), "--quiet", "--out", str(run_dir), *flags, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = records(run_dir)
    checks = [
        vote["tools"]
        for row in rows
        for vote in row["votes"]  # type: ignore[attr-defined]
        if vote["juror"] == "checker"
    ]
    assert checks and all(checks), "a checker vote without a tool call"
    rounds = [
        vote["calls"]
        for row in rows
        for vote in row["votes"]  # type: ignore[attr-defined]
        if vote["juror"] == "checker"
    ]
    assert min(rounds) >= 2  # the tools' round, then the vote
    for uses in checks:
        for use in uses:
            assert use["name"] in {"read_cell", "column_values", "table_outline"}
            assert not use["is_error"], use  # the tools found what the question names
            assert json.loads(use["result"])  # a real reading of the grid
    assert {row["stage"] for row in rows} == {1, 2}
    reported = run("report", str(run_dir), cwd=tmp_path)
    assert reported.returncode == 0, reported.stderr
    report = (run_dir / "report.html").read_text()
    assert '<ol class="tools">' in report and "read_cell(" in html.unescape(report)
    rerun = run(str(run_dir), "--quiet", "--out", str(again_dir), cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    assert (again_dir / "records.jsonl").read_text() == (run_dir / "records.jsonl").read_text()


def test_the_weighted_rule_is_the_same_killed_and_resumed_and_the_study_replays_it(
    tmp_path: Path,
) -> None:
    from environment.outputs.jury_study import study_run

    scenario = write_scenario(tmp_path, seed=5, target=24)
    weighted = ["consensus.rule=weighted", "consensus.weights_after=6"]
    flags = [part for setting in weighted for part in ("--set", setting)]
    whole = tmp_path / "whole"
    result = run(str(scenario), "--quiet", "--out", str(whole), *flags, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = records(whole)
    heads = {1.0, round(2 / 3, 4)}  # what counting three votes can give
    assert any(row["confidence"] not in heads for row in rows), "weights never used"
    study = study_run(whole)
    assert study.reproduced is True  # replayed with what the rule knew at each table
    killed = tmp_path / "killed"
    with start_run_and_wait_for_commits(
        scenario, killed, tmp_path, commits=3, extra=tuple(flags)
    ) as process:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
    resumed = run("run", "--resume", str(killed), "--quiet", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert (killed / "records.jsonl").read_text() == (whole / "records.jsonl").read_text()
