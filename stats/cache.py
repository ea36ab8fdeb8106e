"""A small time-to-live cache, one per process: what a public page computes
is computed again only once its time is up, however many people ask."""

import threading
import time
from collections.abc import Callable, Hashable
from typing import Any


class TTLCache:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._entries: dict[Hashable, tuple[float, Any]] = {}
        # One computation at a time: a burst of visitors after the time is up
        # costs one computation, not one each.
        self._lock = threading.Lock()

    def get(self, key: Hashable, ttl: float, compute: Callable[[], Any]) -> Any:
        """The value kept for `key`, or `compute()`'s, kept for `ttl` seconds."""
        with self._lock:
            now = self._clock()
            kept = self._entries.get(key)
            if kept is not None and kept[0] > now:
                return kept[1]
            value = compute()
            self._entries = {
                other: entry
                for other, entry in self._entries.items()
                if entry[0] > now  # the expired ones go, so it never grows
            }
            self._entries[key] = (now + ttl, value)
            return value
