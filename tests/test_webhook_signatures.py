"""Every Twilio-facing endpoint refuses what Twilio did not sign, read off the URL map.

The list is not written by hand: every rule under /voice/ or /sms/, and every
view wrapped by `twilio_signed` wherever it lives, is posted to unsigned, signed
with another token, signed for another URL and tampered with. Each answers 403
and writes nothing (CONTRACT §1). A rule under those prefixes that is not
wrapped fails the first test, so a new unsigned webhook cannot ship.
"""

import pytest
from flask import Flask
from sqlalchemy import func, select
from werkzeug.routing import Rule

from app import create_app
from app.extensions import db
from app.spool import spool_dir
from app.webhooks import WEBHOOK_PREFIXES
from config import TestingConfig
from tests.conftest import CALLER, LINE, sign
from tests.factories import sid

# The query strings the TwiML's own URLs carry: signed like the rest.
QUERY = "?lang=fr&attempt=1&purpose=complaint&category=delay"
SIGNED_ELSEWHERE = "http://localhost/voice/elsewhere"


def _routes(app: Flask) -> list[Rule]:
    return sorted(app.url_map.iter_rules(), key=lambda rule: rule.rule)


def _is_signed(app: Flask, rule: Rule) -> bool:
    return getattr(app.view_functions[rule.endpoint], "twilio_signed", False)


def _webhooks() -> list[tuple[str, str]]:
    """(method, path) of every Twilio-facing rule of the app as it is built."""
    app = create_app(TestingConfig)
    urls = app.url_map.bind("localhost")
    found = []
    for rule in _routes(app):
        if rule.rule.startswith(WEBHOOK_PREFIXES) or _is_signed(app, rule):
            path = urls.build(rule.endpoint, dict.fromkeys(rule.arguments, "1"))
            found.extend(
                (method, path) for method in sorted(rule.methods - {"HEAD", "OPTIONS"})
            )
    return found


WEBHOOKS = _webhooks()


def _form() -> dict[str, str]:
    """What Twilio posts, enough for any of the webhooks to act on it."""
    return {
        "AccountSid": "AC" + "0" * 32,
        "CallSid": sid("CA"),
        "MessageSid": sid("SM"),
        "RecordingSid": sid("RE"),
        "From": CALLER,
        "To": LINE,
        "Called": LINE,
        "CallStatus": "completed",
        "MessageStatus": "delivered",
        "RecordingStatus": "completed",
        "RecordingUrl": "https://api.twilio.com/2010-04-01/Accounts/AC/Recordings/RE",
        "RecordingDuration": "3",
        "DialCallStatus": "completed",
        "QueueResult": "hangup",
        "Digits": "1",
        "SpeechResult": "plainte",
        "Body": "STOP",
        "NumMedia": "0",
    }


def _rows() -> int:
    return sum(
        db.session.scalar(select(func.count()).select_from(table))
        for table in db.metadata.sorted_tables
    )


def test_every_rule_under_the_webhook_prefixes_checks_the_signature(app):
    unsigned = [
        rule.rule
        for rule in _routes(app)
        if rule.rule.startswith(WEBHOOK_PREFIXES) and not _is_signed(app, rule)
    ]
    assert unsigned == []
    # The contract's six are among them, so the list is not empty by mistake.
    contract = {
        "/voice/incoming",
        "/voice/status",
        "/voice/recording",
        "/sms/incoming",
        "/sms/status",
        "/voice/fallback",
    }
    assert contract <= {path for _, path in WEBHOOKS}


@pytest.mark.parametrize(("method", "path"), WEBHOOKS)
def test_what_twilio_did_not_sign_gets_403_and_changes_nothing(
    app, client, sms, method, path
):
    url = path + QUERY
    form = _form()
    good = sign("http://localhost" + url, form)
    refused = {
        "unsigned": (form, {}),
        "another token": (form, sign("http://localhost" + url, form, token="x" * 32)),
        "another URL": (form, sign(SIGNED_ELSEWHERE, form)),
        "another query": (form, sign("http://localhost" + path + "?lang=en", form)),
        "a field changed": ({**form, "Digits": "0"}, good),
        "a field added": ({**form, "Extra": "1"}, good),
        "garbage": (form, "not a signature"),
    }
    for case, (data, signature) in refused.items():
        headers = {"X-Twilio-Signature": signature} if signature else {}
        response = client.open(url, method=method, data=data, headers=headers)
        assert response.status_code == 403, (case, response.status_code)
    assert _rows() == 0
    assert sms.sent == []
    assert not spool_dir(app).exists() or not any(spool_dir(app).iterdir())


@pytest.mark.parametrize(("method", "path"), WEBHOOKS)
def test_the_same_request_signed_gets_past_the_check(client, method, path):
    """The control: the 403s above come from the signature, not from the request."""
    url = path + QUERY
    form = _form()
    signature = sign("http://localhost" + url, form)
    response = client.open(
        url, method=method, data=form, headers={"X-Twilio-Signature": signature}
    )
    assert response.status_code != 403
    assert response.status_code < 500
