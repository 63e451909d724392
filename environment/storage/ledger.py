"""Tokens and cost per model and role, and the budget: a hard cap no call may break.

Simulated models cost nothing but still count tokens. A resumed run starts from the ledger
its earlier sessions left in run.json, so the cap is for the whole run.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from environment.models.protocol import (
    BudgetExhausted,
    Completion,
)
from environment.storage.store import truncate_torn_tail


@dataclass
class Usage:
    calls: int = 0
    cached_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0


@dataclass
class Ledger:
    cap_usd: float | None = None
    usage: dict[tuple[str, str], Usage] = field(default_factory=dict)
    reserved_usd: float = 0.0
    # Where each call's journal line goes (ledger.jsonl, through the run folder's writer):
    # one line per call, so the spend survives a kill -9. None: not journaled.
    append: Callable[[str], None] | None = None
    _settled: asyncio.Condition = field(default_factory=asyncio.Condition)

    @classmethod
    def open(cls, journal: Path, cap_usd: float | None, append: Callable[[str], None]) -> Ledger:
        """The run's ledger, going on from the calls earlier sessions journaled in
        `journal`; new lines go to `append`."""
        ledger = cls(cap_usd=cap_usd, append=append)
        truncate_torn_tail(journal)  # a line a kill -9 cut short would swallow the next one
        if journal.exists():
            for line in journal.read_text(encoding="utf-8").splitlines():
                try:
                    row = json.loads(line)
                    completion = Completion.model_validate(row["completion"])
                    model, role = str(row["model"]), str(row["role"])
                except (ValueError, KeyError, TypeError):
                    continue  # unreadable: not ours to guess at
                ledger._add(model, role, completion)
        return ledger

    def record(self, model: str, role: str, completion: Completion) -> None:
        self._add(model, role, completion)
        if self.append is not None:
            slim = completion.model_dump(exclude={"text", "tool_calls"})
            self.append(
                json.dumps({"model": model, "role": role, "completion": slim | {"text": ""}}) + "\n"
            )

    def _add(self, model: str, role: str, completion: Completion) -> None:
        entry = self.usage.setdefault((model, role), Usage())
        if completion.cached:
            entry.cached_calls += 1
            return
        entry.calls += 1
        entry.prompt_tokens += completion.prompt_tokens
        entry.completion_tokens += completion.completion_tokens
        entry.cost_usd += completion.cost_usd

    async def reserve(self, worst_case_usd: float) -> None:
        """Holds a call's worst case against the cap. If only calls in flight stand in the
        way, waits for them to settle; if what is spent already leaves too little, refuses."""
        if self.cap_usd is not None and worst_case_usd > 0:
            while worst_case_usd > self.cap_usd - self.total_cost_usd - self.reserved_usd:
                left = self.cap_usd - self.total_cost_usd
                if worst_case_usd > left:
                    raise BudgetExhausted(
                        f"budget: ${self.total_cost_usd:.4f} spent of ${self.cap_usd:.2f}; the "
                        f"next call could cost up to ${worst_case_usd:.4f}, "
                        f"${max(left, 0):.4f} is left"
                    )
                async with self._settled:
                    await self._settled.wait()
        self.reserved_usd += worst_case_usd

    async def release(self, worst_case_usd: float) -> None:
        self.reserved_usd = max(0.0, self.reserved_usd - worst_case_usd)
        async with self._settled:
            self._settled.notify_all()

    @property
    def total_cost_usd(self) -> float:
        return sum(u.cost_usd for u in self.usage.values())

    def as_dict(self, accepted: int | None = None) -> dict[str, object]:
        total = self.total_cost_usd
        summary: dict[str, object] = {
            "total_cost_usd": round(total, 6),
            "budget_usd": self.cap_usd,
            "by_model_role": [
                {
                    "model": model,
                    "role": role,
                    "calls": u.calls,
                    "cached_calls": u.cached_calls,
                    "prompt_tokens": u.prompt_tokens,
                    "completion_tokens": u.completion_tokens,
                    "cost_usd": round(u.cost_usd, 6),
                }
                for (model, role), u in sorted(self.usage.items())
            ],
        }
        if accepted is not None:
            summary["accepted"] = accepted
            summary["cost_per_accepted_qa_usd"] = round(total / accepted, 6) if accepted else None
        return summary
