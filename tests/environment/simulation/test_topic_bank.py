"""The offline demo's tables fit their topics: what a caption is about is what the table
measures, and rows the world groups (ports on corridors) sit in their own group."""

import random
import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from environment.config.personas import Behaviour
from environment.core.messages import Recipe
from environment.simulation.generator import _header, design_table
from environment.simulation.topic_bank import DOMAINS, load_domains


@pytest.mark.parametrize("domain", DOMAINS, ids=lambda d: d.name)
def test_every_subject_draws_its_own_metrics_and_no_other(domain) -> None:
    rng = random.Random(11)
    for subject in domain.subjects:
        own = set(subject.metrics)
        for context in domain.contexts[:3]:
            recipe = Recipe(rows=6, grouped_header=rng.random() < 0.3)
            latex = design_table(
                domain, f"{subject.name} {context}", recipe, Behaviour(complexity=1.0), rng
            )
            drawn = {m.name for m in domain.metrics if f"{{{_header(m)}}}" in latex}
            assert subject.metrics[0] in drawn, (subject.name, drawn)  # the lead, always
            assert drawn <= own, (subject.name, drawn - own)


def test_rows_with_a_fixed_group_sit_in_it() -> None:
    fixed = [d for d in DOMAINS if any(e.group for e in d.entities)]
    assert {d.name for d in fixed} >= {"logistics", "transport", "tourism", "climate"}
    rng = random.Random(5)
    for domain in fixed:
        group_of = {e.name: e.group for e in domain.entities}
        for _ in range(20):
            recipe = Recipe(rows=rng.randint(5, 12), row_groups=True)
            latex = design_table(domain, domain.subjects[0].name, recipe, Behaviour(), rng)
            current, rows = None, 0
            for line in latex.splitlines():
                opened = re.match(r"\\multirow\{(\d+)\}\{\*\}\{([^}]*)\}", line)
                if opened:
                    current = opened.group(2)
                    assert int(opened.group(1)) >= 2  # a group is two rows or more
                cells = [c.strip() for c in line.split("&")]
                if len(cells) > 1 and cells[1] in group_of:
                    assert group_of[cells[1]] == current, (domain.name, cells[1], current)
                    rows += 1
            assert rows >= 4


def test_a_subject_naming_an_unknown_metric_is_refused(tmp_path: Path) -> None:
    bank = Path(__file__).parents[3] / "environment" / "simulation" / "topic_bank.yaml"
    text = bank.read_text(encoding="utf-8")
    broken = tmp_path / "bank.yaml"
    broken.write_text(
        text.replace("[Revenue, Net margin, Employees]", "[Revenue, Net margin, Headcount]", 1),
        encoding="utf-8",
    )
    with pytest.raises(ValidationError, match="Headcount"):
        load_domains(broken)


def test_a_topic_from_outside_the_bank_may_draw_any_of_the_domains_metrics() -> None:
    domain = DOMAINS[0]
    rng = random.Random(3)
    drawn: set[str] = set()
    for _ in range(30):
        latex = design_table(
            domain, "A topic a real inspirer wrote", Recipe(rows=5), Behaviour(), rng
        )
        drawn |= {m.name for m in domain.metrics if f"{{{_header(m)}}}" in latex}
    assert drawn == {m.name for m in domain.metrics}
