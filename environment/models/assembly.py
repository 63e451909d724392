"""A scenario's models, built once per run: the API keys checked before a run folder exists,
what every model shares (ledger, response cache, table images, oracle), and each agent's
model — metered, with its role-mates on the same kind of endpoint as fallbacks."""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from environment.config.eval_scenario import EvalScenario
from environment.config.scenario import (
    OpenAIModelSettings,
    Scenario,
    SimulatedModelSettings,
    TableView,
)
from environment.errors import UserInputError
from environment.models.endpoint import EndpointModel, RunLink
from environment.models.failover import Failover
from environment.models.images import RunImages
from environment.models.metering import MeteredModel
from environment.models.preflight import preflight
from environment.models.response_cache import ResponseCache
from environment.models.secrets import Redactor, read_api_keys
from environment.simulation.model import SimulatedModel
from environment.simulation.oracle import Oracle
from environment.storage.ledger import Ledger
from environment.storage.store import RunStore


@dataclass(frozen=True)
class Keys:
    """The scenario's API keys, read from the environment once, what hides them, and what
    the endpoints' preflight found worth a warning."""

    by_model: dict[str, str | None]
    redact: Redactor
    warnings: tuple[str, ...] = ()


FIGURES = ("calls", "failures", "retries", "benched")


@dataclass
class ModelShop:
    """Everything the scenario's models share in a run."""

    ledger: Ledger
    oracle: Oracle
    link: RunLink
    images: RunImages
    api_keys: dict[str, str | None]
    cache: ResponseCache | None
    endpoints: dict[str, list[EndpointModel]] = field(default_factory=dict)  # by model
    simulated: dict[str, SimulatedModel] = field(default_factory=dict)

    async def close(self) -> None:
        for endpoints in self.endpoints.values():
            for endpoint in endpoints:
                await endpoint.close()

    def endpoint_figures(self) -> dict[str, list[dict[str, object]]]:
        """Each endpoint model's calls, failures, retries and benchings, per address."""
        return {
            name: [{"base_url": e.address, **{k: e.figures[k] for k in FIGURES}} for e in endpoints]
            for name, endpoints in sorted(self.endpoints.items())
        }


def endpoint_key_envs(scenario: Scenario | EvalScenario) -> dict[str, str | None]:
    """Each endpoint model's API key variable (None: a server that wants no key)."""
    return {
        name: settings.api_key_env
        for name, settings in scenario.models.items()
        if isinstance(settings, OpenAIModelSettings)
    }


async def check_endpoints(scenario: Scenario | EvalScenario) -> Keys:
    """Keys present, servers reachable, keys accepted (else UserInputError); a model name a
    server does not list is a warning."""
    api_keys = read_api_keys(endpoint_key_envs(scenario))
    redact = Redactor({key for key in api_keys.values() if key})
    used = {agent.model for agent in scenario.agents}
    if isinstance(scenario, Scenario) and scenario.difficulty is not None:
        used.add(scenario.difficulty.solver.model)
        used.update(grader.model for grader in scenario.difficulty.graders)
    checks = [
        preflight_endpoints(name, settings, api_keys.get(name), redact)
        for name, settings in scenario.models.items()
        if isinstance(settings, OpenAIModelSettings) and name in used
    ]
    found = [warning for warnings in await asyncio.gather(*checks) for warning in warnings]
    return Keys(api_keys, redact, tuple(found))


async def preflight_endpoints(
    name: str, settings: OpenAIModelSettings, api_key: str | None, redact: Redactor
) -> list[str]:
    """Each of a model's endpoints checked. Of several, one that cannot be reached is a
    warning (its calls go to the others, and it is tried again when benched time is up);
    none reachable, or a key refused, is the error."""
    if len(settings.urls) == 1:
        warning = await preflight(name, settings, api_key, redact)
        return [warning] if warning else []
    results = await asyncio.gather(
        *(preflight(name, settings.at(url), api_key, redact) for url in settings.urls),
        return_exceptions=True,
    )
    refused = [r for r in results if isinstance(r, UserInputError) and "api_key_env" in str(r)]
    unreachable = [r for r in results if isinstance(r, UserInputError) and r not in refused]
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, UserInputError):
            raise result
    if refused or len(unreachable) == len(results):
        raise (refused or unreachable)[0]
    warnings = [str(r) for r in results if isinstance(r, str)]
    warnings += [f"{error}; the run goes on with the others" for error in unreachable]
    return warnings


def replay_key(scenario: Scenario) -> str:
    """What makes two runs the same run: the whole scenario but where its output goes."""
    material = scenario.model_dump(mode="json", exclude={"output", "cache_dir"})
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:32]


def open_model_shop(
    scenario: Scenario | EvalScenario, store: RunStore, no_cache: bool, keys: Keys
) -> ModelShop:
    """What the models share: the keys and their redactor, the table images, the response
    cache, and the run's ledger (going on from earlier sessions)."""
    store.redact = keys.redact
    images = RunImages(store.directory)
    cache = None
    if not no_cache and keys.by_model:
        directory = Path(scenario.cache_dir or Path(scenario.output) / ".cache" / "responses")
        cache = ResponseCache(directory, images)
    budget = scenario.budget.usd if scenario.budget else None
    return ModelShop(
        ledger=Ledger.open(store.ledger_path, budget, append=store.append_ledger),
        oracle=Oracle(),
        link=RunLink(redact=keys.redact),
        images=images,
        api_keys=keys.by_model,
        cache=cache,
    )


def model_for_agent(
    scenario: Scenario | EvalScenario, shop: ModelShop, model_name: str, role: str
) -> tuple[MeteredModel, TableView]:
    """The agent's model, metered, and what it is shown of a table; an endpoint model has
    its role-mates that see tables the same way as fallbacks."""
    settings = scenario.models[model_name]
    if isinstance(settings, SimulatedModelSettings):
        if model_name not in shop.simulated:
            shop.simulated[model_name] = SimulatedModel(
                model_name, settings.skill, scenario.seed, shop.oracle, settings.structured_output
            )
        return MeteredModel(shop.simulated[model_name], shop.ledger, role), "latex"
    role_mates = [
        name
        for name in dict.fromkeys(a.model for a in scenario.agents if a.role == role)
        if name != model_name
        and isinstance(other := scenario.models[name], OpenAIModelSettings)
        and other.shown == settings.shown
    ]
    candidates = []
    for name in [model_name, *role_mates]:
        endpoint_settings = scenario.models[name]
        assert isinstance(endpoint_settings, OpenAIModelSettings)
        if name not in shop.endpoints:
            several = len(endpoint_settings.urls) > 1
            shop.endpoints[name] = [
                EndpointModel(
                    name,
                    endpoint_settings.at(url),
                    shop.api_keys.get(name),
                    shop.images,
                    shop.link,
                    jitter_seed=scenario.seed,
                    answers_as=endpoint_settings.base_url if several else None,
                )
                for url in endpoint_settings.urls
            ]
        candidates += shop.endpoints[name]
    failover = Failover(candidates, shop.link)
    return MeteredModel(failover, shop.ledger, role, shop.cache), settings.shown
