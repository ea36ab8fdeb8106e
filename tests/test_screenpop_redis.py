"""A screen-pop crosses gunicorn processes through Redis to every open SSE stream.

`gunicorn -w 2 -k gthread` serves the app on a SQLite file from `flask db upgrade`
and a Redis database claimed for the test. One agent opens several event streams,
spread over both worker processes (checked from /proc and Redis' CLIENT LIST),
goes available, and a signed "press 0" webhook, which lands on either process,
must reach every stream.

The helpers (gunicorn, the SSE client, signed webhooks) serve bench/screenpop.py too.
"""

import contextlib
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from flask import Flask
from redis import Redis
from twilio.request_validator import RequestValidator

from app import create_app
from app.events import default_prefix
from app.extensions import db
from app.models import Role
from config import ROOT, TestingConfig
from tests.conftest import CALLER, LINE
from tests.factories import make_token, make_user, sid
from tests.test_migrations import flask_env, run_flask
from tests.test_rq_worker import private_redis_db

GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
AUTH_TOKEN = "screenpop-auth-token"
START_SECONDS = 30
WAIT_SECONDS = 10  # the longest a screen-pop may take to reach a stream
STOP_SECONDS = 10
MENU = "/voice/menu?lang=fr&attempt=1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log: Path

    def read_log(self) -> str:
        alive = "running" if self.process.poll() is None else "exited"
        return f"gunicorn {alive}; its log:\n{self.log.read_text(errors='replace')}"

    def worker_pids(self) -> list[int]:
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in path.read_text().split()]


def start_gunicorn(
    folder: Path, env: dict[str, str], workers: int = 2, threads: int = 8
) -> Server:
    """gunicorn gthread on a free port, answering /login, or fail with its log."""
    port = free_port()
    log = folder / "gunicorn.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                GUNICORN,
                "--no-control-socket",
                "-w",
                str(workers),
                "-k",
                "gthread",
                "--threads",
                str(threads),
                "-b",
                f"127.0.0.1:{port}",
                "wsgi:app",
            ],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(f"http://127.0.0.1:{port}", process, log)
    deadline = time.monotonic() + START_SECONDS
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn did not start\n{server.read_log()}")
        try:
            up = requests.get(server.url + "/login", timeout=2).status_code == 200
            # Every worker booted too: each holds the listening socket.
            if up and len(server.worker_pids()) == workers:
                return server
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            stop_gunicorn(server)
            raise RuntimeError(
                f"gunicorn not up in {START_SECONDS}s\n{server.read_log()}"
            )
        time.sleep(0.1)


def stop_gunicorn(server: Server) -> None:
    """SIGTERM the master (it stops its workers), then SIGKILL the whole group."""
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.process.wait(timeout=STOP_SECONDS)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.process.pid, signal.SIGKILL)  # its group: no worker survives
    server.process.wait(timeout=STOP_SECONDS)


@dataclass
class SseStream:
    """GET /softphone/events over a raw HTTP/1.0 socket; events read in a thread.

    HTTP/1.0 keeps the body unchunked; `close()` shuts the socket down, which
    ends the reading thread at once.
    """

    url: str
    token: str
    events: "queue.Queue[tuple[float, str, object]]" = field(
        default_factory=queue.Queue
    )
    local_port: int = 0
    status: str = ""

    def open(self, timeout: float = WAIT_SECONDS) -> "SseStream":
        host, port = self.url.removeprefix("http://").split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.local_port = self.sock.getsockname()[1]
        self.sock.sendall(
            (
                "GET /softphone/events HTTP/1.0\r\n"
                f"Host: {host}:{port}\r\n"
                f"Authorization: Bearer {self.token}\r\n"
                "Accept: text/event-stream\r\n\r\n"
            ).encode()
        )
        self.sock.settimeout(None)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        return self

    def _read(self) -> None:
        buffer = b""
        headers_done = False
        while True:
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                self.events.put((time.monotonic(), "closed", None))
                return
            buffer += chunk
            if not headers_done:
                if b"\r\n\r\n" not in buffer:
                    continue
                head, buffer = buffer.split(b"\r\n\r\n", 1)
                self.status = head.split(b"\r\n", 1)[0].decode()
                headers_done = True
            while b"\n\n" in buffer:
                block, buffer = buffer.split(b"\n\n", 1)
                self._dispatch(time.monotonic(), block.decode())

    def _dispatch(self, at: float, block: str) -> None:
        event, data = "message", []
        for line in block.split("\n"):
            if line.startswith(":"):
                continue  # a keep-alive comment
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)
        if data:
            self.events.put((at, event, json.loads("\n".join(data))))

    def next_event(self, timeout: float) -> tuple[float, str, object]:
        """The next (arrival time, event, data), or an event "timeout"."""
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            return (time.monotonic(), "timeout", None)

    def wait_for(
        self, match: Callable[[str, object], bool], timeout: float
    ) -> tuple[float, str, object]:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            at, event, data = self.next_event(max(left, 0))
            if event in ("timeout", "closed") or match(event, data):
                return at, event, data

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self.thread.join(timeout=STOP_SECONDS)


def socket_ports_of(pid: int) -> set[int]:
    """Local TCP ports of the sockets process `pid` holds (from /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("tcp", "tcp6"):
        for row in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = row.split()
            if fields[9] in inodes:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def subscriber_processes(server: Server, redis_url: str, channel: str) -> list[int]:
    """For each Redis client subscribed to `channel`, the worker pid holding it."""
    client = Redis.from_url(redis_url)
    try:
        subscribed = [
            int(entry["addr"].rsplit(":", 1)[1])
            for entry in client.client_list()
            if int(entry.get("sub", 0)) > 0
        ]
        assert client.pubsub_numsub(channel)[0][1] == len(subscribed)
    finally:
        client.close()
    return [owner_of(server, port) for port in subscribed]


def owner_of(server: Server, port: int) -> int:
    """The worker holding the local end of a connection to Redis from `port`."""
    for pid in server.worker_pids():
        if port in socket_ports_of(pid):
            return pid
    return 0


def publisher_processes(server: Server, redis_url: str) -> set[int]:
    """The workers whose Redis connection last sent a PUBLISH."""
    client = Redis.from_url(redis_url)
    try:
        ports = [
            int(entry["addr"].rsplit(":", 1)[1])
            for entry in client.client_list()
            if entry.get("cmd") == "publish"
        ]
    finally:
        client.close()
    return {owner_of(server, port) for port in ports}


class Caller:
    """Signed Twilio voice webhooks to a running app, as Twilio would send them."""

    def __init__(self, url: str, auth_token: str = AUTH_TOKEN) -> None:
        self.url = url
        self.validator = RequestValidator(auth_token)

    def post(self, path: str, form: dict[str, str]) -> requests.Response:
        signature = self.validator.compute_signature(self.url + path, form)
        # A new connection each time, as Twilio's: any worker may take it.
        return requests.post(
            self.url + path,
            data=form,
            headers={"X-Twilio-Signature": signature, "Connection": "close"},
            timeout=WAIT_SECONDS,
        )

    def ring(self) -> str:
        """A new call (not timed), its CallSid."""
        call_sid = sid("CA")
        response = self.post("/voice/incoming", self.form(call_sid, "ringing"))
        assert response.status_code == 200, response.text
        return call_sid

    def press_0(self, call_sid: str) -> requests.Response:
        form = {**self.form(call_sid, "in-progress"), "Digits": "0"}
        return self.post(MENU, form)

    def hang_up(self, call_sid: str) -> None:
        response = self.post("/voice/status", self.form(call_sid, "completed"))
        assert response.status_code == 204, response.text

    @staticmethod
    def form(call_sid: str, status: str) -> dict[str, str]:
        return {
            "CallSid": call_sid,
            "AccountSid": "AC" + "0" * 32,
            "From": CALLER,
            "To": LINE,
            "CallStatus": status,
            "Direction": "inbound",
        }


def seed_agents(database: str, count: int) -> list[tuple[int, str]]:
    """`count` agents on the migrated database: (user id, API token) each."""

    class SeedConfig(TestingConfig):
        SQLALCHEMY_DATABASE_URI = database

    app: Flask = create_app(SeedConfig)
    with app.app_context():
        try:
            agents = []
            for number in range(count):
                user = make_user(f"agent{number}@example.org", Role.AGENT)
                agents.append((user.id, make_token(user)))
            return agents
        finally:
            db.session.remove()
            db.engine.dispose()


def set_presence(url: str, token: str, status: str) -> None:
    response = requests.post(
        url + "/softphone/presence",
        json={"status": status},
        headers={"Authorization": f"Bearer {token}"},
        timeout=WAIT_SECONDS,
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == status


# --- the test --------------------------------------------------------------------


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Server, str, str]]:
    """gunicorn on 2 gthread workers, Redis pub/sub; (server, redis url, database)."""
    database = f"sqlite:///{tmp_path / 'ecoute.sqlite3'}"
    with private_redis_db() as redis_url:
        env = flask_env(
            tmp_path / "instance",
            DATABASE_URL=database,
            REDIS_URL=redis_url,
            TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        )
        run_flask("db", "upgrade", env=env)
        try:
            server = start_gunicorn(tmp_path, env)
        except RuntimeError as error:
            pytest.fail(str(error))
        try:
            yield server, redis_url, database
        finally:
            stop_gunicorn(server)


STREAMS = 4
# An open stream holds one of its worker's 8 threads, and a worker whose threads
# are all held still accepts requests, which then wait: at most 6 streams, so the
# presence and webhook requests always find a free thread on either worker.
MAX_STREAMS = 6


CALLS = 8  # calls until one is published by a worker other than a stream's


@pytest.mark.redis
def test_screenpop_reaches_every_stream_across_gunicorn_processes(served):
    server, redis_url, database = served
    [(agent_id, token)] = seed_agents(database, 1)
    channel = default_prefix(redis_url) + f"agent:{agent_id}"
    workers = set(server.worker_pids())
    streams: list[SseStream] = []
    try:
        # Streams until there are STREAMS, and both workers hold one if they will.
        while len(streams) < MAX_STREAMS:
            stream = SseStream(server.url, token).open()
            streams.append(stream)
            _, event, data = stream.next_event(WAIT_SECONDS)
            assert (event, data) == ("ready", {"channel": f"agent:{agent_id}"}), (
                f"{stream.status} {event} {data}\n{server.read_log()}"
            )
            holders = subscriber_processes(server, redis_url, channel)
            if len(streams) >= STREAMS and set(holders) == workers:
                break
        assert len(holders) == len(streams)  # one Redis subscription per stream
        assert set(holders) <= workers

        set_presence(server.url, token, "available")
        caller = Caller(server.url)
        # Each call must reach every stream; calls go on until one was published
        # by a worker other than one holding a stream (the webhook's connection is
        # new each time, so either worker may take it).
        crossed = False
        for _ in range(CALLS):
            call_sid = caller.ring()
            response = caller.press_0(call_sid)
            assert response.status_code == 200, response.text
            assert f"<Identity>agent_{agent_id}</Identity>" in response.text
            for number, stream in enumerate(streams):
                _, event, data = stream.wait_for(
                    lambda event, data: event == "screenpop", WAIT_SECONDS
                )
                assert event == "screenpop", (
                    f"stream {number} (worker {holders[number]}) got {event}\n"
                    f"{server.read_log()}"
                )
                assert data["call_sid"] == call_sid
                assert data["line"] == LINE
                assert data["caller"]["phone"] == CALLER
            # The caller hangs up while it rings: the agent is free for the next.
            caller.hang_up(call_sid)
            publishers = publisher_processes(server, redis_url)
            assert publishers <= workers
            if any(set(holders) - {publisher} for publisher in publishers):
                crossed = True
                break
        assert crossed, f"every call published by worker {publishers}: {holders}"
    finally:
        for stream in streams:
            stream.close()
