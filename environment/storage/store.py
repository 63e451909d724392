"""The run directory: crash-safe appends, atomic files, and what `--resume` needs to read back.

Layout: run.json, events.jsonl, records.jsonl, tables/<id>.tex|.html, images/<id>.png.
Records are fsync'd before the director counts them, so a kill -9 can lose speculative
work but never an accepted record; a torn last line is cut off on resume. While a run is
live its appends go through one writer task (`start_writer`), off the event loop.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any, BinaryIO, TypeVar

import pydantic_core
from pydantic import BaseModel

from environment.core.messages import QARecord
from environment.errors import UserInputError
from environment.storage.writer import RunWriter

Record = TypeVar("Record", bound=BaseModel)
LOCK_NAME = ".lock"  # held by the one process writing a run folder


def write_atomic(path: Path, data: bytes) -> None:
    """Temp file + fsync + rename: readers see the old file or the new one, never half."""
    write_atomic_with(path, lambda temp: temp.write(data))


def write_atomic_with(path: Path, fill: Callable[[BinaryIO], object]) -> None:
    """write_atomic for content that `fill` streams into the temp file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as temp:
            fill(temp)
            temp.flush()
            os.fsync(temp.fileno())
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise


def truncate_torn_tail(path: Path) -> int:
    """Cuts a last line that a crash left without its newline; returns bytes removed."""
    if not path.exists():
        return 0
    size = path.stat().st_size
    if size == 0:
        return 0
    with path.open("rb+") as file:
        file.seek(max(0, size - 65536))
        tail = file.read()
        if tail.endswith(b"\n"):
            return 0
        cut = tail.rfind(b"\n")
        keep = size - len(tail) + cut + 1 if cut >= 0 else 0
        file.truncate(keep)
        return size - keep


def _unchanged(text: str) -> str:
    return text


class RunStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.tables = directory / "tables"
        self.images = directory / "images"
        self.run_json = directory / "run.json"
        self.events_path = directory / "events.jsonl"
        self.records_path = directory / "records.jsonl"
        self.rejects_path = directory / "rejects.jsonl"  # unusable replies, failed renders
        self.ledger_path = directory / "ledger.jsonl"  # one line per paid or cached call
        self._files: dict[str, IO[str]] = {}  # stream name → its open file
        self._writer: RunWriter | None = None
        self._info: dict[str, Any] | None = None  # run.json as last written by this store
        self._lock: Any = None  # the open .lock file while this store writes
        # Scrubs API keys from every text this store writes (set when a run has keys).
        self.redact: Callable[[str], str] = _unchanged

    @classmethod
    def create(cls, directory: Path, run_info: dict[str, Any]) -> RunStore:
        if directory.exists() and any(directory.iterdir()):
            raise UserInputError(
                f"{directory}: output folder is not empty; choose another "
                "--out or resume it with --resume"
            )
        store = cls(directory)
        directory.mkdir(parents=True, exist_ok=True)
        store._take_lock()
        store.tables.mkdir(parents=True, exist_ok=True)
        store.images.mkdir(parents=True, exist_ok=True)
        store.write_run_info(run_info)
        store._open()
        return store

    @classmethod
    def existing(cls, directory: Path) -> RunStore:
        """A finished or stopped run, for reading (report, export)."""
        store = cls(directory)
        if not store.run_json.is_file():
            raise UserInputError(f"{directory}: not a run folder (no run.json)")
        sharded = store.read_run_info().get("sharded")
        if isinstance(sharded, dict) and not sharded.get("merged"):
            raise UserInputError(
                f"{directory}: a sharded run whose shards are not merged yet; "
                f"python run.py merge {directory}"
            )
        return store

    @classmethod
    def claim(cls, directory: Path) -> RunStore:
        """A run folder this process alone may rewrite (a merge): its lock, nothing open."""
        store = cls(directory)
        if not store.run_json.is_file():
            raise UserInputError(f"{directory}: not a run folder (no run.json)")
        store._take_lock()
        return store

    @classmethod
    def reopen(cls, directory: Path) -> RunStore:
        store = cls(directory)
        if not store.run_json.is_file():
            raise UserInputError(
                f"{directory}: not a run folder (no run.json); pass the "
                "folder a run printed, e.g. out/quickstart-20260101-120000"
            )
        store._take_lock()  # before anything is touched: another writer may be at work
        truncate_torn_tail(store.records_path)
        truncate_torn_tail(store.events_path)
        truncate_torn_tail(store.rejects_path)
        store.tables.mkdir(parents=True, exist_ok=True)
        store.images.mkdir(parents=True, exist_ok=True)
        store._open()
        return store

    def _take_lock(self) -> None:
        """One writer per run folder, for the writer's whole life: an exclusive lock on
        `.lock` (the OS drops it when the process ends, even by kill -9). Readers (export,
        report, replay) never take it."""
        handle = (self.directory / LOCK_NAME).open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise UserInputError(
                f"{self.directory}: another modswap run is writing this folder (process "
                f"{holder}); wait for it to end or stop it, then resume"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._lock = handle

    def _open(self) -> None:
        for stream, path in (
            ("events", self.events_path),
            ("records", self.records_path),
            ("rejects", self.rejects_path),
            ("ledger", self.ledger_path),
        ):
            self._files[stream] = path.open("a", encoding="utf-8")

    def start_writer(self, on_failure: Callable[[BaseException], None]) -> None:
        """From now until `stop_writer`, appends queue for one task (call inside the loop);
        a write that fails calls `on_failure` and stops the writer."""
        self._writer = RunWriter(self._files, on_failure)

    async def stop_writer(self) -> None:
        """Writes what is queued; raises a write failure (a full disk) once more."""
        writer, self._writer = self._writer, None
        if writer is not None:
            await writer.close()

    def close(self) -> None:
        try:
            for handle in self._files.values():
                if not handle.closed:
                    handle.flush()
                    os.fsync(handle.fileno())
                    handle.close()
        finally:
            if self._lock is not None and not self._lock.closed:
                self._lock.close()  # releases the lock

    # ---------- run.json
    def read_run_info(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(self.run_json.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise UserInputError(f"{self.run_json}: cannot be read ({error})") from None
        return data

    def write_run_info(self, info: dict[str, Any]) -> None:
        write_atomic(self.run_json, self._run_info_text(info))

    def update_run_info(self, **sections: Any) -> None:
        """Replaces top-level sections of run.json (read once, then kept in memory)."""
        write_atomic(self.run_json, self._run_info_text(self._with_sections(sections)))

    def _with_sections(self, sections: dict[str, Any]) -> dict[str, Any]:
        info = self._info if self._info is not None else self.read_run_info()
        return {**info, **sections}

    def _run_info_text(self, info: dict[str, Any]) -> bytes:
        """run.json's bytes; `info` becomes what this store knows as run.json."""
        self._info = info
        return self.redact(json.dumps(info, indent=2, sort_keys=True)).encode()

    # ---------- artefacts
    def save_table(
        self,
        table_id: str,
        latex: str,
        html: str | None,
        png: bytes | None,
        text: str | None = None,
    ) -> str:
        """Writes the table's files; returns the image path relative to the run folder."""
        write_atomic(self.tables / f"{table_id}.tex", self.redact(latex).encode("utf-8"))
        if text is not None:  # what the image says: near-duplicate control reads it on resume
            write_atomic(self.tables / f"{table_id}.txt", self.redact(text).encode("utf-8"))
        if html is not None:
            write_atomic(self.tables / f"{table_id}.html", self.redact(html).encode("utf-8"))
        if png is not None:
            write_atomic(self.images / f"{table_id}.png", png)
        return f"images/{table_id}.png"

    # ---------- logs
    def _append(self, stream: str, text: str) -> None:
        if self._writer is not None:
            self._writer.append(stream, text)
        else:  # no run is live (tools, tests): write at once
            self._files[stream].write(text)
            self._files[stream].flush()

    def append_event(self, event: dict[str, Any]) -> None:
        # pydantic_core's encoder: the event log is the busiest writer of a run.
        self._append("events", self.redact(pydantic_core.to_json(event).decode("utf-8")) + "\n")

    def append_reject(self, reject: dict[str, Any]) -> None:
        """What a model wrote that could not be used, or a table that could not be drawn."""
        self._append("rejects", self.redact(json.dumps(reject, ensure_ascii=False)) + "\n")

    def append_ledger(self, line: str) -> None:
        """One line of the ledger's journal (it carries no secrets: no texts)."""
        self._append("ledger", line)

    async def commit(self, records: Sequence[BaseModel], **run_info: Any) -> None:
        """Appends the records and replaces `run_info`'s sections of run.json; returns once
        both, and every event logged before, are on disk — the director's commit point."""
        if self._writer is None:
            raise RuntimeError("commit needs the run's writer: call start_writer first")
        lines = self.redact("".join(record.model_dump_json() + "\n" for record in records))
        new_info = self._run_info_text(self._with_sections(run_info))

        def replace_run_json() -> None:
            write_atomic(self.run_json, new_info)

        await self._writer.commit("records", lines, ("records", "events"), replace_run_json)

    def table_text(self, table_id: str) -> str:
        path = self.tables / f"{table_id}.txt"
        return path.read_text(encoding="utf-8") if path.is_file() else ""

    def table_latex(self, table_id: str) -> str:
        path = self.tables / f"{table_id}.tex"
        return path.read_text(encoding="utf-8") if path.is_file() else ""

    def read_records(self) -> list[QARecord]:
        return list(iter_records(self.records_path))


def iter_records(path: Path, skipped: list[int] | None = None) -> Iterator[QARecord]:
    """A run's QA records (see iter_models)."""
    return iter_models(path, QARecord, skipped)


def iter_models(
    path: Path, kind: type[Record], skipped: list[int] | None = None
) -> Iterator[Record]:
    """The records of a file (QA pairs, an eval's graded items: `kind`), one per line; a
    corrupt line is an error naming it, or, when `skipped` is given, is left out and its
    number appended there."""
    if not path.exists():
        return
    with path.open("rb") as file:  # bytes: a line that is not UTF-8 is one corrupt line
        for number, line in enumerate(file, start=1):
            if not line.strip():
                continue
            try:
                yield kind.model_validate_json(line.decode("utf-8"))
            except ValueError as error:  # UnicodeDecodeError is one too
                if skipped is None:
                    raise UserInputError(
                        f"{path}:{number}: corrupt record ({str(error)[:120]})"
                    ) from None
                skipped.append(number)


def iter_events(path: Path, skipped: list[int] | None = None) -> Iterator[dict[str, Any]]:
    """The events of a file, read as bytes; a corrupt line is an error naming it or, when
    `skipped` is given, is left out and its number appended there."""
    if not path.exists():
        raise UserInputError(f"{path}: not found; replay needs a run folder with events.jsonl")
    with path.open("rb") as file:
        for number, line in enumerate(file, start=1):
            if not line.strip():
                continue
            try:
                yield json.loads(line.decode("utf-8"))
            except ValueError:  # not UTF-8 or not JSON
                if not line.endswith(b"\n"):
                    return  # a torn last line from a crash
                if skipped is None:
                    raise UserInputError(
                        f"{path}:{number}: corrupt event line (use --skip-corrupt to leave it out)"
                    ) from None
                skipped.append(number)


def refuse_eval_folder(directory: Path, command: str) -> None:
    """Commands that read a generation run's records, given an eval folder."""
    if is_eval_folder(directory):
        raise UserInputError(
            f"{directory} is an eval folder: `{command}` reads a generation run's folder "
            "(an eval has `report` and `eval --resume`)"
        )


def is_eval_folder(directory: Path) -> bool:
    """An eval folder (its run.json says kind: eval), not a generation run's."""
    try:
        info = json.loads((directory / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False  # the report's own reader names what is wrong
    return isinstance(info, dict) and info.get("kind") == "eval"
