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


def _named_fields(names: tuple[str, ...], value: Any) -> Any:
    """The file writes an entry as one short row, its fields in `names` order."""
    if isinstance(value, list):
        return dict(zip(names, value, strict=True))
    return value


class Metric(Frozen):
    name: str
    unit: str  # LaTeX, may contain math
    low: float
    high: float
    decimals: int = Field(ge=0, le=6)

    @model_validator(mode="before")
    @classmethod
    def _from_row(cls, value: Any) -> Any:
        """[name, unit, low, high, decimals]"""
        return _named_fields(("name", "unit", "low", "high", "decimals"), value)


class Subject(Frozen):
    """What a topic is about, and the metrics a table about it shows (the first leads)."""

    name: str
    metrics: tuple[str, ...] = Field(min_length=2)

    @model_validator(mode="before")
    @classmethod
    def _from_row(cls, value: Any) -> Any:
        """[name, [metric, ...]]"""
        return _named_fields(("name", "metrics"), value)


class Entity(Frozen):
    """A table row's subject; `group` fixed where the world fixes it (a port's corridor)."""

    name: str
    group: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_row(cls, value: Any) -> Any:
        """A name, or [name, group]"""
        if isinstance(value, str):
            return {"name": value}
        return _named_fields(("name", "group"), value)


class Domain(Frozen):
    name: str
    subjects: tuple[Subject, ...] = Field(min_length=1)
    contexts: tuple[str, ...] = Field(min_length=1)
    entity_label: str
    entities: tuple[Entity, ...] = Field(min_length=3)
    group_label: str
    groups: tuple[str, ...] = Field(min_length=2)
    metrics: tuple[Metric, ...] = Field(min_length=3)
    attribute_label: str
    attributes: tuple[str, ...] = Field(min_length=2)

    @model_validator(mode="after")
    def _names_resolve(self) -> Domain:
        known = {metric.name for metric in self.metrics}
        for subject in self.subjects:
            unknown = [name for name in subject.metrics if name not in known]
            if unknown:
                raise ValueError(f"{self.name}: subject '{subject.name}' names {unknown}")
        for entity in self.entities:
            if entity.group is not None and entity.group not in self.groups:
                raise ValueError(f"{self.name}: '{entity.name}' is in unknown '{entity.group}'")
        return self

    @property
    def places_rows(self) -> bool:
        """Whether its rows sit in groups the world fixes (a port on its corridor)."""
        return any(entity.group is not None for entity in self.entities)

    def subject_of(self, topic: str) -> Subject | None:
        """The subject a composed topic ("<subject> <context>") starts with, if any (the
        longest, should one subject's name begin another's)."""
        starts = [s for s in self.subjects if topic.startswith(s.name)]
        return max(starts, key=lambda s: len(s.name)) if starts else None

    def metrics_of(self, subject: Subject) -> list[Metric]:
        """The subject's metrics, lead first."""
        by_name = {metric.name: metric for metric in self.metrics}
        return [by_name[name] for name in subject.metrics]


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
        (d.name, f"{subject.name} {context}")
        for d in DOMAINS
        for subject in d.subjects
        for context in d.contexts
    ]
