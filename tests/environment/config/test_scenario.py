import subprocess
import sys
from pathlib import Path

import pytest

from environment.config.personas import Persona
from environment.config.scenario import load_scenario, scenario_warnings
from environment.errors import UserInputError
from tests.conftest import ROOT, SCENARIO

LIBRARY = ROOT / "agents" / "personas"


def scenario_text(**replace: str) -> str:
    text = SCENARIO.format(seed=7, target=5, output="out")
    for old, new in replace.items():
        assert old in text
        text = text.replace(old, new)
    return text


def load(tmp_path: Path, text: str, personas: dict[str, Persona]) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    load_scenario(path, LIBRARY)


def test_quickstart_is_valid(personas: dict[str, Persona]) -> None:
    scenario = load_scenario(ROOT / "scenarios" / "quickstart.yaml", LIBRARY).scenario
    assert scenario.target.accepted_qa == 30 and scenario.consensus.tiebreaker == "auditor"


@pytest.mark.parametrize(
    "replace, expected",
    [
        (
            {"tables_per_call: 2": "tables_per_cal: 2"},
            r"s\.yaml:16: tables_per_cal: unknown key 'tables_per_cal' "
            r"\(did you mean 'tables_per_call'\?\)",
        ),
        ({"seed: 7": "seed: seven"}, r"s\.yaml:2: seed: .*integer.*'seven'"),
        (
            {"persona: pedant": "persona: pedantic"},
            r"s\.yaml:14: agents\.5\.persona: unknown persona 'pedantic' "
            r"\(did you mean 'pedant'\?\)",
        ),
        (
            {"persona: skimmer, model: sim-sloppy": "persona: skimmer, model: sim-slopy"},
            r"s\.yaml:13: agents\.4\.model: unknown model 'sim-slopy' "
            r"\(did you mean 'sim-sloppy'\?\)",
        ),
        (
            {"consensus: {rule: majority, tiebreaker: auditor}": "consensus: {rule: k_of_n, k: 4}"},
            r"s\.yaml:15: consensus\.k: k is 4 but there are only 3 jurors",
        ),
        (
            {"tiebreaker: auditor": "tiebreaker: analyst"},
            r"consensus\.tiebreaker: tiebreaker 'analyst' is not a juror persona",
        ),
        (
            {"  - {role: questioner, persona: puzzle-setter, model: sim-careful}\n": ""},
            r"agents: no questioner",
        ),
        (
            {"role: juror, persona: auditor": "role: juror, persona: analyst"},
            r"persona 'analyst' is a generator, not a juror",
        ),
        ({"target: {accepted_qa: 5}": "target: {accepted_qa: 5"}, r"s\.yaml:\d+: invalid YAML"),
        (
            {"skill: 0.95}": "skill: 2}"},
            r"models\.sim-careful\.skill: .*less than or equal to 1",
        ),
        # A misspelt required key is named as written, with the key it was meant to be.
        ({"agents:\n": "agnets:\n"}, r"s\.yaml:\d+: agnets: unknown key 'agnets' \(did you mean"),
        (
            {"role: juror, persona: auditor": "rol: juror, persona: auditor"},
            r"agents\.3\.rol: unknown key 'rol' \(did you mean 'role'\?\)",
        ),
    ],
)
def test_bad_scenarios_name_file_line_and_key(
    tmp_path: Path, personas: dict[str, Persona], replace: dict[str, str], expected: str
) -> None:
    with pytest.raises(UserInputError, match=expected):
        load(tmp_path, scenario_text(**replace), personas)


def test_cli_exits_2_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(scenario_text(**{"tables_per_call: 2": "tables_per_cal: 2"}))
    result = subprocess.run(
        [sys.executable, str(ROOT / "run.py"), str(path), "--quiet"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().startswith("error: ")
    assert "did you mean 'tables_per_call'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_missing_scenario_file(tmp_path: Path, personas: dict[str, Persona]) -> None:
    with pytest.raises(UserInputError, match="file not found"):
        load_scenario(tmp_path / "nope.yaml", LIBRARY)


ENDPOINT = """  judge:
    kind: openai
    base_url: http://127.0.0.1:8000/v1
    model: qwen2.5-72b
    price: {input_per_mtok: 1.0, output_per_mtok: 10.0}
"""


@pytest.mark.parametrize(
    "endpoint_line, expected",
    [
        ("    rpmm: 30\n", r"models\.judge\.rpmm: unknown key 'rpmm' \(did you mean 'rpm'\?\)"),
        ("    api_key: sk-live-123456\n", r"models\.judge\.api_key: never put a key in a"),
        ("    api_key_env: sk-live-123456\n", r"models\.judge\.api_key_env: .*names an env"),
        ("    table_input: image\n", r"models\.judge: .*table_input: image needs vision: true"),
        ("    concurrency: 0\n", r"models\.judge\.concurrency: .*greater than or equal to 1"),
        ("    kind: openia\n", r"models\.judge\.kind: unknown kind 'openia'; known:"),
    ],
)
def test_endpoint_settings_errors_name_the_key_and_never_echo_a_key(
    tmp_path: Path, personas: dict[str, Persona], endpoint_line: str, expected: str
) -> None:
    block = ENDPOINT + endpoint_line
    if "kind: openia" in endpoint_line:
        block = ENDPOINT.replace("kind: openai", "kind: openia")
    text = scenario_text(**{"models:\n": "models:\n" + block})
    with pytest.raises(UserInputError, match=expected) as error:
        load(tmp_path, text, personas)
    assert "sk-live" not in str(error.value)


def test_a_budget_below_one_call_is_refused(tmp_path: Path, personas: dict[str, Persona]) -> None:
    text = scenario_text(**{"models:\n": "models:\n" + ENDPOINT}) + "budget: {usd: 0.01}\n"
    with pytest.raises(UserInputError, match=r"budget\.usd: 0\.01 is below the worst case .*judge"):
        load(tmp_path, text, personas)


@pytest.mark.parametrize(
    "extra, expected",
    [
        ("seed: 8\n", r"s\.yaml:\d+: seed: duplicate key \(first on line 2\); keep one"),
        (
            "notes: &n [1, 2]\nmore: *n\n",
            r"s\.yaml:\d+: YAML anchors and aliases .* are not allowed",
        ),
        (
            'a: &a ["lol","lol","lol"]\nb: &b [*a,*a,*a]\nc: [*b,*b,*b]\n',
            r"YAML anchors and aliases",
        ),
    ],
    ids=["duplicate", "alias", "billion-laughs"],
)
def test_duplicate_keys_and_aliases_are_refused_naming_the_line(
    tmp_path: Path, personas: dict[str, Persona], extra: str, expected: str
) -> None:
    with pytest.raises(UserInputError, match=expected):
        load(tmp_path, scenario_text() + extra, personas)


def test_deep_yaml_and_huge_files_are_refused(tmp_path: Path, personas: dict[str, Persona]) -> None:
    with pytest.raises(UserInputError, match=r"nested too deeply|invalid YAML"):
        load(tmp_path, scenario_text() + "deep: " + "[" * 5000 + "]" * 5000 + "\n", personas)
    with pytest.raises(UserInputError, match="is not a scenario"):
        load(tmp_path, scenario_text() + "# " + "x" * 1_100_000 + "\n", personas)


@pytest.mark.parametrize(
    "flag, value", [("--target", "99999999999999999999"), ("--target", "0"), ("--seed", "-1")]
)
def test_overrides_obey_the_schema_bounds(tmp_path: Path, flag: str, value: str) -> None:
    out = tmp_path / "run"
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "run.py"),
            str(ROOT / "scenarios" / "quickstart.yaml"),
            flag,
            value,
            "--quiet",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().startswith(f"error: {flag}:")
    assert "Traceback" not in result.stderr and not out.exists()


def test_a_jury_that_can_never_reach_its_quorum_on_real_questions_is_refused(
    tmp_path: Path, personas: dict[str, Persona]
) -> None:
    real_questioner = scenario_text(
        **{
            "models:\n": "models:\n" + ENDPOINT,
            "role: questioner, persona: puzzle-setter, model: sim-careful": (
                "role: questioner, persona: puzzle-setter, model: judge"
            ),
            "role: juror, persona: auditor, model: sim-careful": (
                "role: juror, persona: auditor, model: judge"
            ),
        }
    )
    # One real juror of three, quorum 2 (a majority): the simulated two abstain.
    with pytest.raises(UserInputError, match=r"agents: questioner judge is a real model.*quorum"):
        load(tmp_path, real_questioner, personas)
    # With a quorum of one it loads, and the warning says who decides.
    lowered = real_questioner.replace("tiebreaker: auditor}", "tiebreaker: auditor, quorum: 1}")
    path = tmp_path / "lowered.yaml"
    path.write_text(lowered)
    warnings = scenario_warnings(load_scenario(path, LIBRARY).scenario)
    assert len(warnings) == 1 and "2 simulated juror(s)" in warnings[0]
    assert "the 1 real juror(s) alone (quorum 1)" in warnings[0]


def test_a_quorum_larger_than_the_jury_is_refused(
    tmp_path: Path, personas: dict[str, Persona]
) -> None:
    text = scenario_text(**{"tiebreaker: auditor}": "tiebreaker: auditor, quorum: 4}"})
    with pytest.raises(
        UserInputError, match=r"consensus\.quorum: quorum is 4 but there are only 3 jurors"
    ):
        load(tmp_path, text, personas)


@pytest.mark.parametrize(
    "consensus, message",
    [
        ("{rule: cascade}", r"consensus: .*rule cascade needs first"),
        ("{rule: majority, first: [auditor]}", r"first and then are for rule: cascade"),
        (
            "{rule: cascade, first: [audtor]}",
            r"consensus\.first\.0: not a juror persona of this scenario: 'audtor' \(did you "
            r"mean 'auditor'\?\)",
        ),
        (
            "{rule: cascade, first: [auditor], then: [auditor, skimmer]}",
            r"consensus\.then\.0: 'auditor' is already in consensus\.first",
        ),
        (
            "{rule: cascade, first: [auditor], then: [skimmer]}",
            r"consensus\.then: juror persona 'pedant' is in neither first nor then",
        ),
    ],
)
def test_a_cascade_names_its_stages_by_juror_persona(
    tmp_path: Path, consensus: str, message: str
) -> None:
    with pytest.raises(UserInputError, match=message):
        load_scenario(write(tmp_path, with_consensus(consensus)), LIBRARY)
    fine = with_consensus("{rule: cascade, first: [auditor, pedant]}")
    scenario = load_scenario(write(tmp_path, fine), LIBRARY).scenario
    assert scenario.consensus.stages(["auditor", "skimmer", "pedant"]) == [
        ["auditor", "pedant"],
        ["skimmer"],
    ]


def with_consensus(consensus: str) -> str:
    return scenario_text(
        **{"consensus: {rule: majority, tiebreaker: auditor}": f"consensus: {consensus}"}
    )


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return path


def test_tool_checking_is_for_jurors_on_models_that_take_tools(tmp_path: Path) -> None:
    endpoint = (
        "  sim-sloppy: {kind: simulated, skill: 0.6}\n"
        "  local: {kind: openai, base_url: 'http://127.0.0.1:9/v1', model: m, "
        "tool_calling: false}\n"
    )
    text = scenario_text(
        **{
            "  sim-sloppy: {kind: simulated, skill: 0.6}\n": endpoint,
            "persona: skimmer, model: sim-sloppy": "persona: checker, model: local",
        }
    )
    with pytest.raises(
        UserInputError,
        match=r"agents\.4\.model: persona 'checker' checks with tools \(tool_rounds: 3\) but "
        r"model 'local' has tool_calling: false",
    ):
        load_scenario(write(tmp_path, text), LIBRARY)
    takes_tools = text.replace("tool_calling: false", "tool_calling: true")
    agents = load_scenario(write(tmp_path, takes_tools), LIBRARY).scenario.agents
    assert agents[4].persona == "checker"
    generator_with_tools = scenario_text() + ("personas:\n  analyst: {tool_rounds: 2}\n")
    with pytest.raises(
        UserInputError, match="tool_rounds is for jurors; this persona is a generator"
    ):
        load_scenario(write(tmp_path, generator_with_tools), LIBRARY)
