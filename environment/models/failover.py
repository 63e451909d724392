"""Benching: a model that keeps failing rests for a cool-down and its work goes to another
model of the same role, so a run never dies because one endpoint does."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from environment.messages import ModelIncident
from environment.models.endpoint import EndpointModel, RunLink
from environment.models.protocol import Completion, ModelCallFailed, ModelRequest


@dataclass
class Health:
    """One endpoint model's record, shared by every agent that uses it."""

    bench_after: int
    cooldown_s: float
    failures_in_a_row: int = 0
    benched_until: float = 0.0

    @property
    def benched(self) -> bool:
        return time.monotonic() < self.benched_until


class Failover:
    """The agent's own model first, then its role-mates' models that read tables the same way."""

    def __init__(
        self,
        candidates: list[EndpointModel],
        health: dict[str, Health],
        link: RunLink,
    ) -> None:
        self.candidates = candidates
        self.health = health
        self.link = link
        self.name = candidates[0].name

    @property
    def cache_identity(self) -> str:
        return self.candidates[0].cache_identity

    def worst_case_usd(self, request: ModelRequest) -> float:
        return max(model.worst_case_usd(request) for model in self.candidates)

    async def complete(self, request: ModelRequest) -> Completion:
        failure: ModelCallFailed | None = None
        for model in await self._order():
            try:
                completion = await model.complete(request)
            except ModelCallFailed as error:
                failure = error
                if self.link.stopping:
                    raise
                await self._failed(model.name, request.agent, error.reason)
                continue
            self.health[model.name].failures_in_a_row = 0
            return completion
        assert failure is not None
        raise failure

    def report_unusable(self, model: str) -> None:
        """Output that stayed unparseable after the re-ask counts against the model too."""
        if model in self.health:
            health = self.health[model]
            health.failures_in_a_row += 1
            if health.failures_in_a_row >= health.bench_after and not health.benched:
                health.benched_until = time.monotonic() + health.cooldown_s

    async def _order(self) -> list[EndpointModel]:
        """Models not benched, in preference order; if every one is benched, wait for the
        first to come back rather than fail work a healthy model will do in a minute."""
        ready = [m for m in self.candidates if not self.health[m.name].benched]
        if ready:
            return ready
        soonest = min(self.candidates, key=lambda m: self.health[m.name].benched_until)
        await asyncio.sleep(max(0.0, self.health[soonest.name].benched_until - time.monotonic()))
        await self.link.report(
            ModelIncident(
                model=soonest.name, agent="", kind="restored", detail="cool-down over; trying again"
            )
        )
        return [soonest]

    async def _failed(self, model: str, agent: str, reason: str) -> None:
        health = self.health[model]
        health.failures_in_a_row += 1
        if health.failures_in_a_row >= health.bench_after and not health.benched:
            health.benched_until = time.monotonic() + health.cooldown_s
            others = [m.name for m in self.candidates if m.name != model]
            where = f"; work goes to {', '.join(others)}" if others else ""
            await self.link.report(
                ModelIncident(
                    model=model,
                    agent=agent,
                    kind="benched",
                    detail=(
                        f"{health.failures_in_a_row} failures in a row (last: {reason}); "
                        f"benched for {health.cooldown_s:g} s{where}"
                    ),
                )
            )
