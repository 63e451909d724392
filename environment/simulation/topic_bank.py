"""Subjects the simulated inspirer composes topics from: domains × subjects × contexts.

Each domain also knows what a table about it holds: row entities, row groups, numeric
metrics (name, LaTeX unit, plausible range, decimals) and qualitative attributes. The bank
itself is data, in `topic_bank.yaml` beside this module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, model_validator

from environment.frozen import Frozen

BANK_FILE = Path(__file__).with_name("topic_bank.yaml")


class Metric(Frozen):
    name: str
    unit: str  # LaTeX, may contain math
    low: float
    high: float
    decimals: int = Field(ge=0, le=6)

    @model_validator(mode="before")
    @classmethod
    def _from_row(cls, value: Any) -> Any:
        """The file writes a metric as one row: [name, unit, low, high, decimals]."""
        if isinstance(value, list):
            return dict(zip(("name", "unit", "low", "high", "decimals"), value, strict=True))
        return value


class Domain(Frozen):
    name: str
    subjects: tuple[str, ...] = Field(min_length=1)
    contexts: tuple[str, ...] = Field(min_length=1)
    entity_label: str
    entities: tuple[str, ...] = Field(min_length=3)
    group_label: str
    groups: tuple[str, ...] = Field(min_length=2)
    metrics: tuple[Metric, ...] = Field(min_length=3)
    attribute_label: str
    attributes: tuple[str, ...] = Field(min_length=2)


def load_domains(path: Path = BANK_FILE) -> tuple[Domain, ...]:
    # libyaml's loader where PyYAML has it: the pure-Python one takes a fifth of a second.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)

    return tuple(Domain.model_validate(domain) for domain in data["domains"])


DOMAINS: tuple[Domain, ...] = load_domains()
DOMAINS_BY_NAME = {domain.name: domain for domain in DOMAINS}


def all_subjects() -> list[tuple[str, str]]:
    """Every (domain, subject) the bank can compose."""
    return [
        (d.name, f"{subject} {context}")
        for d in DOMAINS
        for subject in d.subjects
        for context in d.contexts
    ]
