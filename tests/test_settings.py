"""Settings from the environment: CONTRACT §2 defaults, and bad values named."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from config import ROOT
from config.settings import Settings, SettingsError, read_settings

FLASK = str(Path(sys.executable).with_name("flask"))


def read(tmp_path: Path, **environ: str) -> Settings:
    return read_settings(environ, ROOT, tmp_path)


def test_defaults_are_the_contracts(tmp_path):
    settings = read(tmp_path)
    assert f"sqlite:///{tmp_path / 'ecoute.sqlite3'}" == settings.DATABASE_URL
    assert settings.REDIS_URL is None
    assert settings.TWILIO_API_BASE_URL == "https://api.twilio.com"
    assert str(ROOT / "config" / "lines.yaml") == settings.LINES_FILE
    assert str(ROOT / "config" / "sla.yaml") == settings.SLA_FILE
    assert settings.DEFAULT_REGION == "BJ"
    assert str(tmp_path / "recordings") == settings.RECORDINGS_DIR
    assert settings.CLOSE_AFTER_DAYS == 7
    assert settings.SHORT_ABANDON_SECONDS == 5
    assert settings.SERVICE_LEVEL_SECONDS == 20
    assert settings.PUBLIC_RATE_LIMIT == "5/hour"
    assert settings.USSD_SECRET is None
    assert settings.USSD_LANGUAGE == "fr"
    assert settings.MAIL_IMAP_URL is None
    assert settings.DATABASE_POOL_SIZE == 10
    assert settings.DATABASE_POOL_TIMEOUT == 2.0
    assert settings.DELETE_TWILIO_RECORDINGS is False
    assert settings.APP_ENV == "production"
    assert settings.CENTRE_TIMEZONE == "Africa/Porto-Novo"
    assert settings.STAFF_LANGUAGE == "fr"
    assert settings.MAIL_SMTP_URL is None
    assert settings.MAIL_FROM == "ecoute@localhost"


def test_empty_means_unset_and_values_are_typed(tmp_path):
    settings = read(
        tmp_path,
        REDIS_URL="  ",
        DATABASE_POOL_SIZE=" 4 ",
        DATABASE_STATEMENT_TIMEOUT="0",
        DELETE_TWILIO_RECORDINGS="Yes",
        DEFAULT_REGION="ci",
        DATABASE_URL="postgres://ecoute:pw@db/ecoute",
    )
    assert settings.REDIS_URL is None
    assert settings.DATABASE_POOL_SIZE == 4
    assert settings.DATABASE_STATEMENT_TIMEOUT == 0.0
    assert settings.DELETE_TWILIO_RECORDINGS is True
    assert settings.DEFAULT_REGION == "CI"
    assert settings.DATABASE_URL == "postgres://ecoute:pw@db/ecoute"
    assert (
        read(tmp_path, DELETE_TWILIO_RECORDINGS="off").DELETE_TWILIO_RECORDINGS is False
    )


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("DATABASE_POOL_SIZE", "ten", "must be a whole number"),
        ("DATABASE_POOL_SIZE", "0", "must be more than 0"),
        ("RECORDINGS_RETENTION_DAYS", "-30", "must be 0 or more"),
        ("SMS_RETRY_SECONDS", "soon", "must be a number"),
        ("SMS_RETRY_SECONDS", "inf", "must be a finite number"),
        ("CLOSE_AFTER_DAYS", "1.5", "must be a whole number"),
        ("SHORT_ABANDON_SECONDS", "-1", "must be 0 or more"),
        ("SERVICE_LEVEL_SECONDS", "0", "must be more than 0"),
        ("PUBLIC_RATE_LIMIT", "lots", "must be a rate such as 5/hour"),
        ("MAIL_IMAP_URL", "mail.example.org", "must be a URL starting with imap://"),
        ("USSD_LANGUAGE", "de", "must be 'fr' or 'en'"),
        (
            "REDIS_URL",
            "localhost:6379",
            "must be a URL starting with redis://, rediss:// or unix://",
        ),
        (
            "PUBLIC_BASE_URL",
            "ecoute.example.org",
            "must be a URL starting with http://",
        ),
        (
            "TWILIO_API_BASE_URL",
            "ftp://api.twilio.com",
            "must be a URL starting with http://",
        ),
        ("DATABASE_URL", "ecoute.sqlite3", "must be a database URL"),
        ("DEFAULT_REGION", "Benin", "must be a two-letter country code"),
        (
            "DELETE_TWILIO_RECORDINGS",
            "maybe",
            "must be one of 1, true, yes, on, 0, false",
        ),
        ("APP_ENV", "prod", "must be 'production', 'development' or 'testing'"),
        ("TRUSTED_PROXIES", "-1", "must be 0 or more"),
        ("MAIL_TIMEOUT_SECONDS", "0", "must be more than 0"),
        ("CENTRE_TIMEZONE", "Porto-Novo", "must be a time zone"),
        ("STAFF_LANGUAGE", "de", "must be 'fr' or 'en'"),
        ("MAIL_SMTP_URL", "mail.example.org:587", "must be a URL starting with smtp"),
        ("MAIL_FROM", "ecoute", "must be an e-mail address"),
    ],
)
def test_a_bad_value_is_named(tmp_path, name, value, words):
    with pytest.raises(SettingsError) as caught:
        read(tmp_path, **{name: value})
    assert f"{name}: {words}" in str(caught.value), str(caught.value)


def test_a_bad_value_is_not_echoed(tmp_path):
    # URLs carry passwords: the error says what is wrong, never what was given.
    with pytest.raises(SettingsError) as caught:
        read(
            tmp_path,
            DATABASE_URL="postgresql//ecoute:s3cret@db/ecoute",
            REDIS_URL="http://:s3cret@redis:6379/0",
            PUBLIC_BASE_URL="s3cret.example.org",
        )
    assert "DATABASE_URL" in str(caught.value)
    assert "s3cret" not in str(caught.value)


def test_every_bad_value_is_named_at_once(tmp_path):
    with pytest.raises(SettingsError) as caught:
        read(tmp_path, SMS_MAX_ATTEMPTS="0", REDIS_URL="http://x")
    assert "SMS_MAX_ATTEMPTS: must be more than 0" in str(caught.value)
    assert "REDIS_URL: must be a URL" in str(caught.value)


def test_the_app_does_not_start_on_a_bad_setting_and_says_which(tmp_path):
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in Settings.model_fields
    }
    env.update(
        APP_ENV="production",
        ECOUTE_INSTANCE=str(tmp_path),
        DATABASE_MAX_OVERFLOW="lots",
        # A password in a URL must not reach the logs.
        REDIS_URL="http//:s3cret@redis.example.org:6379/0",
    )
    result = subprocess.run(
        [FLASK, "--app", "wsgi", "routes"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "DATABASE_MAX_OVERFLOW: must be a whole number" in output, output
    assert "REDIS_URL: must be a URL starting with redis://" in output, output
    assert "s3cret" not in output
