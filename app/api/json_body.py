"""JSON bodies within bounds: nested at most MAX_DEPTH deep, no NUL in any string.

Python's json module recurses once per level, so a body of 100,000 brackets
(200 kB, under MAX_CONTENT_LENGTH) ends in a RecursionError; the depth is read
by a flat scan before anything is parsed. PostgreSQL refuses NUL in text, so
a NUL is refused here, with a reason, rather than at the INSERT with a 500.
"""

from typing import Any

from flask.json.provider import DefaultJSONProvider

MAX_DEPTH = 32


class UnsafeJSON(ValueError):
    """Valid JSON that we will not take; the message says why."""


def check_depth(text: str | bytes) -> None:
    """Raise UnsafeJSON if arrays and objects nest deeper than MAX_DEPTH."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise UnsafeJSON(f"JSON nested deeper than {MAX_DEPTH} levels")
        elif char in "]}":
            depth -= 1


def check_no_nul(value: Any) -> None:
    """Raise UnsafeJSON if a key or string anywhere holds a NUL character."""
    if isinstance(value, str):
        if "\x00" in value:
            raise UnsafeJSON("NUL characters (\\u0000) are not accepted")
    elif isinstance(value, dict):
        for key, item in value.items():
            check_no_nul(key)
            check_no_nul(item)
    elif isinstance(value, list):
        for item in value:
            check_no_nul(item)


class BoundedJSONProvider(DefaultJSONProvider):
    """app.json: every request.get_json() goes through these checks."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        check_depth(s)
        value = super().loads(s, **kwargs)
        check_no_nul(value)
        return value
