"""Near-duplicate control: tables by word-shingle Jaccard, questions by edit similarity.

Tables are compared with the committed ones only (an inverted index of shingles), so which
table survives depends on inspiration order, never on timing: the render service drops an
obvious duplicate before anyone spends effort on it, and the director checks again when it
commits, in order.
"""

from __future__ import annotations

import difflib
import re
from collections import defaultdict
from collections.abc import Sequence

_WORD = re.compile(r"\w+(?:[.,]\w+)*")


def shingles(text: str, size: int = 3) -> frozenset[str]:
    words = [w.lower() for w in _WORD.findall(text)]
    if len(words) < size:
        return frozenset([" ".join(words)]) if words else frozenset()
    return frozenset(" ".join(words[i : i + size]) for i in range(len(words) - size + 1))


class TableIndex:
    """The committed tables' shingles, for Jaccard similarity against a new table."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self._sets: dict[str, frozenset[str]] = {}
        self._by_shingle: dict[str, set[str]] = defaultdict(set)

    def add(self, table_id: str, text: str) -> None:
        marks = shingles(text)
        self._sets[table_id] = marks
        for mark in marks:
            self._by_shingle[mark].add(table_id)

    def duplicate_of(self, text: str, table_id: str = "") -> tuple[str, float] | None:
        """The most similar other committed table at or over the threshold, if any.

        A table never duplicates itself: on resume, a half-committed inspiration is redone
        while its tables are already in the index.
        """
        if self.threshold >= 1.0:
            return None
        marks = shingles(text)
        if not marks:
            return None
        shared: dict[str, int] = defaultdict(int)
        for mark in marks:
            for other in self._by_shingle.get(mark, ()):
                if other != table_id:
                    shared[other] += 1
        best: tuple[str, float] | None = None
        for other, common in sorted(shared.items()):
            similarity = common / len(marks | self._sets[other])
            if similarity >= self.threshold and (best is None or similarity > best[1]):
                best = (other, similarity)
        return best


def _normal(question: str) -> str:
    return " ".join(_WORD.findall(question.lower()))


def drop_near_duplicate_questions(questions: Sequence[str], threshold: float) -> list[int]:
    """Indexes of questions to keep: later ones too close to a kept one are dropped."""
    kept: list[int] = []
    for index, question in enumerate(questions):
        text = _normal(question)
        if threshold < 1.0 and any(
            difflib.SequenceMatcher(None, text, _normal(questions[k])).ratio() >= threshold
            for k in kept
        ):
            continue
        kept.append(index)
    return kept
