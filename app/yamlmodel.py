"""YAML files checked by a pydantic model, with errors that name the file and line."""

from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from app.yamlfile import ConfigFileError, LocatedDict, load_yaml

M = TypeVar("M", bound=BaseModel)


class Problem(ValueError):
    """A problem found after validation, at a path in the document."""

    def __init__(self, loc: tuple[int | str, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc


def load_model(path: str | Path, model: type[M]) -> M:
    """The file's document as `model`; the first problem raises ConfigFileError.

    A model may check what spans its parts (names that refer to each other) in a
    `problems()` method yielding Problems: they are located the same way.
    """
    document = load_yaml(path)
    try:
        result = model.model_validate(document)
    except ValidationError as error:
        problem = error.errors()[0]
        where = ".".join(str(part) for part in problem["loc"])
        message = problem["msg"].removeprefix("Value error, ")
        line = _line_of(document, problem["loc"])
        raise ConfigFileError(
            path, line, f"{where}: {message}" if where else message
        ) from None
    for problem in getattr(result, "problems", list)():
        where = ".".join(str(part) for part in problem.loc)
        line = _line_of(document, problem.loc)
        raise ConfigFileError(path, line, f"{where}: {problem}")
    return result


def _line_of(document: Any, loc: tuple[int | str, ...]) -> int | None:
    """The line of the deepest mapping key on the error's path."""
    line = document.line if isinstance(document, LocatedDict) else None
    node = document
    for part in loc:
        if isinstance(node, LocatedDict) and part in node:
            line = node.line_of(str(part))
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
            if isinstance(node, LocatedDict):
                line = node.line
        else:
            break
    return line
