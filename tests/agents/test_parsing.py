import json

import pytest

from agents.generator import parse_tables
from agents.inspirer import parse_inspiration
from agents.juror import parse_verdict
from agents.parsing import OutputParseError, extract_json, extract_latex_documents
from agents.questioner import parse_questions

DOC = r"\documentclass{article}\begin{document}\begin{tabular}{l}a\\\end{tabular}\end{document}"


@pytest.mark.parametrize(
    "text",
    [
        '{"verdict": "accept"}',
        'Sure!\n```json\n{"verdict": "accept"}\n```\nHope this helps.',
        '<think>the answer is 3, so {"verdict": "reject"} is wrong</think>\n{"verdict": "accept"}',
        'My judgement follows. {"verdict": "accept", "rationale": "ok"} Thanks.',
        '```\n{"verdict": "accept"}\n```',
    ],
)
def test_json_found_in_the_ugly_variants(text: str) -> None:
    assert extract_json(text)["verdict"] == "accept"


@pytest.mark.parametrize(
    "text",
    [
        "{'verdict': 'accept', 'rationale': 'sums match',}",  # single quotes, trailing comma
        '{verdict: "accept", rationale: "ok"}',  # keys unquoted
        '{"verdict": accept}',  # a bare word
        '```json\n{"verdict": "accept",\n',  # closing brace and fence missing
    ],
)
def test_json_as_models_get_it_wrong_is_repaired_not_re_asked(text: str) -> None:
    assert extract_json(text)["verdict"] == "accept"


def test_a_repaired_list_keeps_its_items() -> None:
    text = '[{"question": "Total?", "answer": "12",}, {"question": "Max?", "answer": "9"},]'
    assert [q["answer"] for q in parse_questions(text)] == ["12", "9"]


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("Thinking.\nVerdict: {", r"invalid JSON: .* at line 2 \(the line: 'Verdict: \{'\)"),
        ("I will answer in the next message.", "no JSON"),
        ('<think>still thinking {"verdict": "accept"}', "no JSON"),
    ],
)
def test_json_errors_say_what_is_wrong(text: str, fragment: str) -> None:
    with pytest.raises(OutputParseError, match=fragment):
        extract_json(text)


@pytest.mark.parametrize(
    "text",
    [
        f"```latex\n{DOC}\n```",
        f"Here you go:\n```tex\n{DOC}\n```",
        f"{DOC}",
        f"<think>draft</think>```\n{DOC}\n```",
    ],
)
def test_latex_documents_found(text: str) -> None:
    assert extract_latex_documents(text) == [DOC]


def test_unclosed_latex_fence_is_an_error() -> None:
    with pytest.raises(OutputParseError, match="never closed"):
        extract_latex_documents("```latex\n\\documentclass{article}\\begin{document}")


def test_generator_wants_the_number_of_tables_asked_for() -> None:
    text = f"```latex\n{DOC}\n```\n```latex\n{DOC}\n```"
    assert len(parse_tables(2)(text)) == 2
    with pytest.raises(OutputParseError, match="expected 3"):
        parse_tables(3)(text)


def test_questions_are_validated_item_by_item() -> None:
    good = '[{"question": "Q?", "answer": "4", "reasoning": "2+2", "kind": "Aggregate"}]'
    assert parse_questions(good)[0]["kind"] == "aggregate"
    with pytest.raises(OutputParseError, match="item 0 lacks answer"):
        parse_questions('[{"question": "Q?"}]')


@pytest.mark.parametrize(
    "raw, accepted", [("accept", True), ("Yes", True), ("reject", False), ("NO", False)]
)
def test_verdict_words(raw: str, accepted: bool) -> None:
    assert parse_verdict(f'{{"verdict": "{raw}"}}').accept is accepted


def test_verdict_must_be_a_known_word() -> None:
    with pytest.raises(OutputParseError, match="must be"):
        parse_verdict('{"verdict": "maybe"}')


def test_inspiration_needs_topics() -> None:
    with pytest.raises(OutputParseError, match="topics"):
        parse_inspiration('{"domain": "x", "topics": []}')
    domain, topics, recipe = parse_inspiration(
        '{"domain": "sport", "topics": ["a"], "recipe": {"rows": 7}}'
    )
    assert (domain, topics, recipe.rows) == ("sport", ("a",), 7)


JSON_ESCAPED = json.dumps(DOC)[1:-1]  # what a model writes when it puts LaTeX in a JSON string


@pytest.mark.parametrize(
    "text",
    [
        '{"table_1": "BEGIN_LATEX ' + JSON_ESCAPED + ' END_LATEX"}',
        "Here is the table.\nBEGIN_LATEX\n" + DOC + "\nEND_LATEX\n",
        '{"table_1": "' + JSON_ESCAPED + '"}',
        "```latex\n" + JSON_ESCAPED + "\n```",
        JSON_ESCAPED,
        '<think>\\documentclass is needed</think>{"table_1": "BEGIN_LATEX '
        + JSON_ESCAPED
        + ' END_LATEX"}',
    ],
)
def test_latex_found_in_the_reference_and_json_escaped_forms(text: str) -> None:
    assert extract_latex_documents(text) == [DOC]


def test_json_escaping_with_newlines_is_undone() -> None:
    document = "\\documentclass{article}\n\\newcommand{\\x}{1}\n\\begin{document}\n" + (
        "\\begin{tabular}{ll}\na & b\\\\\n\\hline\n\\end{tabular}\n\\end{document}"
    )
    assert extract_latex_documents(json.dumps({"table_1": document})) == [document]
    assert extract_latex_documents("```latex\n" + json.dumps(document)[1:-1] + "\n```") == [
        document
    ]


def test_real_latex_with_row_breaks_is_left_alone() -> None:
    document = (
        r"\documentclass{article}\begin{document}\begin{tabular}{l}a\\\hline b\\\end{tabular}"
        r"\end{document}"
    )
    assert extract_latex_documents(f"```latex\n{document}\n```") == [document]


def test_questions_under_the_keys_models_actually_use() -> None:
    text = json.dumps(
        [
            {"Question": "Which is largest?", "final_answer": "Elm", "steps": ["a", "b"]},
            {"q": "How many rows?", "Answer": 7, "type": "Structural"},
        ]
    )
    first, second = parse_questions(text)
    assert first == {
        "question": "Which is largest?",
        "answer": "Elm",
        "reasoning": "a\nb",
        "kind": "lookup",  # no kind given
    }
    assert (second["answer"], second["kind"]) == ("7", "structural")


@pytest.mark.parametrize("word, accepted", [("Accepted.", True), ("REJECTED", False)])
def test_verdict_words_with_case_and_punctuation(word: str, accepted: bool) -> None:
    assert parse_verdict(json.dumps({"verdict": word})).accept is accepted


def test_inspiration_topics_as_objects_and_rows_out_of_range() -> None:
    text = json.dumps(
        {
            "domain": "energy",
            "topics": [{"title": "Wind output"}, "Grid outages"],
            "recipe": {"rows": 60, "striped": True, "colour": "blue"},
        }
    )
    domain, topics, recipe = parse_inspiration(text)
    assert domain == "energy"
    assert topics == ("Wind output", "Grid outages")
    assert recipe.rows == 40 and recipe.striped
