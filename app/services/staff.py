"""Staff accounts and the centre's services: the rules the administration pages
and the command line share (who may be created, how a password is chosen, how an
account is disabled or unlocked)."""

import re
import secrets
from collections.abc import Iterable

from sqlalchemy import select

from app.auth import throttle
from app.extensions import db
from app.models import Role, Service, User
from app.services.refused import Refused

PASSWORD_MIN_LENGTH = 8
PASSWORD_MAX_LENGTH = 200  # the sign-in form's own limit
SERVICE_KEY = re.compile(r"[a-z0-9_]{1,64}")
NAME_MAX_LENGTH = 120


def clean_email(email: str) -> str:
    email = (email or "").strip().lower()
    if not re.fullmatch(r"[^@\s]+@[^@\s]+", email) or len(email) > 254:
        raise Refused("email", "email_invalid", "not an e-mail address")
    return email


def check_password(password: str) -> str:
    if len(password) < PASSWORD_MIN_LENGTH:
        raise Refused("password", "password_short", "at least 8 characters")
    if len(password) > PASSWORD_MAX_LENGTH:
        raise Refused("password", "password_long", "at most 200 characters")
    return password


def new_password() -> str:
    """A password to hand over once: 16 characters, about 96 bits."""
    return secrets.token_urlsafe(12)


def user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).filter_by(email=email.strip().lower()))


def create_user(
    email: str,
    role: Role,
    password: str,
    name: str | None = None,
    services: Iterable[Service] = (),
) -> User:
    """A new account; the caller commits."""
    email = clean_email(email)
    check_password(password)
    if user_by_email(email) is not None:
        raise Refused("email", "email_taken", f"{email} already exists")
    name = " ".join((name or "").split())[:NAME_MAX_LENGTH] or None
    user = User(email=email, role=role, name=name, active=True, failed_logins=0)
    user.set_password(password)
    user.services = list(services)
    db.session.add(user)
    return user


def change_role_and_services(
    user: User, role: Role, services: Iterable[Service], by: User
) -> None:
    """An admin cannot take their own role away: the centre keeps an admin."""
    if user.id == by.id and role != user.role:
        raise Refused("role", "own_role", "you cannot change your own role")
    user.role = role
    user.services = list(services)


def set_active(user: User, active: bool, by: User) -> None:
    """Disable or enable an account. A disabled one cannot sign in, its API
    tokens are refused and it is never rung; its history stays."""
    if user.id == by.id:
        raise Refused("active", "own_account", "you cannot disable your own account")
    user.active = active


def reset_password(user: User) -> str:
    """Give the account a new random password; returned to be shown once."""
    password = new_password()
    user.set_password(password)
    return password


def unlock(user: User) -> bool:
    """Forget the failed sign-ins held against the account, in the table and in
    the sign-in throttle's counts; False if the throttle could not be reached."""
    user.failed_logins = 0
    user.locked_until = None
    return throttle.forget_account(user.email)


def services_by_ids(ids: Iterable[int]) -> list[Service]:
    wanted = set(ids)
    if not wanted:
        return []
    return list(
        db.session.scalars(
            select(Service).where(Service.id.in_(wanted)).order_by(Service.name)
        )
    )


def create_service(key: str, name: str) -> Service:
    """A new service, such as `pensions` "Direction des pensions"; the caller
    commits."""
    key = (key or "").strip()
    if not SERVICE_KEY.fullmatch(key):
        raise Refused("key", "service_key", "a-z, 0-9 and _ only")
    name = " ".join((name or "").split())
    if not name or len(name) > NAME_MAX_LENGTH:
        raise Refused("name", "name_length", "1 to 120 characters")
    if db.session.scalar(select(Service).filter_by(key=key)) is not None:
        raise Refused("key", "service_taken", f"service {key} already exists")
    service = Service(key=key, name=name)
    db.session.add(service)
    return service
