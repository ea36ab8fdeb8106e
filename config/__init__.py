"""Settings, read from the environment (and `.env`) in the class bodies."""

import os
import secrets
from pathlib import Path
from typing import ClassVar

from dotenv import load_dotenv

ROOT = Path(__file__).resolve().parent.parent
INSTANCE = Path(os.environ.get("ECOUTE_INSTANCE", ROOT / "instance"))

# Read `.env` before the classes below look at os.environ; real env vars win.
load_dotenv(ROOT / ".env", override=False)


def _env(name: str, default: str | None = None) -> str | None:
    """An environment variable, with empty strings treated as unset."""
    value = os.environ.get(name, "").strip()
    return value or default


def instance_secret(filename: str) -> str:
    """A random secret kept under instance/, created on first use.

    Used for SECRET_KEY and the local Twilio token when they are not configured, so
    sessions survive a restart and `simulate-call` can sign what the app checks.
    """
    path = INSTANCE / filename
    if path.exists():
        return path.read_text().strip()
    INSTANCE.mkdir(parents=True, exist_ok=True)
    value = secrets.token_hex(32)
    # O_EXCL: two processes starting at once must not write two different secrets.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    return value


TRUE_WORDS = ("1", "true", "yes", "on")


class BaseConfig:
    SECRET_KEY = _env("SECRET_KEY")
    SQLALCHEMY_DATABASE_URI = _env(
        "DATABASE_URL", f"sqlite:///{INSTANCE / 'ecoute.sqlite3'}"
    )
    # Connections are also pinged at checkout (app/dbguard.py), so the first
    # call after a database restart is served, not apologised to.
    SQLALCHEMY_ENGINE_OPTIONS: ClassVar[dict] = {"pool_recycle": 300}
    # PostgreSQL connections per web or worker process: pool + overflow. Four
    # gunicorn processes at the defaults hold at most 80 of PostgreSQL's 100.
    DATABASE_POOL_SIZE = int(_env("DATABASE_POOL_SIZE", "10"))
    DATABASE_MAX_OVERFLOW = int(_env("DATABASE_MAX_OVERFLOW", "10"))
    # A database that stops or hangs must not hold a caller past Twilio's 15 s:
    # seconds to open a connection (libpq counts whole seconds, at least 2) and
    # to wait for a pooled one when all are taken.
    DATABASE_CONNECT_TIMEOUT = int(_env("DATABASE_CONNECT_TIMEOUT", "2"))
    DATABASE_POOL_TIMEOUT = float(_env("DATABASE_POOL_TIMEOUT", "2"))
    # Server-side limits for a slow (not frozen) PostgreSQL, in seconds; 0 = none.
    # Set DATABASE_STATEMENT_TIMEOUT=0 for a migration that rewrites a big table.
    DATABASE_STATEMENT_TIMEOUT = float(_env("DATABASE_STATEMENT_TIMEOUT", "10"))
    DATABASE_LOCK_TIMEOUT = float(_env("DATABASE_LOCK_TIMEOUT", "3"))
    # Seconds a webhook (/voice/, /sms/) may spend waiting on the database before
    # its connection is cut and the outage path answers; works on a frozen server
    # too. 0 turns the watchdog off. 2 s, not more: a request queued behind a
    # busy thread waits up to this long, then may spend the connect time-out,
    # and Twilio must have its answer well within 5 s.
    DATABASE_WEBHOOK_DEADLINE = float(_env("DATABASE_WEBHOOK_DEADLINE", "2"))
    REDIS_URL = _env("REDIS_URL")
    # Prefix of the live-event channels (CONTRACT §2); unset: one per database
    # of REDIS_URL (app/events.py), so deployments sharing a Redis never mix.
    EVENTS_PREFIX = _env("EVENTS_PREFIX")
    PUBLIC_BASE_URL = _env("PUBLIC_BASE_URL")
    TWILIO_ACCOUNT_SID = _env("TWILIO_ACCOUNT_SID")
    TWILIO_AUTH_TOKEN = _env("TWILIO_AUTH_TOKEN")
    TWILIO_API_KEY = _env("TWILIO_API_KEY")
    TWILIO_API_SECRET = _env("TWILIO_API_SECRET")
    TWILIO_TWIML_APP_SID = _env("TWILIO_TWIML_APP_SID")
    TWILIO_API_BASE_URL = _env("TWILIO_API_BASE_URL", "https://api.twilio.com")
    LINES_FILE = _env("LINES_FILE", str(ROOT / "config" / "lines.yaml"))
    MENUS_DIR = _env("MENUS_DIR", str(ROOT / "config" / "menus"))
    SMS_FILE = _env("SMS_FILE", str(ROOT / "config" / "sms.yaml"))
    SLA_FILE = _env("SLA_FILE", str(ROOT / "config" / "sla.yaml"))
    NOTICES_FILE = _env("NOTICES_FILE", str(ROOT / "config" / "notices.yaml"))
    # The language of notices to staff (focal points, supervisors).
    STAFF_LANGUAGE = _env("STAFF_LANGUAGE", "fr")
    # The centre's days and clock, for staff pages, notices and statistics.
    CENTRE_TIMEZONE = _env("CENTRE_TIMEZONE", "Africa/Porto-Novo")
    # Outgoing e-mail (staff notices; citizens' e-mail with §9):
    # smtp://user:password@host:587 (STARTTLS when offered) or smtps://...:465.
    # Unset: e-mails are written to the log, as SMS are without Twilio.
    MAIL_SMTP_URL = _env("MAIL_SMTP_URL")
    MAIL_FROM = _env("MAIL_FROM", "ecoute@localhost")
    MAIL_TIMEOUT_SECONDS = float(_env("MAIL_TIMEOUT_SECONDS", "10"))
    DEFAULT_REGION = _env("DEFAULT_REGION", "BJ")
    RECORDINGS_DIR = _env("RECORDINGS_DIR", str(INSTANCE / "recordings"))
    # How long recording media is kept (a line's retention_days wins); 0 = forever.
    RECORDINGS_RETENTION_DAYS = int(_env("RECORDINGS_RETENTION_DAYS", "365"))
    # Delete Twilio's copy once ours is verified (off: Twilio keeps a backup).
    DELETE_TWILIO_RECORDINGS = _env("DELETE_TWILIO_RECORDINGS", "") in TRUE_WORDS
    RECORDING_FETCH_RETRY_INTERVALS = (15, 60, 300, 900, 3600)
    # Webhook bodies are a few kB; 256 kB leaves room for long unicode speech
    # results while refusing uploads nobody should send.
    MAX_CONTENT_LENGTH = 256 * 1024
    WTF_CSRF_TIME_LIMIT = None
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    BABEL_DEFAULT_LOCALE = "fr"
    BABEL_TRANSLATION_DIRECTORIES = str(ROOT / "app" / "translations")
    LANGUAGES = ("fr", "en")
    # Jobs run through RQ when REDIS_URL is set, in the request's process otherwise.
    # Workers serve the queues in this order: what callers wait for (their texts)
    # first, media downloads last. "sms" is notify's old name, still served for
    # jobs an earlier release left in Redis (quiet hours, retries).
    RQ_QUEUES = ("notify", "sms", "default", "media")
    JOB_TIMEOUT = 120
    # A text about a ticket's progress (assigned, status) waits this long for the
    # next change, which rewrites it: several saves in a few minutes, one SMS.
    SMS_DEBOUNCE_SECONDS = int(_env("SMS_DEBOUNCE_SECONDS", "180"))
    # A resolved request the caller did not object to is closed after this.
    CLOSE_AFTER_DAYS = int(_env("CLOSE_AFTER_DAYS", "7"))
    JOB_RETRY_INTERVALS = (10, 30, 120, 600)
    # The outbox owns a text's attempts: the n-th failure waits about
    # SMS_RETRY_SECONDS * 2**(n-1) (jittered, at most an hour, never less than
    # Twilio's Retry-After); after SMS_MAX_ATTEMPTS sends the text is failed.
    SMS_RETRY_SECONDS = float(_env("SMS_RETRY_SECONDS", "30"))
    SMS_MAX_ATTEMPTS = int(_env("SMS_MAX_ATTEMPTS", "6"))
    # A job holding a text this long has died; the next one asks Twilio first.
    # Longer than a job may run (JOB_TIMEOUT).
    SMS_CLAIM_LEASE_SECONDS = float(_env("SMS_CLAIM_LEASE_SECONDS", "600"))
    # Without REDIS_URL, each process flushes the outbox (retries, quiet hours)
    # and requeues stalled fetches this often.
    SCHEDULER_INTERVAL_SECONDS = float(
        _env("SCHEDULER_INTERVAL_SECONDS", "30")
    )  # 0: none
    API_PAGE_LIMIT = 100


class DevelopmentConfig(BaseConfig):
    DEBUG = False


class TestingConfig(BaseConfig):
    TESTING = True
    SECRET_KEY = "test-secret-key"  # noqa: S105 - test-only constant
    SQLALCHEMY_DATABASE_URI = "sqlite://"
    SQLALCHEMY_ENGINE_OPTIONS: ClassVar[dict] = {}
    REDIS_URL = None
    EVENTS_PREFIX = None
    PUBLIC_BASE_URL = None
    TWILIO_ACCOUNT_SID = None
    TWILIO_AUTH_TOKEN = "test-auth-token"  # noqa: S105 - test-only constant
    TWILIO_API_KEY = None
    TWILIO_API_SECRET = None
    TWILIO_TWIML_APP_SID = None
    LINES_FILE = str(ROOT / "config" / "lines.yaml")
    MENUS_DIR = str(ROOT / "config" / "menus")
    SMS_FILE = str(ROOT / "config" / "sms.yaml")
    SLA_FILE = str(ROOT / "config" / "sla.yaml")
    NOTICES_FILE = str(ROOT / "config" / "notices.yaml")
    MAIL_SMTP_URL = None
    DEFAULT_REGION = "BJ"
    WTF_CSRF_ENABLED = False
    # No scheduler thread outliving its test's app and database; the tests of
    # the scheduler make their own.
    SCHEDULER_INTERVAL_SECONDS = 0.0


class ProductionConfig(BaseConfig):
    # CONTRACT §2 gives every setting a working default (a secret and a local
    # Twilio token under instance/), so production starts on a bare machine too;
    # create_app logs loudly what is running on those defaults.
    # Production is served over https (Twilio signs https URLs): cookies never
    # travel in clear, never reach scripts, and stay off cross-site posts.
    SESSION_COOKIE_SECURE = True
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_SECURE = True
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"


CONFIGS: dict[str, type[BaseConfig]] = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}
