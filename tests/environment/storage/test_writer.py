import asyncio
import contextlib
import json
from pathlib import Path
from typing import IO

import pytest

from environment.storage.store import RunStore
from environment.storage.writer import RunWriter
from tests.environment.storage.test_store import record


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def test_appends_wait_for_nobody_and_a_commit_is_a_barrier(tmp_path: Path) -> None:
    store = RunStore.create(tmp_path / "run", {"run_id": "x"})
    failures: list[BaseException] = []

    async def live_run() -> None:
        store.start_writer(failures.append)
        for n in range(500):
            store.append_event({"n": n})
        store.append_ledger('{"call": 1}\n')
        # Nothing awaited yet: the loop has not touched the disk for any of them.
        assert lines(store.events_path) == []
        await store.commit([record("a-q0"), record("a-q1")], progress={"accepted": 2})
        # The barrier: the records and every event queued before them are on disk.
        assert [json.loads(line)["n"] for line in lines(store.events_path)] == list(range(500))
        assert [json.loads(line)["qa_id"] for line in lines(store.records_path)] == [
            "a-q0",
            "a-q1",
        ]
        assert json.loads(store.run_json.read_text())["progress"] == {"accepted": 2}
        store.append_event({"n": 500})
        await store.stop_writer()  # writes what is still queued

    asyncio.run(live_run())
    store.close()
    assert json.loads(lines(store.events_path)[-1]) == {"n": 500}
    assert lines(store.ledger_path) == ['{"call": 1}']
    assert json.loads(store.run_json.read_text())["run_id"] == "x"  # other sections kept
    assert failures == []


def test_a_failing_disk_fails_the_commit_and_tells_the_run(tmp_path: Path) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    failures: list[BaseException] = []

    async def on_a_full_disk(full: IO[str]) -> None:
        writer = RunWriter({"events": full}, failures.append)
        writer.append("events", "one line\n")
        with pytest.raises(OSError):
            await writer.commit("events", "a record\n", ("events",), None)
        writer.append("events", "after the failure: dropped\n")  # no error, no hang
        with pytest.raises(OSError):
            await writer.close()

    full = Path("/dev/full").open("a", encoding="utf-8")  # noqa: SIM115 (closing fails too)
    try:
        asyncio.run(on_a_full_disk(full))
    finally:
        with contextlib.suppress(OSError):  # its buffer cannot be flushed either
            full.close()
    assert len(failures) == 1 and isinstance(failures[0], OSError)
