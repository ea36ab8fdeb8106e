"""YAML files checked by a pydantic model, with errors that name the file and line."""

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

M = TypeVar("M", bound=BaseModel)


class ConfigFileError(Exception):
    """A configuration file is malformed; the message names the file and the line."""

    def __init__(self, path: str | Path, line: int | None, message: str) -> None:
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {message}")


class Problem(ValueError):
    """A problem found after validation, at a path in the document."""

    def __init__(self, loc: tuple[int | str, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc


class LocatedDict(dict):
    """A mapping that knows the line it starts on and the line of each key."""

    line: int | None = None
    key_lines: dict[str, int]

    def line_of(self, key: str) -> int | None:
        return self.key_lines.get(key, self.line)


class LocatedList(list):
    """A sequence that knows the line it starts on and the line of each item."""

    line: int | None = None
    item_lines: list[int]


# libyaml's parser when PyYAML was built with it: the files are read at each
# start-up (and at each app the tests create), and it parses them 3x faster.
class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    pass


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LocatedDict:
    mapping = LocatedDict(loader.construct_mapping(node, deep=True))
    mapping.line = node.start_mark.line + 1
    mapping.key_lines = {
        str(key.value): key.start_mark.line + 1 for key, _ in node.value
    }
    return mapping


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LocatedList:
    # Items that are scalars carry no line of their own: a bad holiday in a
    # block list is pointed at on its own line, not at the list's key.
    sequence = LocatedList(loader.construct_sequence(node, deep=True))
    sequence.line = node.start_mark.line + 1
    sequence.item_lines = [item.start_mark.line + 1 for item in node.value]
    return sequence


def _construct_timestamp(loader: _Loader, node: yaml.ScalarNode) -> object:
    # 2026-13-01 looks like a date to YAML but is none: left as text, the model
    # says which holiday is wrong and where, instead of PyYAML's bare ValueError.
    try:
        return loader.construct_yaml_timestamp(node)
    except ValueError:
        return loader.construct_scalar(node)


_Loader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping
)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)
_Loader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence
)


def load_yaml(path: str | Path) -> Any:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigFileError(
            path, None, f"cannot be read ({error.strerror})"
        ) from None
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else None
        raise ConfigFileError(path, line, f"not valid YAML: {error.problem}") from None
    except yaml.YAMLError as error:
        raise ConfigFileError(path, None, f"not valid YAML: {error}") from None


def load_model(
    path: str | Path, model: type[M], context: dict[str, Any] | None = None
) -> M:
    """The file's document as `model`; the first problem raises ConfigFileError.

    `context` reaches the model's validators (`info.context`), for what the
    file alone does not say (the region phone numbers are written in). A model
    may check what spans its parts (names that refer to each other) in a
    `problems()` method yielding Problems: they are located the same way.
    """
    document = load_yaml(path)
    try:
        result = model.model_validate(document, context=context)
    except ValidationError as error:
        problem = error.errors(include_url=False)[0]
        loc = tuple(part for part in problem["loc"] if part != "[key]")
        line, depth = _walk(document, loc)
        where, message = _described(problem, loc, depth)
        raise ConfigFileError(path, line, _located(where, message)) from None
    for problem in getattr(result, "problems", list)():
        line, _ = _walk(document, problem.loc)
        raise ConfigFileError(path, line, _located(problem.loc, str(problem)))
    return result


# pydantic's words for the mistakes people make in these files, said plainly.
_MESSAGES = {
    "string_type": "must be text",
    "bool_type": "must be true or false",
    "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
    "list_type": "must be a list",
}


def _described(
    problem: ErrorDetails, loc: tuple[int | str, ...], depth: int
) -> tuple[tuple[int | str, ...], str]:
    """Where the problem is, and what it is, in the file's own terms.

    `depth` is how much of `loc` the document has: what follows are pydantic's
    own steps (the member of a union tried, "str" or "list[str]"), not the file's.
    """
    kind = problem["type"]
    if kind == "missing" and loc:
        return loc[:-1], f"missing '{loc[-1]}'"
    if kind == "extra_forbidden" and loc:
        return loc[:-1], f"unknown key '{loc[-1]}'"
    where = loc[:depth]
    if kind == "too_short" and problem.get("ctx", {}).get("min_length") == 1:
        return where, "must not be empty"
    if kind in ("date_parsing", "date_from_datetime_parsing", "date_type"):
        return where, f"'{problem['input']}' is not a date (YYYY-MM-DD)"
    if kind in ("enum", "literal_error"):
        return where, f"'{problem['input']}' is not {problem['ctx']['expected']}"
    if kind == "greater_than_equal":
        return where, f"must be {problem['ctx']['ge']} or more"
    if kind in _MESSAGES:
        return where, _MESSAGES[kind]
    return where, problem["msg"].removeprefix("Value error, ")


def _located(loc: tuple[int | str, ...], message: str) -> str:
    """`lines[0].hours: message`, or the bare message at the top of the file."""
    where = ""
    for part in loc:
        where += f"[{part}]" if isinstance(part, int) else f".{part}"
    where = where.removeprefix(".")
    return f"{where}: {message}" if where else message


def _walk(document: Any, loc: tuple[int | str, ...]) -> tuple[int | None, int]:
    """The line of the deepest key or list item on the path, and how deep it is."""
    line = getattr(document, "line", None)
    node = document
    for depth, part in enumerate(loc):
        if isinstance(node, LocatedDict) and part in node:
            line = node.line_of(str(part))
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            if isinstance(node, LocatedList):
                line = node.item_lines[part]
            node = node[part]
        else:
            return line, depth
    return line, len(loc)
