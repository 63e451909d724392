"""YAML loading that remembers where each key was, so errors can name file, line and key."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from environment.errors import UserInputError

Location = tuple[int | str, ...]
# Keys whose values may be secrets: never quoted back in an error.
SECRET_KEYS = {"api_key", "api_key_env", "key", "token", "authorization"}


MAX_SCENARIO_BYTES = 1_000_000


def _refuse_aliases(path: Path, text: str) -> None:
    """Anchors and aliases let a few lines expand to billions of nodes; nobody needs them in a
    scenario. Checked on the event stream, before anything is built."""
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            line = event.start_mark.line + 1 if event.start_mark is not None else "?"
            raise UserInputError(
                f"{path}:{line}: YAML anchors and aliases (&name, *name) are "
                "not allowed in a scenario; write the value out where it is used"
            )


def _walk(
    node: yaml.Node, path: Location, lines: dict[Location, int], file: Path | None = None
) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: dict[object, int] = {}
        for key_node, _ in node.value:
            line = key_node.start_mark.line + 1
            if key_node.value in seen:
                where = ".".join(str(part) for part in (*path, key_node.value))
                raise UserInputError(
                    f"{file}:{line}: {where}: duplicate key (first on line "
                    f"{seen[key_node.value]}); keep one"
                )
            seen[key_node.value] = line
        for key_node, value_node in node.value:
            key = key_node.value
            lines[(*path, key)] = key_node.start_mark.line + 1
            _walk(value_node, (*path, key), lines, file)
            lines[(*path, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), lines, file)


class YamlSource:
    """A parsed YAML file plus a map from key paths to line numbers."""

    def __init__(self, path: Path, data: Any, lines: dict[Location, int]) -> None:
        self.path = path
        self.data = data
        self.lines = lines
        # Values set from the command line (`--set a.b=1`): errors under them name the flag.
        self.overrides: dict[Location, str] = {}

    @classmethod
    def read(cls, path: Path) -> YamlSource:
        try:
            if path.stat().st_size > MAX_SCENARIO_BYTES:
                raise UserInputError(
                    f"{path}: {path.stat().st_size:,} bytes is not a scenario (the limit is "
                    f"{MAX_SCENARIO_BYTES:,})"
                )
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise UserInputError(f"{path}: file not found") from None
        except (OSError, UnicodeDecodeError) as error:
            raise UserInputError(f"{path}: cannot be read ({error})") from None
        try:
            _refuse_aliases(path, text)
            node = yaml.compose(text, Loader=yaml.SafeLoader)
            lines: dict[Location, int] = {}
            if node is not None:
                _walk(node, (), lines, path)
            data = yaml.safe_load(text)
        except yaml.MarkedYAMLError as error:
            mark = error.problem_mark or error.context_mark
            line = f":{mark.line + 1}" if mark else ""
            raise UserInputError(
                f"{path}{line}: invalid YAML: {error.problem or error.context}"
            ) from None
        except yaml.YAMLError as error:
            raise UserInputError(f"{path}: invalid YAML: {error}") from None
        except RecursionError:
            raise UserInputError(f"{path}: YAML nested too deeply to be a scenario") from None
        return cls(path, data, lines)

    def line_of(self, location: Sequence[int | str]) -> int | None:
        location = tuple(location)
        while location:
            if location in self.lines:
                return self.lines[location]
            location = location[:-1]
        return self.lines.get(())

    def overridden_by(self, location: Sequence[int | str]) -> str | None:
        """The `--set` flag that set `location` or a key above it, if one did."""
        location = tuple(location)
        for end in range(len(location), 0, -1):
            if location[:end] in self.overrides:
                return self.overrides[location[:end]]
        return None

    def error(self, location: Sequence[int | str], message: str) -> UserInputError:
        flag = self.overridden_by(location)
        line = self.line_of(location)
        if flag is not None:  # a --set flag, or a variant's change (which names its line)
            where = flag if flag.startswith(str(self.path)) else f"{flag} (over {self.path})"
        else:
            where = f"{self.path}:{line}" if line else str(self.path)
        key = ".".join(str(part) for part in location)
        return UserInputError(f"{where}: {key + ': ' if key else ''}{message}")

    def validate(self, model: type[BaseModel], data: Any | None = None, at: Location = ()) -> Any:
        """Validates into `model` (`data` found at `at` in this file, or the whole file);
        the first error becomes one clear UserInputError."""
        try:
            return model.model_validate(self.data if data is None else data)
        except ValidationError as error:
            first = _most_telling(error.errors())
            given = self.data if data is None else data
            relative = _user_location(first["loc"], given)
            location = [*at, *relative]
            if first["type"] == "union_tag_invalid":
                ctx = first.get("ctx", {})
                raise self.error(
                    [*location, ctx.get("discriminator", "kind").strip("'")],
                    f"unknown kind {ctx.get('tag', '')!r}; known: {ctx.get('expected_tags', '')}",
                ) from None
            if first["type"] == "extra_forbidden":
                unknown = str(location[-1])
                if unknown in SECRET_KEYS:
                    raise self.error(
                        location,
                        "never put a key in a scenario file; name the environment variable "
                        "that holds it with api_key_env",
                    ) from None
                allowed = _allowed_keys(model, relative[:-1], given)
                hint = did_you_mean(unknown, allowed)
                raise self.error(location, f"unknown key{hint}") from None
            if first["type"] == "missing":
                raise self.error(location, "required key is missing") from None
            if location and location[-1] in SECRET_KEYS:  # what was given may be a key
                raise self.error(location, first["msg"]) from None
            raise self.error(location, _short(first["msg"], first.get("input"))) from None


def _most_telling(errors: Sequence[Any]) -> Any:
    """The error to report: pydantic lists a misspelt required key (`agnets:`) as both a
    missing `agents` and an unknown `agnets`; the unknown one, with its "did you mean",
    says what to fix, while "agents: required key is missing" puzzles."""
    first = errors[0]
    if first["type"] != "missing":
        return first
    parent, wanted = tuple(first["loc"][:-1]), str(first["loc"][-1])
    for other in errors:
        location = tuple(other["loc"])
        if (
            other["type"] == "extra_forbidden"
            and location[:-1] == parent
            and difflib.get_close_matches(str(location[-1]), [wanted], n=1, cutoff=0.6)
        ):
            return other
    return first


def _is_union_tag(part: int | str) -> bool:
    return isinstance(part, str) and ("[" in part or part.startswith("function-"))


def _user_location(location: Sequence[int | str], data: Any) -> list[int | str]:
    """The error's path as the user wrote it: without pydantic's union tags, including a
    discriminated union's tag (`models.judge.openai.rpm` → `models.judge.rpm`)."""
    kept: list[int | str] = []
    current = data
    for part in location:
        if _is_union_tag(part):
            continue
        if isinstance(current, dict) and part not in current and current.get("kind") == part:
            continue
        kept.append(part)
        if isinstance(current, dict):
            current = current.get(part)
        elif isinstance(current, list) and isinstance(part, int) and part < len(current):
            current = current[part]
        else:
            current = None
    return kept


def _short(message: str, given: Any) -> str:
    if isinstance(given, (str, int, float, bool)):
        return f"{message} (got {given!r})"
    return message


def _allowed_keys(model: type[BaseModel], location: Sequence[int | str], data: Any) -> list[str]:
    current: Any = model
    for part in location:
        data = data.get(part) if isinstance(data, dict) else None
        if isinstance(part, int):
            continue
        if (
            isinstance(current, type)
            and issubclass(current, BaseModel)
            and part in current.model_fields
        ):
            annotation = current.model_fields[part].annotation
            inner = _all_models(annotation)
            current = inner[0] if inner else current
        elif isinstance(current, type) and issubclass(current, BaseModel):
            continue  # a mapping's user-chosen key (a model's name): same value type
    kind = data.get("kind") if isinstance(data, dict) else None
    if kind is not None:
        current = _model_for_kind(model, kind) or current
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _model_for_kind(model: type[BaseModel], kind: str) -> type[BaseModel] | None:
    """The member of a discriminated union (anywhere in the schema) whose `kind` is `kind`."""
    seen: set[type[BaseModel]] = set()
    pending: list[type[BaseModel]] = [model]
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        field = current.model_fields.get("kind")
        if field is not None and kind in getattr(field.annotation, "__args__", ()):
            return current
        for sub in current.model_fields.values():
            pending.extend(_all_models(sub.annotation))
    return None


def _all_models(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for argument in getattr(annotation, "__args__", ()) or ():
        found += _all_models(argument)
    return found


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" '{word}' (did you mean '{close[0]}'?)" if close else f" '{word}'"
