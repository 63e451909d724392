"""`run.py export RUN_DIR --format llava|sharegpt|internvl|swift --out DIR`: fine-tuning files.

Pairs are split by table (no table in two splits), deterministically for a seed; images are
copied beside the annotations. Only accepted pairs, unless `--include-rejected`.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from environment.messages import QARecord
from environment.randomness import derive
from environment.yaml_source import UserInputError

FORMATS = ("llava", "sharegpt", "internvl", "swift")


@dataclass(frozen=True)
class ExportSummary:
    written: dict[str, int]  # split → pairs
    skipped_lines: list[int]
    out: Path


def parse_split(text: str) -> dict[str, float]:
    """`train=0.8,validation=0.1,test=0.1` → shares that add up to 1."""
    shares: dict[str, float] = {}
    for part in text.split(","):
        name, _, value = part.partition("=")
        try:
            shares[name.strip()] = float(value)
        except ValueError:
            raise UserInputError(f"--split: '{part}' is not name=share (e.g. train=0.8)") from None
    if not shares or any(v < 0 for v in shares.values()) or abs(sum(shares.values()) - 1) > 1e-6:
        raise UserInputError(f"--split: shares must be >= 0 and add up to 1, got {text!r}")
    return shares


def read_records(path: Path, skip_corrupt: bool) -> tuple[list[QARecord], list[int]]:
    if not path.is_file():
        raise UserInputError(f"{path.parent}: not a run folder (no records.jsonl)")
    records: list[QARecord] = []
    skipped: list[int] = []
    with path.open(encoding="utf-8") as file:
        for number, line in enumerate(file, start=1):
            if not line.strip():
                continue
            try:
                records.append(QARecord.model_validate_json(line))
            except ValueError:
                if not skip_corrupt:
                    raise UserInputError(
                        f"{path}:{number}: corrupt or truncated record; fix it or pass "
                        "--skip-corrupt"
                    ) from None
                skipped.append(number)
    return records, skipped


def assign_splits(table_ids: list[str], shares: dict[str, float], seed: int) -> dict[str, str]:
    """Table → split; the same tables and seed always give the same assignment."""
    ordered = sorted(set(table_ids))
    derive(seed, "split").shuffle(ordered)
    assignment: dict[str, str] = {}
    names = list(shares)
    bounds, total = [], 0.0
    for name in names:
        total += shares[name]
        bounds.append(total * len(ordered))
    for index, table_id in enumerate(ordered):
        split = next(
            (n for n, bound in zip(names, bounds, strict=True) if index < bound - 1e-9), names[-1]
        )
        assignment[table_id] = split
    return assignment


def _answer(record: QARecord) -> str:
    return (
        f"{record.reasoning}\nFinal answer: {record.answer}" if record.reasoning else record.answer
    )


def _rows(fmt: str, records: list[QARecord], image_root: str) -> Iterator[dict[str, Any]]:
    for record in records:
        image = f"{image_root}{Path(record.image).name}"
        if fmt in ("llava", "internvl"):
            yield {
                "id": record.qa_id,
                "image": image,
                "conversations": [
                    {"from": "human", "value": f"<image>\n{record.question}"},
                    {"from": "gpt", "value": _answer(record)},
                ],
            }
        else:  # sharegpt (LLaMA-Factory) and ms-swift share the messages shape
            yield {
                "messages": [
                    {"role": "user", "content": f"<image>{record.question}"},
                    {"role": "assistant", "content": _answer(record)},
                ],
                "images": [image],
                "id": record.qa_id,
            }


def export(
    run_dir: Path,
    fmt: str,
    out: Path,
    *,
    split: str = "train=1.0",
    include_rejected: bool = False,
    skip_corrupt: bool = False,
    force: bool = False,
    seed: int | None = None,
) -> ExportSummary:
    if fmt not in FORMATS:
        raise UserInputError(f"--format must be one of {', '.join(FORMATS)}")
    if out.exists() and any(out.iterdir()) and not force:
        raise UserInputError(f"{out}: folder is not empty; choose another --out or pass --force")
    shares = parse_split(split)
    records, skipped = read_records(run_dir / "records.jsonl", skip_corrupt)
    if seed is None:
        info_path = run_dir / "run.json"
        info = json.loads(info_path.read_text()) if info_path.is_file() else {}
        seed = int(info.get("seed", 0))
    chosen = [r for r in records if r.accepted or include_rejected]
    assignment = assign_splits([r.table_id for r in chosen], shares, seed)
    (out / "images").mkdir(parents=True, exist_ok=True)
    for record in chosen:
        source = run_dir / record.image
        if not source.is_file():
            raise UserInputError(f"{source}: image of {record.qa_id} is missing")
        target = out / "images" / source.name
        if not target.exists():
            shutil.copyfile(source, target)
    written: dict[str, int] = {}
    meta: dict[str, Any] = {}
    for name in shares:
        in_split = [r for r in chosen if assignment[r.table_id] == name]
        rows = list(_rows(fmt, in_split, "images/"))
        written[name] = len(rows)
        if fmt in ("llava", "sharegpt"):
            (out / f"{name}.json").write_text(json.dumps(rows, ensure_ascii=False, indent=1))
        else:
            (out / f"{name}.jsonl").write_text(
                "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
            )
        if fmt == "internvl":  # the meta file InternVL's fine-tuning scripts read
            meta[f"modswap_{name}"] = {
                "root": str(out.resolve()) + "/",
                "annotation": str((out / f"{name}.jsonl").resolve()),
                "data_augment": False,
                "repeat_time": 1,
                "length": len(rows),
            }
    if fmt == "internvl":
        (out / "meta.json").write_text(json.dumps(meta, indent=1))
    return ExportSummary(written, skipped, out)
