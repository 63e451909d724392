"""Where a run's personas come from: the package's library, a folder beside the scenario,
the scenario itself (`personas:`) and `--set`, in that order.

A persona defined again in a later layer changes only the knobs it names (the rest comes
from the layer below); `extends: other` starts from another persona instead. The book keeps,
for each knob, where its value came from, so `run.py personas` can say it and an error can
name the file and line that set a bad value.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from environment.config.personas import QUESTION_KINDS, Persona, read_by_simulation
from environment.config.yaml_source import Location, YamlSource, did_you_mean
from environment.errors import UserInputError


@dataclass(frozen=True)
class PersonaDefinition:
    """One layer's word on a persona: a whole persona, or the knobs it changes."""

    name: str
    layer: str  # "package", "folder" or "scenario"
    source: YamlSource
    location: Location  # where the persona's mapping sits in its file
    data: dict[str, Any]  # the mapping, without `extends`
    extends: str | None = None

    def origin(self, knob: Location) -> str:
        flag = self.source.overridden_by((*self.location, *knob))
        return flag if flag is not None else f"{self.layer} {_shown(self.source.path)}"


@dataclass(frozen=True)
class PersonaBook:
    """The personas a scenario can use, and where each knob's value came from."""

    personas: dict[str, Persona]
    # persona → knob ("behaviour.false_accept") → "package agents/personas/auditor.yaml",
    # "--set …", "inherited from auditor: …"; knobs no layer set are the schema's defaults.
    origins: dict[str, dict[str, str]] = field(default_factory=dict)
    # persona → the layers that define it, first to last ("folder my/auditor.yaml").
    layers: dict[str, list[str]] = field(default_factory=dict)

    def origin_of(self, persona: str, knob: str) -> str:
        """Where a knob's value comes from: the layer that set it or a mapping above it."""
        origins = self.origins.get(persona, {})
        parts = knob.split(".")
        for end in range(len(parts), 0, -1):
            found = origins.get(".".join(parts[:end]))
            if found is not None:
                return found
        return "default"

    def unread_knobs(self, name: str) -> list[str]:
        """Behaviour knobs a layer set on this persona that its role's simulated model does
        not read: a change to them would show no effect offline."""
        role = self.personas[name].role
        return sorted(
            knob for knob in self.origins.get(name, {}) if not read_by_simulation(role, knob)
        )

    def used_by(self, names: Iterable[str]) -> dict[str, Persona]:
        return {name: self.personas[name] for name in sorted(set(names))}


_PROJECT = Path(__file__).resolve().parents[2]


def _shown(path: Path) -> str:
    """A path as a user would read it: relative to where they are, or else to the project
    (agents/personas/auditor.yaml)."""
    for base in (Path.cwd().resolve(), _PROJECT):
        try:
            return str(path.resolve().relative_to(base))
        except ValueError:
            continue
    return str(path)


def library_personas(directory: Path) -> dict[str, Persona]:
    """The package's personas alone (no scenario to add its own)."""
    personas = build_persona_book([read_persona_folder(directory, "package")]).personas
    if not personas:
        raise UserInputError(f"{directory}: no persona files (*.yaml)")
    return personas


def read_persona_folder(directory: Path, layer: str) -> list[PersonaDefinition]:
    """Every `*.yaml` of a folder, one persona each."""
    if not directory.is_dir():
        raise UserInputError(f"{directory}: no such folder of personas")
    definitions = []
    for path in sorted(directory.glob("*.yaml")):
        source = YamlSource.read(path)
        if not isinstance(source.data, dict):
            raise source.error([], "a persona file is a mapping (name, role, system_prompt…)")
        name = source.data.get("name")
        if not isinstance(name, str) or not name.strip():
            raise source.error(["name"], "every persona file needs a name")
        definitions.append(_definition(name, layer, source, (), source.data))
    return definitions


def inline_personas(source: YamlSource) -> list[PersonaDefinition]:
    """The scenario's own `personas:` mapping, name → persona (or the knobs it changes)."""
    given = source.data.get("personas") if isinstance(source.data, dict) else None
    if given is None:
        return []
    if not isinstance(given, dict):
        raise source.error(["personas"], "a mapping of persona name → knobs")
    definitions = []
    for name, data in given.items():
        location: Location = ("personas", name)
        if not isinstance(data, dict):
            raise source.error(location, "a persona is a mapping of knobs")
        if data.get("name", name) != name:
            raise source.error([*location, "name"], f"differs from its key '{name}'")
        definitions.append(_definition(str(name), "scenario", source, location, data))
    return definitions


def _definition(
    name: str, layer: str, source: YamlSource, location: Location, data: dict[str, Any]
) -> PersonaDefinition:
    extends = data.get("extends")
    if extends is not None and not isinstance(extends, str):
        raise source.error([*location, "extends"], "the name of the persona to start from")
    knobs = {key: value for key, value in data.items() if key not in ("extends", "name")}
    return PersonaDefinition(name, layer, source, location, knobs, extends)


def build_persona_book(layers: Sequence[Sequence[PersonaDefinition]]) -> PersonaBook:
    """Resolves every persona of every layer; errors name the file, line and knob."""
    chains: dict[str, list[PersonaDefinition]] = {}
    for layer in layers:
        seen: dict[str, PersonaDefinition] = {}
        for definition in layer:
            if definition.name in seen:
                first = seen[definition.name]
                raise definition.source.error(
                    [*definition.location, "name"],
                    f"persona '{definition.name}' is defined twice in this layer "
                    f"(also in {first.source.path})",
                )
            seen[definition.name] = definition
            chains.setdefault(definition.name, []).append(definition)
    resolver = _Resolver(chains)
    personas, origins = {}, {}
    for name in chains:
        personas[name], origins[name] = resolver.persona(name)
    defined_in = {
        name: [
            f"{d.layer} {_shown(d.source.path)}" + (f" (extends {d.extends})" if d.extends else "")
            for d in chain
        ]
        for name, chain in chains.items()
    }
    return PersonaBook(personas, origins, defined_in)


class _Resolver:
    def __init__(self, chains: dict[str, list[PersonaDefinition]]) -> None:
        self.chains = chains

    def persona(self, name: str) -> tuple[Persona, dict[str, str]]:
        depth = len(self.chains[name])
        data, owners = self._merged(name, depth, ())
        top = self.chains[name][-1]
        try:
            persona = Persona.model_validate(data)
        except ValidationError as error:
            if len(self.chains[name]) == 1 and top.extends is None and "role" not in data:
                raise top.source.error(
                    [*top.location, "role"],
                    f"'{name}' is a new persona: give it a role and a system_prompt, or "
                    "start from another with extends: NAME",
                ) from None
            # Said in the file (and line) that set the knob the error is about.
            owner = _owner_of(error, owners, top)
            owner.source.validate(Persona, data, at=owner.location)
            raise top.source.error(list(top.location), str(error)) from None
        unknown = set(persona.behaviour.question_kinds) - set(QUESTION_KINDS)
        if unknown:
            kind = sorted(unknown)[0]
            owner = owners.get(f"behaviour.question_kinds.{kind}", (top, ""))[0]
            raise owner.source.error(
                [*owner.location, "behaviour", "question_kinds", kind],
                f"unknown question kind{did_you_mean(kind, QUESTION_KINDS)}; "
                f"known: {', '.join(QUESTION_KINDS)}",
            )
        return persona, {knob: label for knob, (_, label) in owners.items()}

    def _merged(
        self, name: str, depth: int, stack: tuple[tuple[str, int], ...]
    ) -> tuple[dict[str, Any], dict[str, tuple[PersonaDefinition, str]]]:
        """The persona `name` as its first `depth` definitions make it, and for each knob
        the definition that set it with a label saying where."""
        definition = self.chains[name][depth - 1]
        if (name, depth) in stack:
            cycle = " → ".join(n for n, _ in (*stack, (name, depth)))
            raise definition.source.error(
                [*definition.location, "extends"], f"personas extend each other in a loop: {cycle}"
            )
        stack = (*stack, (name, depth))
        base: dict[str, Any] = {}
        owners: dict[str, tuple[PersonaDefinition, str]] = {}
        parent = definition.extends
        if parent is not None and parent != name:
            if parent not in self.chains:
                raise definition.source.error(
                    [*definition.location, "extends"],
                    f"unknown persona{did_you_mean(parent, self.chains)}",
                )
            base, inherited = self._merged(parent, len(self.chains[parent]), stack)
            owners = {
                knob: (owner, f"inherited from {parent}: {label}")
                for knob, (owner, label) in inherited.items()
                if knob != "name"
            }
        elif depth > 1:
            base, owners = self._merged(name, depth - 1, stack)
        elif parent == name:
            raise definition.source.error(
                [*definition.location, "extends"],
                f"extends itself, and no earlier layer defines '{name}'",
            )
        merged = _deep_merge(base, definition.data)
        merged["name"] = name
        for knob in _leaves(definition.data):
            owners[knob] = (definition, definition.origin(tuple(knob.split("."))))
        return merged, owners


def _deep_merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _leaves(data: dict[str, Any], prefix: str = "") -> list[str]:
    found = []
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            found += _leaves(value, path + ".")
        else:
            found.append(path)
    return found


def _owner_of(
    error: ValidationError,
    owners: dict[str, tuple[PersonaDefinition, str]],
    top: PersonaDefinition,
) -> PersonaDefinition:
    """The definition that set the knob the first error is about (the top one for a knob
    nobody set, such as a missing role)."""
    knob = ".".join(str(part) for part in error.errors()[0]["loc"])
    for candidate, (owner, _) in owners.items():
        if (
            candidate == knob
            or candidate.startswith(knob + ".")
            or knob.startswith(candidate + ".")
        ):
            return owner
    return top
