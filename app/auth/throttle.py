"""Sign-in throttle: attempts counted atomically per address and per account.

Flask-Limiter counts every sign-in POST before the password is looked at, in one
atomic step per limit (a Lua script on Redis, a lock in memory), so parallel
guesses cannot slip past the count. Nothing is ever locked: an address that
guesses is slowed, and the account's own limit spares a browser that signed in
to it before, so a stranger cannot keep an agent out.
"""

import hashlib
import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, current_app, request
from flask_limiter import Limiter, RequestLimit
from flask_limiter.util import get_remote_address
from itsdangerous import BadSignature, URLSafeTimedSerializer
from limits import parse
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

PER_ADDRESS = "20/minute"
PER_ACCOUNT_AT_ADDRESS = "5/minute"
PER_ACCOUNT = "50/hour"

DEVICE_COOKIE = "ecoute_signin"
KEY_PREFIX = "ecoute-signin"
DEVICE_DAYS = 180

limiter = Limiter(
    key_func=get_remote_address,
    strategy="moving-window",
    default_limits=[],
    key_prefix=KEY_PREFIX,
    # Redis down: each process counts on its own until it is back, rather than
    # nobody signing in (fail closed) or nothing counted (fail open).
    in_memory_fallback_enabled=True,
)


def init_app(app: Flask) -> None:
    # Counts shared by every process need Redis; without it one process counts.
    app.config.setdefault(
        "RATELIMIT_STORAGE_URI", app.config["REDIS_URL"] or "memory://"
    )
    limiter.init_app(app)


def account_key() -> str:
    """The account tried, hashed: Redis keys and logs never hold an e-mail."""
    return _hashed(request.form.get("email") or "")


def _hashed(email: str) -> str:
    email = email.strip().lower()[:254]
    return hashlib.sha256(email.encode()).hexdigest()[:32]


# The sign-in endpoint: Flask-Limiter's keys are scoped by it.
SIGN_IN_ENDPOINT = "auth.login"


def forget_account(email: str) -> bool:
    """Clear the account's own count (an administrator's "unlock"): the hour's
    guesses from every address against it. The counts per address are left:
    they end within a minute. False when Redis could not be reached: the
    count then ends by itself within the hour."""
    try:
        limiter.limiter.clear(
            parse(PER_ACCOUNT),
            KEY_PREFIX,
            _hashed(email),
            f"{SIGN_IN_ENDPOINT}:account",
        )
    except RedisError:
        log.warning("sign-in counts not cleared: Redis unreachable")
        return False
    return True


def _account_at_address() -> str:
    return f"{account_key()}/{get_remote_address()}"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="sign-in")


def device_cookie(response: Response) -> None:
    """Mark this browser as one that signed in to the account it just did."""
    response.set_cookie(
        DEVICE_COOKIE,
        _serializer().dumps(account_key()),
        max_age=DEVICE_DAYS * 86400,
        path=request.path,
        secure=current_app.config.get("SESSION_COOKIE_SECURE", False),
        httponly=True,
        samesite="Lax",
    )


def _known_device() -> bool:
    """A browser that signed in to this account before is spared its limit."""
    cookie = request.cookies.get(DEVICE_COOKIE)
    if not cookie:
        return False
    try:
        known = _serializer().loads(cookie, max_age=DEVICE_DAYS * 86400)
    except BadSignature:
        return False
    return known == account_key()


def sign_in_limits(
    on_breach: Callable[[RequestLimit], Response],
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The three limits on sign-in POSTs; `on_breach` answers a throttled one."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        view = limiter.limit(
            PER_ACCOUNT,
            key_func=account_key,
            methods=["POST"],
            scope="account",
            exempt_when=_known_device,
            on_breach=on_breach,
        )(view)
        view = limiter.limit(
            PER_ACCOUNT_AT_ADDRESS,
            key_func=_account_at_address,
            methods=["POST"],
            scope="account-address",
            on_breach=on_breach,
        )(view)
        return limiter.limit(
            PER_ADDRESS,
            key_func=get_remote_address,
            methods=["POST"],
            scope="address",
            on_breach=on_breach,
        )(view)

    return decorate
