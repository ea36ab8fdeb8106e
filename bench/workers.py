"""Jobs/s of `flask --app wsgi worker` run three ways, on a no-op job and on SMS sends.

    .venv/bin/python bench/workers.py                 # 300 jobs a run, SQLite
    .venv/bin/python bench/workers.py --jobs 1000 --database-url postgresql://postgres@127.0.0.1:5432/test

The ways: `--fork` (RQ's classic Worker, a work horse forked per job), the
default (no fork: each job in the worker's own process, in a fresh app
context), and `--pool 2` (two such workers under RQ's WorkerPool). The jobs: N
no-op jobs (`time.sleep(0)` on the `default` queue) and N acknowledgments
written through the app's own path and sent to Prism (bench/sms.py's set-up: a
private redis-server, Prism in dynamic mode, the database migrated by `flask db
upgrade`).

For each, the burst worker starts once the N jobs are queued; "start-up s" is
the time to the first job done, "jobs/s" counts from then to the last (so the
interpreter's start-up is left out), "drain/s" from the start. The load average
is printed: the machine is shared. Figures go to bench/results/workers.json.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from redis import Redis
from rq import Queue

sys.path.insert(0, str(Path(__file__).resolve().parent))

import sms as bench  # the SMS bench: its processes and helpers

MODES = (("fork", ["--fork"]), ("no fork", []), ("pool 2", ["--pool", "2"]))


def run(
    mode_args: list[str], kind: str, n: int, tickets, redis: Redis, env, tmp: Path
) -> dict:
    from sqlalchemy import func, select

    from app.extensions import db
    from app.models import Message
    from app.services.followups import acknowledge, commit_and_dispatch

    redis.flushdb()
    if kind == "no-op":
        queue = Queue("default", connection=redis)
        for _ in range(n):
            queue.enqueue("time.sleep", 0)

        def ended() -> int:
            return queue.finished_job_registry.count + queue.failed_job_registry.count

    else:
        first_id = (db.session.scalar(select(func.max(Message.id))) or 0) + 1
        for ticket in tickets[:n]:
            acknowledge(ticket)
            commit_and_dispatch()

        def ended() -> int:
            db.session.rollback()  # a fresh read of what the workers committed
            done = Message.message_sid.is_not(None) | (Message.status == "failed")
            query = select(func.count()).select_from(Message)
            return db.session.scalar(query.where(Message.id >= first_id, done))

    command = [str(bench.BIN / "flask"), "--app", "wsgi", "worker", "--burst"]
    logs = tmp / f"{kind}-{'-'.join(mode_args) or 'simple'}"
    first, seconds = bench.drain([command + mode_args], env, logs, ended, n, 600)
    steady = (n - 1) / (seconds - first) if seconds and seconds > first else None
    return {
        "start_up_seconds": first,
        "drain_seconds": seconds,
        "jobs_per_second": steady,
        "drain_per_second": n / seconds if seconds else None,
    }


def report(result: dict) -> str:
    load = ", ".join(f"{value:.1f}" for value in result["load_average_before"])
    lines = [
        f"{result['jobs']} jobs a run, {result['database']}, Prism -d,"
        f" {os.cpu_count()} cores, load average before: {load}",
        f"{'worker':<10}{'job':<8}{'start-up s':>12}{'jobs/s':>9}{'drain/s':>9}",
    ]
    for row in result["runs"]:
        lines.append(
            f"{row['mode']:<10}{row['kind']:<8}"
            + bench.cell(row["start_up_seconds"], 12, 2)
            + bench.cell(row["jobs_per_second"], 9)
            + bench.cell(row["drain_per_second"], 9)
        )
    return "\n".join(lines)


def run_all(args: argparse.Namespace, tmp: Path) -> dict:
    with ExitStack() as stack:
        instance = tmp / "instance"
        if args.database_url:
            backend = "postgresql"
            database_url = bench.recreate_postgres_database(args.database_url)
        else:
            backend = "sqlite"
            database_url = f"sqlite:///{instance / 'ecoute.sqlite3'}"
        redis_url = bench.start_redis(stack, tmp)
        prism_url, _ = bench.start_prism(stack, tmp)
        env = bench.app_env(instance, database_url, redis_url, prism_url)
        subprocess.run(
            [str(bench.BIN / "flask"), "--app", "wsgi", "db", "upgrade"],
            cwd=bench.ROOT,
            env=env,
            check=True,
            capture_output=True,
            timeout=120,
        )
        os.environ.update(env)  # config reads the environment when imported
        sys.path.insert(0, str(bench.ROOT))
        from app import create_app
        from app.extensions import db

        flask_app = create_app("production")
        stack.enter_context(flask_app.app_context())
        stack.callback(db.engine.dispose)
        stack.callback(flask_app.extensions["rq"].queues["notify"].connection.close)
        redis = stack.enter_context(Redis.from_url(redis_url))
        tickets = bench.make_tickets(args.jobs)
        result = {
            "jobs": args.jobs,
            "database": backend,
            "load_average_before": os.getloadavg(),
            "runs": [],
        }
        for kind in ("no-op", "sms"):
            for mode, mode_args in MODES:
                figures = run(mode_args, kind, args.jobs, tickets, redis, env, tmp)
                result["runs"].append({"mode": mode, "kind": kind, **figures})
        result["load_average_after"] = os.getloadavg()
        return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=300, help="N per run")
    parser.add_argument(
        "--database-url", default=None, help="PostgreSQL (default: SQLite in tmp)"
    )
    args = parser.parse_args()
    if not bench.PRISM.exists():
        sys.exit("Prism is missing: run `make test` (npm ci) first")
    tmp = Path(tempfile.mkdtemp(prefix="ecoute-workers-bench-"))
    try:
        result = run_all(args, tmp)
    except BaseException:
        print(f"logs of the workers, Prism and Redis kept in {tmp}", file=sys.stderr)
        raise
    shutil.rmtree(tmp)
    print(report(result))
    bench.RESULTS.mkdir(parents=True, exist_ok=True)
    (bench.RESULTS / "workers.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {(bench.RESULTS / 'workers.json').relative_to(bench.ROOT)}")
    return 0


if __name__ == "__main__":
    start = time.monotonic()
    code = main()
    print(f"{time.monotonic() - start:.0f} s in all")
    sys.exit(code)
