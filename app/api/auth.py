"""API credentials: a bearer token or the browser session (which then needs CSRF)."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import g, request
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy import select

from app.api.errors import ApiError
from app.extensions import csrf, db
from app.models import ApiToken, Role, User
from app.models.users import hash_token

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def token_user(token: str) -> User | None:
    """The active staff member an API token belongs to; None for any other.

    The bearer header and Open311's `api_key` field carry the same tokens.
    """
    token = token.strip()
    if not token or len(token) > 200:
        return None
    row = db.session.scalar(select(ApiToken).filter_by(token_hash=hash_token(token)))
    if row is None or not row.user.active:
        return None
    return row.user


def _bearer_user() -> User | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip() or len(token) > 200:
        raise ApiError(401, "unauthorized", "the bearer token is missing or malformed")
    user = token_user(token)
    if user is None:
        raise ApiError(401, "unauthorized", "the bearer token is not valid")
    return user


def authenticated_user() -> User:
    if "Authorization" in request.headers:
        return _bearer_user()
    if current_user.is_authenticated:
        # A session cookie rides along on cross-site requests: writes need the token.
        if request.method not in SAFE_METHODS:
            try:
                csrf.protect()
            except CSRFError:
                raise ApiError(
                    403, "csrf_failed", "missing or wrong X-CSRFToken header"
                ) from None
        return current_user._get_current_object()
    raise ApiError(401, "unauthorized", "sign in or send Authorization: Bearer <token>")


def api_login_required(
    *roles: Role,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Authenticate the request; with roles, also require one of them (else 403)."""

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            user = authenticated_user()
            if roles and user.role not in roles:
                raise ApiError(403, "forbidden", "your role does not allow this")
            g.api_user = user
            return view(*args, **kwargs)

        return wrapper

    return decorator
