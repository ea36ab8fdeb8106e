"""The environment's settings (CONTRACT §2), checked by one model before any is used.

A typo in a setting used to surface late and far away (`int()` at import with no
name, a `redis://` typo at the first job, a negative retention that deletes every
recording): here each is checked once, and the error names the variable. Values
are never echoed back: URLs carry passwords.
"""

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import limits
import phonenumbers
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    StrictBool,
    ValidationError,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


class SettingsError(ValueError):
    """One or more settings are wrong; the message names each variable."""


def _database_url(value: str) -> str:
    try:
        make_url(value)
    except ArgumentError:
        raise ValueError(
            "must be a database URL such as postgresql://user:password@host/db"
        ) from None
    return value


def _url_of(*schemes: str, host: bool = True) -> Callable[[str], str]:
    def check(value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in schemes or (host and not parts.hostname):
            *others, last = (f"{scheme}://" for scheme in schemes)
            written = f"{', '.join(others)} or {last}" if others else last
            raise ValueError(f"must be a URL starting with {written}")
        return value

    return check


def _region(value: str) -> str:
    region = value.upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError("must be a two-letter country code such as BJ or CI")
    return region


def _rate_limit(value: str) -> str:
    # Flask-Limiter's notation, read by its own parser (the limits package).
    try:
        limits.parse_many(value)
    except ValueError:
        raise ValueError("must be a rate such as 5/hour or 10 per minute") from None
    return value


def _zone_name(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("must be a time zone such as Africa/Porto-Novo") from None
    return value


def _mail_address(value: str) -> str:
    if not re.fullmatch(r"[^@\s]+@[^@\s]+", value):
        raise ValueError("must be an e-mail address such as ecoute@example.org")
    return value


def _switch(value: object) -> object:
    if isinstance(value, str) and value.lower() in TRUE_WORDS:
        return True
    if isinstance(value, str) and value.lower() in FALSE_WORDS:
        return False
    return value


DatabaseUrl = Annotated[str, AfterValidator(_database_url)]
HttpUrl = Annotated[str, AfterValidator(_url_of("http", "https"))]
# redis-py's from_url: TCP, TLS, or a local socket (unix:///run/redis.sock).
RedisUrl = Annotated[
    str, AfterValidator(_url_of("redis", "rediss", "unix", host=False))
]
SmtpUrl = Annotated[str, AfterValidator(_url_of("smtp", "smtps"))]
ImapUrl = Annotated[str, AfterValidator(_url_of("imap", "imaps"))]
RateLimit = Annotated[str, AfterValidator(_rate_limit)]
Region = Annotated[str, AfterValidator(_region)]
TimeZoneName = Annotated[str, AfterValidator(_zone_name)]
MailAddress = Annotated[str, AfterValidator(_mail_address)]
# Not pydantic's own bool: "t" or "y" would pass, and a typo must not.
Switch = Annotated[StrictBool, BeforeValidator(_switch)]


def defaults(root: Path, instance: Path) -> dict[str, str]:
    """The defaults that are paths under the project or the instance folder."""
    return {
        "DATABASE_URL": f"sqlite:///{instance / 'ecoute.sqlite3'}",
        "LINES_FILE": str(root / "config" / "lines.yaml"),
        "MENUS_DIR": str(root / "config" / "menus"),
        "SMS_FILE": str(root / "config" / "sms.yaml"),
        "EMAILS_FILE": str(root / "config" / "emails.yaml"),
        "SLA_FILE": str(root / "config" / "sla.yaml"),
        "NOTICES_FILE": str(root / "config" / "notices.yaml"),
        "RECORDINGS_DIR": str(instance / "recordings"),
    }


class Settings(BaseModel):
    """Every environment variable the app reads, by its name; unset is None."""

    # Strings are already stripped and never empty (read_settings).
    model_config = ConfigDict(extra="ignore", frozen=True, allow_inf_nan=False)

    APP_ENV: Literal["production", "development", "testing"] = "production"
    TRUSTED_PROXIES: NonNegativeInt | None = None
    SECRET_KEY: str | None = None
    DATABASE_URL: DatabaseUrl
    DATABASE_POOL_SIZE: PositiveInt = 10
    DATABASE_MAX_OVERFLOW: NonNegativeInt = 10
    DATABASE_CONNECT_TIMEOUT: PositiveInt = 2
    DATABASE_POOL_TIMEOUT: PositiveFloat = 2.0
    DATABASE_STATEMENT_TIMEOUT: NonNegativeFloat = 10.0  # 0: none
    DATABASE_LOCK_TIMEOUT: NonNegativeFloat = 3.0  # 0: none
    DATABASE_WEBHOOK_DEADLINE: NonNegativeFloat = 2.0  # 0: no watchdog
    REDIS_URL: RedisUrl | None = None
    EVENTS_PREFIX: str | None = None
    PUBLIC_BASE_URL: HttpUrl | None = None
    TWILIO_ACCOUNT_SID: str | None = None
    TWILIO_AUTH_TOKEN: str | None = None
    TWILIO_API_KEY: str | None = None
    TWILIO_API_SECRET: str | None = None
    TWILIO_TWIML_APP_SID: str | None = None
    TWILIO_API_BASE_URL: HttpUrl = "https://api.twilio.com"
    LINES_FILE: str
    MENUS_DIR: str
    SMS_FILE: str
    EMAILS_FILE: str
    SLA_FILE: str
    NOTICES_FILE: str
    STAFF_LANGUAGE: Literal["fr", "en"] = "fr"
    CENTRE_TIMEZONE: TimeZoneName = "Africa/Porto-Novo"
    MAIL_SMTP_URL: SmtpUrl | None = None
    MAIL_FROM: MailAddress = "ecoute@localhost"
    MAIL_TIMEOUT_SECONDS: PositiveFloat = 10.0
    MAIL_IMAP_URL: ImapUrl | None = None
    # The largest attachment of an e-mail kept with its request (bytes).
    MAIL_ATTACHMENT_MAX_BYTES: PositiveInt = 10 * 1024 * 1024
    PUBLIC_RATE_LIMIT: RateLimit = "5/hour"
    USSD_SECRET: str | None = None
    USSD_LANGUAGE: Literal["fr", "en"] = "fr"
    DEFAULT_REGION: Region = "BJ"
    RECORDINGS_DIR: str
    RECORDINGS_RETENTION_DAYS: NonNegativeInt = 365  # 0: forever
    DELETE_TWILIO_RECORDINGS: Switch = False
    SMS_DEBOUNCE_SECONDS: NonNegativeInt = 180
    CLOSE_AFTER_DAYS: PositiveInt = 7
    SHORT_ABANDON_SECONDS: NonNegativeInt = 5
    SERVICE_LEVEL_SECONDS: PositiveInt = 20
    SMS_RETRY_SECONDS: PositiveFloat = 30.0
    SMS_MAX_ATTEMPTS: PositiveInt = 6
    SMS_CLAIM_LEASE_SECONDS: PositiveFloat = 600.0
    SCHEDULER_INTERVAL_SECONDS: NonNegativeFloat = 30.0  # 0: none


# pydantic's words for a setting that is not what it should be, said plainly.
_MESSAGES = {
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_parsing": "must be a number",
    "finite_number": "must be a finite number",
    "bool_type": f"must be one of {', '.join(TRUE_WORDS + FALSE_WORDS)}",
}


def read_settings(environ: Mapping[str, str], root: Path, instance: Path) -> Settings:
    """The settings in `environ`; empty means unset. SettingsError names the bad."""
    values: dict[str, object] = dict(defaults(root, instance))
    for name in Settings.model_fields:
        value = environ.get(name, "").strip()
        if value:
            values[name] = value
    try:
        return Settings.model_validate(values)
    except ValidationError as error:
        problems = [
            f"{problem['loc'][0]}: {_described(problem)}"
            for problem in error.errors(include_url=False)
        ]
        raise SettingsError(
            "bad settings (environment or .env): " + "; ".join(problems)
        ) from None


def _described(problem: dict) -> str:
    kind, ctx = problem["type"], problem.get("ctx", {})
    if kind == "greater_than":
        return f"must be more than {ctx['gt']:g}"
    if kind == "greater_than_equal":
        return f"must be {ctx['ge']:g} or more"
    if kind == "literal_error":
        return f"must be {ctx['expected']}"
    return _MESSAGES.get(kind) or problem["msg"].removeprefix("Value error, ")
