"""Settings, read from the environment (and `.env`) and checked (config/settings.py)."""

import os
import secrets
from pathlib import Path
from typing import ClassVar

from dotenv import load_dotenv

from config.settings import read_settings

ROOT = Path(__file__).resolve().parent.parent
INSTANCE = Path(os.environ.get("ECOUTE_INSTANCE", ROOT / "instance"))

# Read `.env` before the classes below look at os.environ; real env vars win.
load_dotenv(ROOT / ".env", override=False)
# A wrong value stops here, at import, with an error naming the variable.
SETTINGS = read_settings(os.environ, ROOT, INSTANCE)


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


class BaseConfig:
    SECRET_KEY = SETTINGS.SECRET_KEY
    SQLALCHEMY_DATABASE_URI = SETTINGS.DATABASE_URL
    # Connections are also pinged at checkout (app/dbguard.py), so the first
    # call after a database restart is served, not apologised to.
    SQLALCHEMY_ENGINE_OPTIONS: ClassVar[dict] = {"pool_recycle": 300}
    # PostgreSQL connections per web or worker process: pool + overflow. Four
    # gunicorn processes at the defaults hold at most 80 of PostgreSQL's 100.
    DATABASE_POOL_SIZE = SETTINGS.DATABASE_POOL_SIZE
    DATABASE_MAX_OVERFLOW = SETTINGS.DATABASE_MAX_OVERFLOW
    # A database that stops or hangs must not hold a caller past Twilio's 15 s:
    # seconds to open a connection (libpq counts whole seconds, at least 2) and
    # to wait for a pooled one when all are taken.
    DATABASE_CONNECT_TIMEOUT = SETTINGS.DATABASE_CONNECT_TIMEOUT
    DATABASE_POOL_TIMEOUT = SETTINGS.DATABASE_POOL_TIMEOUT
    # Server-side limits for a slow (not frozen) PostgreSQL, in seconds; 0 = none.
    # Set DATABASE_STATEMENT_TIMEOUT=0 for a migration that rewrites a big table.
    DATABASE_STATEMENT_TIMEOUT = SETTINGS.DATABASE_STATEMENT_TIMEOUT
    DATABASE_LOCK_TIMEOUT = SETTINGS.DATABASE_LOCK_TIMEOUT
    # Seconds a webhook (/voice/, /sms/) may spend waiting on the database before
    # its connection is cut and the outage path answers; works on a frozen server
    # too. 0 turns the watchdog off. 2 s, not more: a request queued behind a
    # busy thread waits up to this long, then may spend the connect time-out,
    # and Twilio must have its answer well within 5 s.
    DATABASE_WEBHOOK_DEADLINE = SETTINGS.DATABASE_WEBHOOK_DEADLINE
    REDIS_URL = SETTINGS.REDIS_URL
    # Prefix of the live-event channels (CONTRACT §2); unset: one per database
    # of REDIS_URL (app/events.py), so deployments sharing a Redis never mix.
    EVENTS_PREFIX = SETTINGS.EVENTS_PREFIX
    PUBLIC_BASE_URL = SETTINGS.PUBLIC_BASE_URL
    TWILIO_ACCOUNT_SID = SETTINGS.TWILIO_ACCOUNT_SID
    TWILIO_AUTH_TOKEN = SETTINGS.TWILIO_AUTH_TOKEN
    TWILIO_API_KEY = SETTINGS.TWILIO_API_KEY
    TWILIO_API_SECRET = SETTINGS.TWILIO_API_SECRET
    TWILIO_TWIML_APP_SID = SETTINGS.TWILIO_TWIML_APP_SID
    TWILIO_API_BASE_URL = SETTINGS.TWILIO_API_BASE_URL
    LINES_FILE = SETTINGS.LINES_FILE
    MENUS_DIR = SETTINGS.MENUS_DIR
    SMS_FILE = SETTINGS.SMS_FILE
    EMAILS_FILE = SETTINGS.EMAILS_FILE
    SLA_FILE = SETTINGS.SLA_FILE
    NOTICES_FILE = SETTINGS.NOTICES_FILE
    # The language of notices to staff (focal points, supervisors).
    STAFF_LANGUAGE = SETTINGS.STAFF_LANGUAGE
    # The centre's days and clock, for staff pages, notices and statistics.
    CENTRE_TIMEZONE = SETTINGS.CENTRE_TIMEZONE
    # Outgoing e-mail (staff notices; citizens' e-mail with §9):
    # smtp://user:password@host:587 (STARTTLS when offered) or smtps://...:465.
    # Unset: e-mails are written to the log, as SMS are without Twilio.
    MAIL_SMTP_URL = SETTINGS.MAIL_SMTP_URL
    MAIL_FROM = SETTINGS.MAIL_FROM
    MAIL_IMAP_URL = SETTINGS.MAIL_IMAP_URL
    MAIL_ATTACHMENT_MAX_BYTES = SETTINGS.MAIL_ATTACHMENT_MAX_BYTES
    PUBLIC_RATE_LIMIT = SETTINGS.PUBLIC_RATE_LIMIT
    USSD_SECRET = SETTINGS.USSD_SECRET
    USSD_LANGUAGE = SETTINGS.USSD_LANGUAGE
    MAIL_TIMEOUT_SECONDS = SETTINGS.MAIL_TIMEOUT_SECONDS
    DEFAULT_REGION = SETTINGS.DEFAULT_REGION
    RECORDINGS_DIR = SETTINGS.RECORDINGS_DIR
    # How long recording media is kept (a line's retention_days wins); 0 = forever.
    RECORDINGS_RETENTION_DAYS = SETTINGS.RECORDINGS_RETENTION_DAYS
    # Delete Twilio's copy once ours is verified (off: Twilio keeps a backup).
    DELETE_TWILIO_RECORDINGS = SETTINGS.DELETE_TWILIO_RECORDINGS
    RECORDING_FETCH_RETRY_INTERVALS = (15, 60, 300, 900, 3600)
    # Webhook bodies are a few kB; 256 kB leaves room for long unicode speech
    # results while refusing uploads nobody should send.
    MAX_CONTENT_LENGTH = 256 * 1024
    WTF_CSRF_TIME_LIMIT = None
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    BABEL_DEFAULT_LOCALE = "fr"
    # Staff read every time in the centre's zone (Babel's datetimeformat).
    BABEL_DEFAULT_TIMEZONE = SETTINGS.CENTRE_TIMEZONE
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
    SMS_DEBOUNCE_SECONDS = SETTINGS.SMS_DEBOUNCE_SECONDS
    # A resolved request the caller did not object to is closed after this.
    CLOSE_AFTER_DAYS = SETTINGS.CLOSE_AFTER_DAYS
    SHORT_ABANDON_SECONDS = SETTINGS.SHORT_ABANDON_SECONDS
    SERVICE_LEVEL_SECONDS = SETTINGS.SERVICE_LEVEL_SECONDS
    JOB_RETRY_INTERVALS = (10, 30, 120, 600)
    # The outbox owns a text's attempts: the n-th failure waits about
    # SMS_RETRY_SECONDS * 2**(n-1) (jittered, at most an hour, never less than
    # Twilio's Retry-After); after SMS_MAX_ATTEMPTS sends the text is failed.
    SMS_RETRY_SECONDS = SETTINGS.SMS_RETRY_SECONDS
    SMS_MAX_ATTEMPTS = SETTINGS.SMS_MAX_ATTEMPTS
    # A job holding a text this long has died; the next one asks Twilio first.
    # Longer than a job may run (JOB_TIMEOUT).
    SMS_CLAIM_LEASE_SECONDS = SETTINGS.SMS_CLAIM_LEASE_SECONDS
    # Without REDIS_URL, each process flushes the outbox (retries, quiet hours)
    # and requeues stalled fetches this often.
    SCHEDULER_INTERVAL_SECONDS = SETTINGS.SCHEDULER_INTERVAL_SECONDS  # 0: none
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
    EMAILS_FILE = str(ROOT / "config" / "emails.yaml")
    SLA_FILE = str(ROOT / "config" / "sla.yaml")
    NOTICES_FILE = str(ROOT / "config" / "notices.yaml")
    MAIL_SMTP_URL = None
    MAIL_IMAP_URL = None
    USSD_SECRET = "test-ussd-secret"  # noqa: S105 - test-only constant
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
