"""Load two Twilio voice webhooks under gunicorn and compare them with bare Flask.

    .venv/bin/python bench/webhooks.py                  # SQLite (the app's default)
    .venv/bin/python bench/webhooks.py --database-url postgresql://postgres@127.0.0.1:5432/test

What it measures, at 16 and at 64 concurrent callers, in one run and on loopback:

  bare fixed TwiML        bench/bare_app.py /fixed: a fixed TwiML string, the peer
  bare signed+twilio lib  bench/bare_app.py /signed: RequestValidator + VoiceResponse
  /voice/menu Digits=3    the menu action "information" (no database)
  /voice/menu Digits=1    the menu action "complaint" (category menu, no database)
  /voice/incoming         a new CallSid each request: writes the call (and caller) row

For each: requests/s, p50 and p99 latency, CPU ms per request of the server (all
its gunicorn processes, from /proc) and of this client, and the ratios to the bare
fixed route at the same concurrency: req/s, p99, and server CPU per request ("x
cpu": what the req/s ratio would be with the client on another machine; the
client's own CPU, spent on this machine's cores, pulls "x bare" towards 1).
Targets: menu action >= 0.5x bare req/s, /voice/incoming >= 0.3x, each p99 <= 2x
the bare p99; PASS/MISS is printed and the exit status is 0 either way.

The app and the bare app run side by side under the same gunicorn setting
(default: 4 sync workers, as the README runs production; --threads N switches
to gthread). Every request is built and signed before timing and sent as raw
HTTP/1.1 from one asyncio loop, one connection per simulated caller: kept alive
under gthread; under sync workers, which close every connection, a new one per
request, half-closed by the client once sent so that no worker waits for its
FIN. Each level sends a warm-up, then its timed requests in interleaved rounds
(route after route), so that whatever else runs on the machine weighs on every
route alike; the CPU other processes took meanwhile is printed under each level.
Every answer must be 200 with TwiML carrying the route's expected marker (so the
apology TwiML of a failed webhook counts as an error), and the calls table must
hold one row per good /voice/incoming answer.

With PostgreSQL the database `ecoute_bench` is dropped and recreated beside the
one named by --database-url; SQLite lives in a temporary instance folder.
Figures also go to bench/results/webhooks-<backend>.json.
"""

import argparse
import asyncio
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from sqlalchemy import create_engine, text
from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
RESULTS = ROOT / "bench" / "results"
HOST = "127.0.0.1"
TOKEN = "bench-twilio-auth-token"
LINE = "+2290121300000"  # the first line of config/lines.yaml, open day and night
LEVELS = (16, 64)
REQUEST_TIMEOUT = 15.0  # seconds for one request before it counts as an error
BENCH_DB = "ecoute_bench"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# --- requests -----------------------------------------------------------------


def call_sid() -> str:
    return "CA" + secrets.token_hex(16)


def twilio_form(status: str, **extra: str) -> dict[str, str]:
    """The fields Twilio posts to a voice webhook, for a new random caller."""
    return {
        "CallSid": call_sid(),
        "AccountSid": "AC" + "0" * 32,
        "From": f"+22901970{secrets.randbelow(10**5):05d}",
        "To": LINE,
        "CallStatus": status,
        "Direction": "inbound",
        "ApiVersion": "2010-04-01",
        **extra,
    }


@dataclass(frozen=True)
class Route:
    name: str
    server: str  # "bare" or "app"
    path: str  # with the query string, exactly as signed
    form: Callable[[], dict[str, str]]  # called once per request
    expect: bytes  # in every good answer: tells real TwiML from the apology
    min_ratio: float | None = None  # target: req/s >= min_ratio x bare fixed


ROUTES = (
    Route(
        "bare fixed TwiML",
        "bare",
        "/fixed",
        lambda: twilio_form("in-progress", Digits="3"),
        b"<Say>Bonjour</Say>",
    ),
    Route(
        "bare signed+twilio lib",
        "bare",
        "/signed",
        lambda: twilio_form("in-progress", Digits="3"),
        b">Bonjour</Say>",
    ),
    Route(
        "/voice/menu Digits=3",
        "app",
        "/voice/menu?lang=fr&attempt=1",
        lambda: twilio_form("in-progress", Digits="3"),
        b"/voice/main?lang=fr",
        min_ratio=0.5,
    ),
    Route(
        "/voice/menu Digits=1",
        "app",
        "/voice/menu?lang=fr&attempt=1",
        lambda: twilio_form("in-progress", Digits="1"),
        b"/voice/category?lang=fr",
        min_ratio=0.5,
    ),
    Route(
        "/voice/incoming",
        "app",
        "/voice/incoming",
        lambda: twilio_form("ringing"),
        b"/voice/menu?lang=fr",
        min_ratio=0.3,
    ),
)
BARE_ROUTE = ROUTES[0].name
MAX_P99_RATIO = 2.0


def signed_request(
    port: int, path: str, form: dict[str, str], keep_alive: bool
) -> bytes:
    """The raw bytes of one POST, signed as Twilio signs the URL it requests."""
    url = f"http://{HOST}:{port}{path}"
    signature = RequestValidator(TOKEN).compute_signature(url, form)
    body = urlencode(form).encode()
    head = (
        f"POST {path} HTTP/1.1\r\n"
        f"Host: {HOST}:{port}\r\n"
        "User-Agent: TwilioProxy/1.1\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"X-Twilio-Signature: {signature}\r\n"
        f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n"
        "\r\n"
    )
    return head.encode() + body


# --- servers ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def cpu_seconds(pids: Iterable[int | str]) -> float:
    """User + system time these processes have used so far."""
    ticks = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except (FileNotFoundError, ProcessLookupError):  # just exited
            continue
        fields = stat.rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / CLOCK_TICKS


def postgres_pids() -> list[str]:
    """The local PostgreSQL server's processes (their CPU is the database's)."""
    pids = []
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == "postgres":
                pids.append(comm.parent.name)
        except (FileNotFoundError, ProcessLookupError):
            continue
    return pids


@dataclass
class Server:
    name: str
    process: subprocess.Popen
    port: int
    log: Path
    # gthread workers keep connections open; sync workers close each one, and
    # then wait for the client's FIN: the client sends it with the request.
    keep_alive: bool

    def cpu_seconds(self) -> float:
        """User + system time of the gunicorn master and its live workers."""
        pid = self.process.pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        return cpu_seconds([pid, *map(int, children)])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_server(
    name: str,
    target: str,
    gunicorn_args: list[str],
    env: dict[str, str],
    tmp: Path,
    keep_alive: bool,
) -> Server:
    port = free_port()
    log = tmp / f"{name}.log"
    command = [
        str(BIN / "gunicorn"),
        "--no-control-socket",
        *gunicorn_args,
        "-b",
        f"{HOST}:{port}",
        "--log-level",
        "warning",
        "--graceful-timeout",
        "5",
        target,
    ]
    # Gunicorn's and the app's log lines go to a file, printed after the table.
    with log.open("w") as output:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT
        )
    server = Server(name, process, port, log, keep_alive)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} server exited:\n{log.read_text()[-3000:]}")
        try:
            socket.create_connection((HOST, port), timeout=1).close()
            return server
        except OSError:
            time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"{name} server did not accept connections on port {port}")


def bench_env(args: argparse.Namespace, instance: Path) -> tuple[dict[str, str], str]:
    """The app's environment, and the database URL it ends up using."""
    env = dict(os.environ)
    env.update(
        APP_ENV="production",
        ECOUTE_INSTANCE=str(instance),
        TWILIO_AUTH_TOKEN=TOKEN,
        SECRET_KEY=secrets.token_hex(32),
        # Empty means unset to the app, and keeps a developer's .env out of it.
        DATABASE_URL="",
        PUBLIC_BASE_URL="",
        REDIS_URL="",
        TRUSTED_PROXIES="",
    )
    if args.database_url is None:
        return env, f"sqlite:///{instance / 'ecoute.sqlite3'}"
    url = recreate_postgres_database(args.database_url)
    env["DATABASE_URL"] = url
    return env, url


def recreate_postgres_database(admin_url: str) -> str:
    """Drop and create `ecoute_bench` beside the database of admin_url."""
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {BENCH_DB}")
    return urlsplit(admin_url)._replace(path=f"/{BENCH_DB}").geturl()


def count_calls(url: str) -> int:
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.scalar(text("SELECT count(*) FROM calls"))
    finally:
        engine.dispose()


# --- load ---------------------------------------------------------------------


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """Status, body and whether the connection stays open."""
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *headers = head.decode("latin-1").split("\r\n")
    version, status, _ = status_line.split(" ", 2)
    keep_alive = version == "HTTP/1.1"
    length = None
    for header in headers:
        name, _, value = header.partition(":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "connection":
            keep_alive = value == "keep-alive" or (keep_alive and value != "close")
        elif name == "transfer-encoding":
            raise ValueError(f"unsupported transfer-encoding {value}")
    if length is None:
        return int(status), await reader.read(), False
    return int(status), await reader.readexactly(length), keep_alive


@dataclass
class Sample:
    """What one route's timed batches add up to, at one concurrency level."""

    latencies: list[float] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)
    ok: int = 0
    unsent: int = 0  # left over when the time limit struck
    seconds: float = 0.0  # wall time of the timed batches
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    database_cpu: float = 0.0  # PostgreSQL's processes (SQLite is in the server)


async def caller(
    server: Server,
    requests: Iterator[bytes],
    expect: bytes,
    deadline: float,
    out: Sample,
) -> None:
    """One simulated caller: takes the next request until none are left."""
    reader = writer = None
    for raw in requests:
        if time.monotonic() > deadline:
            out.unsent += 1
            continue
        start = time.perf_counter()
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                if writer is None:
                    reader, writer = await asyncio.open_connection(HOST, server.port)
                writer.write(raw)
                if not server.keep_alive:
                    writer.write_eof()  # else the worker waits for it, idle
                status, body, keep_alive = await read_response(reader)
        except (OSError, TimeoutError, ValueError, asyncio.IncompleteReadError) as e:
            out.errors[type(e).__name__] += 1
            if writer is not None:
                writer.close()
            reader = writer = None
            continue
        out.latencies.append(time.perf_counter() - start)
        if status != 200:
            out.errors[f"HTTP {status}"] += 1
        elif not body.startswith(b"<?xml") or expect not in body:
            out.errors["unexpected TwiML"] += 1
        else:
            out.ok += 1
        if not keep_alive:
            writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


async def send_all(
    server: Server,
    requests: list[bytes],
    expect: bytes,
    concurrency: int,
    deadline: float,
    out: Sample,
) -> None:
    shared = iter(requests)
    await asyncio.gather(
        *(caller(server, shared, expect, deadline, out) for _ in range(concurrency))
    )


@dataclass(frozen=True)
class Meter:
    """CPU seconds used so far: by the server, this client, PostgreSQL, everyone."""

    server: float
    client: float
    database: float
    machine: float  # busy time of the whole machine
    steal: float  # time the hypervisor gave to other machines

    @classmethod
    def read(cls, server: Server) -> "Meter":
        with open("/proc/stat") as stat:
            ticks = [int(value) for value in stat.readline().split()[1:9]]
        user, nice, system, _idle, _iowait, irq, softirq, steal = ticks
        return cls(
            server=server.cpu_seconds(),
            client=time.process_time(),
            database=cpu_seconds(postgres_pids()),
            machine=(user + nice + system + irq + softirq) / CLOCK_TICKS,
            steal=steal / CLOCK_TICKS,
        )

    def __sub__(self, before: "Meter") -> "Meter":
        return Meter(
            *(getattr(self, f) - getattr(before, f) for f in Meter.__match_args__)
        )

    @property
    def others(self) -> float:
        """CPU of every other process: the developer's tests, an editor, ..."""
        return self.machine - self.server - self.client - self.database


def timed_batch(
    server: Server,
    route: Route,
    requests: list[bytes],
    concurrency: int,
    deadline: float,
    out: Sample,
) -> Meter:
    """Send one batch into `out`; the CPU used meanwhile."""
    before = Meter.read(server)
    start = time.perf_counter()
    asyncio.run(send_all(server, requests, route.expect, concurrency, deadline, out))
    out.seconds += time.perf_counter() - start
    used = Meter.read(server) - before
    out.server_cpu += used.server
    out.client_cpu += used.client
    out.database_cpu += used.database
    return used


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    rank = max(0, min(len(sorted_values) - 1, round(q * len(sorted_values)) - 1))
    return sorted_values[rank]


@dataclass
class Result:
    route: str
    concurrency: int
    requests: int
    ok: int
    warmup_ok: int
    errors: dict[str, int]
    unsent: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    server_cpu_ms_per_req: float
    client_cpu_ms_per_req: float
    database_cpu_ms_per_req: float
    rps_ratio: float | None = None
    p99_ratio: float | None = None
    # Bare fixed's server (+ PostgreSQL) CPU per request over this route's: the
    # req/s ratio a CPU-bound server would reach with the client on another box.
    cpu_ratio: float | None = None
    targets: dict[str, bool] = field(default_factory=dict)

    @classmethod
    def of(
        cls, route: Route, concurrency: int, sample: Sample, warmup: Sample
    ) -> "Result":
        done = len(sample.latencies)
        latencies = sorted(sample.latencies)
        return cls(
            route=route.name,
            concurrency=concurrency,
            requests=done,
            ok=sample.ok,
            warmup_ok=warmup.ok,
            errors=dict(sample.errors + warmup.errors),
            unsent=sample.unsent + warmup.unsent,
            seconds=round(sample.seconds, 3),
            rps=round(sample.ok / sample.seconds, 1) if sample.seconds else 0.0,
            p50_ms=round(percentile(latencies, 0.50) * 1000, 2),
            p99_ms=round(percentile(latencies, 0.99) * 1000, 2),
            server_cpu_ms_per_req=round(sample.server_cpu * 1000 / max(done, 1), 3),
            client_cpu_ms_per_req=round(sample.client_cpu * 1000 / max(done, 1), 3),
            database_cpu_ms_per_req=round(sample.database_cpu * 1000 / max(done, 1), 3),
        )

    def compare(self, bare: "Result", route: Route) -> None:
        self.rps_ratio = round(self.rps / bare.rps, 3) if bare.rps else None
        self.p99_ratio = round(self.p99_ms / bare.p99_ms, 3) if bare.p99_ms else None
        cost = self.server_cpu_ms_per_req + self.database_cpu_ms_per_req
        bare_cost = bare.server_cpu_ms_per_req + bare.database_cpu_ms_per_req
        self.cpu_ratio = round(bare_cost / cost, 3) if cost else None
        if route.min_ratio is not None:
            self.targets = {
                f"req/s>={route.min_ratio}x": (self.rps_ratio or 0) >= route.min_ratio,
                f"p99<={MAX_P99_RATIO:g}x": (self.p99_ratio or 99) <= MAX_P99_RATIO,
            }


def run_level(
    concurrency: int, servers: dict[str, Server], args: argparse.Namespace
) -> tuple[list[Result], dict[str, float]]:
    """All routes at one concurrency, in interleaved rounds so that whatever else
    the machine runs meanwhile weighs on every route alike."""
    per_round = [
        args.requests // args.rounds + (i < args.requests % args.rounds)
        for i in range(args.rounds)
    ]

    def build(route: Route, count: int) -> list[bytes]:
        server = servers[route.server]
        return [
            signed_request(server.port, route.path, route.form(), server.keep_alive)
            for _ in range(count)
        ]

    # Everything is built and signed before the clock starts.
    warmups = {route: build(route, args.warmup) for route in ROUTES}
    batches = {route: [build(route, n) for n in per_round] for route in ROUTES}
    deadline = time.monotonic() + args.time_limit
    warm = {route: Sample() for route in ROUTES}
    for route in ROUTES:
        asyncio.run(
            send_all(
                servers[route.server],
                warmups[route],
                route.expect,
                concurrency,
                deadline,
                warm[route],
            )
        )
    timed = {route: Sample() for route in ROUTES}
    others = steal = database = wall = 0.0
    for index in range(args.rounds):
        for route in ROUTES:
            seconds = timed[route].seconds
            used = timed_batch(
                servers[route.server],
                route,
                batches[route][index],
                concurrency,
                deadline,
                timed[route],
            )
            others += used.others
            steal += used.steal
            database += used.database
            wall += timed[route].seconds - seconds
    results = [Result.of(r, concurrency, timed[r], warm[r]) for r in ROUTES]
    for route, result in zip(ROUTES, results, strict=True):
        result.compare(results[0], route)
    capacity = wall * (os.cpu_count() or 1) / 100
    load = {
        "other_processes_cpu_pct": round(max(others, 0) / capacity, 1),
        "postgres_cpu_pct": round(database / capacity, 1),
        "steal_pct": round(steal / capacity, 1),
    }
    return results, load


# --- report -------------------------------------------------------------------

HEADER = (
    f"{'route':<24}{'conc':>5}{'req/s':>8}{'p50 ms':>8}{'p99 ms':>8}"
    f"{'srv cpu':>9}{'cli cpu':>9}{'x bare':>8}{'x p99':>7}{'x cpu':>7}  target"
)


def row(result: Result, route: Route) -> str:
    def ratio(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    if route.min_ratio is not None:
        target = " / ".join(
            f"{name} {'PASS' if passed else 'MISS'}"
            for name, passed in result.targets.items()
        )
    elif route.name == BARE_ROUTE:
        target = "(reference)"
    else:
        target = "(context: ~0.55-0.65x expected)"
    if result.errors or result.unsent:
        target += f"  ERRORS {result.errors} unsent={result.unsent}"
    return (
        f"{route.name:<24}{result.concurrency:>5}{result.rps:>8.0f}"
        f"{result.p50_ms:>8.1f}{result.p99_ms:>8.1f}"
        f"{result.server_cpu_ms_per_req:>9.2f}{result.client_cpu_ms_per_req:>9.2f}"
        f"{ratio(result.rps_ratio):>8}{ratio(result.p99_ratio):>7}"
        f"{ratio(result.cpu_ratio):>7}  {target}"
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--database-url",
        help="postgresql://... of an existing database; the bench uses ecoute_bench "
        "beside it (default: the app's SQLite file in a temporary instance folder)",
    )
    parser.add_argument("--workers", type=int, default=4, help="gunicorn -w")
    parser.add_argument(
        "--threads", type=int, default=1, help="gunicorn --threads (>1: gthread)"
    )
    parser.add_argument("--requests", type=int, default=3000, help="timed, per level")
    parser.add_argument("--warmup", type=int, default=300, help="untimed, per level")
    parser.add_argument(
        "--rounds", type=int, default=5, help="interleaved rounds the timed split into"
    )
    parser.add_argument(
        "--time-limit", type=float, default=120.0, help="seconds, per level"
    )
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    backend = "postgresql" if args.database_url else "sqlite"
    keep_alive = args.threads > 1
    if keep_alive:
        gunicorn_args = ["-w", str(args.workers), "--threads", str(args.threads)]
        gunicorn_args += ["-k", "gthread"]
        setting = f"workers={args.workers} gthread threads={args.threads}"
    else:
        gunicorn_args = ["-w", str(args.workers), "-k", "sync"]
        setting = f"workers={args.workers} sync"
    # SIGTERM ends the run like Ctrl-C does: through `finally`, servers stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    servers: dict[str, Server] = {}
    with tempfile.TemporaryDirectory(prefix="ecoute-bench-") as tmp_name:
        tmp = Path(tmp_name)
        env, database_url = bench_env(args, tmp / "instance")
        try:
            subprocess.run(
                [str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"],
                cwd=ROOT,
                env=env,
                check=True,
                capture_output=True,
            )
            servers["bare"] = start_server(
                "bare", "bench.bare_app:app", gunicorn_args, env, tmp, keep_alive
            )
            servers["app"] = start_server(
                "app", "wsgi:app", gunicorn_args, env, tmp, keep_alive
            )
            print(
                f"backend={backend} {setting}  requests/level={args.requests} "
                f"in {args.rounds} interleaved rounds (+{args.warmup} warm-up)  "
                f"cpus={os.cpu_count()}"
            )
            print(
                "srv cpu / cli cpu: CPU ms per request in gunicorn / in this client;"
                " x cpu: bare's server CPU per request over the route's"
            )
            results, loads = [], {}
            for concurrency in LEVELS:
                print(HEADER)
                level, loads[concurrency] = run_level(concurrency, servers, args)
                for route, result in zip(ROUTES, level, strict=True):
                    print(row(result, route))
                print(
                    "meanwhile, share of the machine's CPU: other processes "
                    f"{loads[concurrency]['other_processes_cpu_pct']}%, PostgreSQL "
                    f"{loads[concurrency]['postgres_cpu_pct']}%, steal "
                    f"{loads[concurrency]['steal_pct']}%",
                    flush=True,
                )
                results += level
            incoming = sum(
                r.ok + r.warmup_ok for r in results if r.route == "/voice/incoming"
            )
            calls = count_calls(database_url)
            print(f"calls rows: {calls} (good /voice/incoming answers: {incoming})")
        except subprocess.CalledProcessError as error:
            print(error.stderr.decode(), file=sys.stderr)
            return 1
        finally:
            for server in servers.values():
                server.stop()
        for server in servers.values():
            logged = server.log.read_text().strip()
            if logged:
                print(f"--- {server.name} server log (tail) ---\n{logged[-3000:]}")

    RESULTS.mkdir(parents=True, exist_ok=True)
    output = RESULTS / f"webhooks-{backend}.json"
    output.write_text(
        json.dumps(
            {
                "backend": backend,
                "gunicorn": setting,
                "requests_per_level": args.requests,
                "warmup_per_level": args.warmup,
                "rounds": args.rounds,
                "cpus": os.cpu_count(),
                "background_load": loads,
                "calls_rows": calls,
                "results": [asdict(result) for result in results],
            },
            indent=2,
        )
    )
    print(f"written to {output.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the servers were stopped on the way out
        sys.exit("interrupted")
