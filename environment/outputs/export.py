"""`run.py export RUN_DIR --format hf|llava|sharegpt|internvl|swift --out DIR`: datasets.

Pairs are split by table (no table in two splits), deterministically for a seed; images are
copied beside the annotations. Only accepted pairs, unless `--include-rejected`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from environment.core.messages import QARecord
from environment.core.randomness import derive
from environment.errors import UserInputError
from environment.outputs.difficulty import Difficulty, difficulty_labels, parse_labels
from environment.storage.store import RunStore, iter_records, write_atomic

FORMATS = ("hf", "llava", "sharegpt", "internvl", "swift")


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
    difficulty: str | None = None,
) -> ExportSummary:
    if fmt not in FORMATS:
        raise UserInputError(f"--format must be one of {', '.join(FORMATS)}")
    if out.exists() and not out.is_dir():
        raise UserInputError(f"--out {out} is a file; give a folder for the export")
    if out.exists() and any(out.iterdir()) and not force:
        raise UserInputError(f"{out}: folder is not empty; choose another --out or pass --force")
    shares = parse_split(split)
    store = RunStore.existing(run_dir)
    info = store.read_run_info()
    skipped: list[int] = []
    records = list(iter_records(store.records_path, skipped if skip_corrupt else None))
    if seed is None:
        seed = int(info.get("seed", 0))
    chosen = [r for r in records if r.accepted or include_rejected]
    labels = difficulty_labels(run_dir)
    if difficulty is not None:
        wanted = parse_labels(difficulty)
        unlabelled = [r.qa_id for r in chosen if r.qa_id not in labels]
        if unlabelled:
            raise UserInputError(
                f"--difficulty: {len(unlabelled)} of the pairs to export have no difficulty "
                f"label (first: {unlabelled[0]}); a run gets them from the scenario key "
                "difficulty, once it reaches its target (finish it with run --resume)"
            )
        chosen = [r for r in chosen if labels[r.qa_id].label in wanted]
    assignment = assign_splits([r.table_id for r in chosen], shares, seed)
    if fmt == "hf":
        counts = _export_hf(
            run_dir, info, chosen, assignment, list(shares), out, include_rejected, labels
        )
        return ExportSummary(counts, skipped, out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "tables").mkdir(exist_ok=True)
    for record in chosen:
        source = run_dir / record.image
        if not source.is_file():
            raise UserInputError(f"{source}: image of {record.qa_id} is missing")
        target = out / "images" / source.name
        if not target.exists():
            write_atomic(target, source.read_bytes())
        # The table's LaTeX beside its image (tables/<image name>.tex): the training files
        # have no place for it, and `eval` of the export answers from it too.
        latex = run_dir / "tables" / f"{record.table_id}.tex"
        beside = out / "tables" / f"{source.stem}.tex"
        if latex.is_file() and not beside.exists():
            write_atomic(beside, latex.read_bytes())
    written: dict[str, int] = {}
    meta: dict[str, Any] = {}
    for name in shares:
        in_split = [r for r in chosen if assignment[r.table_id] == name]
        rows = list(_rows(fmt, in_split, "images/"))
        written[name] = len(rows)
        # Every file via a temporary name and a rename: a full disk leaves no torn file.
        if fmt in ("llava", "sharegpt"):
            text = json.dumps(rows, ensure_ascii=False, indent=1)
            write_atomic(out / f"{name}.json", text.encode("utf-8"))
        else:
            text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
            write_atomic(out / f"{name}.jsonl", text.encode("utf-8"))
        if fmt == "internvl":  # the meta file InternVL's fine-tuning scripts read
            meta[f"modswap_{name}"] = {
                "root": str(out.resolve()) + "/",
                "annotation": str((out / f"{name}.jsonl").resolve()),
                "data_augment": False,
                "repeat_time": 1,
                "length": len(rows),
            }
    if fmt == "internvl":
        write_atomic(out / "meta.json", json.dumps(meta, indent=1).encode("utf-8"))
    return ExportSummary(written, skipped, out)


def _export_hf(
    run_dir: Path,
    info: dict[str, Any],
    chosen: list[QARecord],
    assignment: dict[str, str],
    splits: list[str],
    out: Path,
    include_rejected: bool,
    labels: dict[str, Difficulty],
) -> dict[str, int]:
    """Parquet shards with the image bytes embedded, and a dataset card; with the
    difficulty columns when every exported pair has its label."""
    try:  # heavy: only for this format, and an extra (modswap[hf]) that set-up installs
        from datasets import Dataset, Features, Image, Value
        from datasets.utils.logging import disable_progress_bar
    except ImportError:
        raise UserInputError(
            "--format hf needs the `datasets` package: pip install 'modswap[hf]' (make setup "
            "installs it), or choose llava, sharegpt, internvl or swift"
        ) from None

    disable_progress_bar()

    vote = {
        "juror": Value("string"),
        "persona": Value("string"),
        "model": Value("string"),
        "verdict": Value("bool"),
        "reason": Value("string"),
    }
    features = Features(
        {
            "image": Image(),
            "question": Value("string"),
            "answer": Value("string"),
            "reasoning": Value("string"),
            "kind": Value("string"),
            "topic": Value("string"),
            "table_latex": Value("string"),
            "votes": [vote],
            "confidence": Value("float32"),
            "accepted": Value("bool"),
            "generator": Value("string"),
            "questioner": Value("string"),
            "qa_id": Value("string"),
            "table_id": Value("string"),
        }
    )
    labelled = bool(chosen) and all(r.qa_id in labels for r in chosen)
    if labelled:
        features["solved_from_text"] = Value("bool")
        features["solved_from_image"] = Value("bool")
        features["difficulty"] = Value("string")
    written: dict[str, int] = {}
    sizes: dict[str, int] = {}
    (out / "data").mkdir(parents=True, exist_ok=True)
    for name in splits:
        rows: dict[str, list[Any]] = {key: [] for key in features}
        for record in (r for r in chosen if assignment[r.table_id] == name):
            image = run_dir / record.image
            latex = run_dir / "tables" / f"{record.table_id}.tex"
            if not image.is_file():
                raise UserInputError(f"{image}: image of {record.qa_id} is missing")
            rows["image"].append({"bytes": image.read_bytes(), "path": image.name})
            rows["table_latex"].append(latex.read_text() if latex.is_file() else "")
            rows["votes"].append([v.model_dump() for v in record.votes])
            if labelled:
                found = labels[record.qa_id]
                rows["solved_from_text"].append(found.solved_from_text)
                rows["solved_from_image"].append(found.solved_from_image)
                rows["difficulty"].append(found.label)
            for key in (
                "question",
                "answer",
                "reasoning",
                "kind",
                "topic",
                "confidence",
                "accepted",
                "generator",
                "questioner",
                "qa_id",
                "table_id",
            ):
                rows[key].append(getattr(record, key))
        shard = out / "data" / f"{name}-00000-of-00001.parquet"
        partial = shard.with_name(f".{shard.name}.partial")
        try:
            Dataset.from_dict(rows, features=features).to_parquet(str(partial))
            os.replace(partial, shard)
        finally:
            partial.unlink(missing_ok=True)
        written[name] = len(rows["qa_id"])
        sizes[name] = shard.stat().st_size
    card = _dataset_card(info, chosen, written, sizes, include_rejected)
    write_atomic(out / "README.md", card.encode("utf-8"))
    return written


def _dataset_card(
    info: dict[str, Any],
    chosen: list[QARecord],
    written: dict[str, int],
    sizes: dict[str, int],
    include_rejected: bool,
) -> str:
    scenario = info.get("scenario", {})
    total = sum(written.values())
    size = "n<1K" if total < 1000 else "1K<n<10K" if total < 10_000 else "10K<n<100K"
    configs = "\n".join(f"  - split: {name}\n    path: data/{name}-*" for name in written)
    splits = "\n".join(
        f"  - name: {name}\n    num_bytes: {sizes[name]}\n    num_examples: {count}"
        for name, count in written.items()
    )
    accepted = sum(r.accepted for r in chosen)
    jurors = sorted({f"{v.juror} ({v.persona}, {v.model})" for r in chosen for v in r.votes})
    models = ", ".join(
        f"{name} ({settings.get('kind')})" for name, settings in scenario.get("models", {}).items()
    )
    cost = float(info.get("ledger", {}).get("total_cost_usd", 0.0))
    return f"""---
license: cc-by-4.0
task_categories:
- visual-question-answering
- table-question-answering
language:
- en
size_categories:
- {size}
configs:
- config_name: default
  data_files:
{configs}
dataset_info:
  features:
  - name: image
    dtype: image
  - name: question
    dtype: string
  - name: answer
    dtype: string
  - name: reasoning
    dtype: string
  - name: kind
    dtype: string
  - name: topic
    dtype: string
  - name: table_latex
    dtype: string
  - name: votes
    list:
    - name: juror
      dtype: string
    - name: persona
      dtype: string
    - name: model
      dtype: string
    - name: verdict
      dtype: bool
    - name: reason
      dtype: string
  - name: confidence
    dtype: float32
  - name: accepted
    dtype: bool
  - name: generator
    dtype: string
  - name: questioner
    dtype: string
  - name: qa_id
    dtype: string
  - name: table_id
    dtype: string
  splits:
{splits}
  download_size: {sum(sizes.values())}
  dataset_size: {sum(sizes.values())}
---

# Table images with reasoning question–answer pairs

Rendered LaTeX tables (PNG) with questions, step-by-step reasoning and short answers,
written by language models and kept by a jury's vote (modswap, run `{info.get("run_id", "?")}`).

## Generation

- scenario: `{scenario.get("name", "?")}`, seed {info.get("seed", "?")}
- models: {models or "?"}
- jurors: {"; ".join(jurors) or "?"}
- consensus: `{json.dumps(scenario.get("consensus", {}))}`
- pairs: {total} ({accepted} accepted{"; rejected pairs included" if include_rejected else ""})
- splits (by table): {", ".join(f"{k} {v}" for k, v in written.items())}
- cost: ${cost:.2f}{f" (${cost / accepted:.4f} per accepted pair)" if accepted else ""}
"""
