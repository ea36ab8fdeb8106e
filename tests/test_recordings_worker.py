"""Recording media through a real `flask --app wsgi worker`, Redis and RQ retries.

The test process takes Twilio's recording callback as the web process does; the
fetch job it enqueues runs in a worker subprocess that downloads the media from
the stand-in (`tests/media_standin.py`, basic auth as Twilio's media URLs ask).
Both share a SQLite file from `flask db upgrade` and the RECORDINGS_DIR folder,
so the test reads what the worker stored. Retries are a second apart: the
enqueuing side decides them, and the worker's RQ scheduler runs them.

The last test kills a worker (it runs the job itself) half-way through a download,
lets RQ's abandoned-job cleanup retry the job, and checks that a second worker
stores the whole recording under its real name.
"""

import ctypes
import hashlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from rq import Queue
from rq.job import Job, JobStatus
from rq.scheduler import RQScheduler
from sqlalchemy import select, update
from werkzeug.test import TestResponse

from app.extensions import db
from app.models import Recording, Role, Ticket
from config import ROOT
from recordings.jobs import FETCH_LEASE, requeue_stalled_fetches
from tests import test_rq_worker
from tests.conftest import sign
from tests.factories import make_token, make_user, sid
from tests.media_standin import ACCOUNT, TOKEN, MediaStandIn, make_wav
from tests.test_migrations import FLASK, flask_env
from tests.test_rq_worker import stop_worker, web_app

# Media is fetched from TWILIO_API_BASE_URL's host only: the stand-in's.
MEDIA_HOST = "http://127.0.0.1"

# The worker tests' fixtures, used by name: a migrated SQLite file shared with the
# worker, and a Redis database claimed for the test. `media` (the stand-in for
# Twilio's media URLs) comes from tests/media_standin.py through conftest.
migrated_sqlite = test_rq_worker.migrated_sqlite
database = test_rq_worker.database
redis_url = test_rq_worker.redis_url

CALLBACK = "/voice/recording?lang=fr&purpose=complaint&category=delay"
WAIT_SECONDS = 30
PR_SET_CHILD_SUBREAPER = 36  # linux/prctl.h


# --- fixtures -----------------------------------------------------------------


@pytest.fixture
def recordings_dir(tmp_path: Path) -> Path:
    """Where the worker stores media and the test (and the API) reads it."""
    return tmp_path / "recordings"


@pytest.fixture
def app(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    redis_url: str,
    database: str,
    recordings_dir: Path,
) -> Iterator[Flask]:
    """The web side: the worker's database, Redis, account and folder."""
    with web_app(
        monkeypatch,
        tmp_path / "web-instance",
        queue="media",
        SQLALCHEMY_DATABASE_URI=database,
        REDIS_URL=redis_url,
        TWILIO_ACCOUNT_SID=ACCOUNT,
        TWILIO_AUTH_TOKEN=TOKEN,
        TWILIO_API_BASE_URL=MEDIA_HOST,
        RECORDINGS_DIR=str(recordings_dir),
        RECORDING_FETCH_RETRY_INTERVALS=(1, 1, 1),
    ) as app:
        yield app


class Workers:
    """`flask --app wsgi worker` processes, each in its own process group."""

    def __init__(self, tmp_path: Path, env: dict[str, str], app: Flask) -> None:
        self.tmp_path = tmp_path
        self.env = env
        self.app = app
        self.running: dict[str, subprocess.Popen] = {}
        self.killed: dict[str, subprocess.Popen] = {}

    def start(self, name: str) -> subprocess.Popen:
        with (self.tmp_path / f"worker-{name}.log").open("wb") as log:
            process = subprocess.Popen(
                [FLASK, "--app", "wsgi", "worker"],
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.running[name] = process
        return process

    def log(self) -> str:
        """The queue's and every worker's state and log, for a failure message."""
        parts = [queue_state(self.app)]
        for name, process in {**self.running, **self.killed}.items():
            state = "running" if process.poll() is None else process.returncode
            text = (self.tmp_path / f"worker-{name}.log").read_text(errors="replace")
            parts.append(f"worker {name} ({state}); its log:\n{text}")
        return "\n".join(parts)

    def kill(self, name: str) -> None:
        """SIGKILL the worker, which runs the job itself (no work horse), as a crash
        would, with its process group (RQ's scheduler); this process reaps them.
        """
        process = self.running.pop(name)
        self.killed[name] = process
        orphans = children(process.pid)
        strays = [pid for pid in orphans if process_group(pid) != process.pid]
        with subreaper():
            os.killpg(process.pid, signal.SIGKILL)
            for pid in strays:
                os.kill(pid, signal.SIGKILL)
            process.wait(timeout=10)
            reap(orphans)
        if strays:
            pytest.fail(f"a process left the worker's group: {strays}\n{self.log()}")

    def stop_all(self) -> list[str]:
        problems = []
        for name, process in self.running.items():
            problem = stop_worker(process)
            if problem or process.returncode != 0:
                problems.append(f"worker {name}: {problem or process.returncode}")
        return problems


@pytest.fixture
def workers(
    app: Flask,
    tmp_path: Path,
    redis_url: str,
    database: str,
    recordings_dir: Path,
) -> Iterator[Workers]:
    env = flask_env(
        tmp_path / "worker-instance",
        DATABASE_URL=database,
        REDIS_URL=redis_url,
        RECORDINGS_DIR=str(recordings_dir),
        TWILIO_ACCOUNT_SID=ACCOUNT,
        TWILIO_AUTH_TOKEN=TOKEN,
        TWILIO_API_BASE_URL=MEDIA_HOST,
    )
    started = Workers(tmp_path, env, app)
    try:
        yield started
    finally:
        problems = started.stop_all()
    assert not problems, f"{problems}\n{started.log()}"


# --- processes ------------------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    """/proc/PID/stat after the command name: state, ppid, pgrp, ..."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return text.rpartition(")")[2].split()


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None and int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def process_group(pid: int) -> int | None:
    fields = _stat(pid)
    return None if fields is None else int(fields[2])


@contextmanager
def subreaper() -> Iterator[None]:
    """Orphans of our children are reparented here (and reaped), not to PID 1."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        pytest.fail(f"prctl(PR_SET_CHILD_SUBREAPER): errno {ctypes.get_errno()}")
    try:
        yield
    finally:
        libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


def reap(pids: list[int]) -> None:
    deadline = time.monotonic() + 10
    waiting = set(pids)
    while waiting:
        for pid in list(waiting):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid  # reaped elsewhere, or never reparented here
            if done:
                waiting.discard(pid)
        if waiting and time.monotonic() > deadline:
            pytest.fail(f"processes of the killed worker outlived it: {waiting}")
        time.sleep(0.05)


# --- helpers ----------------------------------------------------------------------


def deliver(
    client: FlaskClient, recording_sid: str, media: MediaStandIn, **form: str
) -> None:
    """Twilio's recording status callback for a completed recording, signed."""
    fields = {
        "CallSid": sid("CA"),
        "AccountSid": ACCOUNT,
        "RecordingSid": recording_sid,
        "RecordingUrl": media.recording_url(recording_sid),
        "RecordingStatus": "completed",
        "RecordingDuration": "3",
        "RecordingChannels": "1",
        "RecordingSource": "RecordVerb",
        **form,
    }
    signature = sign("http://localhost" + CALLBACK, fields, token=TOKEN)
    response = client.post(
        CALLBACK, data=fields, headers={"X-Twilio-Signature": signature}
    )
    assert response.status_code == 204, response.get_data(as_text=True)
    # A Redis error is logged and swallowed by the view: say so here, not later.
    assert job_keys(client.application), "the callback enqueued no fetch job"


def job_keys(app: Flask) -> list[bytes]:
    """Every RQ job in the test's Redis database, whatever its state."""
    connection = the_queue(app).connection
    return [key for key in connection.scan_iter("rq:job:*") if key.count(b":") == 2]


def the_recording(recording_sid: str) -> Recording:
    db.session.rollback()  # end the read transaction: see the worker's commits
    return db.session.scalars(
        select(Recording).filter_by(recording_sid=recording_sid)
    ).one()


def wait_for(done: Callable[[], bool], what: str, log: Callable[[], str]) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not done():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {WAIT_SECONDS}s for {what}\n{log()}")
        time.sleep(0.1)


def the_queue(app: Flask) -> Queue:
    return app.extensions["rq"].queues["media"]


def queue_state(app: Flask) -> str:
    queue = the_queue(app)
    return (
        f"queued {queue.count}, started {queue.started_job_registry.count},"
        f" scheduled {queue.scheduled_job_registry.count},"
        f" finished {queue.finished_job_registry.count},"
        f" failed {queue.failed_job_registry.count}, jobs {job_keys(app)}"
    )


def settled(app: Flask) -> bool:
    """The fetch job has ended for good: nothing queued, running or scheduled."""
    queue = the_queue(app)
    return (
        queue.count == 0
        and queue.started_job_registry.count == 0
        and queue.scheduled_job_registry.count == 0
    )


def events(recording: Recording, action: str) -> list[dict]:
    ticket = db.session.get(Ticket, recording.ticket_id)
    return [event.detail for event in ticket.events if event.action == action]


def partial_files(folder: Path) -> list[Path]:
    return sorted(folder.glob(".part-*")) if folder.is_dir() else []


def fetch(client: FlaskClient, url: str, headers: dict[str, str]) -> TestResponse:
    """GET and read the body, closing the streamed file as a browser would."""
    response = client.get(url, headers=headers)
    response.get_data()
    response.close()
    return response


# --- tests ------------------------------------------------------------------------


@pytest.mark.redis
def test_worker_fetches_after_a_404_and_the_api_serves_it(
    app, workers, media, recordings_dir
):
    recording_sid, audio = sid("RE"), make_wav(3)
    media.serve(recording_sid, audio)
    media.not_found_first = 1  # Twilio's media is not there yet on the first try
    workers.start("a")

    deliver(app.test_client(), recording_sid, media)
    wait_for(
        lambda: the_recording(recording_sid).media_status == "stored",
        "the recording to be stored",
        workers.log,
    )
    wait_for(lambda: settled(app), "the job to finish", workers.log)

    recording = the_recording(recording_sid)
    stored = recordings_dir / recording.storage_key
    assert stored.read_bytes() == audio
    assert recording.size_bytes == len(audio)
    assert recording.sha256 == hashlib.sha256(audio).hexdigest()
    assert recording.media_format == "wav"
    assert recording.fetch_error is None
    path = f"/2010-04-01/Accounts/{ACCOUNT}/Recordings/{recording_sid}.wav"
    assert media.requests == [path, path]  # the 404, then the download
    assert media.refused == []
    assert partial_files(recordings_dir) == []
    assert the_queue(app).finished_job_registry.count == 1
    assert events(recording, "recording_stored") == [
        {
            "recording_sid": recording_sid,
            "size": len(audio),
            "sha256": recording.sha256,
        }
    ]

    supervisor = make_user("supervisor@example.org", Role.SUPERVISOR)
    bearer = {"Authorization": f"Bearer {make_token(supervisor)}"}
    url = f"/api/recordings/{recording.id}/audio"
    client = app.test_client()
    whole = fetch(client, url, bearer)
    ranged = fetch(client, url, {**bearer, "Range": "bytes=100-1099"})

    assert whole.status_code == 200
    assert whole.mimetype == "audio/wav"
    assert whole.get_data() == audio
    assert ranged.status_code == 206
    assert ranged.get_data() == audio[100:1100]
    assert ranged.headers["Content-Range"] == f"bytes 100-1099/{len(audio)}"
    db.session.rollback()
    assert len(events(recording, "listened")) == 1  # the seek is not a playback


@pytest.mark.redis
def test_a_repeated_callback_downloads_once(app, workers, media, recordings_dir):
    recording_sid, audio = sid("RE"), make_wav(3)
    media.serve(recording_sid, audio)
    workers.start("a")
    client = app.test_client()

    call_sid = sid("CA")
    deliver(client, recording_sid, media, CallSid=call_sid)
    deliver(client, recording_sid, media, CallSid=call_sid)
    wait_for(
        lambda: the_recording(recording_sid).media_status == "stored",
        "the recording to be stored",
        workers.log,
    )
    wait_for(lambda: settled(app), "the job to finish", workers.log)
    deliver(client, recording_sid, media, CallSid=call_sid)  # even once stored
    time.sleep(1)  # room for a second job, were one enqueued

    recording = the_recording(recording_sid)
    assert len(media.requests) == 1
    assert the_queue(app).finished_job_registry.count == 1
    assert settled(app)
    assert recording.media_status == "stored"
    assert (recordings_dir / recording.storage_key).read_bytes() == audio
    assert len(events(recording, "recording")) == 1
    assert len(events(recording, "recording_stored")) == 1


@pytest.mark.redis
def test_retries_exhausted_mark_the_recording_failed(
    app, workers, media, recordings_dir
):
    app.config["RECORDING_FETCH_RETRY_INTERVALS"] = (1, 1)
    recording_sid = sid("RE")  # never served: Twilio answers 404 every time
    workers.start("a")

    deliver(app.test_client(), recording_sid, media)
    wait_for(
        lambda: the_recording(recording_sid).media_status == "failed",
        "the recording to be given up",
        workers.log,
    )
    wait_for(lambda: settled(app), "the job to end", workers.log)

    recording = the_recording(recording_sid)
    assert len(media.requests) == 3  # the first try and two retries
    assert the_queue(app).failed_job_registry.count == 1
    assert recording.fetch_error.startswith("gave up after retries")
    assert "404" in recording.fetch_error
    assert recording.storage_key is None
    assert not recordings_dir.exists() or list(recordings_dir.iterdir()) == []
    [failed] = events(recording, "recording_failed")
    assert failed["recording_sid"] == recording_sid
    assert failed["reason"] == recording.fetch_error
    assert events(recording, "recording_stored") == []


@pytest.mark.redis
def test_worker_killed_mid_download_is_recovered_by_another(
    app, workers, media, recordings_dir
):
    recording_sid = sid("RE")
    audio = make_wav(12.5)  # 200 kB: 13 chunks of 16 kB, 0.3 s apart, ≈ 4 s
    media.serve(recording_sid, audio)
    media.delay_per_chunk = 0.3
    workers.start("a")

    deliver(app.test_client(), recording_sid, media, RecordingDuration="12")
    wait_for(
        lambda: any(p.stat().st_size > 0 for p in partial_files(recordings_dir)),
        "worker A to be half-way through the download",
        workers.log,
    )
    workers.kill("a")

    recording = the_recording(recording_sid)
    assert recording.media_status == "fetching"
    assert not (recordings_dir / f"{recording_sid}.wav").exists()
    [left_by_a] = partial_files(recordings_dir)
    assert 0 < left_by_a.stat().st_size < len(audio)

    # RQ retries a job whose worker died once its execution expires (job_timeout
    # 600 s + heartbeats): the test moves the clock instead of waiting.
    queue = the_queue(app)
    registry = queue.started_job_registry
    [(job_id, _)] = registry.get_job_and_execution_ids(cleanup=False)
    registry.cleanup(timestamp=time.time() + 10_000)
    job = Job.fetch(job_id, connection=queue.connection)
    assert job.get_status() == JobStatus.SCHEDULED
    assert job.retries_left == 2
    # Worker A's claim on the fetch lasts as long as a job may run: moved back too.
    db.session.execute(
        update(Recording)
        .where(Recording.id == recording.id)
        .values(updated_at=recording.updated_at - FETCH_LEASE)
    )
    db.session.commit()
    # The dead worker's scheduler lock would keep worker B from scheduling for
    # its TTL (61 s), and B only tries again every 10 minutes: expire it now.
    queue.connection.delete(
        *(RQScheduler.get_locking_key(name) for name in app.config["RQ_QUEUES"])
    )

    media.delay_per_chunk = 0
    workers.start("b")
    wait_for(
        lambda: the_recording(recording_sid).media_status == "stored",
        "worker B to store the recording",
        workers.log,
    )
    wait_for(lambda: settled(app), "the job to finish", workers.log)

    recording = the_recording(recording_sid)
    stored = recordings_dir / recording.storage_key
    assert stored.name == f"{recording_sid}.wav"
    assert stored.read_bytes() == audio
    assert recording.size_bytes == len(audio)
    assert recording.sha256 == hashlib.sha256(audio).hexdigest()
    assert len(media.requests) == 2
    assert queue.finished_job_registry.count == 1
    assert len(events(recording, "recording_stored")) == 1
    assert events(recording, "recording_failed") == []
    # SIGKILL skips LocalStorage.save's clean-up: worker A's partial download
    # stays behind as a hidden temp file, never as the media, until the periodic
    # job sweeps it once untouched past the lease (the clock moved again).
    assert partial_files(recordings_dir) == [left_by_a]
    assert audio.startswith(left_by_a.read_bytes())
    long_ago = time.time() - FETCH_LEASE.total_seconds() - 1
    os.utime(left_by_a, (long_ago, long_ago))
    assert requeue_stalled_fetches() == 0
    assert partial_files(recordings_dir) == []
    assert [path.name for path in recordings_dir.iterdir()] == [stored.name]
