import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from environment.core.messages import QARecord, Vote
from environment.errors import UserInputError
from environment.models.protocol import Completion
from environment.storage.ledger import Ledger
from environment.storage.store import RunStore


def record(qa_id: str) -> QARecord:
    return QARecord(
        qa_id=qa_id,
        table_id="i00000-t0",
        inspiration_id="i00000",
        seq=0,
        image="images/i00000-t0.png",
        topic="t",
        question="q?",
        answer="1",
        reasoning="r",
        kind="lookup",
        accepted=True,
        confidence=1.0,
        votes=(Vote(juror="j", persona="p", model="m", verdict=True, reason="ok"),),
        generator="g",
        questioner="q",
        attempt=1,
    )


async def commit(store: RunStore, records: list[QARecord]) -> None:
    """The records committed as a run commits them: through the folder's writer."""

    def fail(error: BaseException) -> None:
        raise error

    store.start_writer(fail)
    await store.commit(records)
    await store.stop_writer()


def test_torn_last_line_is_cut_on_reopen(tmp_path: Path) -> None:
    store = RunStore.create(tmp_path / "run", {"run_id": "x"})
    asyncio.run(commit(store, [record("a-q0"), record("a-q1")]))
    store.close()
    with (tmp_path / "run" / "records.jsonl").open("a") as file:
        file.write(record("a-q2").model_dump_json()[:40])  # a kill -9 mid-write
    reopened = RunStore.reopen(tmp_path / "run")
    assert [r.qa_id for r in reopened.read_records()] == ["a-q0", "a-q1"]
    reopened.close()


def test_create_refuses_a_non_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "keep.txt").write_text("mine")
    with pytest.raises(UserInputError, match="not empty"):
        RunStore.create(tmp_path / "run", {})


def test_corrupt_record_names_file_and_line(tmp_path: Path) -> None:
    store = RunStore.create(tmp_path / "run", {"run_id": "x"})
    asyncio.run(commit(store, [record("a-q0")]))
    store.close()
    with (tmp_path / "run" / "records.jsonl").open("a") as file:
        file.write(json.dumps({"qa_id": 3}) + "\n")
    with pytest.raises(UserInputError, match=r"records\.jsonl:2: corrupt record"):
        RunStore(tmp_path / "run").read_records()


def appending_to(path: Path) -> Callable[[str], None]:
    """What the run folder's writer does with a journal line, done at once."""

    def append(line: str) -> None:
        with path.open("a", encoding="utf-8") as file:
            file.write(line)

    return append


def test_the_ledger_journal_survives_a_torn_last_line(tmp_path: Path) -> None:
    journal = tmp_path / "ledger.jsonl"
    ledger = Ledger.open(journal, cap_usd=None, append=appending_to(journal))
    paid = Completion(text="x", model="m", prompt_tokens=10, completion_tokens=5, cost_usd=0.25)
    ledger.record("m", "juror", paid)
    with journal.open("a") as file:
        file.write('{"model": "m", "role": "juror", "comp')  # a kill -9 mid-write
    again = Ledger.open(journal, cap_usd=None, append=appending_to(journal))
    again.record("m", "juror", paid)
    reopened = Ledger.open(journal, cap_usd=None, append=appending_to(journal))
    assert reopened.total_cost_usd == pytest.approx(0.5)
    assert reopened.usage[("m", "juror")].calls == 2
