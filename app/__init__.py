"""Écoute's application factory."""

import logging

from flask import Flask
from flask_babel import get_locale
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url

from app import dbguard, errors, events, labels, queue, security, vendor
from app.cli import register_commands
from app.email_text import load_email_texts
from app.extensions import babel, csrf, db, login_manager, migrate
from app.i18n import forget_locale, select_locale, this_page_in
from app.lines import load_lines
from app.menus import load_menus
from app.notice_texts import load_notice_texts
from app.services import journey, sla_alerts
from app.sla import load_sla
from app.sms_text import load_sms_texts
from app.telephony import TwilioGateway
from app.webhooks import WebhookAwareSessions
from config import CONFIGS, INSTANCE, ROOT, BaseConfig, instance_secret

log = logging.getLogger(__name__)


def _load_config(app: Flask, config: str | type[BaseConfig]) -> None:
    app.config.from_object(CONFIGS[config] if isinstance(config, str) else config)
    # CONTRACT §2 defaults: a random secret and a local Twilio token under instance/.
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = instance_secret("secret_key")
    if not app.config.get("TWILIO_AUTH_TOKEN"):
        app.config["TWILIO_AUTH_TOKEN"] = instance_secret("twilio_local_token")
        app.config["TWILIO_LOCAL_TOKEN"] = True
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("postgres://"):  # Heroku-style URLs
        uri = "postgresql://" + uri.removeprefix("postgres://")
    if uri.startswith("postgresql://"):
        uri = "postgresql+psycopg://" + uri.removeprefix("postgresql://")
    app.config["SQLALCHEMY_DATABASE_URI"] = uri
    if uri.startswith("postgresql+"):
        # Threads beyond the pool wait for a connection: size it for the
        # webhooks (streams hold none), within PostgreSQL's connection limit.
        options = dict(app.config["SQLALCHEMY_ENGINE_OPTIONS"])
        options.setdefault("pool_size", app.config["DATABASE_POOL_SIZE"])
        options.setdefault("max_overflow", app.config["DATABASE_MAX_OVERFLOW"])
        options.setdefault("pool_timeout", app.config["DATABASE_POOL_TIMEOUT"])
        options["connect_args"] = _postgres_connect_args(app, uri, options)
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options
    if uri.startswith("sqlite:///"):
        INSTANCE.mkdir(parents=True, exist_ok=True)


def _postgres_connect_args(app: Flask, uri: str, options: dict) -> dict:
    """Time-outs for a PostgreSQL that is down or slow (config/__init__.py).

    connect_args replace the URL's own libpq `options` (a search_path, say), so
    the server settings are appended to them rather than set alone.
    """
    args = dict(options.get("connect_args", {}))
    args.setdefault("connect_timeout", app.config["DATABASE_CONNECT_TIMEOUT"])
    settings = [make_url(uri).query.get("options", "")]
    for name, key in (
        ("statement_timeout", "DATABASE_STATEMENT_TIMEOUT"),
        ("lock_timeout", "DATABASE_LOCK_TIMEOUT"),
    ):
        milliseconds = int(float(app.config[key]) * 1000)
        if milliseconds > 0:
            settings.append(f"-c {name}={milliseconds}")
    combined = " ".join(part for part in settings if isinstance(part, str) and part)
    if combined:
        args["options"] = combined
    return args


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(connection, _record) -> None:  # type: ignore[no-untyped-def]
    # WAL lets the web processes read while one writes; foreign keys are off by
    # default in SQLite.
    if type(connection).__module__ == "sqlite3":
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()


def _register_blueprints(app: Flask) -> None:
    from app.admin.views import bp as admin_bp
    from app.api import callers, stats  # noqa: F401  (routes of the API blueprint)
    from app.api.views import bp as api_bp
    from app.auth.views import bp as auth_bp
    from app.callers.views import bp as callers_bp
    from app.resend import bp as resend_bp
    from app.sms.views import bp as sms_bp
    from app.tickets import page  # noqa: F401  (its routes join the tickets blueprint)
    from app.tickets.views import bp as tickets_bp
    from focal.views import bp as focal_bp
    from inbox.cli import bp as inbox_bp  # `flask mail fetch` (CONTRACT §9.3)
    from ivr.views import bp as ivr_bp
    from open311.views import bp as open311_bp
    from portal import register_blueprints as register_public  # /public, /api/public
    from recordings.views import bp as recordings_bp
    from softphone.views import bp as softphone_bp
    from stats import (
        dashboard,  # noqa: F401  (its routes join the stats blueprint)
        report,  # noqa: F401  (its routes join the stats blueprint)
        wallboard,  # noqa: F401  (its routes join the stats blueprint)
    )
    from stats.public import bp as public_stats_bp
    from stats.views import bp as stats_bp
    from ussd.views import bp as ussd_bp

    for blueprint in (auth_bp, tickets_bp, api_bp, softphone_bp, focal_bp):
        app.register_blueprint(blueprint)
    app.register_blueprint(admin_bp)
    app.register_blueprint(callers_bp)
    app.register_blueprint(stats_bp)
    app.register_blueprint(public_stats_bp)  # /public/stats: no login
    register_public(app)
    app.register_blueprint(resend_bp)  # a refused form comes back with its text
    app.register_blueprint(inbox_bp)
    # Twilio signs its requests, Open311 carries an api_key, USSD a ?key=: no
    # CSRF token.
    for blueprint in (ivr_bp, recordings_bp, sms_bp, open311_bp, ussd_bp):
        csrf.exempt(blueprint)
        app.register_blueprint(blueprint)


def _configure_logging() -> None:
    # Our own INFO lines (SMS written to the log, refused signatures) must show
    # under gunicorn and `flask run`, which leave the root logger bare.
    if not logging.getLogger().handlers:
        logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for package in ("app", "focal", "ivr", "recordings", "softphone", "stats"):
        logging.getLogger(package).setLevel(logging.INFO)


def create_app(config: str | type[BaseConfig] = "production") -> Flask:
    app = Flask(__name__, instance_path=str(INSTANCE))
    app.session_interface = WebhookAwareSessions()
    _load_config(app, config)
    _configure_logging()
    if app.config.get("TWILIO_LOCAL_TOKEN"):
        log.info("TWILIO_AUTH_TOKEN unset: webhooks are checked with the local token")

    db.init_app(app)
    dbguard.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True)
    login_manager.init_app(app)
    csrf.init_app(app)
    security.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    app.before_request(forget_locale)
    app.jinja_env.globals["get_locale"] = get_locale
    app.jinja_env.globals["this_page_in"] = this_page_in
    labels.init_app(app)  # human words for stored values, the centre's time
    vendor.init_app(app)  # htmx and the other npm packages, served locally
    queue.init_app(app)
    journey.init_app(app)  # its periodic jobs: automatic closing
    sla_alerts.init_app(app)  # reminders and escalations, `flask sla check`
    events.init_app(app)
    app.extensions["twilio"] = TwilioGateway.from_app(app)
    # Lines and menus are read once here: a malformed file stops start-up with
    # an error naming the file and the line.
    lines = load_lines(app.config["LINES_FILE"], app.config["DEFAULT_REGION"])
    app.extensions["lines"] = lines
    app.extensions["menus"] = load_menus(app.config["MENUS_DIR"], lines)
    app.extensions["sms_texts"] = load_sms_texts(app.config["SMS_FILE"])
    app.extensions["email_texts"] = load_email_texts(app.config["EMAILS_FILE"])
    app.extensions["sla"] = load_sla(app.config["SLA_FILE"])
    app.extensions["notice_texts"] = load_notice_texts(app.config["NOTICES_FILE"])

    _register_blueprints(app)
    errors.init_app(app)  # after the blueprints: the pages' error pages
    register_commands(app)
    return app
