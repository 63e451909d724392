"""Near-duplicate control: tables by word-shingle Jaccard, questions by edit similarity.

Tables are compared with the committed ones only (an inverted index of shingles), so which
table survives depends on inspiration order, never on timing: the render service drops an
obvious duplicate before anyone spends effort on it, and the director checks again when it
commits, in order.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections import OrderedDict, defaultdict
from collections.abc import Sequence

_WORD = re.compile(r"\w+(?:[.,]\w+)*")


def shingles(text: str, size: int = 3) -> frozenset[str]:
    words = [w.lower() for w in _WORD.findall(text)]
    if len(words) < size:
        return frozenset([" ".join(words)]) if words else frozenset()
    return frozenset(" ".join(words[i : i + size]) for i in range(len(words) - size + 1))


def _fingerprint(shingle: str) -> int:
    """A stable 64-bit stand-in for a shingle: the same in every process (str's hash() is
    not), and a fraction of the string's memory in the index."""
    return int.from_bytes(hashlib.blake2b(shingle.encode(), digest_size=8).digest(), "big")


class TableIndex:
    """The committed tables' shingles, for Jaccard similarity against a new table.

    Only what the similarity needs is kept: for each shingle (as a fingerprint) the tables
    that have it, and each table's shingle count — |A ∪ B| is |A| + |B| - |A ∩ B|. A long
    run adds tens of thousands of tables; this keeps each to about a fifth of the memory
    that sets of shingle strings took (3.2 against 17.6 KiB).
    """

    RECENT_TEXTS = 64  # a usual run's tables in flight; a miss costs only the recount

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self._ids: list[str] = []  # table number → table id
        self._sizes: list[int] = []  # table number → its distinct shingles
        self._numbers: dict[str, int] = {}
        # fingerprint → the one table number that has it, or a list once several do
        self._holders: dict[int, int | list[int]] = {}
        # The last few texts' fingerprints: a table is checked at its render, checked again
        # at its commit and then added, with the same text each time.
        self._recent: OrderedDict[str, frozenset[int]] = OrderedDict()

    def _marks(self, text: str) -> frozenset[int]:
        marks = self._recent.pop(text, None)
        if marks is None:
            marks = frozenset(_fingerprint(mark) for mark in shingles(text))
        self._recent[text] = marks
        if len(self._recent) > self.RECENT_TEXTS:
            self._recent.popitem(last=False)
        return marks

    def add(self, table_id: str, text: str) -> None:
        marks = self._marks(text)
        number = self._numbers.get(table_id)
        if number is not None:  # a table indexed again (resume) keeps its first text
            return
        number = len(self._ids)
        self._numbers[table_id] = number
        self._ids.append(table_id)
        self._sizes.append(len(marks))
        for mark in marks:
            held = self._holders.get(mark)
            if held is None:
                self._holders[mark] = number
            elif isinstance(held, list):
                held.append(number)
            else:
                self._holders[mark] = [held, number]

    def duplicate_of(self, text: str, table_id: str = "") -> tuple[str, float] | None:
        """The most similar other committed table at or over the threshold, if any.

        A table never duplicates itself: on resume, a half-committed inspiration is redone
        while its tables are already in the index.
        """
        if self.threshold >= 1.0:
            return None
        marks = self._marks(text)
        if not marks:
            return None
        itself = self._numbers.get(table_id, -1)
        shared: dict[int, int] = defaultdict(int)
        for mark in marks:
            held = self._holders.get(mark)
            if held is None:
                continue
            for other in held if isinstance(held, list) else (held,):
                if other != itself:
                    shared[other] += 1
        best: tuple[str, float] | None = None
        for other, common in sorted(shared.items(), key=lambda item: self._ids[item[0]]):
            similarity = common / (len(marks) + self._sizes[other] - common)
            if similarity >= self.threshold and (best is None or similarity > best[1]):
                best = (self._ids[other], similarity)
        return best


def _normal(question: str) -> str:
    return " ".join(_WORD.findall(question.lower()))


def _similar(first: str, second: str, threshold: float) -> bool:
    """Edit similarity at least `threshold`. The quick ratios are upper bounds of the full
    one and cost little: most pairs of questions fail them, and skip the full comparison."""
    matcher = difflib.SequenceMatcher(None, first, second)
    return (
        matcher.real_quick_ratio() >= threshold
        and matcher.quick_ratio() >= threshold
        and matcher.ratio() >= threshold
    )


def drop_near_duplicate_questions(questions: Sequence[str], threshold: float) -> list[int]:
    """Indexes of questions to keep: later ones too close to a kept one are dropped."""
    if threshold >= 1.0:
        return list(range(len(questions)))
    texts = [_normal(question) for question in questions]
    kept: list[int] = []
    for index, text in enumerate(texts):
        if not any(_similar(text, texts[k], threshold) for k in kept):
            kept.append(index)
    return kept
