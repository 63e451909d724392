"""Scenario files: the schema (pydantic, extra keys forbidden) and a loader with clear errors."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol

import yaml
from pydantic import Field, field_validator, model_validator

from environment.config.persona_book import (
    PersonaBook,
    build_persona_book,
    inline_personas,
    read_persona_folder,
)
from environment.config.personas import Persona, Role
from environment.config.yaml_source import Location, YamlSource, did_you_mean
from environment.errors import UserInputError
from environment.frozen import Frozen
from renderers.limits import RenderLimits

# What a questioner or juror is shown of a table.
TableView = Literal["latex", "image", "both"]


class Target(Frozen):
    accepted_qa: int = Field(ge=1, le=1_000_000)


class SimulatedModelSettings(Frozen):
    kind: Literal["simulated"]
    skill: float = Field(default=0.9, ge=0, le=1)
    # Replies bare and in the role's JSON schema, as from a server that constrains decoding;
    # false: JSON in fences after prose, as from a model asked in words only.
    structured_output: bool = True


class Price(Frozen):
    """US dollars per million tokens, as providers list them."""

    input_per_mtok: float = Field(default=0.0, ge=0, le=10_000)
    output_per_mtok: float = Field(default=0.0, ge=0, le=10_000)


EndpointUrl = Annotated[str, Field(pattern=r"^https?://[^\s/$.?#].[^\s]*$")]
MAX_ENDPOINTS = 64


class OpenAIModelSettings(Frozen):
    """Any OpenAI-compatible chat completions endpoint (OpenAI, OpenRouter, vLLM, Ollama…)."""

    kind: Literal["openai"]
    # One endpoint, or several serving the same model (vLLM replicas): each call goes to
    # the healthy one with the fewest calls in flight; concurrency, rpm and tpm are each's.
    base_url: EndpointUrl | list[EndpointUrl]
    model: str = Field(min_length=1)
    api_key_env: str | None = None
    temperature: float | None = Field(default=0.7, ge=0, le=2)  # null: not sent (o-series)
    max_tokens: int = Field(default=4000, ge=16, le=1_000_000)
    # OpenAI's reasoning models take max_completion_tokens and refuse max_tokens.
    max_tokens_param: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    # Provider-specific body fields, e.g. {reasoning_effort: low} or OpenRouter's
    # {provider: {sort: price}}; they cannot replace model, messages or the token limit.
    extra_body: dict[str, Any] = Field(default_factory=dict)
    concurrency: int = Field(default=8, ge=1, le=1024)
    rpm: int | None = Field(default=None, ge=1, le=1_000_000)
    # Tokens per minute the provider allows this key: each call reserves its worst case
    # (prompt + max_tokens) first, settled to what it used; the reply headers correct it.
    tpm: int | None = Field(default=None, ge=1, le=10_000_000_000)
    timeout_s: float = Field(default=120.0, gt=0, le=3600)
    max_retries: int = Field(default=5, ge=0, le=20)
    retry_base_s: float = Field(default=1.0, ge=0.01, le=60)  # first backoff; doubles
    vision: bool = False
    # How replies are held to their role's JSON schema: `json_schema` (constrained decoding:
    # OpenAI, vLLM, llama.cpp server, Ollama), `json_object` (any JSON), `none`. `auto` starts
    # at json_schema and steps down, once and for the run, when the server refuses it.
    structured_output: Literal["auto", "json_schema", "json_object", "none"] = "auto"
    # Whether the server takes OpenAI `tools` (llama.cpp needs --jinja, vLLM a tool parser).
    # A juror whose persona has tool_rounds cannot run on a model that does not.
    tool_calling: bool = True
    # What a questioner or juror on this model is shown of a table: its LaTeX source, the
    # rendered image (vision models only), or both. Default: both if vision, else latex.
    table_input: TableView | None = None
    price: Price = Price()
    bench_after_failures: int = Field(default=3, ge=1, le=100)
    cooldown_s: float = Field(default=60.0, ge=0, le=86_400)

    @field_validator("base_url")
    @classmethod
    def _each_endpoint_once(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, str):
            return value.rstrip("/")
        if not 1 <= len(value) <= MAX_ENDPOINTS:
            raise ValueError(f"give 1 to {MAX_ENDPOINTS} endpoints")
        urls = [url.rstrip("/") for url in value]
        for index, url in enumerate(urls):
            if url in urls[:index]:
                raise ValueError(f"{url} is listed twice; give each endpoint once")
        return urls if len(urls) > 1 else urls[0]

    @field_validator("api_key_env")
    @classmethod
    def _a_name_not_a_key(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}", value):
            raise ValueError(
                "api_key_env names an environment variable (e.g. OPENAI_API_KEY); never put "
                "the key itself in a scenario"
            )
        return value

    @field_validator("extra_body")
    @classmethod
    def _extras_add_only(cls, value: dict[str, Any]) -> dict[str, Any]:
        reserved = {"model", "messages", "max_tokens", "max_completion_tokens", "stream", "n"}
        clash = sorted(reserved & set(value))
        if clash:
            raise ValueError(f"extra_body cannot set {', '.join(clash)}: use the model's own keys")
        return value

    @model_validator(mode="after")
    def _image_needs_vision(self) -> OpenAIModelSettings:
        if self.table_input in ("image", "both") and not self.vision:
            raise ValueError(f"table_input: {self.table_input} needs vision: true")
        return self

    @property
    def shown(self) -> TableView:
        return self.table_input or ("both" if self.vision else "latex")

    @property
    def urls(self) -> list[str]:
        return self.base_url if isinstance(self.base_url, list) else [self.base_url]

    def at(self, url: str) -> OpenAIModelSettings:
        """These settings for one of the model's endpoints."""
        return self.model_copy(update={"base_url": url})


ModelSettings = Annotated[SimulatedModelSettings | OpenAIModelSettings, Field(discriminator="kind")]


class BudgetSettings(Frozen):
    usd: float = Field(gt=0, le=1_000_000)


class AgentSettings(Frozen):
    role: Role
    persona: str
    model: str
    count: int = Field(default=1, ge=1, le=64)


class ConsensusSettings(Frozen):
    rule: Literal["majority", "k_of_n", "unanimous", "weighted", "cascade"] = "majority"
    k: int | None = Field(default=None, ge=1, le=100)
    tiebreaker: str | None = None
    # Votes a verdict needs (abstentions do not count); default: a majority of the jury.
    quorum: int | None = Field(default=None, ge=1, le=100)
    # cascade: the `first` juror personas vote on every pair; a pair they do not all agree
    # on (or one abstains on) goes to the `then` jurors (default: every other juror), and
    # is decided by the majority of every vote cast on it.
    first: list[str] | None = Field(default=None, min_length=1)
    then: list[str] | None = Field(default=None, min_length=1)
    # weighted: each vote counts by its juror's reliability, estimated (one-coin
    # Dawid–Skene) from the run's earlier pairs once there are this many; heads until then.
    weights_after: int = Field(default=30, ge=1, le=1_000_000)

    def quorum_of(self, jurors: int) -> int:
        return self.quorum if self.quorum is not None else jurors // 2 + 1

    @model_validator(mode="after")
    def _each_rule_its_keys(self) -> ConsensusSettings:
        if self.rule == "k_of_n" and self.k is None:
            raise ValueError("rule k_of_n needs k (for example k: 2)")
        if self.rule == "cascade" and self.first is None:
            raise ValueError("rule cascade needs first: the juror personas that vote on every pair")
        if self.rule != "cascade" and (self.first is not None or self.then is not None):
            raise ValueError("first and then are for rule: cascade")
        return self

    def stages(self, juror_personas: list[str]) -> list[list[str]]:
        """The jury's stages, as persona names: one stage of everyone but in a cascade."""
        if self.rule != "cascade" or self.first is None:
            return [sorted(set(juror_personas))]
        rest = self.then or sorted(set(juror_personas) - set(self.first))
        return [list(self.first), list(rest)] if rest else [list(self.first)]


class RenderSettings(Frozen):
    pages: int = Field(default=2, ge=1, le=16)
    scale: float = Field(default=2.0, ge=0.5, le=4)
    timeout_s: float = Field(default=20.0, gt=0, le=600)
    # A render that drew something differently from TeX in a visible way (content dropped,
    # a picture not drawn): into the run with its warnings (true) or back to its generator.
    allow_partial: bool = False
    # What one document may cost (renderers.limits.RenderLimits): past these it is refused,
    # except lengths, which are clamped and make the render partial.
    max_input_kb: int = Field(default=400, ge=1, le=10_000)
    max_nesting: int = Field(default=100, ge=5, le=150)
    max_rows: int = Field(default=400, ge=1, le=100_000)  # rows per table
    max_length_cm: float = Field(default=52.0, gt=0, le=500)  # one \vspace, \rule, row skip
    max_height_px: int = Field(default=40_000, ge=500, le=200_000)  # laid-out page, CSS px
    max_megapixels: float = Field(default=80.0, gt=0, le=400)  # the image after scaling

    def limits(self) -> RenderLimits:
        return RenderLimits(
            max_input_bytes=self.max_input_kb * 1000,
            max_nesting=self.max_nesting,
            max_rows=self.max_rows,
            max_length_px=self.max_length_cm / 2.54 * 96,
            max_height_px=self.max_height_px,
            max_megapixels=self.max_megapixels,
        )


class DedupSettings(Frozen):
    """Similarity at or over which a table (word-shingle Jaccard against committed tables) or
    a question (edit similarity against the table's other questions) is dropped; 1 = off."""

    table_similarity: float = Field(default=0.9, gt=0, le=1)
    question_similarity: float = Field(default=0.95, gt=0, le=1)


class SolverPick(Frozen):
    persona: str
    model: str


class GraderPick(Frozen):
    persona: str
    model: str
    count: int = Field(default=1, ge=1, le=16)


class DifficultySettings(Frozen):
    """The modality swap as a filter: once the run reaches its target, `solver` answers
    every accepted pair from the table's LaTeX and from its image, `graders` grade what the
    pre-grader cannot, and each pair is labelled easy, modality_hard or hard."""

    solver: SolverPick
    graders: list[GraderPick] = Field(min_length=1)
    consensus: ConsensusSettings = ConsensusSettings()

    @model_validator(mode="after")
    def _a_grading_rule(self) -> DifficultySettings:
        if self.consensus.rule in ("weighted", "cascade"):
            raise ValueError("graders vote by majority, k_of_n or unanimous")
        return self


class VariantSettings(Frozen):
    """One variant of a scenario: the keys it changes, as `--set` would (dotted path →
    value)."""

    set: dict[str, Any] = Field(default_factory=dict)


class ShardPlace(Frozen):
    """Which shard of a sharded run this is: it works on inspirations index, index + count,
    index + 2·count… of the whole run's sequence, so shards never draw the same work."""

    index: int = Field(ge=0, le=1023)
    count: int = Field(ge=1, le=1024)

    @model_validator(mode="after")
    def _index_below_count(self) -> ShardPlace:
        if self.index >= self.count:
            raise ValueError(f"shard index {self.index} is not below the count {self.count}")
        return self

    def global_seq(self, seq: int) -> int:
        """The whole run's number for this shard's inspiration `seq`."""
        return seq * self.count + self.index


class Scenario(Frozen):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    seed: int = Field(default=0, ge=0, le=2**63 - 1)
    target: Target
    output: str = "out"
    models: dict[str, ModelSettings]
    agents: list[AgentSettings] = Field(min_length=1)
    consensus: ConsensusSettings = ConsensusSettings()
    tables_per_call: int = Field(default=3, ge=1, le=10)
    qa_per_table: int = Field(default=3, ge=1, le=20)
    max_repairs: int = Field(default=2, ge=0, le=10)
    max_inflight: int = Field(default=4, ge=1, le=256)
    render: RenderSettings = RenderSettings()
    dedup: DedupSettings = DedupSettings()
    seed_tables: bool = True  # show generators an accepted table of an earlier round
    budget: BudgetSettings | None = None
    difficulty: DifficultySettings | None = None
    cache_dir: str | None = None  # response cache; default <output>/.cache/responses
    # A run in which nothing has moved on the bus for this long ends as "stalled", naming
    # what it waits for. Default: longer than any one model call or render may take.
    stall_timeout_s: float | None = Field(default=None, ge=1, le=86_400)
    # The user's personas: a folder of persona files (relative to the scenario file), and
    # personas written here, name → knobs; both checked by config/persona_book.py.
    personas_dir: str | None = None
    personas: dict[str, dict[str, Any]] = Field(default_factory=dict)
    # Runs of this scenario on the same seed, each with its changes, into sibling folders,
    # then compared (the first is the reference).
    variants: dict[str, VariantSettings] = Field(default_factory=dict)
    # CPUs each shard asks of Ray (run.py --ray): its agents, and Chromium's render pages.
    shard_cpus: float = Field(default=1.0, gt=0, le=256)
    # Set by `--shards` in a shard's own run.json, never in a scenario file.
    shard: ShardPlace | None = None

    @field_validator("variants")
    @classmethod
    def _variant_names_are_folder_names(
        cls, variants: dict[str, VariantSettings]
    ) -> dict[str, VariantSettings]:
        for name in variants:
            if not re.fullmatch(r"[A-Za-z0-9_.-]+", name) or name in (".", ".."):
                raise ValueError(f"variant name '{name}' must be a folder name (A-Z a-z 0-9 _ . -)")
        if len(variants) == 1:
            raise ValueError("one variant compares with nothing; give two or more")
        return variants

    def stall_after_s(self) -> float:
        if self.stall_timeout_s is not None:
            return self.stall_timeout_s
        slowest = max(
            [self.render.timeout_s]
            + [m.timeout_s for m in self.models.values() if isinstance(m, OpenAIModelSettings)]
        )
        return 2 * slowest + STALL_MARGIN_S


STALL_MARGIN_S = 300.0

ROLES_NEEDED: tuple[Role, ...] = ("inspirer", "generator", "questioner", "juror")
EVAL_ROLES: tuple[Role, ...] = ("solver", "grader")


@dataclass(frozen=True)
class LoadedScenario:
    scenario: Scenario
    personas: PersonaBook


def load_scenario(
    path: Path, library: Path, overrides: Sequence[str] = (), variant: str | None = None
) -> LoadedScenario:
    """Reads and checks a scenario and the personas it can use (`library`, the package's
    folder, then its own); `overrides` are `--set PATH=VALUE` flags, then `variant`'s
    changes, applied before any check (the variant's scenario has no variants of its own).
    Every problem is a UserInputError naming file, line (or flag) and key."""
    source = YamlSource.read(path)
    if not isinstance(source.data, dict):
        raise source.error(
            [], "a scenario is a mapping of keys (name, seed, target, models, agents…)"
        )
    for flag in overrides:
        apply_flag(source, flag)
    if variant is not None:
        whole: Scenario = source.validate(Scenario)  # the variants themselves, checked
        for key, value in whole.variants[variant].set.items():
            line = source.line_of(["variants", variant, "set", key])
            apply_setting(source, key, value, f"{path}:{line}: variants.{variant}.set.{key}")
        del source.data["variants"]
    if "shard" in source.data:
        raise source.error(["shard"], "shard is set by run.py --shards, not in a scenario file")
    scenario: Scenario = source.validate(Scenario)
    book = scenario_personas(source, library, scenario.personas_dir)
    check_scenario(scenario, book.personas, source)
    return LoadedScenario(scenario, book)


def scenario_personas(source: YamlSource, library: Path, personas_dir: str | None) -> PersonaBook:
    """The personas a scenario file can use: the package's (`library`), then its
    `personas_dir` (relative to the file), then its own `personas:` mapping."""
    layers = [read_persona_folder(library, "package")]
    if personas_dir is not None:
        folder = source.path.parent / personas_dir
        if not folder.is_dir():
            raise source.error(["personas_dir"], f"{folder} is not a folder")
        layers.append(read_persona_folder(folder, "folder"))
    layers.append(inline_personas(source))
    return build_persona_book(layers)


def apply_flag(source: YamlSource, flag: str) -> None:
    """`--set consensus.rule=unanimous`: the value is read as YAML."""
    name = f"--set {flag}"
    path_text, equals, value_text = flag.partition("=")
    if not equals or not path_text.strip():
        raise UserInputError(f"{name}: write PATH=VALUE, e.g. --set consensus.rule=unanimous")
    try:
        value = yaml.safe_load(value_text)
    except yaml.YAMLError:
        raise UserInputError(f"{name}: the value is not valid YAML") from None
    apply_setting(source, path_text, value, name)


def apply_setting(source: YamlSource, path_text: str, value: Any, name: str) -> None:
    """Puts `value` at a dotted key path of the scenario (numbers index lists:
    `agents.0.count`); `name` (the flag, or the variant's line) is what errors quote.
    Validated afterwards like the file."""
    parts: list[int | str] = [
        int(part) if part.isdigit() else part for part in path_text.strip().split(".")
    ]
    if any(part == "" for part in parts):
        raise UserInputError(f"{name}: empty key in '{path_text}'")
    current: Any = source.data
    walked: Location = ()
    for position, part in enumerate(parts):
        above = ".".join(map(str, walked)) or "the scenario"
        if isinstance(current, list):
            if not isinstance(part, int) or not 0 <= part < len(current):
                raise UserInputError(
                    f"{name}: {above} is a list of {len(current)}; give an index from 0 to "
                    f"{len(current) - 1}"
                )
        elif isinstance(current, dict):
            part = str(part)
        else:
            raise UserInputError(f"{name}: {above} is a value, not a mapping of keys")
        walked = (*walked, part)
        if position == len(parts) - 1:
            current[part] = value
        else:
            if isinstance(current, dict) and current.get(part) is None:
                current[part] = {}
            current = current[part]
    source.overrides[walked] = name


def _jury_mix(scenario: Scenario) -> tuple[int, int, list[str]]:
    """Jurors on real and on simulated models, and the questioners' real models."""
    simulated = {
        name for name, model in scenario.models.items() if isinstance(model, SimulatedModelSettings)
    }
    jurors = [a for a in scenario.agents if a.role == "juror" for _ in range(a.count)]
    real_jurors = sum(1 for a in jurors if a.model not in simulated)
    real_questioners = [
        a.model for a in scenario.agents if a.role == "questioner" and a.model not in simulated
    ]
    return real_jurors, len(jurors) - real_jurors, real_questioners


def scenario_warnings(scenario: Scenario) -> list[str]:
    """Allowed, but likely not what the user meant: said at load, before any call."""
    real_jurors, simulated_jurors, real_questioners = _jury_mix(scenario)
    warnings = []
    if real_questioners and simulated_jurors:
        quorum = scenario.consensus.quorum_of(real_jurors + simulated_jurors)
        warnings.append(
            f"{simulated_jurors} simulated juror(s) cannot judge questions a real model "
            f"({', '.join(sorted(set(real_questioners)))}) writes: they abstain, and those "
            f"questions are decided by the {real_jurors} real juror(s) alone (quorum {quorum})"
        )
    return warnings


class Cast(Protocol):
    """What a scenario of either kind (generation, eval) says about its agents."""

    @property
    def models(self) -> dict[str, ModelSettings]: ...

    @property
    def agents(self) -> list[AgentSettings]: ...


def persona_warnings(scenario: Cast, book: PersonaBook) -> list[str]:
    """Knobs a user set on a persona that its simulated agent does not read."""
    simulated = {
        name for name, model in scenario.models.items() if isinstance(model, SimulatedModelSettings)
    }
    personas = sorted({a.persona for a in scenario.agents if a.model in simulated})
    return [
        f"persona '{name}' sets {', '.join(unread)}, which a simulated "
        f"{book.personas[name].role} does not read: no effect offline"
        for name in personas
        if (unread := book.unread_knobs(name))
    ]


def check_scenario(
    scenario: Scenario, personas: dict[str, Persona], source: YamlSource | None = None
) -> None:
    """Cross-field checks: names that must exist, roles that must be present."""

    def fail(location: list[int | str], message: str) -> UserInputError:
        if source is not None:
            return source.error(location, message)
        return UserInputError(f"{'.'.join(map(str, location))}: {message}")

    for index, agent in enumerate(scenario.agents):
        if agent.role in EVAL_ROLES:
            raise fail(
                ["agents", index, "role"],
                f"role {agent.role} is for eval scenarios (solvers:, graders:), run with "
                "python run.py eval DATASET SCENARIO",
            )
        if agent.persona not in personas:
            raise fail(
                ["agents", index, "persona"],
                f"unknown persona{did_you_mean(agent.persona, personas)}; define it under "
                "personas: or in personas_dir, or pick one from python run.py personas",
            )
        persona = personas[agent.persona]
        if persona.role != agent.role:
            raise fail(
                ["agents", index, "persona"],
                f"persona '{agent.persona}' is a {persona.role}, not a {agent.role}",
            )
        if agent.model not in scenario.models:
            raise fail(
                ["agents", index, "model"],
                f"unknown model{did_you_mean(agent.model, scenario.models)}; "
                "declare it under models:",
            )
        model = scenario.models[agent.model]
        takes_tools = not isinstance(model, OpenAIModelSettings) or model.tool_calling
        if persona.tool_rounds and not takes_tools:
            raise fail(
                ["agents", index, "model"],
                f"persona '{agent.persona}' checks with tools (tool_rounds: "
                f"{persona.tool_rounds}) but model '{agent.model}' has tool_calling: false; "
                "pick a model that takes tools or a persona without tool_rounds",
            )
    roles = Counter(agent.role for agent in scenario.agents for _ in range(agent.count))
    for role in ROLES_NEEDED:
        if roles[role] == 0:
            raise fail(["agents"], f"no {role}: a run needs at least one agent with role: {role}")
    jurors = roles["juror"]
    if scenario.consensus.rule == "k_of_n" and (scenario.consensus.k or 0) > jurors:
        raise fail(
            ["consensus", "k"], f"k is {scenario.consensus.k} but there are only {jurors} jurors"
        )
    if (scenario.consensus.quorum or 0) > jurors:
        raise fail(
            ["consensus", "quorum"],
            f"quorum is {scenario.consensus.quorum} but there are only {jurors} jurors",
        )
    real_jurors, simulated_jurors, real_questioners = _jury_mix(scenario)
    quorum = scenario.consensus.quorum_of(jurors)
    if real_questioners and simulated_jurors and real_jurors < quorum:
        raise fail(
            ["agents"],
            f"questioner {real_questioners[0]} is a real model, but only {real_jurors} of "
            f"{jurors} jurors are: simulated jurors abstain on questions a real model writes, "
            f"and a verdict needs {quorum} votes (consensus.quorum), so every such question "
            "would be undecided; put more jurors on real models or lower consensus.quorum",
        )
    if scenario.budget is not None:
        for name, model in scenario.models.items():
            if not isinstance(model, OpenAIModelSettings):
                continue
            floor = model.max_tokens * model.price.output_per_mtok / 1_000_000
            if floor > scenario.budget.usd:
                raise fail(
                    ["budget", "usd"],
                    f"{scenario.budget.usd:g} is below the worst case of a single call to "
                    f"{name} (max_tokens {model.max_tokens} at "
                    f"${model.price.output_per_mtok:g}/Mtok = ${floor:.4f}); raise the budget "
                    "or lower max_tokens",
                )
    juror_personas = {a.persona for a in scenario.agents if a.role == "juror"}
    cascade = scenario.consensus
    staged: dict[str, str] = {}
    for key in ("first", "then"):
        for index, persona in enumerate(getattr(cascade, key) or []):
            if persona not in juror_personas:
                raise fail(
                    ["consensus", key, index],
                    f"not a juror persona of this scenario:{did_you_mean(persona, juror_personas)}",
                )
            if persona in staged:
                raise fail(
                    ["consensus", key, index],
                    f"'{persona}' is already in consensus.{staged[persona]}",
                )
            staged[persona] = key
    if cascade.rule == "cascade" and cascade.then is not None:
        missing = sorted(juror_personas - set(staged))
        if missing:
            raise fail(
                ["consensus", "then"],
                f"juror persona '{missing[0]}' is in neither first nor then; a cascade "
                "calls every juror at some stage",
            )
    if scenario.difficulty is not None:
        _check_difficulty(scenario, scenario.difficulty, personas, fail)
    tiebreaker = scenario.consensus.tiebreaker
    if tiebreaker is not None and tiebreaker not in juror_personas:
        raise fail(
            ["consensus", "tiebreaker"],
            f"tiebreaker{did_you_mean(tiebreaker, juror_personas)} is not a juror "
            "persona of this scenario",
        )


Fail = Callable[[list[int | str], str], UserInputError]


def check_pick(
    pick: SolverPick | GraderPick,
    role: Role,
    where: list[int | str],
    personas: dict[str, Persona],
    models: dict[str, ModelSettings],
    fail: Fail,
) -> None:
    """A solver's or grader's persona exists and has that role, and its model is declared."""
    if pick.persona not in personas:
        raise fail(
            [*where, "persona"],
            f"unknown persona{did_you_mean(pick.persona, personas)}; define it under "
            "personas: or in personas_dir, or pick one from python run.py personas",
        )
    if personas[pick.persona].role != role:
        raise fail(
            [*where, "persona"],
            f"persona '{pick.persona}' is a {personas[pick.persona].role}, not a {role}",
        )
    if pick.model not in models:
        raise fail(
            [*where, "model"],
            f"unknown model{did_you_mean(pick.model, models)}; declare it under models:",
        )


def _check_difficulty(
    scenario: Scenario,
    difficulty: DifficultySettings,
    personas: dict[str, Persona],
    fail: Fail,
) -> None:
    picks: list[tuple[list[int | str], SolverPick | GraderPick, Role]] = [
        (["difficulty", "solver"], difficulty.solver, "solver")
    ]
    picks += [(["difficulty", "graders", i], g, "grader") for i, g in enumerate(difficulty.graders)]
    for where, pick, role in picks:
        check_pick(pick, role, where, personas, scenario.models, fail)
    model = scenario.models[difficulty.solver.model]
    if isinstance(model, OpenAIModelSettings) and not model.vision:
        raise fail(
            ["difficulty", "solver", "model"],
            f"the difficulty solver answers from the image too, but model "
            f"'{difficulty.solver.model}' has no vision: true",
        )
    jury = sum(g.count for g in difficulty.graders)
    if (difficulty.consensus.quorum or 0) > jury or (difficulty.consensus.k or 0) > jury:
        raise fail(["difficulty", "consensus"], f"asks for more votes than its {jury} graders")
