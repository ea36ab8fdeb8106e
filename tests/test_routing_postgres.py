"""Concurrent callers against gunicorn on PostgreSQL, as Twilio would send them.

Threads post the webhooks at the same instant, so the claim on an agent and the
queue's order are decided by the database under real races, not by the order of
a test's lines.
"""

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET

import psycopg
import pytest
import requests

from tests.factories import sid
from tests.test_migrations import flask_env, postgres_schema, run_flask
from tests.test_screenpop_redis import (
    AUTH_TOKEN,
    WAIT_SECONDS,
    Caller,
    Server,
    seed_agents,
    set_presence,
    start_gunicorn,
    stop_gunicorn,
)

pytestmark = pytest.mark.postgres

ROUNDS = 8  # races per test: one lucky ordering must not pass for a correct one


@dataclass
class Centre:
    server: Server
    caller: Caller
    agents: list[tuple[int, str]]  # (user id, API token)
    database: str


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Centre]:
    """gunicorn, 2 workers of 8 threads, on a migrated PostgreSQL schema."""
    folder = tmp_path_factory.mktemp("routing")
    with postgres_schema() as database:
        env = flask_env(
            folder / "instance", DATABASE_URL=database, TWILIO_AUTH_TOKEN=AUTH_TOKEN
        )
        run_flask("db", "upgrade", env=env)
        agents = seed_agents(database, 2)
        try:
            server = start_gunicorn(folder, env)
        except RuntimeError as error:
            pytest.fail(str(error))
        try:
            yield Centre(server, Caller(server.url), agents, database)
        finally:
            stop_gunicorn(server)


@pytest.fixture
def centre(served: Centre) -> Centre:
    """The served centre with no call, ticket or presence left by another test."""
    with psycopg.connect(served.database, autocommit=True) as connection:
        connection.execute(
            "TRUNCATE presence, calls, callers, tickets, messages, recordings CASCADE"
        )
    return served


def at_once(*actions: Callable[[], requests.Response]) -> list[requests.Response]:
    """Run the actions in threads released together."""
    start = threading.Barrier(len(actions))

    def run(action: Callable[[], requests.Response]) -> requests.Response:
        start.wait(WAIT_SECONDS)
        return action()

    with ThreadPoolExecutor(len(actions)) as pool:
        return list(pool.map(run, actions))


def xml(response: requests.Response) -> ET.Element:
    assert response.status_code == 200, response.text
    return ET.fromstring(response.text)


def rung(response: requests.Response) -> str | None:
    return xml(response).findtext("Dial/Client/Identity")


def url_of(response: requests.Response, verb: str, attribute: str) -> str:
    """An action URL of the TwiML, relative to the app as Twilio would follow it."""
    element = xml(response).find(verb)
    assert element is not None, response.text
    parts = urlsplit(element.get(attribute))
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def agent_leg(centre: Centre, agent_id: int, parent: str, status: str) -> None:
    form = {
        "CallSid": sid("CA"),
        "ParentCallSid": parent,
        "To": f"client:agent_{agent_id}",
        "CallStatus": status,
        "AccountSid": "AC" + "0" * 32,
    }
    response = centre.caller.post("/voice/agent-status", form)
    assert response.status_code == 204, response.text


def hang_up(centre: Centre, call_sid: str) -> None:
    response = centre.caller.post(
        "/voice/status", centre.caller.form(call_sid, "completed")
    )
    assert response.status_code == 204, response.text


def test_one_agent_two_callers_at_once_ring_them_once(centre):
    (agent_id, token), _ = centre.agents
    set_presence(centre.server.url, token, "available")
    identity = f"agent_{agent_id}"
    for _ in range(ROUNDS):
        sids = [centre.caller.ring(), centre.caller.ring()]
        answers = at_once(*(lambda s=s: centre.caller.press_0(s) for s in sids))
        identities = [rung(answer) for answer in answers]
        assert sorted(identities, key=str) == [None, identity], identities
        waiting = answers[identities.index(None)]
        assert xml(waiting).find("Enqueue") is not None
        for call_sid in sids:
            hang_up(centre, call_sid)


def test_three_queued_callers_are_served_in_arrival_order(centre):
    (agent_id, token), _ = centre.agents
    set_presence(centre.server.url, token, "available")
    busy_with = centre.caller.ring()
    assert rung(centre.caller.press_0(busy_with)) == f"agent_{agent_id}"
    agent_leg(centre, agent_id, busy_with, "in-progress")
    queued = []
    for _ in range(3):
        call_sid = centre.caller.ring()
        answer = centre.caller.press_0(call_sid)
        queued.append((call_sid, answer))
    waits = {s: url_of(answer, "Enqueue", "waitUrl") for s, answer in queued}
    results = {s: url_of(answer, "Enqueue", "action") for s, answer in queued}
    served = []
    previous = busy_with
    for _ in range(len(queued)):
        agent_leg(centre, agent_id, previous, "completed")  # the agent is free
        waiting = [s for s, _ in queued if s not in served]
        for _ in range(3):  # every waiting caller asks, all at once, three times
            answers = at_once(
                *(
                    lambda s=s: centre.caller.post(
                        waits[s], {**centre.caller.form(s, "in-progress")}
                    )
                    for s in waiting
                )
            )
            leaving = [
                s
                for s, answer in zip(waiting, answers, strict=True)
                if xml(answer).find("Leave") is not None
            ]
            if leaving:
                break
        assert len(leaving) == 1, leaving
        [head] = leaving
        answer = centre.caller.post(
            results[head],
            {**centre.caller.form(head, "in-progress"), "QueueResult": "leave"},
        )
        assert rung(answer) == f"agent_{agent_id}"
        agent_leg(centre, agent_id, head, "in-progress")
        served.append(head)
        previous = head
    assert served == [s for s, _ in queued]


def test_a_device_that_drops_while_ringing_is_not_rung_again(centre):
    (first_id, first_token), (second_id, second_token) = centre.agents
    set_presence(centre.server.url, first_token, "available")
    set_presence(centre.server.url, second_token, "available")
    call_sid = centre.caller.ring()
    answer = centre.caller.press_0(call_sid)
    dropped_id, dropped_token = (
        (first_id, first_token)
        if rung(answer) == f"agent_{first_id}"
        else (second_id, second_token)
    )
    other_id = second_id if dropped_id == first_id else first_id
    # The ringing agent's page loses its device (network, microphone)...
    response = requests.post(
        centre.server.url + "/softphone/device",
        json={"registered": False},
        headers={"Authorization": f"Bearer {dropped_token}"},
        timeout=WAIT_SECONDS,
    )
    assert response.json()["status"] == "offline"
    # ...then Twilio gives up on it: the other agent rings, never this one again.
    dial_result = url_of(answer, "Dial", "action")
    form = {**centre.caller.form(call_sid, "in-progress"), "DialCallStatus": "failed"}
    assert rung(centre.caller.post(dial_result, form)) == f"agent_{other_id}"
    others = [centre.caller.ring() for _ in range(3)]
    answers = at_once(*(lambda s=s: centre.caller.press_0(s) for s in others))
    assert [rung(answer) for answer in answers] == [None, None, None]
    # Choosing Available again is refused until the device is back.
    refused = requests.post(
        centre.server.url + "/softphone/presence",
        json={"status": "available"},
        headers={"Authorization": f"Bearer {dropped_token}"},
        timeout=WAIT_SECONDS,
    )
    assert refused.status_code == 409
