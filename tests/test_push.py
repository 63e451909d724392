"""run.py push against a stand-in for the Hub's HTTP API (HF_ENDPOINT, Xet off): real
huggingface_hub, real HTTP, a real offline run's export."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import run_cli as run
from tests.conftest import write_scenario
from tests.fakes.hub_server import FakeHub, serve_hub

TOKEN = "hf_fake_writer_8c1d2e3f4a5b"


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("pushed")
    result = run(
        str(write_scenario(base, target=6)), "--quiet", "--out", str(base / "run"), cwd=base
    )
    assert result.returncode == 0, result.stderr
    return base / "run"


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[tuple[FakeHub, dict[str, str]]]:
    fake = FakeHub(writers={TOKEN: "lab"})
    thread = serve_hub(fake)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env |= {
        "HF_ENDPOINT": f"http://127.0.0.1:{thread.port}",
        "HF_HUB_DISABLE_XET": "1",
        "HF_HOME": str(tmp_path / "hf-home"),  # no saved login of the machine's
        "HF_TOKEN": TOKEN,
    }
    try:
        yield fake, env
    finally:
        thread.stop()


def test_a_run_arrives_on_the_hub_and_a_second_push_changes_nothing(
    finished_run: Path, hub: tuple[FakeHub, dict[str, str]], tmp_path: Path
) -> None:
    datasets = pytest.importorskip("datasets")
    fake, env = hub
    result = run("push", str(finished_run), "--repo", "lab/tables", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert "pushed 2 files to lab/tables (main)" in result.stdout
    files = fake.repos["lab/tables"].branches["main"]
    assert set(files) == {"README.md", "data/train-00000-of-00001.parquet"}
    card = files["README.md"].decode()
    assert card.startswith("---") and "modswap" in card
    # What arrived reads back as the run's accepted pairs, images and all.
    (tmp_path / "back").mkdir()
    parquet = tmp_path / "back" / "train.parquet"
    parquet.write_bytes(files["data/train-00000-of-00001.parquet"])
    rows = datasets.load_dataset("parquet", data_files=str(parquet), split="train")
    accepted = [line for line in (finished_run / "records.jsonl").read_text().splitlines()]
    assert rows.num_rows == sum('"accepted":true' in line for line in accepted)
    assert rows[0]["image"].size[0] > 10  # a decoded picture of the table
    # The same data again: no commit, and the user is told so.
    again = run("push", str(finished_run), "--repo", "lab/tables", cwd=tmp_path, env=env)
    assert again.returncode == 0, again.stderr
    assert "already holds this data: nothing pushed" in again.stdout
    assert fake.commits == 1
    # The token is in no output.
    assert TOKEN not in result.stdout + result.stderr + again.stdout + again.stderr


def test_a_branch_and_an_export_folder_push_too(
    finished_run: Path, hub: tuple[FakeHub, dict[str, str]], tmp_path: Path
) -> None:
    fake, env = hub
    export_dir = tmp_path / "export"
    made = run(
        "export", str(finished_run), "--format", "hf", "--out", str(export_dir), cwd=tmp_path
    )
    assert made.returncode == 0, made.stderr
    result = run(
        "push",
        str(export_dir),
        "--repo",
        "lab/tables",
        "--revision",
        "v1",
        "--private",
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    repo = fake.repos["lab/tables"]
    assert repo.private
    assert repo.branches["v1"]["README.md"] == (export_dir / "README.md").read_bytes()


@pytest.mark.parametrize(
    ("repo", "token", "message"),
    [
        ("lab/tables", "hf_not_a_known_token", "refused the token (HTTP 401)"),
        ("someone-else/tables", TOKEN, "the token cannot write to someone-else/tables (HTTP 403)"),
        ("lab/tables", "", "push needs a Hugging Face token"),
        ("tables", TOKEN, "--repo tables: give OWNER/NAME"),
    ],
)
def test_a_push_that_cannot_be_made_is_one_line(
    finished_run: Path,
    hub: tuple[FakeHub, dict[str, str]],
    tmp_path: Path,
    repo: str,
    token: str,
    message: str,
) -> None:
    fake, env = hub
    env = {k: v for k, v in env.items() if k != "HF_TOKEN"} | ({"HF_TOKEN": token} if token else {})
    result = run("push", str(finished_run), "--repo", repo, cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert fake.commits == 0
    if token:
        assert token not in result.stderr + result.stdout
