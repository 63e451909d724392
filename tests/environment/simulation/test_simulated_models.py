"""Each simulated role writes what a good LLM would; its output goes through the real parsers."""

from __future__ import annotations

import json

import pytest

from agents.generator import parse_tables
from agents.inspirer import INSPIRATION_SCHEMA, parse_inspiration
from agents.juror import VERDICT_SCHEMA, parse_verdict
from agents.questioner import QUESTIONS_SCHEMA, parse_questions
from environment.config.personas import Behaviour, Faults, Persona
from environment.core.messages import Recipe
from environment.core.randomness import derive
from environment.models.protocol import (
    ChatMessage,
    GeneratorInputs,
    InspirerInputs,
    JurorInputs,
    ModelRequest,
    QuestionerInputs,
    RepairInputs,
    ResponseSchema,
)
from environment.simulation.generator import break_latex, design_table
from environment.simulation.model import SimulatedModel
from environment.simulation.oracle import Oracle
from environment.simulation.reasoning import QuestionSpec, solve
from environment.simulation.table_reading import read_table
from environment.simulation.topic_bank import DOMAINS, all_subjects
from renderers.chromium import ChromiumRenderer
from renderers.errors import LatexRenderError
from renderers.grid import GridCell
from renderers.latex_html import translate

FAULTLESS = Behaviour(faults=Faults())
PROMPT = (ChatMessage(role="user", content="see inputs"),)


def request(
    inputs: object,
    behaviour: Behaviour = FAULTLESS,
    attempt: int = 1,
    schema: ResponseSchema | None = None,
) -> ModelRequest:
    return ModelRequest(
        agent="tester",
        request_id="r1",
        messages=PROMPT,
        inputs=inputs,
        behaviour=behaviour,
        attempt=attempt,
        response_schema=schema,
    )  # type: ignore[arg-type]


def judging(grid: tuple[GridCell, ...], question: str, answer: str, reasoning: str) -> JurorInputs:
    """A juror's task about table t1."""
    return JurorInputs(
        latex="",
        qa_id="q",
        table_id="t1",
        topic="Topic",
        grid=grid,
        question=question,
        answer=answer,
        reasoning=reasoning,
    )


def test_topic_bank_is_broad() -> None:
    subjects = all_subjects()
    assert len(DOMAINS) >= 15
    assert len(set(subjects)) >= 300
    assert {"finance", "health", "sport", "climate", "logistics", "education"} <= {
        d.name for d in DOMAINS
    }


async def test_inspirer_output_parses() -> None:
    model = SimulatedModel("m", 1.0, 3, Oracle())
    completion = await model.complete(request(InspirerInputs(inspiration_id="i1", topics_wanted=3)))
    domain, topics, recipe = parse_inspiration(completion.text)
    assert domain in {d.name for d in DOMAINS} and len(topics) == 3 and 5 <= recipe.rows <= 25


RECIPES = [
    Recipe(rows=6),
    Recipe(
        rows=12,
        grouped_header=True,
        row_groups=True,
        striped=True,
        highlights=2,
        totals_row=True,
        footnote=True,
        uncertainty=True,
    ),
    Recipe(rows=9, ruled_grid=True, highlights=3, totals_row=True),
    Recipe(rows=20, row_groups=True, ruled_grid=True, grouped_header=True, striped=True),
]


@pytest.mark.parametrize("recipe", RECIPES)
def test_generated_documents_translate_and_vary(recipe: Recipe) -> None:
    documents = set()
    for seed in range(12):
        rng = derive(seed, "test")
        domain = DOMAINS[seed % len(DOMAINS)]
        document = design_table(domain, "A topic", recipe, Behaviour(complexity=0.7), rng)
        assert document.startswith("\\documentclass") and "\\end{document}" in document
        translation = translate(document, strict=True)  # raises on anything refused
        assert translation.warnings == [], translation.warnings
        documents.add(document)
        with pytest.raises(LatexRenderError) as caught:
            translate(break_latex(document, rng), strict=True)
        assert caught.value.problem.message
    assert len(documents) == 12


async def test_generator_output_parses_and_repair_fixes_the_fault() -> None:
    behaviour = Behaviour(faults=Faults(broken_latex=1.0))
    model = SimulatedModel("m", 1.0, 5, Oracle())
    inputs = GeneratorInputs(
        inspiration_id="i1", domain="sport", topics=("a", "b"), recipe=RECIPES[1], tables_wanted=2
    )
    completion = await model.complete(request(inputs, behaviour))
    documents = parse_tables(2)(completion.text)
    for document in documents:
        with pytest.raises(LatexRenderError) as caught:
            translate(document, strict=True)
        repaired = await model.complete(
            request(
                RepairInputs(
                    table_id="t", latex=document, error=caught.value.problem.describe(), attempt=1
                )
            )
        )
        fixed = parse_tables(1)(repaired.text)[0]
        translate(fixed, strict=True)


async def grid_for(renderer: ChromiumRenderer, recipe: Recipe, seed: int) -> tuple[GridCell, ...]:
    document = design_table(
        DOMAINS[seed % len(DOMAINS)],
        "Topic",
        recipe,
        Behaviour(complexity=0.7),
        derive(seed, "grid"),
    )
    result = await renderer.render(document)
    return result.grid


@pytest.mark.parametrize("recipe_index", range(len(RECIPES)))
async def test_questions_are_right_and_jurors_agree(
    renderer: ChromiumRenderer, recipe_index: int
) -> None:
    oracle = Oracle()
    model = SimulatedModel("m", 1.0, 11, oracle)
    grid = await grid_for(renderer, RECIPES[recipe_index], recipe_index)
    completion = await model.complete(
        request(
            QuestionerInputs(table_id="t1", topic="Topic", latex="", grid=grid, questions_wanted=6)
        )
    )
    pairs = parse_questions(completion.text)
    assert len(pairs) == 6
    assert len({p["kind"] for p in pairs}) >= 3
    strict = Behaviour(false_accept=0.0, false_reject=0.0, faults=Faults())
    for pair in pairs:
        assert pair["reasoning"].startswith("Step 1:")
        truth = oracle.judge("t1", grid, pair["question"], pair["answer"])
        assert truth is not None and truth.valid, pair
        vote = await model.complete(
            request(
                judging(grid, pair["question"], pair["answer"], pair["reasoning"]),
                strict,
            )
        )
        assert parse_verdict(vote.text).accept


async def test_wrong_answers_are_caught_by_a_strict_juror(renderer: ChromiumRenderer) -> None:
    oracle = Oracle()
    model = SimulatedModel("m", 1.0, 13, oracle)
    grid = await grid_for(renderer, RECIPES[1], 3)
    sloppy = Behaviour(faults=Faults(wrong_answer=1.0))
    completion = await model.complete(
        request(
            QuestionerInputs(table_id="t1", topic="Topic", latex="", grid=grid, questions_wanted=4),
            sloppy,
        )
    )
    strict = Behaviour(false_accept=0.0, false_reject=0.0, faults=Faults())
    for pair in parse_questions(completion.text):
        vote = await model.complete(
            request(
                judging(grid, pair["question"], pair["answer"], pair["reasoning"]),
                strict,
            )
        )
        verdict = parse_verdict(vote.text)
        assert not verdict.accept and verdict.failed_criterion == "the answer is valid"


def test_reasoning_on_a_known_grid() -> None:
    texts = [
        ["Team", "Wins", "Goals"],
        ["Falcons", "12", "40"],
        ["Comets", "7", "52"],
        ["Wolves", "9", "31"],
        ["Total", "28", "123"],
    ]
    grid = tuple(
        GridCell(row=r, col=c, text=t) for r, row in enumerate(texts) for c, t in enumerate(row)
    )
    view = read_table(grid)
    assert view is not None and [r.label for r in view.summary_rows] == ["Total"]
    total = solve(QuestionSpec("aggregate", column=1, operation="sum"), view)
    assert total is not None and total.answer == "28"
    hop = solve(QuestionSpec("multi_hop", column=2, column2=1, direction="highest"), view)
    assert hop is not None and hop.answer == "7"
    count = solve(QuestionSpec("conditional_count", column=2, threshold=35), view)
    assert count is not None and count.answer == "2"
    change = solve(QuestionSpec("percentage", column=1, first="Falcons", second="Comets"), view)
    assert change is not None and change.answer == "+71.4%"


def test_personas_load(personas: dict[str, Persona]) -> None:
    assert {"cartographer", "analyst", "puzzle-setter", "auditor", "skimmer", "pedant"} <= set(
        personas
    )


async def test_a_simulated_juror_abstains_on_a_question_it_has_no_truth_for(
    renderer: ChromiumRenderer,
) -> None:
    # A real questioner's question: voting on its form alone let wrong answers in.
    model = SimulatedModel("m", 1.0, 13, Oracle())
    grid = await grid_for(renderer, RECIPES[1], 3)
    vote = await model.complete(
        request(
            judging(grid, "What is the average number of employees per facility?", "225", ""),
            Behaviour(false_accept=0.0, false_reject=0.0, faults=Faults()),
        )
    )
    verdict = parse_verdict(vote.text)
    assert verdict.accept is None and verdict.rationale.startswith("abstained")


@pytest.mark.parametrize("structured", [True, False])
async def test_json_replies_fit_the_role_schema_bare_or_come_fenced_after_prose(
    renderer: ChromiumRenderer, structured: bool
) -> None:
    """A simulated model honours a request's schema as constrained decoding would (bare
    JSON in the schema's shape), or writes as a model asked in words only."""
    oracle = Oracle()
    model = SimulatedModel("m", 1.0, 17, oracle, structured_output=structured)
    grid = await grid_for(renderer, RECIPES[2], 5)
    sloppy = Behaviour(faults=Faults(wrong_answer=0.5))
    replies = [
        (
            INSPIRATION_SCHEMA,
            await model.complete(
                request(
                    InspirerInputs(inspiration_id="i1", topics_wanted=2), schema=INSPIRATION_SCHEMA
                )
            ),
        )
    ]
    questions = await model.complete(
        request(
            QuestionerInputs(table_id="t1", topic="T", latex="", grid=grid, questions_wanted=5),
            sloppy,
            schema=QUESTIONS_SCHEMA,
        )
    )
    replies.append((QUESTIONS_SCHEMA, questions))
    pairs = parse_questions(questions.text)
    asked = [(p["question"], p["answer"]) for p in pairs] + [("How tall is the moon?", "3")]
    for question, answer in asked:  # right, wrong and unknown to the oracle: all three shapes
        vote = await model.complete(
            request(judging(grid, question, answer, ""), FAULTLESS, schema=VERDICT_SCHEMA)
        )
        replies.append((VERDICT_SCHEMA, vote))
    verdicts = [parse_verdict(vote.text).accept for _, vote in replies[2:]]
    assert {True, False, None} <= set(verdicts), verdicts
    for schema, reply in replies:
        if structured:
            assert reply.text.startswith("{"), reply.text[:80]
            assert schema.violations(json.loads(reply.text)) == []
        else:
            assert "```json\n" in reply.text and not reply.text.startswith("{")


def test_schema_violations_name_each_way_a_reply_breaks_its_schema() -> None:
    reply = {
        "verdict": "maybe",
        "failed_criterion": True,
        "rationale": "ok",
        "confidence": 0.9,
    }
    assert sorted(VERDICT_SCHEMA.violations(reply)) == [
        "$.failed_criterion: bool, not integer|null",
        "$.verdict: 'maybe' not in ['accept', 'reject', 'abstain']",
        "$: extra confidence",
    ]
    shaped = {"questions": [{"question": "q", "reasoning": "r", "answer": "a"}]}
    assert QUESTIONS_SCHEMA.violations(shaped) == ["$.questions[0]: lacks kind"]


async def test_simulated_jurors_err_together_on_hard_pairs(renderer: ChromiumRenderer) -> None:
    """Mistakes cluster on the same pairs, as real judges' do, at each juror's own rate."""
    from environment.simulation.juror import hardness

    oracle = Oracle()
    model = SimulatedModel("m", 1.0, 13, oracle)
    grid = await grid_for(renderer, RECIPES[1], 3)
    wrong = Behaviour(faults=Faults(wrong_answer=1.0))
    asked = QuestionerInputs(table_id="t1", topic="Topic", latex="", grid=grid, questions_wanted=6)
    pairs = parse_questions((await model.complete(request(asked, wrong))).text)
    lenient = Behaviour(false_accept=0.3, false_reject=0.0, faults=Faults())
    accepted: dict[str, float] = {}
    for pair in pairs:
        votes = []
        for juror in range(60):
            judged = ModelRequest(
                agent=f"juror-{juror}",
                request_id=f"judge:{pair['question']}",
                messages=PROMPT,
                inputs=judging(grid, pair["question"], pair["answer"], pair["reasoning"]),
                behaviour=lenient,
                attempt=1,
            )  # type: ignore[arg-type]
            votes.append(parse_verdict((await model.complete(judged)).text).accept)
        accepted[pair["question"]] = sum(bool(v) for v in votes) / len(votes)
    by_hardness = sorted(
        accepted,
        key=lambda q: hardness("t1", q, next(p["answer"] for p in pairs if p["question"] == q)),
    )
    easiest, hardest = accepted[by_hardness[0]], accepted[by_hardness[-1]]
    assert hardest > easiest + 0.2, accepted
    assert 0.0 <= hardness("t1", "q", "a") < 1.0
    assert hardness("t1", "q", "a") == hardness("t1", "q", "a")  # the same for every juror
