"""Role names (as scenario files spell them) → how to build that agent, and what it hears.

Scenario files name roles; this table turns a name into a constructor. Never import-by-string.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from agents.base import AgentModel, RoleAgent, TableView
from agents.curator import Curator
from agents.generator import Generator
from agents.grader import Grader
from agents.inspirer import Inspirer
from agents.juror import Juror
from agents.questioner import Questioner
from agents.solver import Solver
from environment.config.eval_scenario import EvalScenario, grader_names, solver_names
from environment.config.personas import Persona
from environment.config.scenario import Scenario
from environment.core.messages import QARecord
from environment.core.reliability import RunningReliability
from environment.core.world import Participant
from environment.models.assembly import ModelShop, model_for_agent


@dataclass(frozen=True)
class Knobs:
    """Scenario settings some roles need at construction."""

    tables_per_call: int
    qa_per_table: int
    max_repairs: int
    question_similarity: float = 0.95
    table_view: TableView = "latex"  # what a questioner or juror is shown of a table
    seed: int = 0
    first_stage: frozenset[str] = frozenset()  # juror personas that vote unasked


Builder = Callable[[str, Persona, AgentModel, Knobs], RoleAgent]

ROLE_BUILDERS: dict[str, Builder] = {
    "inspirer": lambda name, persona, model, knobs: Inspirer(name, persona, model, knobs.seed),
    "generator": lambda name, persona, model, knobs: Generator(
        name, persona, model, knobs.tables_per_call, knobs.max_repairs
    ),
    "questioner": lambda name, persona, model, knobs: Questioner(
        name, persona, model, knobs.qa_per_table, knobs.question_similarity, knobs.table_view
    ),
    "juror": lambda name, persona, model, knobs: Juror(
        name, persona, model, knobs.table_view, persona.name in knobs.first_stage
    ),
}


def build_participants(
    scenario: Scenario,
    personas: dict[str, Persona],
    shop: ModelShop,
    earlier: Iterable[QARecord] = (),
) -> list[Participant]:
    """Each agent the scenario asks for (numbered when there are several), on its model,
    and the curator that counts the jurors' votes (`earlier`: a resumed run's records,
    which the weighted rule learns from as it did when it judged them)."""
    participants: list[Participant] = []
    used: set[str] = set()
    jurors: dict[str, str] = {}  # name → persona
    consensus = scenario.consensus
    stages = consensus.stages([a.persona for a in scenario.agents if a.role == "juror"])
    for settings in scenario.agents:
        persona = personas[settings.persona]
        for index in range(1, settings.count + 1):
            name = settings.persona if settings.count == 1 else f"{settings.persona}-{index}"
            while name in used:
                name += "x"
            used.add(name)
            model, table_view = model_for_agent(scenario, shop, settings.model, settings.role)
            knobs = Knobs(
                scenario.tables_per_call,
                scenario.qa_per_table,
                scenario.max_repairs,
                scenario.dedup.question_similarity,
                table_view,
                scenario.seed,
                frozenset(stages[0]),
            )
            agent = ROLE_BUILDERS[settings.role](name, persona, model, knobs)
            if settings.role == "juror":
                jurors[name] = persona.name
            participants.append(Participant(agent, settings.role, persona.name))
    reliability = None
    if consensus.rule == "weighted":
        reliability = RunningReliability(scenario.max_inflight, consensus.weights_after)
        for record in earlier:
            reliability.add(record.seq, {record.qa_id: {v.juror: v.verdict for v in record.votes}})
    curator = Curator(
        "curator",
        list(jurors),
        # A cascade's escalated pairs: the majority of every vote cast on them.
        "majority" if consensus.rule == "cascade" else consensus.rule,
        consensus.k,
        consensus.tiebreaker,
        consensus.quorum_of(len(jurors)),
        [[name for name, persona in jurors.items() if persona in stage] for stage in stages],
        reliability,
    )
    participants.append(Participant(curator, "curator", "curator"))
    return participants


def build_eval_participants(
    scenario: EvalScenario, personas: dict[str, Persona], shop: ModelShop
) -> list[Participant]:
    """The eval scenario's solvers (each reading its views) and graders, on their models."""
    participants: list[Participant] = []
    for name, settings in zip(solver_names(scenario), scenario.solvers, strict=True):
        model, _ = model_for_agent(scenario, shop, settings.model, "solver")
        solver = Solver(name, personas[settings.persona], model, settings.views)
        participants.append(Participant(solver, "solver", settings.persona))
    for grading, names in zip(scenario.graders, grader_names(scenario), strict=True):
        for name in names:
            model, _ = model_for_agent(scenario, shop, grading.model, "grader")
            grader = Grader(name, personas[grading.persona], model)
            participants.append(Participant(grader, "grader", grading.persona))
    return participants
