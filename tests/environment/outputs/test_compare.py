"""`run.py compare` and scenario variants on real offline runs: each persona knob a user
tunes moves what the simulated models do, in the direction it names, and compare shows it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from environment.outputs.compare import (
    Share,
    compare_p,
    compare_runs,
    mcnemar_p,
    two_proportion_p,
)
from tests.conftest import SCENARIO
from tests.conftest import run_cli as run


def test_two_proportion_test_on_known_cases() -> None:
    assert two_proportion_p(Share(50, 100), Share(50, 100)) == pytest.approx(1.0)
    # z = 0.2 / sqrt(0.4 * 0.6 * 0.02) = 2.887 → two-sided p = 0.0039
    assert two_proportion_p(Share(30, 100), Share(50, 100)) == pytest.approx(0.0039, abs=1e-4)
    assert two_proportion_p(Share(0, 10), Share(0, 12)) is None  # nothing to test
    assert two_proportion_p(Share(3, 10), Share(0, 0)) is None


def test_the_same_items_in_both_runs_are_compared_item_by_item() -> None:
    assert mcnemar_p(10, 0) == pytest.approx(2 / 1024)
    assert mcnemar_p(5, 1) == pytest.approx(2 * 7 / 64)
    assert mcnemar_p(3, 3) == 1.0 and mcnemar_p(0, 0) == 1.0
    # 40 shared items, 6 flipped from reject to accept and none back: clear when paired,
    # while 30/40 against 36/40 as unrelated samples is not.
    before = Share.of({f"q{i}": i < 30 for i in range(40)})
    after = Share.of({f"q{i}": i < 36 for i in range(40)})
    p, paired = compare_p(before, after)
    assert paired and p == pytest.approx(2 / 64)
    assert two_proportion_p(before, after) == pytest.approx(0.0775, abs=1e-3)
    # A share over a subset the change moved (precision over accepted pairs): one run's extra
    # items would drop out of a paired test, so it is not paired.
    moved = Share.of({**{f"q{i}": True for i in range(30)}, "extra": False})
    assert not compare_p(Share.of({f"q{i}": True for i in range(30)}), moved)[1]
    # Other items (another seed): the unpaired test.
    elsewhere = Share.of({f"r{i}": i < 36 for i in range(40)})
    p, paired = compare_p(before, elsewhere)
    assert not paired and p == pytest.approx(0.0775, abs=1e-3)


# Each variant changes one knob of one role's persona; the base has no colour at all, so a
# colourful persona can only add it.
VARIANTS = """\
personas:
  cartographer: {behaviour: {colour_use: 0}}
  analyst: {behaviour: {colour_use: 0}}
variants:
  reference: {}
  inspirer-colour: {set: {personas.cartographer.behaviour.colour_use: 1}}
  generator-colour: {set: {personas.analyst.behaviour.colour_use: 1}}
  generator-broken: {set: {personas.analyst.behaviour.faults.broken_latex: 0.7}}
  questioner-lookup: {set: {personas.puzzle-setter.behaviour.question_kinds.lookup: 8}}
  questioner-wrong: {set: {personas.puzzle-setter.behaviour.faults.wrong_answer: 0.7}}
  juror-lenient: {set: {personas.skimmer.behaviour.false_accept: 1}}
  juror-strict: {set: {personas.pedant.behaviour.false_reject: 1}}
  juror-garbled: {set: {personas.auditor.behaviour.faults.malformed_output: 0.6}}
"""


@pytest.fixture(scope="module")
def variants(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    folder = tmp_path_factory.mktemp("variants")
    scenario = folder / "tune.yaml"
    scenario.write_text(SCENARIO.format(seed=3, target=24, output="out") + VARIANTS)
    result = run(str(scenario), "--quiet", "--out", str(folder / "runs"), cwd=folder)
    assert result.returncode == 0, result.stderr
    return folder / "runs", result.stdout


def test_variants_run_on_one_seed_into_sibling_folders_and_are_compared(
    variants: tuple[Path, str],
) -> None:
    runs, printed = variants
    announced = [line for line in printed.splitlines() if line.startswith("variant ")]
    names = [line.split()[1].rstrip(":") for line in announced]
    assert names[0] == "reference" and len(names) == 9
    for name in names:
        info = json.loads((runs / name / "run.json").read_text())
        assert info["seed"] == 3 and not info["scenario"]["variants"]
    lenient = json.loads((runs / "juror-lenient" / "run.json").read_text())
    assert lenient["personas"]["skimmer"]["behaviour"]["false_accept"] == 1
    knob = "skimmer.behaviour.false_accept"
    changed = next(line for line in printed.splitlines() if knob in line)
    values = changed.split(": ", 1)[1].split(" | ")
    assert values[0] == "0.25" and values[names.index("juror-lenient")] == "1.0"
    page = (runs / "compare.html").read_text()
    assert "juror-lenient" in page and "http" not in page.split("<body>")[1]


def test_each_knob_moves_its_figure_the_way_it_says(variants: tuple[Path, str]) -> None:
    runs, _ = variants

    def figure(variant: str, section: str, name: str) -> tuple[float, float]:
        comparison = compare_runs([runs / "reference", runs / variant])
        found = next(f for f in comparison.figures if (f.section, f.name) == (section, name))
        before, after = found.values
        assert isinstance(before, Share) and isinstance(after, Share), (section, name)
        assert before.value is not None and after.value is not None, (section, name)
        return before.value, after.value

    def more(variant: str, section: str, name: str) -> None:
        before, after = figure(variant, section, name)
        assert after > before, (variant, name, before, after)

    def less(variant: str, section: str, name: str) -> None:
        before, after = figure(variant, section, name)
        assert after < before, (variant, name, before, after)

    more("inspirer-colour", "tables", "tables with colour")
    more("generator-colour", "tables", "tables with colour")
    more("generator-broken", "renders", "generator analyst-1 renders failed")
    more("questioner-lookup", "questions", "kind lookup")
    less("questioner-wrong", "acceptance", "accepted pairs")
    more("juror-lenient", "jury", "juror skimmer votes accept")
    less("juror-strict", "jury", "juror pedant votes accept")
    more("juror-garbled", "models", "juror replies unusable (re-asked)")
    before, _ = figure("inspirer-colour", "tables", "tables with colour")
    assert before == 0  # the base's personas draw no colour at all


def test_compare_refuses_what_is_not_a_run_and_warns_across_seeds(
    variants: tuple[Path, str], tmp_path: Path
) -> None:
    runs, _ = variants
    for args, message in (
        ([str(tmp_path)], "compare needs two run folders or more"),
        ([str(runs / "reference"), str(tmp_path)], "not a run folder (no run.json)"),
        ([str(runs / "reference"), str(tmp_path / "nope")], "nope: not a folder"),
    ):
        result = run("compare", *args, cwd=tmp_path)
        assert result.returncode == 2 and message in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    other = tmp_path / "other"
    info = json.loads((runs / "reference" / "run.json").read_text())
    other.mkdir()
    for name in ("records.jsonl", "events.jsonl"):
        (other / name).write_text((runs / "reference" / name).read_text())
    (other / "run.json").write_text(json.dumps(info | {"seed": 4}))
    page = tmp_path / "c.html"
    result = run("compare", str(runs / "reference"), str(other), "--out", str(page), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "warning: the runs differ in seed (3 vs 4)" in result.stdout
    assert page.is_file()


def test_jury_study_replays_the_runs_votes_and_reproduces_its_verdicts(
    variants: tuple[Path, str], tmp_path: Path
) -> None:
    from environment.outputs.jury_study import Outcome, study_run

    runs, _ = variants
    study = study_run(runs / "reference")
    assert study.reproduced is True and study.truth == "oracle"
    rules = {(o.jury, o.rule) for o in study.outcomes}
    jurors = ("auditor", "pedant", "skimmer")
    assert (jurors, "majority") in rules and (("auditor",), "unanimous") in rules
    assert (jurors, "cascade first {auditor, pedant}") in rules
    assert (jurors, "weighted (Dawid–Skene)") in rules
    whole = next(o for o in study.outcomes if o.jury == jurors and o.rule == "majority")
    # The tiebreaker never acts with three votes cast: the plain majority is the run's rule.
    assert whole.accepted == study.own.accepted
    # Calls are model calls, re-asks included. The ledger's juror calls hold them, and also
    # the votes on pairs in flight when the run stopped (paid, never committed): how many
    # depends on how the tasks interleave, so on a busy machine the ledger has more.
    lines = (runs / "reference" / "records.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    calls = [sum(vote["calls"] for vote in row["votes"]) for row in rows]
    ledger = json.loads((runs / "reference" / "run.json").read_text())["ledger"]
    paid = sum(row["calls"] for row in ledger["by_model_role"] if row["role"] == "juror")
    assert sum(calls) <= paid and max(calls) > 3  # the skimmer's garbled replies, re-asked
    assert whole.calls_per_pair == pytest.approx(sum(calls) / len(calls))
    cascade = next(o for o in study.outcomes if o.rule == "cascade first {auditor, pedant}")
    assert 2 <= cascade.calls_per_pair < 3
    front = study.front()

    def beats(o: Outcome, f: Outcome) -> bool:
        mine = (o.precision or 0, o.recall or 0, -o.calls_per_pair)
        theirs = (f.precision or 0, f.recall or 0, -f.calls_per_pair)
        return all(a >= b for a, b in zip(mine, theirs, strict=True)) and mine != theirs

    assert front and not any(beats(o, f) for f in front for o in study.outcomes)
    assert any(beats(f, whole) for f in front) or whole in front
    printed = run("jury-study", str(runs / "reference"), cwd=tmp_path)
    assert printed.returncode == 0, printed.stderr
    assert "the run's majority of {auditor, pedant, skimmer}" in printed.stdout
    assert "gives its verdicts: yes" in printed.stdout
    missing = run("jury-study", str(tmp_path), cwd=tmp_path)
    assert missing.returncode == 2 and "not a run folder" in missing.stderr
