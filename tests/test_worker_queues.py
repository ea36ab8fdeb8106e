"""The worker's queues and job runner, through real `flask --app wsgi worker` processes.

Caller-facing texts (`notify`) are served before media downloads (`media`), jobs
run in the worker's own process (no fork per job) and a job that overruns its
time-out is still stopped. Redis is a database claimed for the test; SMS go to
the Twilio stand-in and recordings come from the media stand-in.
"""

import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from redis import Redis
from rq import Queue, get_current_job
from rq.job import Job, JobStatus
from sqlalchemy import select

from app.extensions import db
from app.models import Message, Role
from config import ROOT
from tests import test_rq_worker, twilio_standin
from tests.conftest import CALLER, sign
from tests.factories import make_token, make_user, sid
from tests.media_standin import ACCOUNT, TOKEN, MediaStandIn, make_wav
from tests.test_migrations import FLASK, run_flask
from tests.test_rq_worker import wait_for, web_app
from tests.test_sms_worker import flask_process, worker_env
from tests.twilio_standin import ACCOUNT_SID, AUTH_TOKEN, TwilioStandIn

migrated_sqlite = test_rq_worker.migrated_sqlite
database = test_rq_worker.database
redis_url = test_rq_worker.redis_url
twilio_api = twilio_standin.twilio_api

pytestmark = pytest.mark.redis

CALLBACK = "/voice/recording?lang=fr&purpose=complaint&category=delay"
MEDIA_JOBS = 12


# Jobs the worker imports from here: they need no app, only the job's Redis.


def linger(seconds: float) -> None:
    get_current_job().connection.set(f"linger:{os.getpid()}", "started")
    time.sleep(seconds)


def note_pid(key: str) -> None:
    job = get_current_job()
    job.connection.rpush(key, os.getpid())


# --- fixtures -------------------------------------------------------------------


@pytest.fixture
def app(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    redis_url: str,
    database: str,
    twilio_api: TwilioStandIn,
) -> Iterator[Flask]:
    """The web side: SMS to the Twilio stand-in, media through an API key."""
    with web_app(
        monkeypatch,
        tmp_path / "web-instance",
        SQLALCHEMY_DATABASE_URI=database,
        REDIS_URL=redis_url,
        TWILIO_API_BASE_URL=twilio_api.url,
        TWILIO_API_KEY=ACCOUNT,
        TWILIO_API_SECRET=TOKEN,
        RECORDINGS_DIR=str(tmp_path / "recordings"),
    ) as app:
        yield app


def env_for(
    tmp_path: Path, database: str, redis_url: str, twilio_api: TwilioStandIn
) -> dict[str, str]:
    return worker_env(
        tmp_path / "worker-instance",
        database,
        redis_url,
        twilio_api.url,
        TWILIO_API_KEY=ACCOUNT,
        TWILIO_API_SECRET=TOKEN,
        RECORDINGS_DIR=str(tmp_path / "recordings"),
    )


def queue(redis_url: str, name: str) -> Queue:
    return Queue(name, connection=Redis.from_url(redis_url))


def recording_done(app: Flask, media: MediaStandIn) -> None:
    """Twilio's callback for a completed voicemail: a fetch job on `media`."""
    recording_sid = sid("RE")
    media.serve(recording_sid, make_wav(2))
    form = {
        "CallSid": sid("CA"),
        "AccountSid": ACCOUNT_SID,
        "RecordingSid": recording_sid,
        "RecordingUrl": media.recording_url(recording_sid),
        "RecordingStatus": "completed",
        "RecordingDuration": "2",
        "RecordingChannels": "1",
    }
    signature = sign("http://localhost" + CALLBACK, form, token=AUTH_TOKEN)
    response = app.test_client().post(
        CALLBACK, data=form, headers={"X-Twilio-Signature": signature}
    )
    assert response.status_code == 204


def file_ticket(app: Flask, token: str) -> str:
    response = app.test_client().post(
        "/api/tickets",
        json={"phone": CALLER, "channel": "counter", "category": "payment"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()["reference"]


def media_seen_at_each_sms(
    twilio_api: TwilioStandIn, media: MediaStandIn, monkeypatch: pytest.MonkeyPatch
) -> list[int]:
    """How many downloads had begun when each SMS reached the Twilio stand-in."""
    seen: list[int] = []
    answer = twilio_api._answer

    def counted(*args: Any) -> tuple[int, dict]:
        seen.append(len(media.requests))
        return answer(*args)

    monkeypatch.setattr(twilio_api, "_answer", counted)
    return seen


# --- tests ------------------------------------------------------------------------


def test_an_acknowledgment_goes_before_the_downloads_queued_ahead_of_it(
    app: Flask,
    media: MediaStandIn,
    twilio_api: TwilioStandIn,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    database: str,
    redis_url: str,
) -> None:
    seen = media_seen_at_each_sms(twilio_api, media, monkeypatch)
    media.delay_per_chunk = 0.15  # each download takes a few tenths of a second
    token = make_token(make_user())
    for _ in range(MEDIA_JOBS):
        recording_done(app, media)
    first = file_ticket(app, token)
    assert queue(redis_url, "media").count == MEDIA_JOBS
    assert queue(redis_url, "notify").count == 1

    env = env_for(tmp_path, database, redis_url, twilio_api)
    with flask_process(["worker"], env, tmp_path / "worker.log") as read_log:
        wait_for(lambda: len(seen) == 1, "the first acknowledgment", read_log)
        wait_for(lambda: len(media.requests) >= 2, "downloads under way", read_log)
        begun = len(media.requests)
        second = file_ticket(app, token)  # while downloads are still queued
        wait_for(lambda: len(seen) == 2, "the second acknowledgment", read_log)
        wait_for(lambda: len(media.requests) == MEDIA_JOBS, "every download", read_log)

    assert seen[0] == 0  # before any download, though queued after them all
    # The download under way ends first; the text goes before the next one.
    assert seen[1] <= begun + 1 < MEDIA_JOBS
    bodies = [form["Body"] for form in twilio_api.requests]
    assert [first in bodies[0], second in bodies[1]] == [True, True]
    db.session.rollback()
    assert {m.status for m in db.session.scalars(select(Message))} == {"sending"}


def test_several_changes_make_one_text_through_rqs_scheduler(
    app: Flask,
    twilio_api: TwilioStandIn,
    tmp_path: Path,
    database: str,
    redis_url: str,
) -> None:
    app.config["SMS_DEBOUNCE_SECONDS"] = 2
    make_user("awa@example.org")
    token = make_token(make_user("chef@example.org", Role.SUPERVISOR))
    env = env_for(tmp_path, database, redis_url, twilio_api)
    with flask_process(["worker"], env, tmp_path / "worker.log") as read_log:
        reference = file_ticket(app, token)
        wait_for(lambda: len(twilio_api.requests) == 1, "the acknowledgment", read_log)
        path = f"/api/tickets/{reference}"
        client = app.test_client()
        for change in ({"assignee": "awa@example.org"}, {"status": "in_progress"}):
            response = client.patch(
                path, json=change, headers={"Authorization": f"Bearer {token}"}
            )
            assert response.status_code == 200, response.get_json()
        assert queue(redis_url, "notify").scheduled_job_registry.count == 2
        wait_for(lambda: len(twilio_api.requests) == 2, "the progress text", read_log)
        time.sleep(3)  # both scheduled jobs have run by now: still one text

        assert queue(redis_url, "notify").scheduled_job_registry.count == 0
    ack, progress = (form["Body"] for form in twilio_api.requests)
    assert reference in ack
    assert progress == (
        f"Centre d'écoute: votre dossier {reference} est en cours de traitement."
    )


def test_a_job_over_its_time_out_is_stopped_and_the_worker_goes_on(
    tmp_path: Path, database: str, redis_url: str, twilio_api: TwilioStandIn
) -> None:
    default = queue(redis_url, "default")
    slow = default.enqueue(linger, 60, job_timeout=1)
    key = f"pids:{secrets.token_hex(4)}"
    after = default.enqueue(note_pid, key)

    env = env_for(tmp_path, database, redis_url, twilio_api)
    with flask_process(["worker"], env, tmp_path / "worker.log") as read_log:
        wait_for(
            lambda: after.get_status(refresh=True) == JobStatus.FINISHED,
            "the job after the slow one",
            read_log,
        )

    assert slow.get_status(refresh=True) == JobStatus.FAILED
    slow.refresh()
    assert (slow.ended_at - slow.started_at).total_seconds() < 5  # not 60
    assert "JobTimeoutException" in slow.latest_result().exc_string
    # No fork per job: the slow job and the next ran in the worker's own process.
    [pid] = default.connection.lrange(key, 0, -1)
    [lingered] = default.connection.keys("linger:*")
    assert lingered.decode() == f"linger:{int(pid)}"


def test_a_pool_of_workers_serves_jobs_side_by_side(
    tmp_path: Path, database: str, redis_url: str, twilio_api: TwilioStandIn
) -> None:
    default = queue(redis_url, "default")
    key = f"pids:{secrets.token_hex(4)}"
    jobs: list[Job] = []
    for _ in range(2):
        jobs.append(default.enqueue(linger, 2))
        jobs.append(default.enqueue(note_pid, key))

    env = env_for(tmp_path, database, redis_url, twilio_api)
    args = ["worker", "--pool", "2"]
    with flask_process(args, env, tmp_path / "pool.log") as read_log:
        wait_for(
            lambda: all(
                job.get_status(refresh=True) == JobStatus.FINISHED for job in jobs
            ),
            "the pool's jobs",
            read_log,
        )

    assert len(default.connection.keys("linger:*")) == 2  # two processes lingered
    slow = [jobs[0], jobs[2]]
    for job in slow:
        job.refresh()
    # The two 2 s jobs ran side by side.
    assert max(j.started_at for j in slow) < min(j.ended_at for j in slow)
    assert len(default.connection.lrange(key, 0, -1)) == 2


def test_worker_refuses_a_queue_it_does_not_know(
    tmp_path: Path, database: str, redis_url: str, twilio_api: TwilioStandIn
) -> None:
    env = env_for(tmp_path, database, redis_url, twilio_api)
    result = subprocess.run(
        [FLASK, "--app", "wsgi", "worker", "--queues", "sms,nope"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "choose among notify, sms, default, media" in result.stderr


def test_burst_worker_on_chosen_queues_leaves_the_others(
    tmp_path: Path, database: str, redis_url: str, twilio_api: TwilioStandIn
) -> None:
    key = f"pids:{secrets.token_hex(4)}"
    media_job = queue(redis_url, "media").enqueue(note_pid, key)
    notify_job = queue(redis_url, "notify").enqueue(note_pid, key)

    env = env_for(tmp_path, database, redis_url, twilio_api)
    run_flask("worker", "--burst", "--queues", "notify,default", env=env)

    assert notify_job.get_status(refresh=True) == JobStatus.FINISHED
    assert media_job.get_status(refresh=True) == JobStatus.QUEUED
