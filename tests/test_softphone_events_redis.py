"""/softphone/events against a real Redis: 503 while it is down, and channels
kept apart for deployments sharing one Redis server."""

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from flask import Flask

from app import create_app
from app.events import KEEPALIVE, default_prefix
from app.extensions import db
from config import TestingConfig
from tests.factories import make_token, make_user
from tests.redis_server import (
    RedisServer,
    redis_server,  # noqa: F401  (the fixture, used here by name)
)

pytestmark = pytest.mark.redis


@contextmanager
def app_on(redis_url: str, **settings: object) -> Iterator[Flask]:
    config = type(
        "EventsConfig", (TestingConfig,), {"REDIS_URL": redis_url, **settings}
    )
    app = create_app(config)
    with app.app_context():
        db.create_all()
        try:
            yield app
        finally:
            db.session.remove()
            db.drop_all()


def test_events_answer_503_while_redis_is_down_then_stream_again(
    redis_server: RedisServer,  # noqa: F811
):
    with app_on(redis_server.url) as app:
        headers = {"Authorization": f"Bearer {make_token(make_user())}"}
        client = app.test_client()
        redis_server.stop()
        response = client.get("/softphone/events", headers=headers)
        assert response.status_code == 503
        assert int(response.headers["Retry-After"]) > 0
        assert response.get_json()["error"]["code"] == "events_unavailable"
        assert "Redis" in response.get_json()["error"]["message"]

        redis_server.start()
        response = client.get("/softphone/events", headers=headers, buffered=False)
        try:
            assert response.status_code == 200
            assert response.mimetype == "text/event-stream"
            first = next(iter(response.response))
            assert first.startswith(b"event: ready")
        finally:
            response.close()


def received(subscription, wait: float = 1.0) -> list:
    """What reached the subscription within `wait` seconds (keep-alives aside)."""
    got, deadline = [], time.monotonic() + wait
    messages = subscription.messages(0.1)
    while time.monotonic() < deadline:
        item = next(messages)
        if item is not KEEPALIVE:
            got.append(item)
    return got


def test_two_deployments_in_two_databases_never_hear_each_other(
    redis_server: RedisServer,  # noqa: F811
):
    base = redis_server.url.rsplit("/", 1)[0]
    with app_on(f"{base}/1") as first, app_on(f"{base}/2") as second:
        mine = first.extensions["events"]
        theirs = second.extensions["events"]
        assert first.config["EVENTS_PREFIX"] != second.config["EVENTS_PREFIX"]
        subscription = mine.subscribe("agent:1")
        try:
            assert theirs.publish("agent:1", "screenpop", {"call_sid": "CA2"}) == 0
            assert mine.publish("agent:1", "screenpop", {"call_sid": "CA1"}) == 1
            assert received(subscription) == [("screenpop", {"call_sid": "CA1"})]
        finally:
            subscription.close()


def test_events_prefix_setting_wins_over_the_database(
    redis_server: RedisServer,  # noqa: F811
):
    base = redis_server.url.rsplit("/", 1)[0]
    with (
        app_on(f"{base}/1", EVENTS_PREFIX="centre-a:") as first,
        app_on(f"{base}/1", EVENTS_PREFIX="centre-b:") as second,
    ):
        subscription = first.extensions["events"].subscribe("agent:1")
        try:
            second.extensions["events"].publish("agent:1", "screenpop", {"n": 2})
            first.extensions["events"].publish("agent:1", "screenpop", {"n": 1})
            assert received(subscription) == [("screenpop", {"n": 1})]
        finally:
            subscription.close()


@pytest.mark.parametrize(
    ("url", "prefix"),
    [
        ("redis://127.0.0.1:6379", "ecoute:0:"),
        ("redis://127.0.0.1:6379/3", "ecoute:3:"),
        ("redis://localhost:6379/3", "ecoute:3:"),
        ("redis://:secret@redis.internal:6380/12", "ecoute:12:"),
        ("redis://127.0.0.1:6379?db=5", "ecoute:5:"),
    ],
)
def test_the_default_prefix_names_the_database_only(url, prefix):
    assert default_prefix(url) == prefix
    assert "secret" not in json.dumps(default_prefix(url))
