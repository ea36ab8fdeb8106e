"""Ranged playback of a stored recording: the app's audio endpoint beside a static file.

    .venv/bin/python bench/recordings.py                 # 3000 ranged requests each
    .venv/bin/python bench/recordings.py --requests 6000 --concurrency 32
    .venv/bin/python bench/recordings.py --range-bytes 524288   # longer reads

What it measures, on loopback, with one gunicorn serving both (by default 4 sync
workers, as the README runs production):

  app      GET /api/recordings/<id>/audio with a supervisor's bearer token: the
           token and recording looked up in SQLite, may_listen, then Flask's
           send_file(conditional=True) of the stored file
  static   GET /bench-static/recording.wav: the same bytes through the same
           Flask send_file(conditional=True, max_age=0) in a bare Flask app,
           mounted beside Écoute with werkzeug's DispatcherMiddleware (so both
           answer a Range with werkzeug's 206 and the same file wrapper)

The recording is a 60-second 8 kHz 16-bit mono WAV (960 044 bytes) written with
recordings.storage.LocalStorage, its row media_status="stored" and attached to a
ticket, in a SQLite database built by `flask db upgrade` in a temporary instance;
the supervisor and the API token come from `flask users create` / `users token`.

16 concurrent listeners (one asyncio loop, raw HTTP/1.1) send pre-built requests
for random 64 KiB ranges `Range: bytes=a-(a+65535)` with a >= 1 (a seek, so the
app writes no "listened" event), the same ranges to both servers, in interleaved
rounds (app, static, app, ...) after a warm-up. Sync workers close every
connection, so each request opens one and half-closes it once sent. Every answer
must be 206 with the right Content-Range and exactly the requested bytes.
Printed: MB/s (10^6 bytes of body), requests/s, p50/p99 latency, server CPU ms
per request (the gunicorn processes, from /proc), and app/static ratios; the
target is app >= 0.8x static MB/s. A separate small run sends first ranges
(`bytes=0-65535`, a playback starting): there the app checks everything in
full and writes a "listened" event once per listening session (per listener and
recording, ten minutes), which the script counts afterwards. Seeks reuse the
short-lived grant the first request left, as a real player's do.

Figures also go to bench/results/recordings.json; the temporary folder and the
server are removed at the end. The exit status is 0 whether the target is met
or missed, 1 if anything went wrong (an error answer, a wrong byte).

This module is also gunicorn's app factory: `bench.recordings:served()`.
"""

import argparse
import asyncio
import io
import json
import math
import os
import random
import secrets
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import wave
from array import array
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
RESULTS = ROOT / "bench" / "results"
HOST = "127.0.0.1"
STATIC_PREFIX = "/bench-static"
STATIC_NAME = "recording.wav"
RANGE = 64 * 1024  # the default; --range-bytes changes it
SECONDS = 60
SUPERVISOR = "bench-supervisor@example.org"
REQUEST_TIMEOUT = 15.0
TARGET_RATIO = 0.8
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# --- gunicorn's side ------------------------------------------------------------


def served():
    """The app factory gunicorn calls: Écoute, with a bare static peer beside it.

    BENCH_STATIC_FILE names the file /bench-static/recording.wav sends.
    """
    from flask import Flask, send_file
    from werkzeug.middleware.dispatcher import DispatcherMiddleware

    from wsgi import app

    static_file = Path(os.environ["BENCH_STATIC_FILE"])
    static = Flask("bench_static")

    @static.get(f"/{STATIC_NAME}")
    def recording():
        return send_file(static_file, mimetype="audio/wav", conditional=True, max_age=0)

    return DispatcherMiddleware(app, {STATIC_PREFIX: static})


# --- preparation ------------------------------------------------------------------


def make_wav(seconds: int, rate: int = 8000) -> bytes:
    """A 440 Hz tone, 8 kHz 16-bit mono, as Twilio's recordings are."""
    samples = array(
        "h",
        (
            int(8000 * math.sin(2 * math.pi * 440 * i / rate))
            for i in range(seconds * rate)
        ),
    )
    if sys.byteorder == "big":
        samples.byteswap()
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(2)
        audio.setframerate(rate)
        audio.writeframes(samples.tobytes())
    return buffer.getvalue()


def app_env(tmp: Path) -> dict[str, str]:
    """The app's settings: all under tmp; empty values keep a `.env` out of it."""
    env = dict(os.environ)
    env.update(
        APP_ENV="production",
        ECOUTE_INSTANCE=str(tmp / "instance"),
        DATABASE_URL=f"sqlite:///{tmp / 'ecoute.sqlite3'}",
        RECORDINGS_DIR=str(tmp / "recordings"),
        SECRET_KEY=secrets.token_hex(32),
        TWILIO_AUTH_TOKEN=secrets.token_hex(16),
        TWILIO_ACCOUNT_SID="",
        TWILIO_API_KEY="",
        TWILIO_API_SECRET="",
        REDIS_URL="",
        PUBLIC_BASE_URL="",
        TRUSTED_PROXIES="",
        BENCH_STATIC_FILE=str(tmp / "static" / STATIC_NAME),
    )
    return env


def flask(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [str(BIN / "flask"), "--app", "wsgi", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"flask {' '.join(args)}:\n{result.stdout}{result.stderr}")
    return result.stdout


def store_recording(env: dict[str, str], audio: bytes) -> int:
    """The recording, stored as the fetch job stores it; its id.

    Runs in a child process: the app's config reads the environment on import.
    """
    script = f"""
from app import create_app
from app.extensions import db
from app.models import Recording, Ticket
from app.models.types import utcnow
from app.references import new_reference
from recordings.storage import storage_for

app = create_app("production")
with app.app_context():
    ticket = Ticket(reference=new_reference(), kind="complaint")
    ticket.record("created", "system")
    db.session.add(ticket)
    db.session.flush()
    sid = "RE" + "b" * 32
    key = sid + ".wav"
    with open({str(Path(env["BENCH_STATIC_FILE"]))!r}, "rb") as source:
        chunks = iter(lambda: source.read(65536), b"")
        stored = storage_for(app).save(key, chunks, 10**9)
    recording = Recording(
        recording_sid=sid, ticket_id=ticket.id, status="completed", duration={SECONDS},
        channels=1, purpose="voicemail", media_status="stored", storage_key=key,
        media_format="wav", size_bytes=stored.size, sha256=stored.sha256,
        stored_at=utcnow(),
    )
    db.session.add(recording)
    db.session.commit()
    assert stored.size == {len(audio)}
    print(recording.id)
"""
    result = subprocess.run(
        [str(BIN / "python"), "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"storing the recording:\n{result.stdout}{result.stderr}")
    return int(result.stdout.split()[-1])


def count_listened(env: dict[str, str]) -> int:
    path = env["DATABASE_URL"].removeprefix("sqlite:///")
    connection = sqlite3.connect(path)
    try:
        query = "SELECT count(*) FROM ticket_events WHERE action = 'listened'"
        return connection.execute(query).fetchone()[0]
    finally:
        connection.close()


# --- the server -------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    process: subprocess.Popen
    port: int
    log: Path

    def cpu_seconds(self) -> float:
        """User + system time of the gunicorn master and its live workers."""
        pid = self.process.pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        ticks = 0
        for each in [pid, *children]:
            try:
                stat = Path(f"/proc/{each}/stat").read_text()
            except (FileNotFoundError, ProcessLookupError):
                continue
            fields = stat.rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
        return ticks / CLOCK_TICKS

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_server(env: dict[str, str], tmp: Path, workers: int) -> Server:
    port = free_port()
    log = tmp / "gunicorn.log"
    command = [
        str(BIN / "gunicorn"),
        "--no-control-socket",
        "-w",
        str(workers),
        "-b",
        f"{HOST}:{port}",
        "--log-level",
        "warning",
        "--graceful-timeout",
        "5",
        "bench.recordings:served()",
    ]
    with log.open("w") as output:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT
        )
    server = Server(process, port, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited:\n{log.read_text()[-3000:]}")
        try:
            socket.create_connection((HOST, port), timeout=1).close()
            return server
        except OSError:
            time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"gunicorn did not accept connections on port {port}")


# --- load -------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    name: str
    path: str
    headers: str  # extra request header lines, each ending in \r\n


@dataclass(frozen=True)
class Ask:
    raw: bytes
    start: int
    end: int  # inclusive


def build(target: Target, port: int, start: int, end: int) -> Ask:
    raw = (
        f"GET {target.path} HTTP/1.1\r\n"
        f"Host: {HOST}:{port}\r\n"
        "User-Agent: ecoute-bench\r\n"
        "Accept: */*\r\n"
        f"Range: bytes={start}-{end}\r\n"
        f"{target.headers}"
        "Connection: close\r\n"
        "\r\n"
    ).encode()
    return Ask(raw, start, end)


@dataclass
class Sample:
    latencies: list[float] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)
    ok: int = 0
    body_bytes: int = 0
    unsent: int = 0
    seconds: float = 0.0
    server_cpu: float = 0.0


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        if name:
            headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    else:
        body = await reader.read()
    return int(status_line.split(" ", 2)[1]), headers, body


async def listener(port: int, asks, audio: bytes, deadline: float, out: Sample) -> None:
    """One listener: takes the next request until none are left."""
    for ask in asks:
        if time.monotonic() > deadline:
            out.unsent += 1
            continue
        start = time.perf_counter()
        writer = None
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                reader, writer = await asyncio.open_connection(HOST, port)
                writer.write(ask.raw)
                writer.write_eof()  # sync workers would otherwise wait for the FIN
                status, headers, body = await read_response(reader)
        except (OSError, TimeoutError, ValueError, asyncio.IncompleteReadError) as e:
            out.errors[type(e).__name__] += 1
            continue
        finally:
            if writer is not None:
                writer.close()
        out.latencies.append(time.perf_counter() - start)
        expected_range = f"bytes {ask.start}-{ask.end}/{len(audio)}"
        if status != 206:
            out.errors[f"HTTP {status}"] += 1
        elif headers.get("content-range") != expected_range:
            out.errors["wrong Content-Range"] += 1
        elif body != audio[ask.start : ask.end + 1]:
            out.errors["wrong bytes"] += 1
        else:
            out.ok += 1
            out.body_bytes += len(body)


def send(
    server: Server,
    asks: list[Ask],
    audio: bytes,
    concurrency: int,
    deadline: float,
    out: Sample,
) -> None:
    async def all_listeners() -> None:
        shared = iter(asks)
        await asyncio.gather(
            *(
                listener(server.port, shared, audio, deadline, out)
                for _ in range(concurrency)
            )
        )

    cpu = server.cpu_seconds()
    began = time.perf_counter()
    asyncio.run(all_listeners())
    out.seconds += time.perf_counter() - began
    out.server_cpu += server.cpu_seconds() - cpu


def machine_busy() -> float:
    """CPU seconds the whole machine has been busy (all processes)."""
    with open("/proc/stat") as stat:
        ticks = [int(value) for value in stat.readline().split()[1:8]]
    user, nice, system, _idle, _iowait, irq, softirq = ticks
    return (user + nice + system + irq + softirq) / CLOCK_TICKS


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q * len(ordered)) - 1))]


@dataclass
class Result:
    run: str
    target: str
    requests: int
    ok: int
    errors: dict[str, int]
    unsent: int
    seconds: float
    mb_per_s: float
    rps: float
    p50_ms: float
    p99_ms: float
    server_cpu_ms_per_req: float

    @classmethod
    def of(cls, run: str, target: str, sample: Sample) -> "Result":
        done = len(sample.latencies)
        seconds = sample.seconds or float("nan")
        return cls(
            run=run,
            target=target,
            requests=done,
            ok=sample.ok,
            errors=dict(sample.errors),
            unsent=sample.unsent,
            seconds=round(sample.seconds, 3),
            mb_per_s=round(sample.body_bytes / seconds / 1e6, 2),
            rps=round(sample.ok / seconds, 1),
            p50_ms=round(percentile(sample.latencies, 0.50) * 1000, 2),
            p99_ms=round(percentile(sample.latencies, 0.99) * 1000, 2),
            server_cpu_ms_per_req=round(sample.server_cpu * 1000 / max(done, 1), 3),
        )


def run(
    name: str,
    server: Server,
    targets: list[Target],
    ranges: list[tuple[int, int]],
    warmup: list[tuple[int, int]],
    audio: bytes,
    args: argparse.Namespace,
) -> list[Result]:
    """Each target gets the same ranges, in interleaved rounds after a warm-up."""
    per_round = [
        ranges[i :: args.rounds] for i in range(args.rounds)
    ]  # round i: every rounds-th range, so each round spans the whole file
    asks = {
        t.name: [[build(t, server.port, a, b) for a, b in r] for r in per_round]
        for t in targets
    }
    warm = {t.name: [build(t, server.port, a, b) for a, b in warmup] for t in targets}
    deadline = time.monotonic() + args.time_limit
    for target in targets:
        scratch = Sample()
        send(server, warm[target.name], audio, args.concurrency, deadline, scratch)
        if scratch.errors:
            raise RuntimeError(f"warm-up of {target.name}: {dict(scratch.errors)}")
    samples = {t.name: Sample() for t in targets}
    for index in range(args.rounds):
        order = targets if index % 2 == 0 else targets[::-1]
        for target in order:
            send(
                server,
                asks[target.name][index],
                audio,
                args.concurrency,
                deadline,
                samples[target.name],
            )
    return [Result.of(name, t.name, samples[t.name]) for t in targets]


# --- report -----------------------------------------------------------------------

HEADER = (
    f"{'run':<13}{'target':<8}{'ok':>6}{'err':>5}{'MB/s':>9}{'req/s':>9}"
    f"{'p50 ms':>9}{'p99 ms':>9}{'srv cpu':>9}"
)


def row(result: Result) -> str:
    errors = sum(result.errors.values())
    return (
        f"{result.run:<13}{result.target:<8}{result.ok:>6}{errors:>5}"
        f"{result.mb_per_s:>9.2f}{result.rps:>9.1f}{result.p50_ms:>9.2f}"
        f"{result.p99_ms:>9.2f}{result.server_cpu_ms_per_req:>9.3f}"
    )


def ratios(app: Result, static: Result) -> dict[str, float | None]:
    def over(a: float, b: float) -> float | None:
        return round(a / b, 3) if b else None

    return {
        "mb_per_s": over(app.mb_per_s, static.mb_per_s),
        "p50": over(app.p50_ms, static.p50_ms),
        "p99": over(app.p99_ms, static.p99_ms),
        "server_cpu_per_req": over(
            app.server_cpu_ms_per_req, static.server_cpu_ms_per_req
        ),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=3000, help="per target")
    parser.add_argument("--first-requests", type=int, default=300, help="per target")
    parser.add_argument("--warmup", type=int, default=200, help="per target")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--range-bytes", type=int, default=RANGE)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument(
        "--time-limit", type=float, default=300, help="seconds, then stop sending"
    )
    parser.add_argument("--seed", type=int, default=20_26)
    args = parser.parse_args()

    began = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="ecoute-bench-recordings-"))
    server = None
    try:
        env = app_env(tmp)
        audio = make_wav(SECONDS)
        (tmp / "static").mkdir()
        Path(env["BENCH_STATIC_FILE"]).write_bytes(audio)
        flask(env, "db", "upgrade")
        password = secrets.token_urlsafe(12)
        flask(
            env,
            "users",
            "create",
            SUPERVISOR,
            "--role=supervisor",
            "--password",
            password,
        )
        token = flask(env, "users", "token", SUPERVISOR).split()[-1]
        recording_id = store_recording(env, audio)
        stored = tmp / "recordings" / ("RE" + "b" * 32 + ".wav")
        assert stored.read_bytes() == audio
        server = start_server(env, tmp, args.workers)
        prepared = time.monotonic() - began

        targets = [
            Target(
                "app",
                f"/api/recordings/{recording_id}/audio",
                f"Authorization: Bearer {token}\r\n",
            ),
            Target("static", f"{STATIC_PREFIX}/{STATIC_NAME}", ""),
        ]
        rng = random.Random(args.seed)
        last_start = len(audio) - args.range_bytes

        def seeks(count: int) -> list[tuple[int, int]]:
            starts = (rng.randint(1, last_start) for _ in range(count))
            return [(a, a + args.range_bytes - 1) for a in starts]

        print(
            f"{len(audio)} bytes of WAV, {args.requests} ranged requests of"
            f" {args.range_bytes} bytes per target at {args.concurrency} listeners,"
            f" gunicorn -w {args.workers} (sync), {os.cpu_count()} CPUs"
        )
        started = time.monotonic()
        busy, server_cpu, client_cpu = (
            machine_busy(),
            server.cpu_seconds(),
            time.process_time(),
        )
        ranged = run(
            "ranged seek",
            server,
            targets,
            seeks(args.requests),
            seeks(args.warmup),
            audio,
            args,
        )
        listened_before = count_listened(env)
        first = [(0, args.range_bytes - 1)] * args.first_requests
        firsts = run(
            "first range",
            server,
            targets,
            first,
            first[: args.warmup // 4],
            audio,
            args,
        )
        listened = count_listened(env) - listened_before
        load_seconds = time.monotonic() - started
        others = (
            (machine_busy() - busy)
            - (server.cpu_seconds() - server_cpu)
            - (time.process_time() - client_cpu)
        )
        others_pct = round(100 * max(others, 0) / (load_seconds * os.cpu_count()), 1)

        print(HEADER)
        for result in (*ranged, *firsts):
            print(row(result))
        ranged_ratio = ratios(*ranged)
        first_ratio = ratios(*firsts)
        passed = (ranged_ratio["mb_per_s"] or 0) >= TARGET_RATIO
        print(
            f"ranged seek  app/static: MB/s x{ranged_ratio['mb_per_s']}"
            f"  p50 x{ranged_ratio['p50']}  p99 x{ranged_ratio['p99']}"
            f"  server CPU/req x{ranged_ratio['server_cpu_per_req']}"
            f"  target >= {TARGET_RATIO}x MB/s: {'PASS' if passed else 'MISS'}"
        )
        print(
            f"first range  app/static: MB/s x{first_ratio['mb_per_s']}"
            f"  p50 x{first_ratio['p50']}  p99 x{first_ratio['p99']}"
            f"  ('listened' events written: {listened},"
            f" app answers {firsts[0].ok} + warm-up {args.warmup // 4})"
        )
        print(
            f"prepared in {prepared:.1f} s, loaded in {load_seconds:.1f} s,"
            f" {time.monotonic() - began:.1f} s in all; other processes used"
            f" {others_pct}% of the CPUs meanwhile"
        )
        errors = any(r.errors or r.unsent for r in (*ranged, *firsts))
        # One token, one recording: one listening session, written once, or once
        # per worker process when their first requests race.
        expected_listened = f"1..{args.workers}"
        RESULTS.mkdir(parents=True, exist_ok=True)
        report = {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "settings": {
                **vars(args),
                "file_bytes": len(audio),
                "gunicorn": f"-w {args.workers} sync",
                "cpus": os.cpu_count(),
                "static_peer": "bare Flask send_file(conditional=True, max_age=0)"
                " under DispatcherMiddleware, same gunicorn",
            },
            "results": [asdict(r) for r in (*ranged, *firsts)],
            "ratios_app_over_static": {"ranged": ranged_ratio, "first": first_ratio},
            "target": {"mb_per_s_ratio": TARGET_RATIO, "passed": passed},
            "listened_events": {"written": listened, "expected": expected_listened},
            "other_processes_cpu_pct": others_pct,
            "seconds": {
                "prepare": round(prepared, 1),
                "load": round(load_seconds, 1),
            },
        }
        (RESULTS / "recordings.json").write_text(json.dumps(report, indent=2) + "\n")
        print(f"written to {RESULTS / 'recordings.json'}")
        if errors or not 1 <= listened <= args.workers:
            everything = (*ranged, *firsts)
            problems = [(r.run, r.target, r.errors, r.unsent) for r in everything]
            print(f"errors: {problems}; listened events expected {expected_listened}")
            print(server.log.read_text()[-3000:])
            return 1
        return 0
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
