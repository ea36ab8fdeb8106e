"""SMS follow-ups through RQ to a Twilio mock, beside a bare RQ job that does nothing.

    .venv/bin/python bench/sms.py                       # SQLite (the app's default)
    .venv/bin/python bench/sms.py --messages 200 --database-url postgresql://postgres@127.0.0.1:5432/test

Everything runs on loopback: a private redis-server on a free port (no
persistence), and Prism serving Twilio's OpenAPI description
(../shared/twilio/twilio_api_v2010.json, from node_modules/.bin/prism; `make test`
installs it). Prism runs in dynamic mode (-d): its static example answers every
request with the same SID, and messages.message_sid is unique, so from the second
message on the worker could not record what it sent.

For 1 and for 2 worker processes, in one run, it measures:

  enqueue/s    SMS: N follow-ups written through the app's own path, one
               transaction each as a request does: `followups.acknowledge(ticket)`
               then `commit_and_dispatch()` (message row, ticket event, commit,
               `send_message` job with its Retry and failure callback), in this
               process. Bare: N `queue.enqueue("time.sleep", 0)`, the no-op job.
  drain/s      N / the time from starting the workers (`flask --app wsgi worker
               --burst`, or plain `rq worker --burst`) until every message has a
               message_sid, sent to Prism through twilio-python (bare: until every
               job is finished). Includes the workers' start-up, as a deployment
               that scales workers up pays it; "start-up s" is the time to the
               first job done.
  end-to-end/s N / the time from the first enqueue to the same moment.
  ratio        SMS rate / bare rate, for each of the three.

The workers start once all N jobs are queued (burst workers would exit on an
empty queue). Prism's CPU per SMS is printed too: with 2 cores for the workers,
Prism, Redis and the database, the mock is part of what is measured, and so is
whatever else runs on the machine (the load average is printed). Each drain is
bounded by --timeout; every process started here is stopped at the end, and the
logs are kept in the temporary folder only if the run fails. The figures also go
to bench/results/sms.json.
"""

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

from redis import Redis
from rq import Queue

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
PRISM = ROOT / "node_modules" / ".bin" / "prism"
SPEC = ROOT.parent / "shared" / "twilio" / "twilio_api_v2010.json"
RESULTS = ROOT / "bench" / "results"
HOST = "127.0.0.1"
LINE = "+2290121300000"  # the first line of config/lines.yaml, no quiet hours
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2  # Prism checks the path: AC + 32 hex
WORKER_COUNTS = (1, 2)
BENCH_DB = "ecoute_bench"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
START_SECONDS = 60
STOP_SECONDS = 10


# --- processes ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def stop(process: subprocess.Popen) -> None:
    """SIGTERM to the process group (it has its own), then SIGKILL."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=STOP_SECONDS)
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # work horses, if any outlived it
    process.wait()


@contextmanager
def started(
    command: list[str], log: Path, env: dict[str, str]
) -> Iterator[subprocess.Popen]:
    with log.open("ab") as output:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        stop(process)


def wait_until(ready: Callable[[], bool], what: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_SECONDS
    while not ready():
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not ready in {START_SECONDS} s")
        time.sleep(0.05)


def answers(port: int, probe: bytes = b"", expect: bytes = b"") -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5) as sock:
            if probe:
                sock.sendall(probe)
                return sock.recv(64).startswith(expect)
            return True
    except OSError:
        return False


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def start_redis(stack: ExitStack, tmp: Path) -> str:
    port = free_port()
    command = ["redis-server", "--port", str(port), "--bind", HOST, "--save", ""]
    command += ["--appendonly", "no", "--dir", str(tmp)]
    process = stack.enter_context(started(command, tmp / "redis.log", dict(os.environ)))
    wait_until(lambda: answers(port, b"PING\r\n", b"+PONG"), "redis-server", process)
    return f"redis://{HOST}:{port}/0"


def start_prism(stack: ExitStack, tmp: Path) -> tuple[str, int]:
    """Prism on a free port in dynamic mode; its URL and its process id."""
    port = free_port()
    log = tmp / "prism.log"
    command = [str(PRISM), "mock", "-d", "-h", HOST, "-p", str(port), str(SPEC)]
    process = stack.enter_context(started(command, log, dict(os.environ)))

    def listening() -> bool:
        said = f"Prism is listening on http://{HOST}:{port}"
        return said in log.read_text(errors="replace") and answers(port)

    wait_until(listening, "Prism", process)
    # `prism` is a node script: the server is that process (no wrapper left).
    return f"http://{HOST}:{port}", process.pid


def recreate_postgres_database(admin_url: str) -> str:
    """Drop and create `ecoute_bench` beside the database of admin_url."""
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {BENCH_DB}")
    return urlsplit(admin_url)._replace(path=f"/{BENCH_DB}").geturl()


def app_env(
    instance: Path, database_url: str, redis_url: str, prism_url: str
) -> dict[str, str]:
    """The settings of this process's app and of every `flask` subprocess."""
    env = dict(os.environ)
    env.update(
        APP_ENV="production",
        ECOUTE_INSTANCE=str(instance),
        SECRET_KEY=secrets.token_hex(32),
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=secrets.token_hex(16),
        TWILIO_API_BASE_URL=prism_url,
        # Absolute, so each request carries the StatusCallback Prism validates.
        PUBLIC_BASE_URL="https://ecoute.example.org",
        TRUSTED_PROXIES="",
    )
    return env


# --- the two jobs ---------------------------------------------------------------


@dataclass
class Figures:
    enqueue_seconds: float
    first_seconds: float | None  # workers started -> first job done (start-up)
    drain_seconds: float | None  # workers started -> all done; None: time limit
    done: int  # messages with a SID, or bare jobs finished
    failed: int
    prism_cpu_ms_per_message: float | None = None

    @property
    def end_to_end_seconds(self) -> float | None:
        """From the first enqueue to the last job done."""
        return self.drain_seconds and self.enqueue_seconds + self.drain_seconds

    def rates(self, n: int) -> dict[str, float | None]:
        def rate(seconds: float | None) -> float | None:
            return n / seconds if seconds else None

        return {
            "enqueue/s": rate(self.enqueue_seconds),
            "drain/s": rate(self.drain_seconds),
            "end-to-end/s": rate(self.end_to_end_seconds),
        }


def drain(
    commands: list[list[str]],
    env: dict[str, str],
    logs: Path,
    ended: Callable[[], int],
    n: int,
    timeout: float,
) -> tuple[float | None, float | None]:
    """Start the burst workers; seconds until the first and until all n jobs ended.

    None past `timeout`, or if the workers left with jobs not done.
    """
    logs.mkdir()
    first = None
    start = time.monotonic()
    with ExitStack() as stack:
        processes = [
            stack.enter_context(started(command, logs / f"worker-{i}.log", env))
            for i, command in enumerate(commands)
        ]
        while (count := ended()) < n:
            elapsed = time.monotonic() - start
            if first is None and count:
                first = elapsed
            gone = all(process.poll() is not None for process in processes)
            if elapsed > timeout or (gone and ended() < n):
                return first, None
            time.sleep(0.01)
        seconds = time.monotonic() - start
        for process in processes:  # burst workers leave once the queue is empty
            process.wait(timeout=STOP_SECONDS)
    return first or seconds, seconds


def sms_run(
    args, tickets, redis: Redis, env, prism_pid: int, tmp: Path, workers: int
) -> Figures:
    from sqlalchemy import func, select

    from app.extensions import db
    from app.models import Message
    from app.services.followups import acknowledge, commit_and_dispatch

    redis.flushdb()
    first_id = (db.session.scalar(select(func.max(Message.id))) or 0) + 1

    start = time.monotonic()
    for ticket in tickets:  # one request's worth each
        acknowledge(ticket)
        commit_and_dispatch()
    enqueue_seconds = time.monotonic() - start
    queued = Queue("notify", connection=redis).count
    if queued != len(tickets):
        raise RuntimeError(f"{queued} of {len(tickets)} send_message jobs queued")

    def count(condition) -> int:
        db.session.rollback()  # a fresh read of what the workers committed
        query = select(func.count()).select_from(Message)
        return db.session.scalar(query.where(Message.id >= first_id, condition))

    sent = Message.message_sid.is_not(None)
    failed = Message.status == "failed"
    prism_before = cpu_seconds(prism_pid)
    command = [str(BIN / "flask"), "--app", "wsgi", "worker", "--burst"]
    first, seconds = drain(
        [command] * workers,
        env,
        tmp / f"sms-{workers}",
        lambda: count(sent | failed),
        len(tickets),
        args.timeout,
    )
    prism_cpu = cpu_seconds(prism_pid) - prism_before
    return Figures(
        enqueue_seconds=enqueue_seconds,
        first_seconds=first,
        drain_seconds=seconds,
        done=count(sent),
        failed=count(failed),
        prism_cpu_ms_per_message=1000 * prism_cpu / len(tickets),
    )


def bare_run(
    args, redis: Redis, redis_url: str, env, tmp: Path, workers: int
) -> Figures:
    redis.flushdb()
    queue = Queue("bare", connection=redis)
    start = time.monotonic()
    for _ in range(args.messages):
        queue.enqueue("time.sleep", 0)  # a job that does nothing
    enqueue_seconds = time.monotonic() - start

    def ended() -> int:
        return queue.finished_job_registry.count + queue.failed_job_registry.count

    command = [str(BIN / "rq"), "worker", "--burst", "--url", redis_url, "bare"]
    first, seconds = drain(
        [command] * workers,
        env,
        tmp / f"bare-{workers}",
        ended,
        args.messages,
        args.timeout,
    )
    return Figures(
        enqueue_seconds=enqueue_seconds,
        first_seconds=first,
        drain_seconds=seconds,
        done=queue.finished_job_registry.count,
        failed=queue.failed_job_registry.count,
    )


# --- the run --------------------------------------------------------------------


def make_tickets(n: int) -> list:
    """N counter tickets from N callers, with no follow-up yet (not timed)."""
    from app.extensions import db
    from app.services.callers import caller_for
    from app.services.tickets import open_ticket

    tickets = []
    for i in range(n):
        caller = caller_for(f"+22901970{i:05d}")
        tickets.append(
            open_ticket(
                caller,
                "counter",
                "payment",
                None,
                LINE,
                "fr",
                "bench@ecoute.local",
                acknowledge=False,
            )
        )
    db.session.commit()
    return tickets


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def cell(value: float | None, width: int, digits: int = 1) -> str:
    return f"{'-' if value is None else f'{value:.{digits}f}':>{width}}"


RATES = (("enqueue/s", 11), ("drain/s", 10), ("end-to-end/s", 14))


def report(result: dict) -> str:
    """The table: a row per job kind and worker count, then their ratio."""
    load = ", ".join(f"{value:.1f}" for value in result["load_average_before"])
    lines = [
        f"{result['messages']} messages a run, {result['database']}, Prism -d,"
        f" {os.cpu_count()} cores, load average before: {load}",
        f"{'workers':<9}{'':<21}"
        + "".join(f"{name:>{w}}" for name, w in RATES)
        + f"{'start-up s':>12}{'done':>6}{'failed':>7}{'prism ms/msg':>14}",
    ]
    for run in result["runs"]:
        for label, part in (
            ("sms (flask worker)", run["sms"]),
            ("bare rq, no-op", run["bare"]),
        ):
            prism_ms = part["prism_cpu_ms_per_message"]
            lines.append(
                f"{run['workers']:<9}{label:<21}"
                + "".join(cell(part["rates"][name], w) for name, w in RATES)
                + cell(part["first_seconds"], 12, 2)
                + f"{part['done']:>6}{part['failed']:>7}"
                + ("" if prism_ms is None else cell(prism_ms, 14))
            )
        lines.append(
            f"{'':<9}{'sms / bare':<21}"
            + "".join(cell(run["ratio"][name], w, 2) for name, w in RATES)
        )
    return "\n".join(lines)


def run_all(args: argparse.Namespace, tmp: Path) -> dict:
    with ExitStack() as stack:
        instance = tmp / "instance"
        if args.database_url:
            backend = "postgresql"
            database_url = recreate_postgres_database(args.database_url)
        else:
            backend = "sqlite"
            database_url = f"sqlite:///{instance / 'ecoute.sqlite3'}"
        redis_url = start_redis(stack, tmp)
        prism_url, prism_pid = start_prism(stack, tmp)
        env = app_env(instance, database_url, redis_url, prism_url)
        subprocess.run(
            [str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            timeout=120,
        )

        # Imported only now: config reads the environment when it is imported.
        os.environ.update(env)
        sys.path.insert(0, str(ROOT))
        from app import create_app
        from app.extensions import db

        flask_app = create_app("production")
        stack.enter_context(flask_app.app_context())
        stack.callback(db.engine.dispose)
        stack.callback(flask_app.extensions["rq"].queues["notify"].connection.close)
        redis = stack.enter_context(Redis.from_url(redis_url))
        tickets = make_tickets(args.messages)

        result = {
            "messages": args.messages,
            "database": backend,
            "load_average_before": os.getloadavg(),
            "runs": [],
        }
        for workers in WORKER_COUNTS:  # SMS then bare, for each count
            sms = sms_run(args, tickets, redis, env, prism_pid, tmp, workers)
            bare = bare_run(args, redis, redis_url, env, tmp, workers)
            parts = {}
            for name, figures in (("sms", sms), ("bare", bare)):
                parts[name] = {
                    **asdict(figures),
                    "end_to_end_seconds": figures.end_to_end_seconds,
                    "rates": figures.rates(args.messages),
                }
            rates = parts["sms"]["rates"], parts["bare"]["rates"]
            parts["ratio"] = {k: ratio(rates[0][k], rates[1][k]) for k in rates[0]}
            result["runs"].append({"workers": workers, **parts})
        result["load_average_after"] = os.getloadavg()
        return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=500, help="N per run")
    parser.add_argument(
        "--database-url", default=None, help="PostgreSQL (default: SQLite in tmp)"
    )
    parser.add_argument(
        "--timeout", type=float, default=600, help="seconds per drain at most"
    )
    args = parser.parse_args()
    if not PRISM.exists():
        sys.exit("Prism is missing: run `make test` (npm ci) first")

    tmp = Path(tempfile.mkdtemp(prefix="ecoute-sms-bench-"))
    try:
        result = run_all(args, tmp)
    except BaseException:
        print(f"logs of the workers, Prism and Redis kept in {tmp}", file=sys.stderr)
        raise
    shutil.rmtree(tmp)

    print(report(result))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "sms.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {(RESULTS / 'sms.json').relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
