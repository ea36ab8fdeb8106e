"""PostgreSQL stops or freezes under a running gunicorn: no caller is lost.

A private PostgreSQL (tests/postgres_server.py) serves the app, migrated by
`flask db upgrade`, under gunicorn as production runs it (gthread, real threads
and time-outs). Twilio's webhooks are posted signed over HTTP; its REST API is
the local stand-in, which counts every SMS sent. Each case asserts what the
caller heard, how long it took, and that after the outage every call, ticket,
message and recording is there exactly once.
"""

import secrets
import shutil
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
import requests
from sqlalchemy import text

from app import create_app
from app.extensions import db
from config import TestingConfig
from tests.conftest import LINE, sign
from tests.postgres_server import PostgresServer, postgres_server  # noqa: F401
from tests.test_migrations import flask_env, run_flask
from tests.test_screenpop_redis import start_gunicorn, stop_gunicorn
from tests.twilio_standin import ACCOUNT_SID, AUTH_TOKEN, TwilioStandIn
from tests.twiml import parse, spoken, verbs

pytestmark = pytest.mark.postgres

ANSWER_SECONDS = 5  # a voice webhook's answer, whatever the database does
HTTP_TIMEOUT = 20  # longer than Twilio's 15 s: a slow answer is measured, not cut
APOLOGY = "problème technique"


def sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


@dataclass
class Centre:
    url: str
    database: str
    env: dict[str, str]
    spool: Path
    twilio: TwilioStandIn
    postgres: PostgresServer

    def post(self, path: str, form: dict[str, str]) -> tuple[requests.Response, float]:
        """A webhook as Twilio sends it; (response, seconds it took)."""
        signature = sign(self.url + path, form, AUTH_TOKEN)
        started = time.monotonic()
        response = requests.post(
            self.url + path,
            data=form,
            headers={"X-Twilio-Signature": signature},
            timeout=HTTP_TIMEOUT,
        )
        return response, time.monotonic() - started

    def spooled(self) -> list[Path]:
        return sorted(self.spool.glob("*.json"))

    def rows(self, query: str) -> list[tuple]:
        with psycopg.connect(self.database, connect_timeout=5) as connection:
            return connection.execute(query).fetchall()

    def count(self, table: str) -> int:
        return self.rows(f"SELECT count(*) FROM {table}")[0][0]

    def replay(self) -> str:
        return run_flask("spool", "replay", env=self.env).stdout

    def sms_to(self, number: str) -> list[dict[str, str]]:
        return [form for form in self.twilio.requests if form.get("To") == number]


@pytest.fixture(scope="module")
def served(
    postgres_server: PostgresServer,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Centre]:
    folder = tmp_path_factory.mktemp("faults")
    twilio = TwilioStandIn(credentials=(ACCOUNT_SID, AUTH_TOKEN)).start()
    env = flask_env(
        folder / "instance",
        DATABASE_URL=postgres_server.url,
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        TWILIO_API_BASE_URL=twilio.url,
    )
    try:
        run_flask("db", "upgrade", env=env)
        try:
            server = start_gunicorn(folder, env, workers=2, threads=4)
        except RuntimeError as error:
            pytest.fail(str(error))
        try:
            yield Centre(
                server.url,
                postgres_server.url,
                env,
                folder / "instance" / "spool",
                twilio,
                postgres_server,
            )
        finally:
            stop_gunicorn(server)
    finally:
        twilio.stop()


@pytest.fixture
def centre(served: Centre) -> Iterator[Centre]:
    """The served centre, its database running and empty, nothing spooled."""
    served.postgres.thaw()
    if not served.postgres.running:
        served.postgres.start()
    _truncate(served)
    shutil.rmtree(served.spool, ignore_errors=True)
    served.twilio.forget()
    yield served
    served.postgres.thaw()
    if not served.postgres.running:
        served.postgres.start()


def _truncate(centre: Centre) -> None:
    with psycopg.connect(centre.database, autocommit=True) as connection:
        connection.execute(
            "TRUNCATE presence, calls, callers, tickets, messages, recordings CASCADE"
        )


@dataclass
class Caller:
    """One phone calling the line: the webhooks Twilio sends for its call."""

    centre: Centre
    number: str
    call_sid: str

    @classmethod
    def dialling(cls, centre: Centre, index: int) -> "Caller":
        caller = cls(centre, f"+22901970001{index:02d}", sid("CA"))
        centre.twilio.add_call(caller.call_sid, caller.number, LINE)
        return caller

    def form(self, **extra: str) -> dict[str, str]:
        return {
            "AccountSid": ACCOUNT_SID,
            "CallSid": self.call_sid,
            "From": self.number,
            "To": LINE,
            "CallStatus": "in-progress",
            **extra,
        }

    def incoming(self) -> tuple[requests.Response, float]:
        return self.centre.post("/voice/incoming", self.form(CallStatus="ringing"))

    def recording(self, callback: str) -> tuple[requests.Response, float]:
        """The recording callback: it carries no From and no To."""
        recording_sid = sid("RE")
        form = {
            "AccountSid": ACCOUNT_SID,
            "CallSid": self.call_sid,
            "RecordingSid": recording_sid,
            "RecordingUrl": f"{self.centre.twilio.url}/2010-04-01/Accounts/"
            f"{ACCOUNT_SID}/Recordings/{recording_sid}",
            "RecordingStatus": "completed",
            "RecordingDuration": "12",
            "RecordingChannels": "1",
            "RecordingSource": "RecordVerb",
        }
        return self.centre.post(callback, form)

    def status(self, status: str = "completed") -> tuple[requests.Response, float]:
        return self.centre.post(
            "/voice/status", self.form(CallStatus=status, CallDuration="40")
        )


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def heard_apology(response: requests.Response) -> tuple[str, str]:
    """The apology and its voicemail: (the <Record> action, its callback)."""
    assert response.status_code == 200, response.text
    root = parse(response.text)
    assert APOLOGY in spoken(root), spoken(root)
    record = root.find("Record")
    assert record is not None, verbs(root)
    assert path_of(record.get("action")).startswith("/voice/fallback")
    return path_of(record.get("action")), path_of(record.get("recordingStatusCallback"))


def heard_menu(response: requests.Response) -> None:
    assert response.status_code == 200, response.text
    root = parse(response.text)
    assert APOLOGY not in spoken(root)
    assert root.find("Gather") is not None, verbs(root)


def leave_fallback_voicemail(caller: Caller, action: str, callback: str) -> list[float]:
    """The caller speaks after the beep and hangs up; Twilio's three requests.

    The recording callback comes before the call's final status, as it does
    when the message ends the call.
    """
    seconds = []
    response, took = caller.centre.post(
        action, caller.form(RecordingSid=sid("RE"), RecordingDuration="12")
    )
    seconds.append(took)
    root = parse(response.text)
    assert verbs(root) == ["Say", "Hangup"], response.text
    for response, took in (caller.recording(callback), caller.status()):
        assert response.status_code in (200, 204), response.text
        seconds.append(took)
    return seconds


def assert_everything_once(centre: Centre, callers: list[Caller]) -> None:
    """One call, one callback ticket under the caller, one recording, one SMS."""
    for caller in callers:
        rows = centre.rows(
            "SELECT c.phone_e164, t.kind, t.id FROM calls k"
            " JOIN tickets t ON t.origin_call_id = k.id"
            " LEFT JOIN callers c ON c.id = t.caller_id"
            f" WHERE k.call_sid = '{caller.call_sid}'"
        )
        assert rows == [(caller.number, "callback", rows[0][2])], rows
        recordings = centre.rows(
            "SELECT r.ticket_id FROM recordings r JOIN calls k ON k.id = r.call_id"
            f" WHERE k.call_sid = '{caller.call_sid}'"
        )
        assert recordings == [(rows[0][2],)]
        assert len(centre.sms_to(caller.number)) == 1, centre.sms_to(caller.number)
        # The recording callback came first and has no From: Twilio was asked.
        assert caller.call_sid in centre.twilio.call_lookups
    sids = ", ".join(f"'{caller.call_sid}'" for caller in callers)
    assert centre.rows(f"SELECT count(*) FROM calls WHERE call_sid IN ({sids})") == [
        (len(callers),)
    ]
    assert centre.rows(
        "SELECT count(*) FROM tickets WHERE origin_call_id IS NOT NULL"
    ) == [(len(callers),)]
    assert centre.count("recordings") == len(callers)


def wait_for_first_good_call(centre: Centre, since: float) -> float:
    """Seconds from `since` until a new call hears the menu (first try counts)."""
    caller = Caller.dialling(centre, 99)
    response, _ = caller.incoming()
    heard_menu(response)  # the very first call after the restart is served
    return time.monotonic() - since


# --- PostgreSQL stopped ----------------------------------------------------------


def test_postgres_stopped_callers_leave_voicemails_replayed_once(centre, capsys):
    callers = [Caller.dialling(centre, index) for index in range(4)]
    heard_menu(
        Caller.dialling(centre, 50).incoming()[0]
    )  # the pools hold live connections now
    centre.postgres.stop()
    stopped_at = time.monotonic()

    timings = []
    for caller in callers:
        response, took = caller.incoming()
        timings.append(took)
        action, callback = heard_apology(response)
        timings += leave_fallback_voicemail(caller, action, callback)
    assert max(timings) < ANSWER_SECONDS, timings
    # Recording and status callbacks are kept (Twilio never retries them).
    assert len(centre.spooled()) == 2 * len(callers)

    centre.postgres.start()
    restarted = time.monotonic()
    recovery = wait_for_first_good_call(centre, restarted)
    output = centre.replay()
    assert f"replayed {2 * len(callers)} callback(s)" in output, output
    assert centre.spooled() == []
    again = centre.replay()
    assert "replayed 0 callback(s)" in again, again
    assert_everything_once(centre, callers)
    with capsys.disabled():
        print(
            f"\nstopped: slowest webhook {max(timings):.2f} s; outage "
            f"{restarted - stopped_at:.1f} s; first good call {recovery:.2f} s "
            f"after restart"
        )


# --- PostgreSQL frozen -------------------------------------------------------------


def test_postgres_frozen_every_webhook_answers_within_5_s(centre, capsys):
    callers = [Caller.dialling(centre, index) for index in range(6)]
    warm = [Caller.dialling(centre, 60 + index) for index in range(4)]
    with ThreadPoolExecutor(4) as pool:  # both workers' pools hold connections
        for response, _ in pool.map(lambda c: c.incoming(), warm):
            heard_menu(response)
    centre.postgres.freeze()
    frozen_at = time.monotonic()

    with ThreadPoolExecutor(len(callers)) as pool:
        answers = list(pool.map(lambda c: c.incoming(), callers))
    timings = [took for _, took in answers]
    voicemails = [heard_apology(response) for response, _ in answers]
    # Twilio's own fallback URL is served from memory, frozen database or not.
    fallback, took = centre.post("/voice/fallback", callers[0].form())
    assert APOLOGY in spoken(parse(fallback.text))
    timings.append(took)
    with ThreadPoolExecutor(len(callers)) as pool:
        for seconds in pool.map(
            lambda pair: leave_fallback_voicemail(pair[0], *pair[1]),
            zip(callers, voicemails, strict=True),
        ):
            timings += seconds
    # A text comes in meanwhile: answered at once, kept for later.
    text_sid = sid("SM")
    texting = "+2290197000299"
    sms_form = {
        "AccountSid": ACCOUNT_SID,
        "MessageSid": text_sid,
        "SmsMessageSid": text_sid,
        "From": texting,
        "To": LINE,
        "Body": "Mon salaire n'est pas arrivé",
        "NumMedia": "0",
    }
    response, took = centre.post("/sms/incoming", sms_form)
    assert response.status_code == 200, response.text
    assert verbs(parse(response.text)) == []  # nothing said now; the reply comes later
    timings.append(took)
    assert max(timings) < ANSWER_SECONDS, sorted(timings)
    assert len(centre.spooled()) == 2 * len(callers) + 1

    centre.postgres.thaw()
    thawed = time.monotonic()
    recovery = wait_for_first_good_call(centre, thawed)
    output = centre.replay()
    assert f"replayed {2 * len(callers) + 1} callback(s)" in output, output
    assert "replayed 0 callback(s)" in centre.replay()
    assert_everything_once(centre, callers)
    assert centre.rows(
        f"SELECT count(*) FROM messages WHERE message_sid = '{text_sid}'"
    ) == [(1,)]
    replies = centre.sms_to(texting)
    assert len(replies) == 1, replies
    with capsys.disabled():
        print(
            f"\nfrozen: slowest webhook {max(timings):.2f} s "
            f"(of {len(timings)}); frozen {thawed - frozen_at:.1f} s; "
            f"first good call {recovery:.2f} s after thaw"
        )


def test_postgres_server_fixture_freezes_and_thaws(centre):
    centre.postgres.freeze()
    started = time.monotonic()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(centre.database, connect_timeout=2)
    assert time.monotonic() - started < 4
    centre.postgres.thaw()
    assert centre.postgres.answers()


# --- one text, delivered four times at once ------------------------------------------


def test_four_parallel_deliveries_of_one_text_give_one_message_and_ticket(centre):
    message_sid = sid("SM")
    form = {
        "AccountSid": ACCOUNT_SID,
        "MessageSid": message_sid,
        "From": "+2290197000298",
        "To": LINE,
        "Body": "Bonjour, ma pension est en retard",
        "NumMedia": "0",
    }
    start = threading.Barrier(4)

    def deliver(_: int) -> requests.Response:
        start.wait(10)
        return centre.post("/sms/incoming", form)[0]

    with ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(deliver, range(4)))
    assert [r.status_code for r in responses] == [200] * 4, [r.text for r in responses]
    replies = [parse(r.text).findtext("Message") for r in responses]
    assert sum(1 for reply in replies if reply) == 1, replies  # one answer
    assert centre.rows(
        f"SELECT count(*) FROM messages WHERE message_sid = '{message_sid}'"
    ) == [(1,)]
    assert centre.count("tickets") == 1
    assert centre.spooled() == []


def test_connections_carry_the_time_outs_and_keep_the_urls_options(served):
    config = type(
        "FaultsConfig",
        (TestingConfig,),
        {
            "SQLALCHEMY_DATABASE_URI": served.database
            + "?options=-csearch_path%3Dpg_catalog"
        },
    )
    app = create_app(config)
    with app.app_context():
        try:
            shown = [
                db.session.execute(text(f"SHOW {name}")).scalar()
                for name in ("statement_timeout", "lock_timeout", "search_path")
            ]
        finally:
            db.session.remove()
            db.engine.dispose()
    assert shown == ["10s", "3s", "pg_catalog"]
    assert app.config["SQLALCHEMY_ENGINE_OPTIONS"]["pool_timeout"] == 2
