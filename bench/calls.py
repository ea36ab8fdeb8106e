"""Whole calls, as Twilio plays them, against Écoute run the way production runs it.

    .venv/bin/python bench/calls.py --callers 100
    .venv/bin/python bench/calls.py --callers 600
    .venv/bin/python bench/calls.py --profile          # where a write step's time goes

Everything is private to the run and on loopback: a fresh schema on the local
PostgreSQL (DATABASE_URL_TEST, default postgresql://postgres@127.0.0.1:5432/test)
migrated by `flask db upgrade`, a redis-server on a free port, `--rq-workers`
`flask --app wsgi worker` processes, the Twilio REST stand-in of the tests (which
here also notes when each Messages.json POST arrives) and their recording-media
stand-in serving a small WAV. The app runs under gunicorn as the README runs
production (`-w 4 -k gthread --threads 32 --timeout 120 --no-control-socket`),
behind PUBLIC_BASE_URL, and beside it, under the same setting, the bare fixed
TwiML route of bench/bare_app.py.

Three bursts, one after the other, N callers each (one asyncio loop, one new
connection per request as Twilio's, every request signed with twilio's
RequestValidator over PUBLIC_BASE_URL + path + query; the next URL is read from
the TwiML the app answered, never written here). Callers start spread over the
first `--ramp` seconds, then wait 2-4 s (seeded) between steps:

  complaint  /voice/incoming, /voice/menu Digits=1, /voice/category Digits=1,
             the <Record> action /voice/voicemail (RecordingSid, RecordingUrl),
             Twilio's recording status callback /voice/recording (completed, its
             URL on the media stand-in, which the worker downloads), /voice/status
             completed.
  agent      `--agent-callers` press 0 with `--agents` agents set available through
             /softphone/presence (and their heartbeat): a <Dial><Client> plays the
             agent leg's callbacks to /voice/agent-status (ringing, in-progress,
             completed), the <Dial> action /voice/dial-result and the dual-channel
             recording callback; callers who find every agent busy wait in the
             <Enqueue> (waitUrl /voice/queue-wait until it says <Leave>, then the
             queue's action /voice/queue-result), or hang up after a while.
  bare       the same N callers posting bare fixed TwiML as many times.

Printed per burst: per webhook count, p50/p99 latency and non-2xx answers (and
answers that are not the TwiML the path expects: an apology counts); CPU of the
gunicorn master+workers (/proc utime+stime) per webhook and per call, of the RQ
workers (their forked work horses included) per call, of PostgreSQL (the local
server's processes: shared with whoever else uses it) and of this client; and,
for the complaint burst, the time from its last request until the last
acknowledgment SMS reached the Twilio stand-in, and until the last recording was
stored. Targets (PASS/FAIL): every webhook p99 < 1 s (set for 600 callers),
<= 3 ms gunicorn CPU per webhook over a complaint call, every acknowledgment
within 60 s of the burst's end. The exit status is 0 whether targets pass or not,
1 if the run itself failed. Figures go to bench/results/calls-<N>.json (--output).

--profile plays `--profile-calls` complaint calls in this process instead (the
Flask test client on a fresh migrated schema of the same PostgreSQL, jobs queued
on a private Redis with no worker) and prints, for each step: wall ms, SQL
statements, commits, savepoints, time in SQL, Redis round trips, time in the
signature check and in TwiML building; then the top functions of each write step
by own time (cProfile), and pyinstrument's call tree of the slowest write step.
"""

import argparse
import asyncio
import cProfile
import io
import json
import os
import pstats
import random
import resource
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from twilio.request_validator import RequestValidator  # noqa: E402

from bench.sms import started  # noqa: E402
from bench.webhooks import (  # noqa: E402
    CLOCK_TICKS,
    Server,
    percentile,
    postgres_pids,
    read_response,
    start_server,
)
from tests import media_standin  # noqa: E402
from tests.redis_server import RedisServer, free_port  # noqa: E402
from tests.test_migrations import (  # noqa: E402
    flask_env,
    postgres_schema,
    run_flask,
)
from tests.test_screenpop_redis import seed_agents  # noqa: E402
from tests.twilio_standin import TwilioStandIn  # noqa: E402

RESULTS = ROOT / "bench" / "results"
BIN = ROOT / ".venv" / "bin"
HOST = "127.0.0.1"
PUBLIC = "https://ecoute.example.org"  # PUBLIC_BASE_URL: what Twilio signs
LINE = "+2290121300000"  # the first line of config/lines.yaml: open, records calls
# One account for the REST stand-in and the media stand-in, whose credentials the
# worker's download must present; the auth token also signs the webhooks.
ACCOUNT_SID = media_standin.ACCOUNT
AUTH_TOKEN = media_standin.TOKEN
RECORDING_SECONDS = 2
REQUEST_TIMEOUT = 30.0
TARGET_P99_S = 1.0
TARGET_CPU_MS = 3.0
TARGET_ACK_S = 60.0
# The experiment beside the app's worker: no fork per job, one app context.
SIMPLE_WORKER = """
from redis import Redis
from rq import SimpleWorker
from wsgi import app
with app.app_context():
    queues = list(app.config["RQ_QUEUES"])
    connection = Redis.from_url(app.config["REDIS_URL"])
    SimpleWorker(queues, connection=connection).work(with_scheduler=True)
"""
WORKER_COMMANDS = {
    "flask": [str(BIN / "flask"), "--app", "wsgi", "worker"],
    "simple": [str(BIN / "python"), "-c", SIMPLE_WORKER],
}
QUEUE_POLLS = 6  # a caller hangs up after this many hold-music loops
HEARTBEAT_SECONDS = 20  # the softphone page's beat (presence expires after 60 s)


# --- stand-ins --------------------------------------------------------------------


def call_form(call_sid: str, phone: str, status: str, **extra: str) -> dict[str, str]:
    """The fields Twilio sends with every voice webhook of this call."""
    return {
        "CallSid": call_sid,
        "AccountSid": ACCOUNT_SID,
        "From": phone,
        "To": LINE,
        "CallStatus": status,
        "Direction": "inbound",
        "ApiVersion": "2010-04-01",
        **extra,
    }


class TimedTwilioStandIn(TwilioStandIn):
    """The REST stand-in, noting when each accepted Messages.json POST arrived."""

    def __init__(self, credentials: tuple[str, str] | None = None) -> None:
        super().__init__(credentials)
        self.arrivals: list[tuple[float, str]] = []  # (monotonic time, To)

    def _answer(self, path: str, auth: str | None, body: bytes) -> tuple[int, dict]:
        status, payload = super()._answer(path, auth, body)
        if status == 201:
            with self._lock:
                self.arrivals.append((time.monotonic(), payload["to"]))
        return status, payload


def private_services(
    stack: ExitStack,
) -> tuple[Path, str, RedisServer, media_standin.MediaStandIn]:
    """A temporary folder, a PostgreSQL schema, a redis-server and the media
    stand-in, all this run's own and stopped with `stack`."""
    tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="calls-")))
    database_url = stack.enter_context(postgres_schema())
    redis = RedisServer(
        shutil.which("redis-server") or "redis-server", free_port(), tmp
    )
    redis.start()
    stack.callback(redis.stop)
    return tmp, database_url, redis, stack.enter_context(media_standin.serving())


# --- one request ------------------------------------------------------------------


def sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def local(url: str) -> str:
    """The path and query of a URL the TwiML points at (absolute under PUBLIC)."""
    if not url.startswith(PUBLIC + "/"):
        raise ValueError(f"TwiML points outside PUBLIC_BASE_URL: {url}")
    return url[len(PUBLIC) :]


@dataclass
class Answer:
    status: int
    body: bytes
    seconds: float

    @property
    def twiml(self) -> ET.Element | None:
        if not self.body.startswith(b"<?xml"):
            return None
        return ET.fromstring(self.body)


@dataclass
class Tally:
    """What one burst's requests add up to."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    non_2xx: Counter = field(default_factory=Counter)
    unexpected: Counter = field(default_factory=Counter)  # wrong TwiML, apologies
    failures: Counter = field(default_factory=Counter)  # network errors, time-outs
    calls: int = 0
    complete: int = 0  # calls that ended as their path expects
    phones: set[str] = field(default_factory=set)
    acks_expected: int = 0
    recordings: int = 0
    last_request_end: float = 0.0

    @property
    def requests(self) -> int:
        return sum(len(values) for values in self.latencies.values())


class Client:
    """Signed HTTP/1.1 requests to one gunicorn, each on a new connection."""

    def __init__(self, port: int, tally: Tally) -> None:
        self.port = port
        self.tally = tally
        self.validator = RequestValidator(AUTH_TOKEN)

    async def request(
        self, method: str, target: str, body: bytes, headers: dict[str, str]
    ) -> Answer:
        start = time.perf_counter()
        head = [f"{method} {target} HTTP/1.1", f"Host: {HOST}:{self.port}"]
        head += [f"{name}: {value}" for name, value in headers.items()]
        head += [f"Content-Length: {len(body)}", "Connection: close", "", ""]
        writer = None
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                reader, writer = await asyncio.open_connection(HOST, self.port)
                writer.write("\r\n".join(head).encode() + body)
                status, data, _ = await read_response(reader)
        finally:
            if writer is not None:
                writer.close()
        return Answer(status, data, time.perf_counter() - start)

    async def webhook(
        self, target: str, form: dict[str, str], name: str | None = None
    ) -> Answer | None:
        """POST a form signed as Twilio signs it; None if it never answered."""
        signature = self.validator.compute_signature(PUBLIC + target, form)
        headers = {
            "User-Agent": "TwilioProxy/1.1",
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        }
        name = name or target.split("?", 1)[0]
        try:
            answer = await self.request(
                "POST", target, urlencode(form).encode(), headers
            )
        except (OSError, TimeoutError, ValueError, asyncio.IncompleteReadError) as e:
            self.tally.failures[f"{name} {type(e).__name__}"] += 1
            return None
        finally:
            self.tally.last_request_end = time.monotonic()
        self.tally.latencies[name].append(answer.seconds)
        if not 200 <= answer.status < 300:
            self.tally.non_2xx[f"{name} {answer.status}"] += 1
        return answer


# --- callers ----------------------------------------------------------------------


class UnexpectedAnswer(Exception):
    """The app answered something this path does not lead to (or an apology)."""


@dataclass
class Caller:
    client: Client
    phone: str
    rng: random.Random
    think: tuple[float, float]
    media: media_standin.MediaStandIn
    audio: dict[int, bytes]  # channels -> WAV
    call_sid: str = field(default_factory=lambda: sid("CA"))
    started: float = field(default_factory=time.monotonic)
    verbs: list[str] = field(default_factory=list)

    async def pause(self, scale: float = 1.0) -> None:
        await asyncio.sleep(self.rng.uniform(*self.think) * scale)

    def form(self, status: str = "in-progress", **extra: str) -> dict[str, str]:
        return call_form(self.call_sid, self.phone, status, **extra)

    async def post(
        self, url: str, form: dict[str, str], expect: int = 200
    ) -> ET.Element | None:
        target = local(url) if url.startswith("http") else url
        answer = await self.client.webhook(target, form)
        if answer is None:
            raise UnexpectedAnswer(f"no answer from {target}")
        if answer.status != expect:
            raise UnexpectedAnswer(f"{target} answered {answer.status}")
        if expect == 204:
            return None
        root = answer.twiml
        if root is None:
            raise UnexpectedAnswer(f"{target} answered no TwiML")
        if b"/voice/fallback" in answer.body:
            raise UnexpectedAnswer(f"{target} answered the apology")
        return root

    async def play(self, keys: list[str], tally: Tally) -> None:
        """The whole call: press `keys` at each menu, follow wherever it leads."""
        tally.calls += 1
        tally.phones.add(self.phone)
        try:
            root = await self.post("/voice/incoming", self.form("ringing"))
            root = await self.follow(root, list(keys), tally)
            await self.pause()
            await self.post(
                "/voice/status",
                self.form(
                    "completed", CallDuration=str(int(time.monotonic() - self.started))
                ),
                expect=204,
            )
            tally.complete += 1
        except UnexpectedAnswer as error:
            tally.unexpected[str(error).split("?", 1)[0]] += 1

    async def follow(
        self, root: ET.Element, keys: list[str], tally: Tally
    ) -> ET.Element | None:
        """Act on each TwiML document as Twilio would, until the call can end."""
        while root is not None:
            self.verbs.append(",".join(child.tag for child in root))
            gather, record = root.find("Gather"), root.find("Record")
            dial, enqueue = root.find("Dial"), root.find("Enqueue")
            if gather is not None and keys:
                await self.pause()
                form = self.form(Digits=keys.pop(0))
                root = await self.post(gather.get("action", ""), form)
            elif record is not None:
                root = await self.leave_message(record, tally)
            elif dial is not None:
                root = await self.agent_leg(dial, tally)
            elif enqueue is not None:
                root = await self.hold(enqueue)
            else:
                return root  # said its last words (or hung up)
        return root

    async def leave_message(self, record: ET.Element, tally: Tally) -> ET.Element:
        await self.pause()  # the caller speaks
        recording = sid("RE")
        self.media.serve(recording, self.audio[1])
        answer = await self.post(
            record.get("action", ""),
            self.form(
                RecordingSid=recording,
                RecordingUrl=self.media.recording_url(recording),
                RecordingDuration=str(RECORDING_SECONDS),
                Digits="#",
            ),
        )
        if answer.find("Say") is None:
            raise UnexpectedAnswer("/voice/voicemail read no reference")
        tally.acks_expected += 1
        await self.pause()
        await self.recording_callback(record.get("recordingStatusCallback"), recording)
        tally.recordings += 1
        return answer

    async def recording_callback(
        self, url: str | None, recording: str, channels: int = 1, source: str = ""
    ) -> None:
        if not url:
            raise UnexpectedAnswer("no recordingStatusCallback")
        form = {
            "AccountSid": ACCOUNT_SID,
            "CallSid": self.call_sid,
            "RecordingSid": recording,
            "RecordingUrl": self.media.recording_url(recording),
            "RecordingStatus": "completed",
            "RecordingDuration": str(RECORDING_SECONDS),
            "RecordingChannels": str(channels),
            "RecordingSource": source or "RecordVerb",
            "RecordingTrack": "both",
            "ErrorCode": "0",
        }
        await self.post(url, form, expect=204)

    async def agent_leg(self, dial: ET.Element, tally: Tally) -> ET.Element | None:
        """The <Client> rings, answers, talks, hangs up; then the <Dial> action."""
        client = dial.find("Client")
        if client is None or client.find("Identity") is None:
            raise UnexpectedAnswer("<Dial> without a <Client><Identity>")
        identity = client.find("Identity").text or ""
        callback = client.get("statusCallback", "")
        leg = sid("CA")
        base = {
            "CallSid": leg,
            "ParentCallSid": self.call_sid,
            "AccountSid": ACCOUNT_SID,
            "From": self.phone,
            "To": f"client:{identity}",
            "Direction": "outbound-dial",
            "ApiVersion": "2010-04-01",
        }
        await self.post(callback, {**base, "CallStatus": "ringing"}, expect=204)
        await self.pause(0.5)
        await self.post(callback, {**base, "CallStatus": "in-progress"}, expect=204)
        await self.pause(2)  # they talk
        talked = str(int(time.monotonic() - self.started))
        await self.post(
            callback,
            {**base, "CallStatus": "completed", "CallDuration": talked},
            expect=204,
        )
        root = await self.post(
            dial.get("action", ""),
            self.form(
                DialCallStatus="completed",
                DialCallSid=leg,
                DialCallDuration=talked,
                DialBridged="true",
            ),
        )
        if dial.get("recordingStatusCallback"):
            recording = sid("RE")
            self.media.serve(recording, self.audio[2])
            await self.recording_callback(
                dial.get("recordingStatusCallback"), recording, 2, "DialVerb"
            )
            tally.recordings += 1
        return root

    async def hold(self, enqueue: ET.Element) -> ET.Element | None:
        """Hold music until the app says <Leave> (an agent is free), or hang up."""
        queue_sid = sid("QU")
        for poll in range(QUEUE_POLLS):
            waited = await self.post(
                enqueue.get("waitUrl", ""),
                self.form(QueueSid=queue_sid, QueuePosition="1", QueueTime=str(poll)),
            )
            if waited.find("Leave") is not None:
                return await self.post(
                    enqueue.get("action", ""),
                    self.form(QueueResult="leave", QueueSid=queue_sid),
                )
            await self.pause()
        return await self.post(
            enqueue.get("action", ""),
            self.form(QueueResult="hangup", QueueSid=queue_sid),
        )


async def bare_caller(
    client: Client, rng: random.Random, think: tuple[float, float], steps: int
) -> None:
    """As many plain posts to the bare fixed route as a complaint call makes."""
    form = {"CallSid": sid("CA"), "From": "+2290197000000", "To": LINE}
    for step in range(steps):
        if step:
            await asyncio.sleep(rng.uniform(*think))
        answer = await client.webhook("/fixed", {**form, "Digits": "1"}, "bare /fixed")
        if answer is not None and b"<Say>Bonjour</Say>" not in answer.body:
            client.tally.unexpected["bare /fixed"] += 1
    client.tally.calls += 1
    client.tally.complete += 1


# --- agents -----------------------------------------------------------------------


async def agents_available(port: int, tokens: list[str]) -> None:
    """What each softphone page does when the agent sets themselves available."""
    client = Client(port, Tally())
    for token in tokens:
        answer = await client.request(
            "POST",
            "/softphone/presence",
            b'{"status": "available"}',
            {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        if answer.status != 200:
            raise RuntimeError(f"/softphone/presence answered {answer.status}")


async def heartbeats(port: int, tokens: list[str]) -> None:
    client = Client(port, Tally())
    while True:
        await asyncio.sleep(HEARTBEAT_SECONDS)
        for token in tokens:
            await client.request(
                "POST",
                "/softphone/heartbeat",
                b"",
                {"Authorization": f"Bearer {token}"},
            )


# --- CPU --------------------------------------------------------------------------


def process_cpu(pid: int, children: bool = False) -> float:
    """utime + stime of a process (+ cutime + cstime: its reaped children)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / CLOCK_TICKS


def machine_busy() -> float:
    with open("/proc/stat") as stat:
        ticks = [int(value) for value in stat.readline().split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, _steal = ticks
    return (user + nice + system + irq + softirq) / CLOCK_TICKS


@dataclass(frozen=True)
class Meter:
    server: float
    workers: float  # the RQ workers, their forked work horses included
    horses: float  # the work horses alone
    database: float
    client: float
    machine: float

    @classmethod
    def read(cls, server: Server, workers: list[int]) -> "Meter":
        return cls(
            server=server.cpu_seconds(),
            workers=sum(process_cpu(pid, children=True) for pid in workers),
            horses=sum(
                process_cpu(pid, children=True) - process_cpu(pid) for pid in workers
            ),
            database=sum(process_cpu(int(pid)) for pid in postgres_pids()),
            client=time.process_time(),
            machine=machine_busy(),
        )

    def __sub__(self, before: "Meter") -> "Meter":
        return Meter(
            *(getattr(self, f) - getattr(before, f) for f in Meter.__match_args__)
        )


# --- bursts -----------------------------------------------------------------------


@dataclass
class Burst:
    name: str
    tally: Tally
    cpu: Meter
    seconds: float
    ack_seconds: float | None = None  # burst end -> last acknowledgment arrived
    acks: int = 0
    stored_seconds: float | None = None  # burst end -> last recording stored
    stored: int = 0
    jobs_cpu: Meter | None = None  # after the burst, until its jobs were done

    def summary(self) -> dict:
        tally, requests = self.tally, max(self.tally.requests, 1)
        calls = max(self.tally.calls, 1)
        webhooks = {
            name: {
                "count": len(values),
                "p50_ms": round(percentile(sorted(values), 0.50) * 1000, 1),
                "p99_ms": round(percentile(sorted(values), 0.99) * 1000, 1),
                "max_ms": round(max(values) * 1000, 1),
            }
            for name, values in tally.latencies.items()
        }
        return {
            "burst": self.name,
            "calls": tally.calls,
            "complete": tally.complete,
            "requests": tally.requests,
            "seconds": round(self.seconds, 1),
            "webhooks": webhooks,
            "non_2xx": dict(tally.non_2xx),
            "unexpected": dict(tally.unexpected),
            "failures": dict(tally.failures),
            "server_cpu_ms_per_webhook": round(self.cpu.server * 1000 / requests, 2),
            "server_cpu_ms_per_call": round(self.cpu.server * 1000 / calls, 1),
            "rq_cpu_ms_per_call": round(
                (self.cpu.workers + (self.jobs_cpu.workers if self.jobs_cpu else 0))
                * 1000
                / calls,
                1,
            ),
            "rq_work_horses_cpu_ms_per_call": round(
                (self.cpu.horses + (self.jobs_cpu.horses if self.jobs_cpu else 0))
                * 1000
                / calls,
                1,
            ),
            "postgres_cpu_ms_per_call": round(self.cpu.database * 1000 / calls, 1),
            "client_cpu_ms_per_call": round(self.cpu.client * 1000 / calls, 1),
            "other_processes_cpu_s": round(
                self.cpu.machine
                - self.cpu.server
                - self.cpu.workers
                - self.cpu.database
                - self.cpu.client,
                1,
            ),
            "acks": self.acks,
            "acks_expected": tally.acks_expected,
            "ack_seconds_after_burst": None
            if self.ack_seconds is None
            else round(self.ack_seconds, 2),
            "recordings_stored": self.stored,
            "recordings_expected": tally.recordings,
            "stored_seconds_after_burst": None
            if self.stored_seconds is None
            else round(self.stored_seconds, 2),
        }


def stored_recordings(
    connection: psycopg.Connection, phones: set[str] | None = None
) -> int:
    """Recordings stored, of these callers' calls only when `phones` is given
    (the warm-up's downloads may still be running when a burst starts)."""
    if phones is None:
        row = connection.execute(
            "SELECT count(*) FROM recordings WHERE media_status = 'stored'"
        ).fetchone()
        return row[0]
    row = connection.execute(
        "SELECT count(*) FROM recordings r JOIN calls c ON c.id = r.call_id"
        " JOIN callers p ON p.id = c.caller_id"
        " WHERE r.media_status = 'stored' AND p.phone_e164 = ANY(%s)",
        [sorted(phones)],
    ).fetchone()
    return row[0]


def run_burst(
    name: str,
    server: Server,
    workers: list[int],
    callers: Callable[[Client], list],
    extra: Callable[[], list] = list,
) -> tuple[Tally, Meter, float]:
    tally = Tally()
    client = Client(server.port, tally)
    before = Meter.read(server, workers)
    start = time.monotonic()

    async def burst() -> None:
        background = [asyncio.create_task(task) for task in extra()]
        try:
            await asyncio.gather(*callers(client))
        finally:
            for task in background:
                task.cancel()

    asyncio.run(burst())
    seconds = time.monotonic() - start
    return tally, Meter.read(server, workers) - before, seconds


def staggered(ramp: float, rng: random.Random, coroutine) -> asyncio.Future:
    async def later():
        await asyncio.sleep(rng.uniform(0, ramp))
        await coroutine

    return later()


def wait_for_jobs(
    tally: Tally,
    twilio: TimedTwilioStandIn,
    database_url: str,
    timeout: float,
) -> tuple[float | None, int, float | None, int]:
    """Wait for the burst's acknowledgments and recordings; their lateness."""
    end = tally.last_request_end
    deadline = time.monotonic() + timeout
    ack_at = stored_at = None
    acks = stored = 0
    # One connection, polled gently: this wait must not load the machine it times.
    with psycopg.connect(database_url, autocommit=True) as connection:
        while time.monotonic() < deadline:
            with twilio._lock:
                mine = [at for at, to in twilio.arrivals if to in tally.phones]
            acks = len(mine)
            if ack_at is None and acks >= tally.acks_expected:
                ack_at = max(mine, default=end)  # the stand-in's own arrival times
            if stored_at is None:
                stored = stored_recordings(connection, tally.phones)
                if stored >= tally.recordings:
                    stored_at = time.monotonic()
            if ack_at is not None and stored_at is not None:
                break
            time.sleep(0.2)
    return (
        None if ack_at is None else ack_at - end,
        acks,
        None if stored_at is None else stored_at - end,
        stored,
    )


# --- report -----------------------------------------------------------------------


def verdict(passed: bool) -> str:
    return "PASS" if passed else "FAIL"


def print_burst(summary: dict, callers: int) -> dict[str, bool]:
    print(
        f"\n== {summary['burst']}: {summary['calls']} calls"
        f" ({summary['complete']} complete), {summary['requests']} requests"
        f" in {summary['seconds']} s"
    )
    print(f"{'webhook':<22}{'n':>6}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}  p99 < 1 s")
    targets = {}
    for name, figures in summary["webhooks"].items():
        passed = figures["p99_ms"] < TARGET_P99_S * 1000
        if not name.startswith("bare"):
            targets[f"{summary['burst']} {name} p99"] = passed
        print(
            f"{name:<22}{figures['count']:>6}{figures['p50_ms']:>9.1f}"
            f"{figures['p99_ms']:>9.1f}{figures['max_ms']:>9.1f}  "
            + ("(reference)" if name.startswith("bare") else verdict(passed))
        )
    bad = sum(summary["non_2xx"].values())
    print(
        f"non-2xx: {bad} {summary['non_2xx'] or ''}  unexpected TwiML: "
        f"{sum(summary['unexpected'].values())} {summary['unexpected'] or ''}  "
        f"no answer: {sum(summary['failures'].values())} {summary['failures'] or ''}"
    )
    print(
        f"CPU: gunicorn {summary['server_cpu_ms_per_webhook']} ms/webhook, "
        f"{summary['server_cpu_ms_per_call']} ms/call; RQ workers "
        f"{summary['rq_cpu_ms_per_call']} ms/call (forked work horses "
        f"{summary['rq_work_horses_cpu_ms_per_call']}); PostgreSQL (shared server) "
        f"{summary['postgres_cpu_ms_per_call']} ms/call; this client "
        f"{summary['client_cpu_ms_per_call']} ms/call; other processes "
        f"{summary['other_processes_cpu_s']} s"
    )
    if summary["burst"] == "complaint":
        cpu_ok = summary["server_cpu_ms_per_webhook"] <= TARGET_CPU_MS
        targets["complaint gunicorn CPU/webhook"] = cpu_ok
        print(f"  <= {TARGET_CPU_MS:g} ms gunicorn CPU per webhook: {verdict(cpu_ok)}")
    if summary["acks_expected"]:
        late = summary["ack_seconds_after_burst"]
        ok = late is not None and late <= TARGET_ACK_S
        if summary["burst"] == "complaint":
            targets["acknowledgments within 60 s"] = ok
        print(
            f"acknowledgments: {summary['acks']}/{summary['acks_expected']} at the "
            f"Twilio stand-in, the last {late} s after the burst's last request"
            + (f"  (<= {TARGET_ACK_S:g} s: {verdict(ok)})" if late is not None else "")
        )
    if summary["recordings_expected"]:
        print(
            f"recordings stored: {summary['recordings_stored']}/"
            f"{summary['recordings_expected']}, the last "
            f"{summary['stored_seconds_after_burst']} s after the burst"
        )
    return targets


# --- the load run -----------------------------------------------------------------


def load_run(args: argparse.Namespace) -> int:
    think = (args.think_min, args.think_max)
    gunicorn_args = ["-w", str(args.workers), "-k", "gthread"]
    gunicorn_args += ["--threads", str(args.threads), "--timeout", "120"]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    servers: list[Server] = []
    summaries: list[dict] = []
    targets: dict[str, bool] = {}
    with ExitStack() as stack:
        tmp, database_url, redis, media = private_services(stack)
        twilio = TimedTwilioStandIn((ACCOUNT_SID, AUTH_TOKEN)).start()
        stack.callback(twilio.stop)
        audio = {n: media_standin.make_wav(RECORDING_SECONDS, n) for n in (1, 2)}
        env = flask_env(
            tmp / "instance",
            DATABASE_URL=database_url,
            REDIS_URL=redis.url,
            SECRET_KEY=secrets.token_hex(32),
            PUBLIC_BASE_URL=PUBLIC,
            TWILIO_ACCOUNT_SID=ACCOUNT_SID,
            TWILIO_AUTH_TOKEN=AUTH_TOKEN,
            TWILIO_API_BASE_URL=twilio.url,
            RECORDINGS_DIR=str(tmp / "recordings"),
        )
        run_flask("db", "upgrade", env=env)
        agents = seed_agents(database_url, args.agents) if args.agent_callers else []
        tokens = [token for _, token in agents]
        app = start_server("app", "wsgi:app", gunicorn_args, env, tmp, True)
        servers.append(app)
        stack.callback(app.stop)
        bare = start_server("bare", "bench.bare_app:app", gunicorn_args, env, tmp, True)
        servers.append(bare)
        stack.callback(bare.stop)
        workers = [
            stack.enter_context(
                started(
                    WORKER_COMMANDS[args.rq_worker],
                    tmp / f"worker-{i}.log",
                    env,
                )
            ).pid
            for i in range(args.rq_workers)
        ]
        print(
            f"{args.callers} callers, {args.think_min:g}-{args.think_max:g} s between"
            f" steps (seed {args.seed}), ramp {args.ramp:g} s; gunicorn"
            f" {' '.join(gunicorn_args)} (app and bare), {args.rq_workers} RQ workers"
            f" ({args.rq_worker}),"
            f" PostgreSQL + private Redis; {os.cpu_count()} CPUs, load average"
            f" {os.getloadavg()[0]:.2f}",
            flush=True,
        )

        def callers(keys: list[str], count: int, offset: int, phase: str):
            def make(client: Client) -> list:
                ramp_rng = random.Random(f"{args.seed}-{phase}-ramp")
                return [
                    staggered(
                        args.ramp,
                        ramp_rng,
                        Caller(
                            client,
                            f"+2290197{offset + i:06d}",
                            random.Random(f"{args.seed}-{phase}-{i}"),
                            think,
                            media,
                            audio,
                        ).play(keys, client.tally),
                    )
                    for i in range(count)
                ]

            return make

        # Warm-up: every worker process and thread pays its first-request costs.
        run_burst("warm-up", app, workers, callers(["1", "1"], 8, 900000, "warm"))
        run_burst(
            "warm-up",
            bare,
            workers,
            lambda client: [
                bare_caller(client, random.Random(i), (0.0, 0.0), 6) for i in range(8)
            ],
        )

        tally, cpu, seconds = run_burst(
            "complaint",
            app,
            workers,
            callers(["1", "1"], args.callers, 0, "complaint"),
        )
        burst = Burst("complaint", tally, cpu, seconds)
        jobs_before = Meter.read(app, workers)
        late, burst.acks, stored_late, burst.stored = wait_for_jobs(
            tally, twilio, database_url, args.ack_timeout
        )
        burst.ack_seconds, burst.stored_seconds = late, stored_late
        # The workers' CPU until the last job of this burst is done.
        burst.jobs_cpu = Meter.read(app, workers) - jobs_before
        summaries.append(burst.summary())
        targets |= print_burst(summaries[-1], args.callers)

        if args.agent_callers:
            asyncio.run(agents_available(app.port, tokens))
            tally, cpu, seconds = run_burst(
                "agent",
                app,
                workers,
                callers(["0"], args.agent_callers, 500000, "agent"),
                extra=lambda: [heartbeats(app.port, tokens)],
            )
            burst = Burst("agent", tally, cpu, seconds)
            jobs_before = Meter.read(app, workers)
            _, burst.acks, burst.stored_seconds, burst.stored = wait_for_jobs(
                tally, twilio, database_url, args.ack_timeout
            )
            burst.jobs_cpu = Meter.read(app, workers) - jobs_before
            summaries.append(burst.summary())
            print(f"({args.agents} agents for {args.agent_callers} callers)")
            targets |= print_burst(summaries[-1], args.agent_callers)

        rng = random.Random(f"{args.seed}-bare")
        tally, cpu, seconds = run_burst(
            "bare",
            bare,
            workers,
            lambda client: [
                staggered(
                    args.ramp,
                    rng,
                    bare_caller(
                        client, random.Random(f"{args.seed}-bare-{i}"), think, 6
                    ),
                )
                for i in range(args.callers)
            ],
        )
        summaries.append(Burst("bare fixed TwiML", tally, cpu, seconds).summary())
        print_burst(summaries[-1], args.callers)

        for server in servers:
            logged = server.log.read_text(errors="replace").strip()
            if logged:
                print(f"--- {server.name} gunicorn log (tail) ---\n{logged[-2000:]}")

    failed = sum(sum(s["non_2xx"].values()) for s in summaries)
    missed = [name for name, ok in targets.items() if not ok]
    print("\ntargets: " + ("all PASS" if not missed else "FAIL: " + "; ".join(missed)))
    output = args.output or RESULTS / f"calls-{args.callers}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(
        json.dumps(
            {
                "callers": args.callers,
                "think_seconds": list(think),
                "ramp_seconds": args.ramp,
                "seed": args.seed,
                "gunicorn": " ".join(gunicorn_args),
                "rq_workers": args.rq_workers,
                "agents": args.agents,
                "agent_callers": args.agent_callers,
                "cpus": os.cpu_count(),
                "bursts": summaries,
                "targets": targets,
                "non_2xx": failed,
            },
            indent=2,
        )
    )
    print(f"written to {output}")
    return 0


# --- the profile ------------------------------------------------------------------


APP_CODE = r"/(app|ivr|recordings|softphone)/"  # pstats restriction: our own code
WRITE_STEPS = (
    "/voice/category",
    "/voice/voicemail",
    "/voice/recording",
    "/voice/status",
)


@dataclass
class StepCost:
    """Counted while one step's request runs in this process."""

    wall: list[float] = field(default_factory=list)
    cpu_seconds: float = 0.0
    statements: int = 0
    sql_seconds: float = 0.0
    commits: int = 0
    savepoints: int = 0
    redis_trips: int = 0
    redis_seconds: float = 0.0
    signature_seconds: float = 0.0
    twiml_seconds: float = 0.0
    pool_wait_seconds: float = 0.0
    pool_wait_max: float = 0.0
    sql: list[str] = field(default_factory=list)  # of the first request


class Probe:
    """SQLAlchemy events and timed wrappers that count into the current step."""

    def __init__(self) -> None:
        self._local = threading.local()  # each thread plays its own call
        self._lock = threading.Lock()
        self.peak_checked_out = 0  # connections out of the pool at once

    @property
    def current(self) -> StepCost | None:
        return getattr(self._local, "current", None)

    @current.setter
    def current(self, cost: StepCost | None) -> None:
        self._local.current = cost

    def add(self, name: str, amount: float = 1) -> None:
        cost = self.current
        if cost is not None:
            with self._lock:
                setattr(cost, name, getattr(cost, name) + amount)

    def timed(self, name: str, func: Callable) -> Callable:
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                self.add(name, time.perf_counter() - start)

        return wrapper


def _wrap_method(owner: type, name: str, probe: Probe, counter: str) -> Callable:
    """Replace a method with one that adds its duration to `counter`."""
    original = owner.__dict__[name]

    def wrapper(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return original(self, *args, **kwargs)
        finally:
            probe.add(counter, time.perf_counter() - start)

    setattr(owner, name, wrapper)
    return lambda: setattr(owner, name, original)


@contextmanager
def instrumented(flask_app, probe: Probe) -> Iterator[None]:
    """Count statements, commits, savepoints, Redis round trips; time the rest.

    The wrappers live in this process only (the bench's own app) and are undone.
    """
    import redis.connection
    from sqlalchemy import event
    from twilio.twiml import TwiML

    from app import webhooks
    from app.extensions import db

    with flask_app.app_context():
        engine = db.engine
    started_at: dict[int, float] = {}

    def before(conn, cursor, statement, parameters, context, executemany):
        started_at[id(cursor)] = time.perf_counter()

    def after(conn, cursor, statement, parameters, context, executemany):
        probe.add("statements")
        if probe.current is not None and not probe.current.wall:
            probe.current.sql.append(" ".join(statement.split()))
        probe.add("sql_seconds", time.perf_counter() - started_at.pop(id(cursor), 0))

    listeners = [
        ("before_cursor_execute", before),
        ("after_cursor_execute", after),
        ("commit", lambda conn: probe.add("commits")),
        ("savepoint", lambda conn, name: probe.add("savepoints")),
    ]
    for name, listener in listeners:
        event.listen(engine, name, listener)
    connection = redis.connection.AbstractConnection
    trips = connection.__dict__["send_packed_command"]

    def send(self, *args, **kwargs):
        probe.add("redis_trips")  # one write, then its replies: one round trip
        return trips(self, *args, **kwargs)

    connection.send_packed_command = send
    undo = [
        lambda: setattr(connection, "send_packed_command", trips),
        _wrap_method(connection, "read_response", probe, "redis_seconds"),
        _wrap_method(TwiML, "to_xml", probe, "twiml_seconds"),
    ]
    check = webhooks.signature_is_valid
    webhooks.signature_is_valid = probe.timed("signature_seconds", check)
    undo.append(lambda: setattr(webhooks, "signature_is_valid", check))
    checkout = engine.pool._do_get

    def timed_checkout():
        start = time.perf_counter()
        try:
            return checkout()
        finally:
            waited = time.perf_counter() - start
            probe.add("pool_wait_seconds", waited)
            cost = probe.current
            if cost is not None and waited > cost.pool_wait_max:
                cost.pool_wait_max = waited

    def checked_out(*_):
        probe.peak_checked_out = max(probe.peak_checked_out, engine.pool.checkedout())

    engine.pool._do_get = timed_checkout
    event.listen(engine, "checkout", checked_out)
    undo.append(lambda: event.remove(engine, "checkout", checked_out))
    undo.append(lambda: delattr(engine.pool, "_do_get"))
    try:
        yield
    finally:
        for step in reversed(undo):
            step()
        for name, listener in listeners:
            event.remove(engine, name, listener)


class InProcessCaller:
    """A complaint call through the Flask test client, signed like Twilio's."""

    def __init__(self, client, media, audio: bytes, phone: str) -> None:
        self.client = client
        self.media = media
        self.audio = audio
        self.phone = phone
        self.call_sid = sid("CA")
        self.validator = RequestValidator(AUTH_TOKEN)

    def form(self, status: str = "in-progress", **extra: str) -> dict[str, str]:
        return call_form(self.call_sid, self.phone, status, **extra)

    def steps(self) -> Iterator[tuple[str, Callable[[], object]]]:
        """(webhook, send) for each step; send() returns the parsed TwiML."""
        holder: dict[str, ET.Element | None] = {}

        def post(url: str, form: dict[str, str], expect: int = 200):
            target = local(url) if url.startswith("http") else url
            signature = self.validator.compute_signature(PUBLIC + target, form)
            response = self.client.post(
                target,
                data=form,
                headers={"X-Twilio-Signature": signature},
                base_url=PUBLIC,
            )
            if response.status_code != expect or b"/voice/fallback" in response.data:
                raise RuntimeError(f"{target} answered {response.status_code}")
            holder["root"] = ET.fromstring(response.data) if expect == 200 else None

        recording = sid("RE")
        self.media.serve(recording, self.audio)
        yield "/voice/incoming", lambda: post("/voice/incoming", self.form("ringing"))
        yield (
            "/voice/menu",
            lambda: post(
                holder["root"].find("Gather").get("action"), self.form(Digits="1")
            ),
        )
        yield (
            "/voice/category",
            lambda: post(
                holder["root"].find("Gather").get("action"), self.form(Digits="1")
            ),
        )
        record: dict[str, str] = {}

        def voicemail() -> None:
            element = holder["root"].find("Record")
            record.update(element.attrib)
            post(
                element.get("action"),
                self.form(
                    RecordingSid=recording,
                    RecordingUrl=self.media.recording_url(recording),
                    RecordingDuration=str(RECORDING_SECONDS),
                    Digits="#",
                ),
            )

        yield "/voice/voicemail", voicemail
        yield (
            "/voice/recording",
            lambda: post(
                record["recordingStatusCallback"],
                {
                    "AccountSid": ACCOUNT_SID,
                    "CallSid": self.call_sid,
                    "RecordingSid": recording,
                    "RecordingUrl": self.media.recording_url(recording),
                    "RecordingStatus": "completed",
                    "RecordingDuration": str(RECORDING_SECONDS),
                    "RecordingChannels": "1",
                    "RecordingSource": "RecordVerb",
                },
                expect=204,
            ),
        )
        yield (
            "/voice/status",
            lambda: post(
                "/voice/status", self.form("completed", CallDuration="40"), expect=204
            ),
        )


def dispose(flask_app) -> None:
    """Close the profile app's connections before its schema is dropped."""
    from app.extensions import db

    with flask_app.app_context():
        db.session.remove()
        db.engine.dispose()


def profile_run(args: argparse.Namespace) -> int:
    from pyinstrument import Profiler
    from pyinstrument.renderers import ConsoleRenderer
    from pyinstrument.session import Session

    from app import create_app
    from config import ProductionConfig

    with ExitStack() as stack:
        tmp, database_url, redis, media = private_services(stack)
        audio = media_standin.make_wav(RECORDING_SECONDS)
        settings = {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis.url,
            "SECRET_KEY": secrets.token_hex(32),
            "PUBLIC_BASE_URL": PUBLIC,
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_API_BASE_URL": "http://127.0.0.1:9",  # no job runs here
            "RECORDINGS_DIR": str(tmp / "recordings"),
        }
        run_flask("db", "upgrade", env=flask_env(tmp / "instance", **settings))
        config = type(
            "BenchProfileConfig",
            (ProductionConfig,),
            {
                "SQLALCHEMY_DATABASE_URI": database_url,
                "REDIS_URL": redis.url,
                "SECRET_KEY": settings["SECRET_KEY"],
                "PUBLIC_BASE_URL": PUBLIC,
                "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
                "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                "TWILIO_API_BASE_URL": settings["TWILIO_API_BASE_URL"],
                "RECORDINGS_DIR": settings["RECORDINGS_DIR"],
                "TRUSTED_PROXIES": None,
            },
        )
        app = create_app(config)
        client = app.test_client()
        stack.callback(dispose, app)

        def calls(
            count: int, offset: int, test_client=client
        ) -> Iterator[tuple[str, Callable]]:
            for index in range(count):
                caller = InProcessCaller(
                    test_client, media, audio, f"+2290197{offset + index:06d}"
                )
                yield from caller.steps()

        for _, send in calls(3, 900000):  # warm: imports, compiled statements
            send()

        probe = Probe()
        costs: dict[str, StepCost] = defaultdict(StepCost)
        with instrumented(app, probe):
            for step, send in calls(args.profile_calls, 0):
                probe.current = costs[step]
                start, cpu = time.perf_counter(), time.thread_time()
                send()
                costs[step].cpu_seconds += time.thread_time() - cpu
                costs[step].wall.append(time.perf_counter() - start)
                probe.current = None

        # As one gthread worker: its threads, one app, one pool, calls at once.
        threaded = {step: StepCost() for step in costs}
        threads_n = args.profile_threads
        per_thread = max(1, round(args.profile_calls / threads_n))
        with instrumented(app, probe):

            def play(index: int) -> None:
                own = app.test_client()
                for step, send in calls(per_thread, 300000 + 1000 * index, own):
                    probe.current = threaded[step]
                    start = time.perf_counter()
                    send()
                    with probe._lock:
                        threaded[step].wall.append(time.perf_counter() - start)
                    probe.current = None

            players = [
                threading.Thread(target=play, args=(i,)) for i in range(threads_n)
            ]
            for player in players:
                player.start()
            for player in players:
                player.join()
        with app.app_context():
            from app.extensions import db

            pool_status = db.engine.pool.status()

        stats: dict[str, pstats.Stats] = {}
        sessions: dict[str, Session | None] = dict.fromkeys(WRITE_STEPS)
        for step, send in calls(args.profile_calls, 100000):
            if step not in WRITE_STEPS:
                send()
                continue
            profile = cProfile.Profile(time.thread_time)  # CPU, not waits
            profile.enable()
            send()
            profile.disable()
            if step in stats:
                stats[step].add(profile)
            else:
                stats[step] = pstats.Stats(profile)
        for step, send in calls(args.profile_calls, 200000):
            if step not in WRITE_STEPS:
                send()
                continue
            profiler = Profiler(interval=0.0002)
            profiler.start()
            send()
            profiler.stop()
            session = profiler.last_session
            sessions[step] = (
                session
                if sessions[step] is None
                else Session.combine(sessions[step], session)
            )

    n = args.profile_calls
    print(
        f"{n} complaint calls in process (Flask test client, PostgreSQL schema,"
        " RQ jobs queued on a private Redis, no worker); per request, mean:"
    )
    print(
        f"{'step':<19}{'wall ms':>8}{'cpu ms':>7}{'SQL':>5}{'SQL ms':>8}{'commit':>7}"
        f"{'savept':>7}{'redis':>6}{'redis ms':>9}{'sig ms':>7}{'TwiML ms':>9}"
        f"{'pool ms':>8}"
    )
    table = {}
    for step, cost in costs.items():
        calls_n = max(len(cost.wall), 1)
        row = {
            "wall_ms": 1000 * sum(cost.wall) / calls_n,
            "cpu_ms": 1000 * cost.cpu_seconds / calls_n,
            "statements": cost.statements / calls_n,
            "sql_ms": 1000 * cost.sql_seconds / calls_n,
            "commits": cost.commits / calls_n,
            "savepoints": cost.savepoints / calls_n,
            "redis_round_trips": cost.redis_trips / calls_n,
            "redis_ms": 1000 * cost.redis_seconds / calls_n,
            "signature_ms": 1000 * cost.signature_seconds / calls_n,
            "twiml_ms": 1000 * cost.twiml_seconds / calls_n,
            "pool_checkout_ms": 1000 * cost.pool_wait_seconds / calls_n,
        }
        table[step] = {key: round(value, 3) for key, value in row.items()}
        print(
            f"{step:<19}{row['wall_ms']:>8.2f}{row['cpu_ms']:>7.2f}"
            f"{row['statements']:>5.1f}"
            f"{row['sql_ms']:>8.2f}{row['commits']:>7.1f}{row['savepoints']:>7.1f}"
            f"{row['redis_round_trips']:>6.1f}{row['redis_ms']:>9.2f}"
            f"{row['signature_ms']:>7.2f}{row['twiml_ms']:>9.2f}"
            f"{row['pool_checkout_ms']:>8.3f}"
        )
    print(
        f"\n{threads_n} threads x {per_thread} call(s) at once in one process, as one"
        f" gthread worker's threads (one app, one pool: {pool_status}); peak"
        f" connections out of the pool: {probe.peak_checked_out}"
    )
    print(f"{'step':<19}{'wall p50':>9}{'wall max':>9}{'pool mean':>10}{'pool max':>9}")
    for step, cost in threaded.items():
        waits = sorted(cost.wall)
        table[step]["threaded_pool_wait_mean_ms"] = round(
            1000 * cost.pool_wait_seconds / max(len(waits), 1), 3
        )
        table[step]["threaded_pool_wait_max_ms"] = round(1000 * cost.pool_wait_max, 3)
        print(
            f"{step:<19}{1000 * percentile(waits, 0.5):>9.1f}"
            f"{1000 * waits[-1]:>9.1f}"
            f"{table[step]['threaded_pool_wait_mean_ms']:>10.2f}"
            f"{table[step]['threaded_pool_wait_max_ms']:>9.2f}"
        )
    print(
        "cpu: this thread's CPU; SQL: statements (SAVEPOINT and RELEASE included),"
        " SQL ms: inside cursor.execute; commit, savept: COMMITs, SAVEPOINTs; redis:"
        " round trips (writes of a command or pipeline), redis ms: waiting for the"
        " replies; sig: signature_is_valid(); TwiML: TwiML.to_xml(); pool: the"
        " pool's checkout, opening a new connection included"
    )
    for step in WRITE_STEPS:
        print(f"\n-- {step}: the SQL of one request --")
        for statement in costs[step].sql:
            print(
                "  " + (statement if len(statement) < 150 else statement[:147] + "...")
            )
    for step in WRITE_STEPS:
        if step not in stats:
            continue
        for order, restriction, what in (
            ("tottime", (), "functions by own CPU time"),
            ("cumulative", (APP_CODE,), "of the app's functions by cumulative CPU"),
        ):
            out = io.StringIO()
            stats[step].stream = out
            stats[step].sort_stats(order).print_stats(*restriction, args.profile_top)
            body = out.getvalue()
            body = body[body.find("ncalls") :] if "ncalls" in body else body
            print(f"\n-- {step}: top {args.profile_top} {what} (cProfile, {n} calls)")
            print(body.replace(str(ROOT) + "/", "").rstrip())
    for step in WRITE_STEPS:
        if sessions[step] is None:
            continue
        print(f"\n-- {step}: pyinstrument, {n} requests combined --")
        print(
            ConsoleRenderer(unicode=True, color=False, show_all=False, short_mode=True)
            .render(sessions[step])
            .replace(str(ROOT) + "/", "")
        )
    output = args.output or RESULTS / "calls-profile.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps({"calls": n, "steps": table}, indent=2))
    print(f"written to {output}")
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--callers", type=int, default=100)
    parser.add_argument("--think-min", type=float, default=2.0, help="seconds")
    parser.add_argument("--think-max", type=float, default=4.0, help="seconds")
    parser.add_argument(
        "--ramp", type=float, default=3.0, help="callers start within these seconds"
    )
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--agents", type=int, default=10)
    parser.add_argument(
        "--agent-callers",
        type=int,
        default=None,
        help="callers pressing 0 (default: a fifth of --callers; 0: no agent burst)",
    )
    parser.add_argument("--workers", type=int, default=4, help="gunicorn -w")
    parser.add_argument("--threads", type=int, default=32, help="gunicorn --threads")
    parser.add_argument("--rq-workers", type=int, default=2)
    parser.add_argument(
        "--rq-worker",
        choices=sorted(WORKER_COMMANDS),
        default="flask",
        help="flask: `flask --app wsgi worker` (a forked work horse per job);"
        " simple: the same queues in one process, rq's SimpleWorker (experiment)",
    )
    parser.add_argument(
        "--ack-timeout",
        type=float,
        default=180.0,
        help="seconds to wait after a burst for its SMS and recordings",
    )
    parser.add_argument("--output", type=Path, help="the JSON results file")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--profile-calls", type=int, default=20)
    parser.add_argument("--profile-top", type=int, default=15)
    parser.add_argument(
        "--profile-threads",
        type=int,
        default=32,
        help="then this many threads at once, as one gthread worker (pool waits)",
    )
    args = parser.parse_args(argv)
    if args.agent_callers is None:
        args.agent_callers = max(1, args.callers // 5)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return profile_run(args) if args.profile else load_run(args)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # everything started here was stopped on the way out
        sys.exit("interrupted")
