"""Fine-tuning exports from a run folder made of real files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from environment.core.messages import QARecord, Vote
from environment.errors import UserInputError
from environment.outputs.export import assign_splits, export
from environment.outputs.report import write_report
from tests.conftest import ROOT


def make_run(folder: Path, tables: int = 10, per_table: int = 3) -> Path:
    run = folder / "run"
    (run / "images").mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"run_id": "r", "seed": 5}))
    lines = []
    for t in range(tables):
        Image.new("RGB", (40, 20), "white").save(run / "images" / f"i{t:05d}-t0.png")
        for q in range(per_table):
            lines.append(
                QARecord(
                    qa_id=f"i{t:05d}-t0-q{q}",
                    table_id=f"i{t:05d}-t0",
                    inspiration_id=f"i{t:05d}",
                    seq=t,
                    image=f"images/i{t:05d}-t0.png",
                    topic="topic",
                    question=f"Q{t}.{q}?",
                    answer=str(q),
                    reasoning="Step 1: read.",
                    kind="lookup",
                    accepted=q != 2,
                    confidence=1.0,
                    votes=(Vote(juror="j", persona="p", model="m", verdict=q != 2, reason="r"),),
                    generator="g",
                    questioner="q",
                    attempt=1,
                ).model_dump_json()
            )
    (run / "records.jsonl").write_text("\n".join(lines) + "\n")
    return run


@pytest.mark.parametrize(
    "fmt, file",
    [
        ("llava", "train.json"),
        ("sharegpt", "train.json"),
        ("internvl", "train.jsonl"),
        ("swift", "train.jsonl"),
    ],
)
def test_each_format_has_its_shape(tmp_path: Path, fmt: str, file: str) -> None:
    run = make_run(tmp_path)
    summary = export(run, fmt, tmp_path / "out")
    assert summary.written == {"train": 20}  # rejected pairs left out
    text = (tmp_path / "out" / file).read_text()
    rows = (
        json.loads(text) if file.endswith(".json") else [json.loads(x) for x in text.splitlines()]
    )
    row = rows[0]
    if fmt in ("llava", "internvl"):
        assert row["conversations"][0]["value"].startswith("<image>\n")
        assert row["conversations"][1]["from"] == "gpt"
        assert row["conversations"][1]["value"].endswith("Final answer: 0")
        image = row["image"]
    else:
        assert row["messages"][0]["content"].startswith("<image>")
        assert row["messages"][1]["role"] == "assistant"
        image = row["images"][0]
    assert (tmp_path / "out" / image).is_file()
    if fmt == "internvl":
        meta = json.loads((tmp_path / "out" / "meta.json").read_text())
        assert meta["modswap_train"]["length"] == 20
        assert Path(meta["modswap_train"]["annotation"]).is_file()


def test_splits_are_by_table_and_deterministic(tmp_path: Path) -> None:
    run = make_run(tmp_path, tables=20)
    shares = {"train": 0.8, "validation": 0.1, "test": 0.1}
    tables = [f"i{t:05d}-t0" for t in range(20)]
    first = assign_splits(tables, shares, seed=3)
    assert first == assign_splits(list(reversed(tables)), shares, seed=3)
    assert first != assign_splits(tables, shares, seed=4)
    assert sorted(list(first.values()).count(s) for s in shares) == [2, 2, 16]
    export(
        run,
        "llava",
        tmp_path / "out",
        split="train=0.8,validation=0.1,test=0.1",
        include_rejected=True,
    )
    seen: dict[str, str] = {}
    for split in shares:
        for row in json.loads((tmp_path / "out" / f"{split}.json").read_text()):
            table = row["id"].rsplit("-q", 1)[0]
            assert seen.setdefault(table, split) == split


def test_corrupt_lines_and_non_empty_folders(tmp_path: Path) -> None:
    run = make_run(tmp_path, tables=2)
    with (run / "records.jsonl").open("a") as file:
        file.write('{"qa_id": "broken"\n')
    with pytest.raises(UserInputError, match=r"records\.jsonl:7: corrupt"):
        export(run, "swift", tmp_path / "out")
    summary = export(run, "swift", tmp_path / "out", skip_corrupt=True)
    assert summary.skipped_lines == [7] and summary.written["train"] == 4
    with pytest.raises(UserInputError, match="not empty"):
        export(run, "swift", tmp_path / "out", skip_corrupt=True)
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "run.py"),
            "export",
            str(tmp_path),
            "--format",
            "llava",
            "--out",
            str(tmp_path / "x"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "not a run folder" in result.stderr


def test_hf_folder_loads_with_datasets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    from datasets import load_dataset

    run = make_run(tmp_path, tables=10)
    summary = export(run, "hf", tmp_path / "ds", split="train=0.8,test=0.2")
    assert summary.written == {"train": 16, "test": 4}
    loaded = load_dataset(str(tmp_path / "ds"))
    assert loaded["train"].num_rows == 16 and loaded["test"].num_rows == 4
    row = loaded["train"][0]
    assert row["image"].size == (40, 20)
    assert row["votes"][0]["juror"] == "j" and row["accepted"] is True
    card = (tmp_path / "ds" / "README.md").read_text()
    assert card.startswith("---\nlicense:") and "num_examples: 16" in card


def test_hf_without_the_datasets_extra_says_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "datasets", None)  # as where modswap[hf] is not installed
    run = make_run(tmp_path, tables=2)
    with pytest.raises(UserInputError, match=r"modswap\[hf\]"):
        export(run, "hf", tmp_path / "ds")
    assert not (tmp_path / "ds").exists()


@pytest.mark.parametrize("reader", ["export", "report"])
def test_a_line_that_is_not_utf8_is_named_or_skipped(tmp_path: Path, reader: str) -> None:
    run = make_run(tmp_path, tables=2)
    for name in ("records.jsonl", "events.jsonl"):
        with (run / name).open("ab") as file:
            file.write(b'{"qa_id": "\xff\xfe broken"}\n')
    if reader == "export":
        with pytest.raises(UserInputError, match=r"records\.jsonl:7: corrupt"):
            export(run, "swift", tmp_path / "out")
        summary = export(run, "swift", tmp_path / "out", skip_corrupt=True)
        assert summary.skipped_lines == [7] and summary.written["train"] == 4
        return
    with pytest.raises(UserInputError, match=r"records\.jsonl:7: corrupt"):
        write_report(run)
    target, skipped = write_report(run, skip_corrupt=True)
    assert skipped == 2 and "<html" in target.read_text()
