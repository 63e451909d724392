"""A user's personas: a folder beside the scenario, the scenario's own `personas:`, `extends`
and `--set`, each knob traced to where it was set; bad input named by file, line and knob."""

from __future__ import annotations

from pathlib import Path

import pytest

from environment.config.scenario import LoadedScenario, load_scenario
from environment.errors import UserInputError
from tests.conftest import ROOT, SCENARIO

LIBRARY = ROOT / "agents" / "personas"


def scenario_with(tmp_path: Path, extra: str = "", **files: str) -> Path:
    """The test scenario in `tmp_path`, with `extra` appended and persona files in
    `tmp_path/mine` (when any are given)."""
    if files:
        (tmp_path / "mine").mkdir(exist_ok=True)
        for name, text in files.items():
            (tmp_path / "mine" / f"{name}.yaml").write_text(text)
        extra = "personas_dir: mine\n" + extra
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO.format(seed=7, target=5, output="out") + extra)
    return path


def load(path: Path, *flags: str) -> LoadedScenario:
    return load_scenario(path, LIBRARY, flags)


def test_a_copied_persona_changes_only_what_it_names_and_says_where(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # origins are shown relative to where the user is
    path = scenario_with(
        tmp_path,
        "personas:\n  skimmer:\n    behaviour: {false_reject: 0.4}\n",
        lenient="name: lenient\nextends: auditor\nbehaviour:\n  false_accept: 0.3\n",
        auditor="name: auditor\nbehaviour:\n  faults: {off_topic: 0.1}\n",
    )
    book = load(path, "personas.lenient.behaviour.false_reject=0.2").personas
    lenient, auditor = book.personas["lenient"], book.personas["auditor"]
    assert lenient.role == "juror" and lenient.system_prompt == auditor.system_prompt
    assert lenient.behaviour.false_accept == 0.3 and lenient.behaviour.false_reject == 0.2
    # The folder's auditor shadows the package's in the knobs it names, keeps the rest.
    assert auditor.behaviour.faults.off_topic == 0.1
    assert auditor.behaviour.faults.malformed_output == 0.02  # the package's value
    skimmer = book.personas["skimmer"]
    assert skimmer.behaviour.false_reject == 0.4 and skimmer.style["strictness"] == "low"

    assert book.origin_of("lenient", "behaviour.false_accept") == "folder mine/lenient.yaml"
    assert book.origin_of("lenient", "behaviour.false_reject") == (
        "--set personas.lenient.behaviour.false_reject=0.2"
    )
    assert book.origin_of("lenient", "system_prompt") == (
        "inherited from auditor: package agents/personas/auditor.yaml"
    )
    assert book.origin_of("lenient", "behaviour.complexity") == "default"
    assert book.origin_of("auditor", "behaviour.faults.off_topic") == "folder mine/auditor.yaml"
    assert book.origin_of("skimmer", "behaviour.false_reject") == "scenario s.yaml"
    assert book.layers["auditor"] == [
        "package agents/personas/auditor.yaml",
        "folder mine/auditor.yaml",
    ]


def test_set_changes_any_scenario_key_and_is_checked_like_the_file(tmp_path: Path) -> None:
    path = scenario_with(tmp_path)
    scenario = load(path, "consensus.rule=unanimous", "agents.1.count=3", "seed=11").scenario
    assert scenario.consensus.rule == "unanimous" and scenario.seed == 11
    assert scenario.agents[1].count == 3
    bad = {
        "consensus.rule=unanimus": r"^--set consensus\.rule=unanimus \(over .*s\.yaml\): "
        r"consensus\.rule: .*'unanimous'",
        "consensus.rul=majority": r"unknown key 'rul' \(did you mean 'rule'\?\)",
        "agents.9.count=2": r"^--set agents\.9\.count=2: agents is a list of 6; give an index "
        r"from 0 to 5$",
        "seed.low=1": r"^--set seed\.low=1: seed is a value, not a mapping of keys$",
        "seed": r"^--set seed: write PATH=VALUE",
        "agents.3.persona=auditr": r"unknown persona 'auditr' \(did you mean 'auditor'\?\)",
        "personas.pedant.behaviour.false_accept=2": r"personas\.pedant\.behaviour\."
        r"false_accept: Input should be less than or equal to 1 \(got 2\)",
    }
    for flag, message in bad.items():
        with pytest.raises(UserInputError, match=message):
            load(path, flag)


@pytest.mark.parametrize(
    "files, message",
    [
        (
            {"a": "name: a\nextends: b\n", "b": "name: b\nextends: a\n"},
            r"mine/a\.yaml:2: extends: personas extend each other in a loop: a → b → a$",
        ),
        (
            {"l": "name: lenient\nextends: auditr\n"},
            r"mine/l\.yaml:2: extends: unknown persona 'auditr' \(did you mean 'auditor'\?\)",
        ),
        (
            {"l": "name: lenient\nextends: auditor\nbehaviour:\n  flase_accept: 0.2\n"},
            r"mine/l\.yaml:4: behaviour\.flase_accept: unknown key 'flase_accept' \(did you "
            r"mean 'false_accept'\?\)",
        ),
        (
            {"l": "name: lenient\nextends: auditor\nbehaviour:\n  question_kinds: {lokup: 2}\n"},
            r"mine/l\.yaml:4: behaviour\.question_kinds\.lokup: unknown question kind 'lokup' "
            r"\(did you mean 'lookup'\?\)",
        ),
        (
            {"solo": "name: solo\nbehaviour: {false_accept: 0.1}\n"},
            r"mine/solo\.yaml:1: role: 'solo' is a new persona: give it a role and a "
            r"system_prompt, or start from another with extends: NAME",
        ),
        (
            {"x": "name: twin\nextends: auditor\n", "y": "name: twin\nextends: pedant\n"},
            r"mine/y\.yaml:1: name: persona 'twin' is defined twice in this layer",
        ),
        ({"x": "- just\n- a list\n"}, r"mine/x\.yaml:1: a persona file is a mapping"),
        ({"x": "role: juror\n"}, r"mine/x\.yaml:1: name: every persona file needs a name"),
    ],
)
def test_bad_persona_files_are_named_by_file_line_and_knob(
    tmp_path: Path, files: dict[str, str], message: str
) -> None:
    with pytest.raises(UserInputError, match=message):
        load(scenario_with(tmp_path, **files))


def test_bad_inline_personas_and_folders(tmp_path: Path) -> None:
    cases = {
        "personas:\n  pedant:\n    behaviour: {rows: [3]}\n": r"s\.yaml:\d+: personas\.pedant\."
        r"behaviour\.rows",
        "personas:\n  pedant: strict\n": r"s\.yaml:\d+: personas\.pedant: ",
        "personas:\n  pedant: {name: other}\n": r"personas\.pedant\.name: differs from its key",
        "personas_dir: nowhere\n": r"s\.yaml:\d+: personas_dir: .*nowhere is not a folder",
    }
    for extra, message in cases.items():
        with pytest.raises(UserInputError, match=message):
            load(scenario_with(tmp_path, extra))


def test_every_behaviour_knob_moves_some_simulated_role_and_unread_ones_are_warned(
    tmp_path: Path,
) -> None:
    from environment.config.personas import Behaviour, Faults, read_by_simulation
    from environment.config.scenario import persona_warnings

    knobs = [f"behaviour.{name}" for name in Behaviour.model_fields if name != "faults"]
    knobs += [f"behaviour.faults.{name}" for name in Faults.model_fields]
    roles = ("inspirer", "generator", "questioner", "juror", "solver", "grader")
    assert all(any(read_by_simulation(role, knob) for role in roles) for knob in knobs)
    assert read_by_simulation("questioner", "behaviour.question_kinds.lookup")
    assert not read_by_simulation("juror", "behaviour.question_kinds.lookup")

    path = scenario_with(tmp_path, "personas:\n  skimmer:\n    behaviour: {complexity: 0.9}\n")
    loaded = load(path)
    assert persona_warnings(loaded.scenario, loaded.personas) == [
        "persona 'skimmer' sets behaviour.complexity, which a simulated juror does not read: "
        "no effect offline"
    ]
    plain = load(scenario_with(tmp_path))  # the package's personas set only what is read
    assert not persona_warnings(plain.scenario, plain.personas)


def test_variants_are_checked_and_a_bad_one_is_named_with_its_line(tmp_path: Path) -> None:
    path = scenario_with(
        tmp_path, "variants:\n  a: {}\n  b: {set: {consensus.rul: majority, seed: 9}}\n"
    )
    assert load_scenario(path, LIBRARY, (), variant="a").scenario.variants == {}
    line = path.read_text().splitlines().index("  b: {set: {consensus.rul: majority, seed: 9}}")
    with pytest.raises(
        UserInputError,
        match=rf"s\.yaml:{line + 1}: variants\.b\.set\.consensus\.rul: consensus\.rul: unknown "
        r"key 'rul' \(did you mean 'rule'\?\)$",
    ):
        load_scenario(path, LIBRARY, (), variant="b")
    for variants, message in (
        ("  a: {}\n", "one variant compares with nothing"),
        ("  ../up: {}\n  b: {}\n", "variant name '../up' must be a folder name"),
        ("  a: {sett: {}}\n  b: {}\n", r"variants\.a\.sett: unknown key 'sett' \(did you mean"),
    ):
        with pytest.raises(UserInputError, match=message):
            load(scenario_with(tmp_path, "variants:\n" + variants))
