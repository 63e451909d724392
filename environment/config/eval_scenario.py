"""Eval scenario files: which solvers answer a dataset's questions (from which view of the
table), which graders judge the answers the pre-grader cannot settle, and the run's bounds.

The models, budget, cache and personas work as in a generation scenario, so a user points
the same endpoints at both."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from environment.config.persona_book import (
    PersonaBook,
)
from environment.config.personas import Persona, Role
from environment.config.scenario import (
    STALL_MARGIN_S,
    AgentSettings,
    BudgetSettings,
    ConsensusSettings,
    GraderPick,
    ModelSettings,
    OpenAIModelSettings,
    Scenario,
    SolverPick,
    apply_flag,
    check_pick,
    scenario_personas,
)
from environment.config.yaml_source import YamlSource, did_you_mean
from environment.core.messages import SolverView
from environment.errors import UserInputError
from environment.frozen import Frozen


class SolverSettings(SolverPick):
    # What the solver answers from: the table's LaTeX, its image, or both — each item
    # answered twice, once per view, which is what the modality gap is measured on.
    view: Literal["latex", "image", "both"] = "both"

    @property
    def views(self) -> tuple[SolverView, ...]:
        return ("latex", "image") if self.view == "both" else (self.view,)


GraderSettings = GraderPick


class EvalScenario(Frozen):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    seed: int = Field(default=0, ge=0, le=2**63 - 1)
    output: str = "out"
    models: dict[str, ModelSettings]
    solvers: list[SolverSettings] = Field(min_length=1)
    graders: list[GraderSettings] = Field(min_length=1)
    consensus: ConsensusSettings = ConsensusSettings()
    limit: int | None = Field(default=None, ge=1, le=10_000_000)  # items; default: all
    max_inflight: int = Field(default=8, ge=1, le=1024)  # items being answered or graded
    budget: BudgetSettings | None = None
    cache_dir: str | None = None
    stall_timeout_s: float | None = Field(default=None, ge=1, le=86_400)
    personas_dir: str | None = None
    personas: dict[str, dict[str, object]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _a_grading_rule(self) -> EvalScenario:
        if self.consensus.rule in ("weighted", "cascade"):
            raise ValueError(
                f"consensus.rule {self.consensus.rule} is for generation runs; graders vote "
                "by majority, k_of_n or unanimous"
            )
        return self

    @property
    def agents(self) -> list[AgentSettings]:
        """Solvers and graders as agents, for what builds models by agent (assembly)."""
        solvers = [
            AgentSettings(role="solver", persona=s.persona, model=s.model) for s in self.solvers
        ]
        graders = [
            AgentSettings(role="grader", persona=g.persona, model=g.model, count=g.count)
            for g in self.graders
        ]
        return solvers + graders

    def stall_after_s(self) -> float:
        if self.stall_timeout_s is not None:
            return self.stall_timeout_s
        slowest = max(
            [60.0]
            + [m.timeout_s for m in self.models.values() if isinstance(m, OpenAIModelSettings)]
        )
        return 2 * slowest + STALL_MARGIN_S


@dataclass(frozen=True)
class LoadedEvalScenario:
    scenario: EvalScenario
    personas: PersonaBook


def load_eval_scenario(
    path: Path, library: Path, overrides: Sequence[str] = ()
) -> LoadedEvalScenario:
    """Reads and checks an eval scenario and its personas; every problem is a
    UserInputError naming file, line and key."""
    source = YamlSource.read(path)
    if not isinstance(source.data, dict):
        raise source.error([], "an eval scenario is a mapping of keys (name, models, solvers…)")
    if "agents" in source.data and "solvers" not in source.data:
        raise source.error(
            ["agents"],
            "this is a generation scenario; eval needs one with solvers: and graders: "
            "(see scenarios/eval-quickstart.yaml)",
        )
    for flag in overrides:
        apply_flag(source, flag)
    scenario: EvalScenario = source.validate(EvalScenario)
    book = scenario_personas(source, library, scenario.personas_dir)
    check_eval_scenario(scenario, book.personas, source)
    return LoadedEvalScenario(scenario, book)


def check_eval_scenario(
    scenario: EvalScenario, personas: dict[str, Persona], source: YamlSource | None = None
) -> None:
    """Names that must exist, roles that must match, views a model can see."""

    def fail(location: list[int | str], message: str) -> UserInputError:
        if source is not None:
            return source.error(location, message)
        return UserInputError(f"{'.'.join(map(str, location))}: {message}")

    members: list[tuple[str, int, SolverSettings | GraderSettings]] = [
        ("solvers", i, s) for i, s in enumerate(scenario.solvers)
    ]
    members += [("graders", i, g) for i, g in enumerate(scenario.graders)]
    for key, index, member in members:
        role: Role = "solver" if key == "solvers" else "grader"
        check_pick(member, role, [key, index], personas, scenario.models, fail)
        model = scenario.models[member.model]
        if (
            isinstance(member, SolverSettings)
            and "image" in member.views
            and isinstance(model, OpenAIModelSettings)
            and not model.vision
        ):
            raise fail(
                [key, index, "view"],
                f"view {member.view} shows the table's image, but model '{member.model}' has "
                "no vision: true; give it vision (if it takes images) or use view: latex",
            )
    names = [s.persona for s in scenario.solvers]
    for index, name in enumerate(names):
        if name in names[:index] and _solver_models(scenario, name) < 2:
            raise fail(
                ["solvers", index, "persona"],
                f"solver persona '{name}' is listed twice on the same model",
            )
    jury = sum(g.count for g in scenario.graders)
    consensus = scenario.consensus
    if consensus.rule == "k_of_n" and (consensus.k or 0) > jury:
        raise fail(["consensus", "k"], f"k is {consensus.k} but there are only {jury} graders")
    if (consensus.quorum or 0) > jury:
        raise fail(
            ["consensus", "quorum"],
            f"quorum is {consensus.quorum} but there are only {jury} graders",
        )
    grader_personas = {g.persona for g in scenario.graders}
    if consensus.tiebreaker is not None and consensus.tiebreaker not in grader_personas:
        raise fail(
            ["consensus", "tiebreaker"],
            f"tiebreaker{did_you_mean(consensus.tiebreaker, grader_personas)} is not a grader "
            "persona of this scenario",
        )
    if scenario.budget is not None:
        for name, model in scenario.models.items():
            if isinstance(model, OpenAIModelSettings):
                floor = model.max_tokens * model.price.output_per_mtok / 1_000_000
                if floor > scenario.budget.usd:
                    raise fail(
                        ["budget", "usd"],
                        f"{scenario.budget.usd:g} is below the worst case of one call to {name} "
                        f"(${floor:.4f}); raise the budget or lower max_tokens",
                    )


def _solver_models(scenario: EvalScenario, persona: str) -> int:
    return len({s.model for s in scenario.solvers if s.persona == persona})


def _agent_name(persona: str, model: str, on_several_models: bool) -> str:
    """persona, or persona.model when the persona works on several models (one persona
    compared across models); in the characters an agent name may hold."""
    name = f"{persona}.{model}" if on_several_models else persona
    return re.sub(r"[^A-Za-z0-9_.-]", "-", name)


def solver_names(scenario: EvalScenario) -> list[str]:
    return [
        _agent_name(s.persona, s.model, _solver_models(scenario, s.persona) > 1)
        for s in scenario.solvers
    ]


def grader_names(scenario: EvalScenario) -> list[list[str]]:
    """Each grader entry's agents: numbered -1, -2… when it has a count."""
    names: list[list[str]] = []
    for grader in scenario.graders:
        models = {g.model for g in scenario.graders if g.persona == grader.persona}
        base = _agent_name(grader.persona, grader.model, len(models) > 1)
        names.append(
            [base] if grader.count == 1 else [f"{base}-{i}" for i in range(1, grader.count + 1)]
        )
    return names


def difficulty_eval(scenario: Scenario, spent_usd: float = 0.0) -> EvalScenario:
    """The eval a generation scenario's `difficulty` runs on its own accepted pairs: its
    solver from both views, its graders, what is left of the run's budget."""
    difficulty = scenario.difficulty
    assert difficulty is not None
    budget = None
    if scenario.budget is not None:
        budget = BudgetSettings(usd=max(scenario.budget.usd - spent_usd, 1e-9))
    return EvalScenario(
        name=f"{scenario.name}-difficulty",
        seed=scenario.seed,
        output=scenario.output,
        models=scenario.models,
        solvers=[
            SolverSettings(
                persona=difficulty.solver.persona, model=difficulty.solver.model, view="both"
            )
        ],
        graders=difficulty.graders,
        consensus=difficulty.consensus,
        max_inflight=2 * scenario.max_inflight,
        budget=budget,
        cache_dir=scenario.cache_dir,
        stall_timeout_s=scenario.stall_timeout_s,
    )


def is_eval_scenario(path: Path) -> bool:
    """Whether a scenario file is an eval's (it names solvers), not a generation run's."""
    source = YamlSource.read(path)
    return isinstance(source.data, dict) and "solvers" in source.data
