"""Datasets to evaluate on: a run folder, one of our exports, or any Hugging Face–style
parquet with image, question and answer columns (and `table_latex` for the text view).

Each row becomes an EvalItem whose image is copied into the eval folder, so the folder alone
resumes and reports. A row that cannot be used is an error naming it and its field, or,
with `skip_bad`, is counted and left out."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from environment.core.messages import EvalItem, EvalRecord
from environment.errors import UserInputError
from environment.storage.store import iter_models, iter_records, write_atomic

ID_COLUMNS = ("qa_id", "id", "question_id", "uid")
ANSWER_COLUMNS = ("answer", "ground_truth", "label", "gt_answer")
IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a")


class BadRow(Exception):
    """One row that cannot be used: `where` names it, the message says what is wrong."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class Row:
    where: str  # "data/test-00000.parquet row 17", "records.jsonl line 3"
    source_id: str
    question: str
    answer: str
    image: bytes
    latex: str = ""
    kind: str = ""
    topic: str = ""


@dataclass
class ReadDataset:
    items: list[EvalItem] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # what was left out, and why
    has_latex: bool = False


def image_problem(data: bytes) -> str | None:
    """Why these bytes are not an image we can show a model (None: they are one)."""
    if not data:
        return "the image is empty"
    if not (data.startswith(IMAGE_MAGIC) or data[8:12] == b"WEBP"):
        return "the image is not PNG, JPEG, GIF or WebP"
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - set-up installs Pillow with the hf extra
        return None
    try:
        with Image.open(io.BytesIO(data)) as picture:
            picture.load()
    except Exception as error:  # Pillow raises many kinds for a broken file
        return f"the image does not decode ({type(error).__name__})"
    return None


def _image_suffix(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return ".png"
    if data.startswith(b"\xff\xd8"):
        return ".jpg"
    return ".gif" if data.startswith(b"GIF") else ".webp"


def read_dataset(
    path: Path, folder: Path, skip_bad: bool = False, limit: int | None = None
) -> ReadDataset:
    """The dataset's items, their images written under `folder`/images."""
    rows = _rows(path)
    read = ReadDataset()
    (folder / "images").mkdir(parents=True, exist_ok=True)
    try:
        for row in rows:
            if limit is not None and len(read.items) >= limit:
                break
            problem = (
                "question is empty"
                if not row.question.strip()
                else "answer is empty"
                if not row.answer.strip()
                else image_problem(row.image)
            )
            if problem is not None:
                if not skip_bad:
                    raise UserInputError(
                        f"{row.where}: {problem} (use --skip-bad to leave such rows out)"
                    )
                read.skipped.append(f"{row.where}: {problem}")
                continue
            item_id = f"e{len(read.items):05d}"
            # Named by content: a table asked several questions is kept (and shown) once.
            digest = hashlib.sha256(row.image).hexdigest()[:24]
            image = f"images/{digest}{_image_suffix(row.image)}"
            if not (folder / image).exists():
                write_atomic(folder / image, row.image)
            read.has_latex = read.has_latex or bool(row.latex)
            read.items.append(
                EvalItem(
                    item_id=item_id,
                    source_id=row.source_id,
                    question=row.question.strip(),
                    answer=row.answer.strip(),
                    latex=row.latex,
                    image=image,
                    kind=row.kind,
                    topic=row.topic,
                )
            )
    except BadRow as bad:
        raise UserInputError(str(bad)) from None
    if not read.items:
        raise UserInputError(
            f"{path}: no usable items" + (" (all skipped)" if read.skipped else "")
        )
    return read


def _rows(path: Path) -> Iterator[Row]:
    if not path.exists():
        raise UserInputError(f"{path}: no such dataset (a run folder, an export or a parquet)")
    if path.is_dir() and (path / "run.json").is_file():
        return _run_folder_rows(path)
    if path.is_file():
        parquets = [path] if path.suffix == ".parquet" else []
    else:  # the Hugging Face layout (data/<split>-*.parquet), or parquet files side by side
        parquets = sorted(path.glob("data/*.parquet")) or sorted(path.glob("*.parquet"))
    if parquets:
        return _parquet_rows(parquets)
    if path.is_dir() and (exported := _export_files(path)):
        return _export_rows(path, exported)
    if path.is_file() and path.suffix in (".json", ".jsonl"):  # one split of an export
        return _export_rows(path.parent, [path])
    raise UserInputError(
        f"{path}: not a dataset modswap reads — give a run folder, a folder of parquet files "
        "(data/*.parquet), a .parquet file, or a llava, sharegpt, internvl or swift export "
        "folder or one split file of it"
    )


def _run_folder_rows(run_dir: Path) -> Iterator[Row]:
    """A run's accepted pairs, with their table's LaTeX."""
    for number, record in enumerate(iter_records(run_dir / "records.jsonl"), 1):
        if not record.accepted:
            continue
        where = f"{run_dir / 'records.jsonl'} line {number} ({record.qa_id})"
        image = run_dir / record.image
        if not image.is_file():
            raise BadRow(where, f"image {record.image} is missing")
        latex = run_dir / "tables" / f"{record.table_id}.tex"
        yield Row(
            where=where,
            source_id=record.qa_id,
            question=record.question,
            answer=record.answer,
            image=image.read_bytes(),
            latex=latex.read_text(encoding="utf-8") if latex.is_file() else "",
            kind=record.kind,
            topic=record.topic,
        )


def _column(names: list[str], wanted: tuple[str, ...]) -> str | None:
    return next((name for name in wanted if name in names), None)


def _parquet_rows(files: list[Path]) -> Iterator[Row]:
    try:
        import pyarrow.parquet as parquet
    except ImportError:
        raise UserInputError(
            "reading parquet needs pyarrow: pip install 'modswap[hf]' (make setup installs it)"
        ) from None
    for path in files:
        try:
            table = parquet.ParquetFile(path)
        except Exception as error:  # pyarrow's errors for a file that is not parquet
            raise UserInputError(f"{path}: not a readable parquet file ({error})") from None
        names = table.schema_arrow.names
        answer = _column(names, ANSWER_COLUMNS)
        for needed, found in (("image", "image" in names), ("question", "question" in names)):
            if not found:
                raise UserInputError(f"{path}: no '{needed}' column (columns: {', '.join(names)})")
        if answer is None:
            raise UserInputError(
                f"{path}: no answer column (looked for {', '.join(ANSWER_COLUMNS)}; "
                f"columns: {', '.join(names)})"
            )
        identifier = _column(names, ID_COLUMNS)
        number = 0
        try:
            for batch in table.iter_batches(batch_size=64):
                for row in batch.to_pylist():
                    yield _parquet_row(path, number, row, answer, identifier)
                    number += 1
        except BadRow:
            raise
        except (OSError, ValueError) as error:  # a corrupt page of the file
            raise UserInputError(f"{path}: unreadable after row {number} ({error})") from None


def _parquet_row(
    path: Path, number: int, row: dict[str, Any], answer: str, identifier: str | None
) -> Row:
    where = f"{path} row {number}"
    image = row.get("image")
    if isinstance(image, dict):  # the datasets Image() feature: {"bytes", "path"}
        data = image.get("bytes")
        if data is None and image.get("path"):
            picture = path.parent / str(image["path"])
            data = picture.read_bytes() if picture.is_file() else None
    else:
        data = image
    if not isinstance(data, bytes):
        raise BadRow(where, "image has no bytes (field image)")
    return Row(
        where=where,
        source_id=str(row[identifier]) if identifier else str(number),
        question=str(row.get("question") or ""),
        answer=str(row.get(answer) if row.get(answer) is not None else ""),
        image=data,
        latex=str(row.get("table_latex") or ""),
        kind=str(row.get("kind") or ""),
        topic=str(row.get("topic") or ""),
    )


# Beside the split files: InternVL's meta file, and LLaMA-Factory's, which users add.
NOT_SPLITS = frozenset({"meta.json", "dataset_info.json"})


def _export_files(folder: Path) -> list[Path]:
    """The split files of one of our exports: `<split>.json` (llava, sharegpt) or
    `<split>.jsonl` (internvl, swift). Every split is read, as a parquet folder is."""
    lists = [path for path in sorted(folder.glob("*.json")) if path.name not in NOT_SPLITS]
    return lists + sorted(folder.glob("*.jsonl"))


def _export_entries(exported: Path) -> Iterator[tuple[str, Any]]:
    """(where, entry) for each entry of a split file: a JSON list, or an object a line."""
    try:
        text = exported.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UserInputError(f"{exported}: not readable ({error})") from None
    if exported.suffix == ".jsonl":
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    yield f"{exported} line {number}", json.loads(line)
                except ValueError:
                    raise BadRow(f"{exported} line {number}", "not JSON") from None
        return
    try:
        entries = json.loads(text)
    except ValueError as error:
        raise UserInputError(f"{exported}: not readable JSON ({error})") from None
    if not isinstance(entries, list):
        raise UserInputError(f"{exported}: expected a list of conversations")
    for number, entry in enumerate(entries):
        yield f"{exported} entry {number}", entry


def _export_rows(folder: Path, files: list[Path]) -> Iterator[Row]:
    counted = 0  # the id of an entry without one: unique across the split files
    for exported in files:
        for where, entry in _export_entries(exported):
            if not isinstance(entry, dict):
                raise BadRow(where, "not an object")
            question, answer = _turns(entry)
            image_name = entry.get("image") or (entry.get("images") or [None])[0]
            if not isinstance(image_name, str):
                raise BadRow(where, "no image (field image or images)")
            picture = folder / image_name
            if not picture.is_file():
                raise BadRow(where, f"image {image_name} is missing")
            table = folder / "tables" / f"{Path(image_name).stem}.tex"  # as `export` writes it
            yield Row(
                where=where,
                source_id=str(entry.get("id", counted)),
                question=question,
                answer=answer,
                image=picture.read_bytes(),
                latex=table.read_text(encoding="utf-8", errors="replace")
                if table.is_file()
                else "",
            )
            counted += 1


def _turns(entry: dict[str, Any]) -> tuple[str, str]:
    """(question, answer) from a llava conversation or a sharegpt message list; the
    answer is what follows "Final answer:" when the reply gives its reasoning first."""
    from environment.core.grading import final_answer_line

    turns = entry.get("conversations") or entry.get("messages") or []
    said = [str(t.get("value", t.get("content", ""))) for t in turns if isinstance(t, dict)]
    if len(said) < 2:
        return "", ""
    question = said[0].replace("<image>", "").strip()
    return question, final_answer_line(said[1]) or said[1].strip()


def write_items(folder: Path, items: list[EvalItem]) -> None:
    """items.jsonl: the eval's questions as read, so a resume never needs the dataset."""
    text = "".join(item.model_dump_json() + "\n" for item in items)
    write_atomic(folder / "items.jsonl", text.encode("utf-8"))


def read_items(folder: Path) -> list[EvalItem]:
    path = folder / "items.jsonl"
    if not path.is_file():
        raise UserInputError(f"{folder}: not an eval folder (no items.jsonl)")
    items = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            items.append(EvalItem.model_validate_json(line))
        except ValueError:
            raise UserInputError(f"{path}:{number}: corrupt item") from None
    return items


def read_eval_records(folder: Path, skipped: list[int] | None = None) -> list[EvalRecord]:
    """The graded items of an eval folder; a corrupt line as in iter_records."""
    return list(iter_models(folder / "records.jsonl", EvalRecord, skipped))
