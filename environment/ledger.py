"""Tokens and cost per model and role. Simulated models cost nothing but still count tokens."""

from __future__ import annotations

from dataclasses import dataclass, field

from environment.models.protocol import ChatModel, Completion, ModelRequest


@dataclass
class Usage:
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0


@dataclass
class Ledger:
    usage: dict[tuple[str, str], Usage] = field(default_factory=dict)

    def record(self, model: str, role: str, completion: Completion) -> None:
        entry = self.usage.setdefault((model, role), Usage())
        entry.calls += 1
        entry.prompt_tokens += completion.prompt_tokens
        entry.completion_tokens += completion.completion_tokens
        entry.cost_usd += completion.cost_usd

    @property
    def total_cost_usd(self) -> float:
        return sum(u.cost_usd for u in self.usage.values())

    def as_dict(self) -> dict[str, object]:
        return {
            "total_cost_usd": round(self.total_cost_usd, 6),
            "by_model_role": [
                {
                    "model": model,
                    "role": role,
                    "calls": u.calls,
                    "prompt_tokens": u.prompt_tokens,
                    "completion_tokens": u.completion_tokens,
                    "cost_usd": round(u.cost_usd, 6),
                }
                for (model, role), u in sorted(self.usage.items())
            ],
        }


class MeteredModel:
    """Wraps a model so that every completion is entered in the ledger under a role."""

    def __init__(self, model: ChatModel, ledger: Ledger, role: str) -> None:
        self.model = model
        self.ledger = ledger
        self.role = role
        self.name = model.name

    async def complete(self, request: ModelRequest) -> Completion:
        completion = await self.model.complete(request)
        self.ledger.record(self.model.name, self.role, completion)
        return completion
