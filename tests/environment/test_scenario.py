import subprocess
import sys
from pathlib import Path

import pytest

from environment.personas import Persona
from environment.scenario import load_scenario
from environment.yaml_source import UserInputError
from tests.conftest import ROOT, SCENARIO


def scenario_text(**replace: str) -> str:
    text = SCENARIO.format(seed=7, target=5, output="out")
    for old, new in replace.items():
        assert old in text
        text = text.replace(old, new)
    return text


def load(tmp_path: Path, text: str, personas: dict[str, Persona]) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    load_scenario(path, personas)


def test_quickstart_is_valid(personas: dict[str, Persona]) -> None:
    scenario = load_scenario(ROOT / "scenarios" / "quickstart.yaml", personas)
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
        load_scenario(tmp_path / "nope.yaml", personas)
