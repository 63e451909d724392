"""An agent's view of its model: the response cache first, then the budget held for the
call's worst case, the call, and its cost entered in the ledger."""

from __future__ import annotations

from typing import Protocol

from environment.models.protocol import ChatModel, Completion, ModelCallFailed, ModelRequest
from environment.models.response_cache import ResponseCache
from environment.storage.ledger import Ledger


class AccountedModel(ChatModel, Protocol):
    """What the metering layer needs beyond `complete`."""

    @property
    def cache_identity(self) -> str | None: ...

    def worst_case_usd(self, request: ModelRequest) -> float: ...

    def report_unusable(self, model: str) -> None: ...


class MeteredModel:
    """An agent's view of its model: answers from the cache when it can, otherwise holds the
    call's worst case against the budget, calls, and enters the cost in the ledger."""

    def __init__(
        self,
        model: AccountedModel,
        ledger: Ledger,
        role: str,
        cache: ResponseCache | None = None,
    ) -> None:
        self.model = model
        self.ledger = ledger
        self.role = role
        self.name = model.name
        self.cache = cache if model.cache_identity is not None else None

    async def complete(self, request: ModelRequest) -> Completion:
        key = None
        if self.cache is not None and self.model.cache_identity is not None:
            key = await self.cache.key(self.model.cache_identity, request)
            cached = await self.cache.get(key)
            if cached is not None:
                self.ledger.record(cached.model, self.role, cached)
                return cached
        worst_case = self.model.worst_case_usd(request)
        await self.ledger.reserve(worst_case)
        try:
            completion = await self.model.complete(request)
        except BaseException:
            await self.ledger.release(worst_case)
            raise
        # Recorded before the release wakes waiting calls: they must see what this one cost.
        self.ledger.record(completion.model, self.role, completion)  # paid, usable or not
        await self.ledger.release(worst_case)
        # Cut off after complete tool calls (a small model rambling on past them): the
        # calls stand; only the text would be unusable.
        if completion.truncated and not completion.tool_calls:
            self.model.report_unusable(completion.model)
            raise ModelCallFailed(
                completion.model,
                f"reply cut off at max_tokens after {completion.completion_tokens} tokens; "
                "raise max_tokens for this model",
            )
        # A reply that carried a secret is not worth keeping: the next run asks again.
        if key is not None and self.cache is not None and not completion.redacted:
            await self.cache.put(key, completion)
        return completion

    def report_unusable(self, model: str) -> None:
        self.model.report_unusable(model)
