"""Sharded runs: K local processes over disjoint parts of the work, merged into one folder.

Real run.py processes, real Chromium, real files; the fake OpenAI server where a test needs
tables that repeat across shards.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from environment.config.scenario import BudgetSettings, OpenAIModelSettings, load_scenario
from environment.core.shard_run import top_up
from environment.core.shards import shard_scenarios
from environment.errors import UserInputError
from tests.conftest import ROOT, write_scenario
from tests.conftest import run_cli as run
from tests.fakes.openai_server import FakeOpenAI, serving
from tests.test_real_models import KEY, write_real_scenario


def records(run_dir: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (run_dir / "records.jsonl").read_text().splitlines()]


def run_json(run_dir: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((run_dir / "run.json").read_text())
    return data


@pytest.fixture(scope="module")
def sharded_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One finished two-shard run of the tiny scenario, for the tests that only read it
    (or copy it before changing it)."""
    base = tmp_path_factory.mktemp("sharded")
    scenario = write_scenario(base, target=14)
    result = run(str(scenario), "--shards", "2", "--quiet", "--out", str(base / "run"), cwd=base)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    return base / "run"


def test_shards_share_out_the_target_and_the_budget(tmp_path: Path) -> None:
    loaded = load_scenario(write_scenario(tmp_path, target=14), ROOT / "agents" / "personas")
    endpoint = OpenAIModelSettings(
        kind="openai", base_url="http://127.0.0.1:9/v1", model="m", rpm=100, tpm=1001
    )
    scenario = loaded.scenario.model_copy(
        update={
            "budget": BudgetSettings(usd=3.0),
            "models": {**loaded.scenario.models, "remote": endpoint},
        }
    )
    shards = shard_scenarios(scenario, 4)
    assert [s.target.accepted_qa for s in shards] == [4, 4, 3, 3]  # 14 = 4 + 4 + 3 + 3
    assert [s.shard.index for s in shards if s.shard] == [0, 1, 2, 3]
    assert all(s.budget and s.budget.usd == pytest.approx(0.75) for s in shards)
    # The provider's quotas are the account's: each shard keeps to a quarter (rounded up).
    for shard in shards:
        remote = shard.models["remote"]
        assert isinstance(remote, OpenAIModelSettings)
        assert (remote.rpm, remote.tpm, remote.concurrency) == (25, 251, endpoint.concurrency)
    # Inspiration numbers interleave: shard 1 of 4 works on 1, 5, 9…
    assert shards[1].shard is not None and shards[1].shard.global_seq(2) == 9
    with pytest.raises(UserInputError, match="--shards 0"):
        shard_scenarios(scenario, 0)
    with pytest.raises(UserInputError, match="more than the target of 14"):
        shard_scenarios(scenario, 15)
    # A merge that came out 5 short asks each shard for its share of the 5.
    assert top_up([4, 4, 3, 3], 5) == [6, 5, 4, 4]


def test_a_sharded_run_merges_the_same_bytes_every_time(sharded_run: Path, tmp_path: Path) -> None:
    rows = records(sharded_run)
    info = run_json(sharded_run)
    assert sum(bool(row["accepted"]) for row in rows) >= 14
    assert len({row["qa_id"] for row in rows}) == len(rows)
    # Each shard drew its own inspirations: shard 0 the even ones, shard 1 the odd ones.
    for index in (0, 1):
        shard_rows = records(sharded_run / "shards" / f"{index:03d}")
        assert shard_rows, f"shard {index} committed nothing"
        assert {int(str(row["inspiration_id"])[1:]) % 2 for row in shard_rows} == {index}
    merged_ids = [row["qa_id"] for row in rows]
    assert merged_ids == sorted(merged_ids)  # the whole run's order, not shard by shard
    assert info["sharded"] == {"count": 2, "merged": True}
    merge = info["merge"]
    assert isinstance(merge, dict) and merge["shards"] == 2
    assert merge["records"] == len(rows)
    for row in rows:  # every record's image is in the merged folder
        assert (sharded_run / str(row["image"])).stat().st_size > 1000
    # The same seed again: byte for byte the same records.
    again = tmp_path / "again"
    scenario = write_scenario(tmp_path, target=14)
    result = run(str(scenario), "--shards", "2", "--quiet", "--out", str(again), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (again / "records.jsonl").read_bytes() == (sharded_run / "records.jsonl").read_bytes()


def test_the_merged_run_exports_reports_and_resumes(sharded_run: Path, tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    out = tmp_path / "hf"
    result = run("export", str(sharded_run), "--format", "hf", "--out", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    loaded = datasets.load_dataset("parquet", data_dir=str(out / "data"), split="train")
    accepted = sum(bool(row["accepted"]) for row in records(sharded_run))
    assert loaded.num_rows == accepted
    report = tmp_path / "report.html"
    result = run("report", str(sharded_run), "--out", str(report), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "accepted" in report.read_text()
    # Resuming a finished sharded run starts no shard and merges to the same records.
    before = (sharded_run / "records.jsonl").read_bytes()
    result = run("run", "--resume", str(sharded_run), "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "done:" in result.stdout and "shard 0: done" not in result.stdout
    assert (sharded_run / "records.jsonl").read_bytes() == before


def test_merge_refuses_shards_of_another_run(sharded_run: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(sharded_run, copy)
    # A line of shard 0's in shard 1's records: refused, naming the file.
    shard_records = copy / "shards" / "001" / "records.jsonl"
    written = shard_records.read_bytes()
    stray = (copy / "shards" / "000" / "records.jsonl").read_text().splitlines()[0]
    shard_records.write_text(written.decode() + stray + "\n")
    result = run("merge", str(copy), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert f"{shard_records}: " in result.stderr and "not shard 1's inspiration" in result.stderr
    shard_records.write_bytes(written)
    shard_json = copy / "shards" / "001" / "run.json"
    info = json.loads(shard_json.read_text())
    info["seed"] = 99
    shard_json.write_text(json.dumps(info))
    result = run("merge", str(copy), cwd=tmp_path)
    assert result.returncode == 2
    assert "seed 99 differs from the run's 7" in result.stderr
    assert "Traceback" not in result.stderr
    info["seed"] = 7
    info["scenario"]["qa_per_table"] = 5
    shard_json.write_text(json.dumps(info))
    result = run("merge", str(copy), cwd=tmp_path)
    assert result.returncode == 2 and "differs from the run's in qa_per_table" in result.stderr
    shutil.rmtree(copy / "shards" / "001")
    result = run("merge", str(copy), cwd=tmp_path)
    assert result.returncode == 2 and "shard folder" in result.stderr
    # The folder it refused is as the last merge left it: nothing was half rewritten.
    assert (copy / "records.jsonl").read_bytes() == (sharded_run / "records.jsonl").read_bytes()


def test_merge_drops_a_table_that_repeats_another_shards(sharded_run: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(sharded_run, copy)
    first, second = (records(copy / "shards" / f"{i:03d}")[0] for i in (0, 1))
    # Shard 1's first table now reads like shard 0's first: only the merge can see it.
    shard0_text = copy / "shards" / "000" / "tables" / f"{first['table_id']}.txt"
    shard1_text = copy / "shards" / "001" / "tables" / f"{second['table_id']}.txt"
    shard1_text.write_text(shard0_text.read_text())
    result = run("merge", str(copy), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "1 tables repeated another shard's" in result.stdout
    rows = records(copy)
    assert second["table_id"] not in {row["table_id"] for row in rows}
    assert first["table_id"] in {row["table_id"] for row in rows}
    merge = run_json(copy)["merge"]
    assert isinstance(merge, dict) and merge["duplicate_tables_dropped"] == 1
    dropped = [row for row in records(sharded_run) if row["table_id"] == second["table_id"]]
    assert merge["pairs_dropped_with_them"] == len(dropped)
    assert not (copy / "images" / f"{second['table_id']}.png").exists()
    events = [json.loads(line) for line in (copy / "events.jsonl").read_text().splitlines()]
    drops = [e for e in events if e["kind"] == "DuplicatesDropped" and e["sender"] == "merge"]
    assert [e["data"]["table_id"] for e in drops] == [second["table_id"]]


def test_repeats_across_shards_are_made_up_by_more_work(tmp_path: Path) -> None:
    """Tables are picked by topic from a few documents, so shards repeat each other's
    whatever the timing; the merge drops the repeats and the shards are topped up."""
    documents = tuple(
        "\\documentclass{article}\\begin{document}\\begin{tabular}{lr}\n"
        f"Item & Count \\\\\n{name} north & {10 + n} \\\\\n{name} south & {20 + n} \\\\\n"
        f"{name} east & {30 + 2 * n} \\\\\n{name} west & {40 + 3 * n} \\\\\n"
        "\\end{tabular}\\end{document}"
        for n, name in enumerate(("Alder", "Birch", "Cedar", "Damson", "Elm"))
    )
    server = FakeOpenAI(table_documents=documents, documents_by_topic=True)
    with serving(server) as thread:
        scenario = write_real_scenario(
            tmp_path, thread.base_url, target=10, simulated_except_generator=True
        )
        result = run(
            str(scenario),
            "--shards",
            "2",
            "--quiet",
            "--out",
            str(tmp_path / "run"),
            cwd=tmp_path,
            env={**os.environ, "MODSWAP_FAKE_KEY": KEY},
        )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    merge = run_json(tmp_path / "run")["merge"]
    assert isinstance(merge, dict) and merge["duplicate_tables_dropped"] >= 1
    assert "asking the shards for" in result.stdout  # a top-up round ran
    rows = records(tmp_path / "run")
    assert sum(bool(row["accepted"]) for row in rows) >= 10
    texts = [
        (tmp_path / "run" / "tables" / f"{t}.tex").read_text()
        for t in {r["table_id"] for r in rows}
    ]
    assert len(texts) == len(set(texts))  # no document twice in the merged dataset


def test_ctrl_c_stops_every_shard_and_resume_finishes(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path, target=40)
    run_dir = tmp_path / "run"
    command = [sys.executable, str(ROOT / "run.py"), str(scenario), "--shards", "2"]
    process = subprocess.Popen(
        [*command, "--quiet", "--out", str(run_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    assert process.stdout is not None
    for line in process.stdout:  # a shard has committed something: now stop them all
        progress = re.match(r"shard \d: (\d+)/20 accepted", line)
        if progress and int(progress.group(1)) > 0:
            break
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=600)
    assert process.returncode == 130, out[-3000:] + err
    assert f"Resume with: python run.py run --resume {run_dir}" in out
    stopped = records(run_dir)
    assert sum(bool(r["accepted"]) for r in stopped) < 40  # it did stop early
    result = run("run", "--resume", str(run_dir), "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    rows = records(run_dir)
    assert sum(bool(row["accepted"]) for row in rows) >= 40
    assert len({row["qa_id"] for row in rows}) == len(rows)
    kept = {row["qa_id"] for row in stopped if row["accepted"]}
    assert kept <= {row["qa_id"] for row in rows if row["accepted"]}  # nothing accepted lost


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--shards", "0"], "--shards 0: give at least 1 shard"),
        (["--shards", "9", "--target", "4"], "--shards 9 is more than the target of 4"),
    ],
)
def test_bad_shard_counts_get_one_line(tmp_path: Path, flags: list[str], message: str) -> None:
    scenario = write_scenario(tmp_path)
    result = run(str(scenario), *flags, "--out", str(tmp_path / "run"), cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()  # refused before any folder was made


def test_a_scenario_file_cannot_set_shard(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path)
    scenario.write_text(scenario.read_text() + "shard: {index: 0, count: 2}\n")
    result = run("validate", str(scenario), cwd=tmp_path)
    assert result.returncode == 2
    assert "shard is set by run.py --shards" in result.stderr


# ---------- on Ray (a local cluster in a fresh temp folder per test)


@pytest.fixture
def ray_env() -> Iterator[dict[str, str]]:
    """run.py's environment with Ray's files in a fresh short folder (its sockets' paths
    must stay short), removed afterwards."""
    pytest.importorskip("ray")
    folder = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    yield {**os.environ, "RAY_TMPDIR": folder}
    shutil.rmtree(folder, ignore_errors=True)


def run_on_ray(
    scenario: Path,
    address: str,
    out: Path,
    env: dict[str, str],
    strike: Callable[[list[tuple[str, int]]], None],
) -> tuple[str, list[tuple[str, int]]]:
    """`run.py SCENARIO --shards 2 --ray ADDRESS`, read line by line; once shard 0 has
    committed pairs, `strike` breaks something, given shard 0's placements so far (node,
    worker pid). Returns the output and all of shard 0's placements."""
    command = [sys.executable, str(ROOT / "run.py"), str(scenario), "--shards", "2"]
    placements: list[tuple[str, int]] = []
    struck = False
    lines = []
    with subprocess.Popen(
        [*command, "--ray", address, "--quiet", "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=out.parent,
        env=env,
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if placed := re.match(r"shard 0: on node (\w+), worker pid (\d+)", line):
                placements.append((placed.group(1), int(placed.group(2))))
            progress = re.match(r"shard 0: (\d+)/\d+ accepted", line)
            if progress and int(progress.group(1)) > 0 and not struck:
                struck = True
                strike(placements)
        assert process.wait(timeout=600) == 0, "".join(lines[-60:])
    return "".join(lines), placements


def test_a_shard_whose_ray_worker_is_killed_comes_back_and_loses_nothing(
    tmp_path: Path, ray_env: dict[str, str]
) -> None:
    scenario = write_scenario(tmp_path, target=40)
    killed_dir = tmp_path / "killed"
    killed: list[int] = []

    def kill_its_worker(placements: list[tuple[str, int]]) -> None:
        killed.append(placements[-1][1])
        os.kill(killed[0], signal.SIGKILL)  # no warning, no clean-up: gone

    output, placements = run_on_ray(scenario, "local", killed_dir, ray_env, kill_its_worker)
    assert killed, "shard 0 never committed"
    assert "shard 0: its worker died" in output
    assert placements[-1][1] != killed[0]  # it came back in another worker process
    # The merged result is the unkilled run's, byte for byte: nothing lost, nothing twice.
    calm_dir = tmp_path / "calm"
    result = run(str(scenario), "--shards", "2", "--quiet", "--out", str(calm_dir), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (killed_dir / "records.jsonl").read_bytes() == (calm_dir / "records.jsonl").read_bytes()


def test_a_ray_address_that_does_not_answer_is_one_line(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    scenario = write_scenario(tmp_path)
    out = tmp_path / "run"
    result = run(
        str(scenario),
        "--shards",
        "2",
        "--ray",
        f"127.0.0.1:{port}",
        "--out",
        str(out),
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 2
    assert f"--ray 127.0.0.1:{port}: no Ray head answers there" in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()
    # Something that is not Ray's head (an HTTP/1 server) is named as such, not waited on.
    with serving(FakeOpenAI()) as other:
        result = run(
            str(scenario),
            "--shards",
            "2",
            "--ray",
            f"127.0.0.1:{other.port}",
            "--out",
            str(out),
            cwd=tmp_path,
            timeout=60,
        )
    assert result.returncode == 2
    assert "something answers there, but not a Ray head" in result.stderr
    assert not out.exists()


def test_a_shard_on_a_removed_node_moves_to_another_and_finishes(
    tmp_path: Path, ray_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from ray.cluster_utils import Cluster

    # The cluster, made in this process, writes its address to <Ray's temp folder>/ray and
    # does not make that folder: by default /tmp/ray, which a fresh machine does not have.
    monkeypatch.setenv("RAY_TMPDIR", ray_env["RAY_TMPDIR"])
    (Path(ray_env["RAY_TMPDIR"]) / "ray").mkdir(exist_ok=True)
    cluster = Cluster(
        initialize_head=True,
        connect=False,
        head_node_args={"num_cpus": 0, "temp_dir": ray_env["RAY_TMPDIR"]},
    )
    try:
        nodes = [cluster.add_node(num_cpus=2) for _ in range(2)]
        cluster.wait_for_nodes()
        scenario = write_scenario(tmp_path, target=40)
        removed = []

        def remove_its_node(placements: list[tuple[str, int]]) -> None:
            removed.append(next(n for n in nodes if n.node_id.startswith(placements[-1][0])))
            cluster.remove_node(removed[0])  # its raylet, workers and shard process go

        _, placements = run_on_ray(
            scenario, cluster.address, tmp_path / "run", ray_env, remove_its_node
        )
    finally:
        cluster.shutdown()
    assert removed and len(placements) >= 2
    assert placements[-1][0] != placements[0][0]  # shard 0 finished on the other node
    rows = records(tmp_path / "run")
    assert sum(bool(row["accepted"]) for row in rows) >= 40
    assert len({row["qa_id"] for row in rows}) == len(rows)


def test_a_crash_between_writing_records_and_counting_them_writes_no_duplicate(
    sharded_run: Path, tmp_path: Path
) -> None:
    """The commit appends a shard's records, then moves run.json's count on. A crash
    between the two leaves records that run.json does not count: the restarted shard does
    that inspiration again and must not write its records twice."""
    copy = tmp_path / "copy"
    shutil.copytree(sharded_run, copy)
    shard = copy / "shards" / "001"
    info = json.loads((shard / "run.json").read_text())
    written = (shard / "records.jsonl").read_bytes()
    info["progress"]["committed_inspirations"] -= 1  # the count the crash did not write
    info["last_session"]["stop_reason"] = "failed"
    (shard / "run.json").write_text(json.dumps(info))
    result = run("run", "--resume", str(copy), "--target", "20", "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    after = (shard / "records.jsonl").read_bytes()
    assert after.startswith(written)  # what was on disk stays, byte for byte
    ids = [row["qa_id"] for row in records(shard)]
    assert len(ids) == len(set(ids))
    merged = [row["qa_id"] for row in records(copy)]
    assert len(merged) == len(set(merged))


def test_the_difficulty_pass_runs_once_on_the_merged_run(tmp_path: Path) -> None:
    from tests.test_eval import DIFFICULTY, graded

    scenario = write_scenario(tmp_path, seed=4, target=12)
    scenario.write_text(scenario.read_text() + DIFFICULTY)
    run_dir = tmp_path / "run"
    result = run(str(scenario), "--shards", "2", "--quiet", "--out", str(run_dir), cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert not any((run_dir / "shards").glob("*/difficulty"))  # not once per shard
    accepted = [row["qa_id"] for row in records(run_dir) if row["accepted"]]
    labelled = graded(run_dir / "difficulty")
    assert sorted(str(row["source_id"]) for row in labelled) == sorted(map(str, accepted))


def test_shards_die_with_a_driver_killed_outright_and_resume_finds_them_free(
    tmp_path: Path,
) -> None:
    scenario = write_scenario(tmp_path, target=40)
    run_dir = tmp_path / "run"
    command = [sys.executable, str(ROOT / "run.py"), str(scenario), "--shards", "2"]
    with subprocess.Popen(
        [*command, "--quiet", "--out", str(run_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
    ) as driver:
        assert driver.stdout is not None
        for line in driver.stdout:
            progress = re.match(r"shard \d: (\d+)/20 accepted", line)
            if progress and int(progress.group(1)) > 0:
                break
        shards = [
            int(entry.name)
            for entry in Path("/proc").iterdir()
            if entry.name.isdigit() and shard_of(entry, run_dir)
        ]
        assert len(shards) == 2, shards
        driver.kill()  # SIGKILL: no Ctrl-C handling, no clean-up
        driver.wait()
    for pid in shards:  # wait on each shard's exit itself (a pidfd), not on a clock
        with contextlib.suppress(ProcessLookupError):
            handle = os.pidfd_open(pid)
            try:
                ready, _, _ = select.select([handle], [], [], 120)
                assert ready, f"shard process {pid} outlived its driver"
            finally:
                os.close(handle)
    for index in (0, 1):  # killed mid-way: neither got to write how its session ended
        assert "last_session" not in run_json(run_dir / "shards" / f"{index:03d}")
    result = run("run", "--resume", str(run_dir), "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    rows = records(run_dir)
    assert sum(bool(row["accepted"]) for row in rows) >= 40
    assert len({row["qa_id"] for row in rows}) == len(rows)


def shard_of(process: Path, run_dir: Path) -> bool:
    """Whether /proc/<pid> is one of `run_dir`'s shard processes."""
    try:
        arguments = (process / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"--shard-report" in arguments and any(
        argument.decode(errors="replace").startswith(str(run_dir / "shards"))
        for argument in arguments
    )
