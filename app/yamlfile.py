"""YAML files that remember where each mapping came from, for errors that say where."""

from pathlib import Path
from typing import Any

import yaml


class ConfigFileError(Exception):
    """A lines or menu file is malformed; the message names the file and the line."""

    def __init__(self, path: str | Path, line: int | None, message: str) -> None:
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {message}")


class LocatedDict(dict):
    """A mapping that knows the line it starts on and the line of each key."""

    line: int | None = None
    key_lines: dict[str, int]

    def line_of(self, key: str) -> int | None:
        return self.key_lines.get(key, self.line)


class _Loader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LocatedDict:
    mapping = LocatedDict(loader.construct_mapping(node, deep=True))
    mapping.line = node.start_mark.line + 1
    mapping.key_lines = {
        str(key.value): key.start_mark.line + 1 for key, _ in node.value
    }
    return mapping


_Loader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping
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


class Fields:
    """Reads typed fields from one mapping, raising errors that point at the file."""

    def __init__(
        self, path: str | Path, mapping: Any, what: str, line: int | None = None
    ):
        self.path = path
        if not isinstance(mapping, dict):
            raise ConfigFileError(path, line, f"{what} must be a mapping")
        self.mapping = mapping
        self.what = what

    def line(self, key: str | None = None) -> int | None:
        if isinstance(self.mapping, LocatedDict):
            return self.mapping.line_of(key) if key else self.mapping.line
        return None

    def error(self, key: str | None, message: str) -> ConfigFileError:
        return ConfigFileError(self.path, self.line(key), f"{self.what}: {message}")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        if key not in self.mapping or self.mapping[key] is None:
            if default is ...:
                raise self.error(None, f"missing '{key}'")
            return default
        value = self.mapping[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            names = (
                kind.__name__
                if isinstance(kind, type)
                else "/".join(k.__name__ for k in kind)
            )
            raise self.error(key, f"'{key}' must be a {names}")
        return value

    def sub(self, key: str, what: str) -> "Fields":
        return Fields(self.path, self.mapping.get(key), what, self.line(key))
