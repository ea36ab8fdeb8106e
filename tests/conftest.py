"""Fixtures: an app on in-memory SQLite, a fake Twilio gateway, signed webhooks."""

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from fakeredis import FakeRedis
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from rq import Queue
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from werkzeug.test import TestResponse

from app import create_app
from app.extensions import db
from app.lines import Line
from app.models import Role
from app.queue import JobQueue
from app.telephony import CallParties, SentMessage
from config import TestingConfig
from tests.factories import make_user

# Fixtures kept in their own modules: the media stand-in for recording downloads.
pytest_plugins = ["tests.media_standin"]

TOKEN = TestingConfig.TWILIO_AUTH_TOKEN
LINE = "+2290121300000"  # the first line of config/lines.yaml
HOTLINE = "+2290121300001"
CALLER = "+2290197000000"


@dataclass
class FakeGateway:
    """Stands in for TwilioGateway; `fail_with` makes the next sends raise."""

    sent: list[dict[str, str | None]] = field(default_factory=list)
    deleted_recordings: list[str] = field(default_factory=list)
    fail_with: list[Exception] = field(default_factory=list)
    configured: bool = True
    calls: dict[str, CallParties] = field(default_factory=dict)  # by CallSid

    def send_sms(self, to, body, from_, status_callback=None) -> SentMessage:
        if self.fail_with:
            raise self.fail_with.pop(0)
        self.sent.append(
            {"to": to, "body": body, "from": from_, "callback": status_callback}
        )
        return SentMessage(f"SM{len(self.sent):032x}", "queued")

    def call_parties(self, call_sid: str) -> CallParties | None:
        """What Twilio would say of a call: the ones set in `calls`, else unknown."""
        return self.calls.get(call_sid)

    def find_sent(self, to, body, from_, since) -> list[SentMessage]:
        """What Twilio's message list would say: the texts it took like this one."""
        if self.fail_with:
            raise self.fail_with.pop(0)
        return [
            SentMessage(f"SM{number:032x}", "sent")
            for number, sent in enumerate(self.sent, start=1)
            if (sent["to"], sent["body"]) == (to, body)
        ]

    def delete_recording(self, recording_sid: str) -> bool:
        self.deleted_recordings.append(recording_sid)
        return True


def twilio_error(status: int, code: int) -> TwilioRestException:
    return TwilioRestException(
        status, "https://api.twilio.com/x", msg="error", code=code
    )


def service_required(name: str) -> None:
    """Skip loudly when a local service is missing, but fail under CI=true."""
    message = f"{name} is not reachable on this machine"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message}, and CI needs it")
    pytest.skip(message)


@pytest.fixture(autouse=True)
def daytime(monkeypatch):
    """SMS quiet hours off, so no test depends on the hour it runs at.

    Quiet-hour tests call `daytime.undo()` and pin the clock themselves.
    """
    monkeypatch.setattr(Line, "sms_allowed_at", lambda self, at: at)
    return monkeypatch


@pytest.fixture
def app(tmp_path) -> Iterator[Flask]:
    app = create_app(TestingConfig)
    app.config["RECORDINGS_DIR"] = str(tmp_path / "recordings")
    app.instance_path = str(tmp_path / "instance")
    app.extensions["twilio"] = FakeGateway()
    inline = Queue(is_async=False, connection=FakeRedis())
    app.extensions["rq"] = JobQueue(
        dict.fromkeys(TestingConfig.RQ_QUEUES, inline),
        retry_intervals=(1,),
        timeout=30,
    )
    with app.app_context():
        db.create_all()
        try:
            yield app
        finally:
            db.session.remove()
            db.drop_all()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def sms(app: Flask) -> FakeGateway:
    return app.extensions["twilio"]


@pytest.fixture
def agents(app: Flask) -> tuple:
    """Two agents, signed in nowhere yet."""
    first = make_user("awa@example.org", Role.AGENT)
    second = make_user("koffi@example.org", Role.AGENT)
    return first, second


def sign(url: str, form: dict[str, str], token: str = TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, form)


@pytest.fixture
def twilio_post(client: FlaskClient) -> Callable[..., TestResponse]:
    """POST a form to `path` signed the way Twilio signs it."""

    def post(path: str, **form: str) -> TestResponse:
        signature = sign("http://localhost" + path, form)
        return client.post(path, data=form, headers={"X-Twilio-Signature": signature})

    return post
