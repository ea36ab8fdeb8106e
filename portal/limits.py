"""One budget per client address for everything a stranger can make the centre
do (CONTRACT §9.1): filing on the form or the JSON twin, and each status
look-up, all counted together, at most PUBLIC_RATE_LIMIT.

The counts are Flask-Limiter's (app.auth.throttle's limiter: in memory without
REDIS_URL, in Redis with it, so every process shares them). The limit is read
from the config at each request, so a test or an operator may change it.
"""

import math
import time
from collections.abc import Callable, Iterable

from flask import Response, current_app
from flask_limiter import RequestLimit, RouteLimit

from app.auth.throttle import limiter

SCOPE = "public"


def _budget() -> str:
    return current_app.config["PUBLIC_RATE_LIMIT"]


def retry_after(limit: RequestLimit) -> int:
    """Seconds until the address may try again (at least one)."""
    return max(1, math.ceil(limit.reset_at - time.time()))


def public_limit(
    on_breach: Callable[[RequestLimit], Response],
    methods: Iterable[str] | None = None,
    exempt_when: Callable[[], bool] | None = None,
) -> RouteLimit:
    """The shared budget on a view or a blueprint; `on_breach` makes the 429."""
    return limiter.shared_limit(
        _budget,
        scope=SCOPE,
        methods=list(methods) if methods else None,
        on_breach=on_breach,
        exempt_when=exempt_when,
    )
