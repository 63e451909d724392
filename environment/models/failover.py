"""Benching in practice: a call goes to the agent's own model unless it rests after
repeated failures, then to the role's other models that read tables the same way — so a run
never dies because one endpoint does. A model served at several endpoints is a run of
candidates with one name: a call goes to the one with the fewest calls in flight."""

from __future__ import annotations

import time

from environment.core.messages import ModelIncident
from environment.models.endpoint import Benched, EndpointModel, RunLink, Stopping
from environment.models.protocol import Completion, ModelCallFailed, ModelRequest


class Failover:
    """The agent's own model first, then its role-mates' models."""

    def __init__(self, candidates: list[EndpointModel], link: RunLink) -> None:
        self.candidates = candidates
        self.link = link
        self.name = candidates[0].name

    @property
    def cache_identity(self) -> str:
        return self.candidates[0].cache_identity

    def worst_case_usd(self, request: ModelRequest) -> float:
        return max(model.worst_case_usd(request) for model in self.candidates)

    async def complete(self, request: ModelRequest) -> Completion:
        while True:
            failure: ModelCallFailed | None = None
            for model in await self._ready():
                try:
                    return await model.complete(request)
                except Benched:
                    continue  # it rests now: the next model, or wait for one to come back
                except ModelCallFailed as error:
                    failure = error
                    if self.link.stopping:
                        raise
            if failure is not None:
                raise failure

    def report_unusable(self, model: str) -> None:
        for candidate in self.candidates:
            if candidate.name == model:
                candidate.report_unusable()

    async def _ready(self) -> list[EndpointModel]:
        """Models not resting, in preference order; if all rest, wait for the first back
        rather than fail work that a healthy model will do in a minute."""
        alive = [m for m in self.candidates if not m.health.down]
        if not alive:
            raise ModelCallFailed(self.name, "every model of this role is down for this run")
        ready = [m for m in alive if not m.health.benched]
        if ready:
            return _least_busy_first(ready)
        soonest = min(alive, key=lambda m: m.health.benched_until)
        await self.link.pause(soonest.health.benched_until - time.monotonic())
        if self.link.stopping:
            raise Stopping(self.name, "the run is stopping")
        if soonest.health.back_from_bench():
            await self.link.report(
                ModelIncident(
                    model=soonest.label,
                    agent="",
                    kind="restored",
                    detail="cool-down over; trying again",
                )
            )
        return [soonest]


def _least_busy_first(models: list[EndpointModel]) -> list[EndpointModel]:
    """Preference order kept between models; among one model's endpoints, the one with the
    fewest calls in flight first (ties: the order they are listed in)."""
    order = list(dict.fromkeys(model.name for model in models))
    return sorted(
        models,
        key=lambda model: (order.index(model.name), model.in_flight),
    )
