"""Difficulty labels of a run's accepted pairs, from its difficulty pass (RUN/difficulty):
whether the solver got each pair right from the LaTeX and from the image.

easy: right from the image; modality_hard: right from the LaTeX, wrong from the image — the
pairs the modality swap exists for; hard: wrong from both."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from environment.errors import UserInputError
from environment.storage.eval_dataset import read_eval_records

Label = Literal["easy", "modality_hard", "hard"]
LABELS: tuple[Label, ...] = ("easy", "modality_hard", "hard")


@dataclass(frozen=True)
class Difficulty:
    solved_from_text: bool
    solved_from_image: bool

    @property
    def label(self) -> Label:
        if self.solved_from_image:
            return "easy"
        return "modality_hard" if self.solved_from_text else "hard"


def difficulty_labels(run_dir: Path) -> dict[str, Difficulty]:
    """qa_id → its difficulty, for the pairs the difficulty pass has graded ({} without one)."""
    found = {}
    for record in read_eval_records(run_dir / "difficulty"):
        views = {p.view: p.correct and not p.undecided for p in record.predictions}
        found[record.source_id] = Difficulty(views.get("latex", False), views.get("image", False))
    return found


def label_counts(labels: dict[str, Difficulty]) -> dict[Label, int]:
    counted = Counter(d.label for d in labels.values())
    return {label: counted[label] for label in LABELS}


def parse_labels(text: str) -> set[Label]:
    """`modality_hard,hard` → the labels; an unknown one is a UserInputError naming it."""
    chosen: set[Label] = set()
    for part in (piece.strip() for piece in text.split(",") if piece.strip()):
        if part not in LABELS:
            raise UserInputError(
                f"--difficulty: unknown label '{part}'; choose from {', '.join(LABELS)}"
            )
        chosen.add(part)  # type: ignore[arg-type]  # checked just above
    if not chosen:
        raise UserInputError(f"--difficulty: name one or more of {', '.join(LABELS)}")
    return chosen
