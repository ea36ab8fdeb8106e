"""The statistics at a million tickets, on PostgreSQL: /api/stats and the export.

    .venv/bin/python bench/stats.py [--tickets 1000000] [--runs 20] [--keep]
    .venv/bin/python bench/stats.py --reuse          # the schema a --keep left

The schema (`bench_stats`, --schema) is built and filled by bench/queries.py's
own migrate() and fill() (N tickets over three years, 2N calls, 1.5N messages),
then given what those rows predate (migration 0010's columns and the history
the figures read): calls' wait for an agent, answer, talk and end (about 70%
answered, some abandoned, some short abandons, the rest self-service),
tickets' resolution instants and deadline outcomes, escalations, appeals,
withdrawn duplicates, calls linked to tickets, satisfaction questions and
ratings, the texts' delivery statuses. The updated tables are then rewritten
(VACUUM FULL) and analysed.

Measured:
- GET /api/stats through the app (Flask's test client, a supervisor's bearer
  token) for several months and several years, whole centre, per service and
  per line: p50 and p99 over --runs each, and the ratio to the target (a month
  p99 under 500 ms, a year under 3 s). The year's statements are captured on a
  first run and EXPLAINed: each one's server time and scans.
- GET /api/tickets/export.csv (and .xlsx) through a real gunicorn (one sync
  worker, a fresh one per size) for periods holding about --export-rows
  tickets: wall time, rows, and the worker's peak RSS (VmHWM) after the
  download, beside its peak after a warm-up export of one day; the ratio of the
  peaks between sizes (flat memory: near 1) and to the 100 MB target.
Figures go to bench/results/stats.json. The exit status is 0 whether targets
are met or not, 1 if the run failed. The schema is dropped at the end unless
--keep.
"""

import argparse
import http.client
import json
import math
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any, ClassVar

import psycopg
from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import create_app  # noqa: E402
from app.extensions import db  # noqa: E402
from app.labels import centre_zone  # noqa: E402
from app.menus import category_choices  # noqa: E402
from app.models import Role, Service, Ticket, User  # noqa: E402
from bench.queries import (  # noqa: E402
    DEFAULT_URL,
    LINES,
    Watch,
    admin,
    drop_schema,
    explain,
    fill,
    migrate,
    percentile,
    schema_exists,
)
from config import TestingConfig  # noqa: E402
from tests.factories import make_token  # noqa: E402
from tests.test_migrations import (  # noqa: E402
    flask_env,
    sqlalchemy_url,
    with_options,
)

MONTH_MS, YEAR_MS = 500.0, 3000.0  # p99 targets of /api/stats
EXPORT_PEAK_MB = 100.0  # the web worker's peak RSS during an export
WARM_UP = 2
BIN = ROOT / ".venv" / "bin"

# What fill()'s rows predate, made plausible; deterministic (a hash of the id),
# so two runs measure the same data. The outcome of a call by h = id*7919 % 100:
# 0-69 answered, 70-79 abandoned, 80-83 short abandons, 84-99 self-service.
STATISTICS = [
    (
        "calls' outcomes",
        """
        UPDATE calls SET
          wanted_agent_at = CASE WHEN h < 84 THEN started_at + interval '40 s' END,
          wait_seconds = CASE WHEN h < 70 THEN 3 + (id * 13) % 60
                              WHEN h < 80 THEN 5 + (id * 17) % 180
                              WHEN h < 84 THEN (id * 17) % 5 END,
          answered_at = CASE WHEN h < 70
                             THEN started_at + (43 + (id * 13) % 60) * interval '1 s'
                             END,
          talk_seconds = CASE WHEN h < 70 THEN 30 + (id * 31) % 600 END,
          agent_id = CASE WHEN h < 70 THEN coalesce(agent_id, 1 + id % :agents) END,
          intent = CASE WHEN h < 84 THEN 'agent'
                        WHEN h < 92 THEN 'complaint' END,
          ended_at = started_at + length * interval '1 s',
          duration = length,
          direction = 'inbound'
        FROM (SELECT id AS call, h,
                     CASE WHEN h < 70 THEN 73 + (id * 13) % 60 + (id * 31) % 600
                          WHEN h < 80 THEN 45 + (id * 17) % 180
                          WHEN h < 84 THEN 40 + (id * 17) % 5
                          ELSE 60 + id % 120 END AS length
              FROM (SELECT id, (id::bigint * 7919) % 100 AS h FROM calls) hashed) o
        WHERE o.call = calls.id AND calls.status = 'completed';
        """,
    ),
    (
        "tickets' outcomes",
        """
        UPDATE tickets SET
          resolved_at = CASE WHEN status IN ('resolved', 'closed')
                             THEN created_at + (2 + (id * 17) % 200) * interval '1 hour'
                             END,
          updated_at = created_at + (2 + (id * 17) % 200) * interval '1 hour',
          sla_plan = 'default',
          take_charge_due = created_at + interval '1 day',
          resolve_due = created_at + interval '5 days',
          -- decided once taken in charge, some late
          take_charge_met = CASE WHEN status <> 'new' THEN (id * 11) % 100 < 85 END,
          resolve_met = CASE WHEN status IN ('resolved', 'closed')
                             THEN 2 + (id * 17) % 200 <= 120 END,
          escalation_level = CASE WHEN id % 250 = 0 THEN 2
                                  WHEN id % 50 = 0 THEN 1 ELSE 0 END,
          appeal = id % 200 = 0,
          withdrawn = id % 1000 = 7,
          priority = CASE WHEN id % 20 = 0 THEN 'high' ELSE 'normal' END;
        """,
    ),
    (
        "calls of tickets",
        """
        -- Half the calls are about a ticket: the service's calls.
        INSERT INTO ticket_calls (ticket_id, call_id)
          SELECT 1 + (id / 2 - 1) % :n, id FROM calls
          WHERE id % 2 = 0 AND status = 'completed';
        """,
    ),
    (
        "satisfaction",
        """
        INSERT INTO ticket_events (ticket_id, at, actor, action, detail)
          SELECT id, resolved_at + interval '1 hour', 'system', 'satisfaction_asked',
                 '{"channel": "sms"}'::json
          FROM tickets WHERE resolved_at IS NOT NULL AND id % 2 = 0;
        INSERT INTO ticket_events (ticket_id, at, actor, action, detail)
          SELECT id, resolved_at + interval '5 hours', 'caller', 'rating',
                 json_build_object('score', 1 + (id * 7) % 5)
          FROM tickets WHERE resolved_at IS NOT NULL AND id % 6 = 0;
        """,
    ),
    (
        "messages' statuses",
        """
        UPDATE messages SET
          status = CASE WHEN h < 80 THEN 'delivered' WHEN h < 83 THEN 'read'
                        WHEN h < 88 THEN 'sent' WHEN h < 93 THEN 'undelivered'
                        ELSE 'failed' END,
          channel = CASE WHEN id % 10 = 1 THEN 'whatsapp' ELSE 'sms' END
        FROM (SELECT id AS message, (id::bigint * 7919) % 100 AS h FROM messages) o
        WHERE o.message = messages.id AND direction = 'outbound'
          AND message_sid IS NOT NULL;
        """,
    ),
]


UPDATED = ("calls", "tickets", "messages")
# Besides the constraints' own (unique, primary keys), which the updates keep.
LOOSE_INDEXES = """
SELECT indexname, indexdef FROM pg_indexes i
WHERE schemaname = current_schema() AND tablename = ANY(%s) AND NOT EXISTS (
  SELECT 1 FROM pg_constraint c
  WHERE c.conname = i.indexname AND c.connamespace = current_schema()::regnamespace)
"""


def run_sql(url: str, steps: list[tuple[str, str]], values: dict[str, Any]) -> None:
    """Each step's statements, `:name` bound from values, timed. The updated
    tables' indexes are dropped first and built again from their definitions
    after the tables are rewritten: an update of every row otherwise writes
    every index too (five minutes for the calls at a million tickets)."""
    with psycopg.connect(url) as connection:
        connection.execute("SET synchronous_commit = off")
        connection.execute("SET maintenance_work_mem = '256MB'")
        indexes = connection.execute(LOOSE_INDEXES, (list(UPDATED),)).fetchall()
        for name, _ in indexes:
            connection.execute(f'DROP INDEX "{name}"')
        connection.commit()
        for name, sql in steps:
            step = time.perf_counter()
            for statement in filter(str.strip, sql.split(";")):
                prepared = statement.replace("%", "%%")
                for key in values:
                    prepared = prepared.replace(f":{key}", f"%({key})s")
                connection.execute(prepared, values)
            connection.commit()
            print(f"  {name:<20} {time.perf_counter() - step:7.1f} s", flush=True)
        step = time.perf_counter()
        connection.autocommit = True
        # The updates left every row twice: rewrite the tables as production's.
        connection.execute("VACUUM FULL " + ", ".join(UPDATED))
        for _, definition in indexes:
            connection.execute(definition)
        connection.execute(
            "VACUUM ANALYZE calls, tickets, messages, ticket_events, ticket_calls"
        )
        print(
            f"  {'VACUUM, ' + str(len(indexes)) + ' indexes':<20}"
            f" {time.perf_counter() - step:7.1f} s"
        )


def seed(schema_url: str, tickets: int) -> float:
    """bench/queries.py's fill, then the statistics' columns and rows."""
    started = time.perf_counter()
    took = migrate(schema_url, "head")
    print(f"migrated in {took:.1f} s", flush=True)
    app = bench_app(schema_url)
    with app.app_context():
        categories = [key for key, _ in category_choices("fr")]
    print(f"filling {tickets} tickets, {tickets * 2} calls", flush=True)
    fill(schema_url, tickets, categories)
    run_sql(schema_url, STATISTICS, {"n": tickets, "agents": 50})
    return time.perf_counter() - started


def bench_app(schema_url: str):
    class BenchConfig(TestingConfig):
        SQLALCHEMY_DATABASE_URI = sqlalchemy_url(schema_url)
        SQLALCHEMY_ENGINE_OPTIONS: ClassVar[dict] = {}

    return create_app(BenchConfig)


# --- /api/stats ----------------------------------------------------------------------


def periods(first_day: date, last_day: date) -> tuple[list, list]:
    """Three whole months and two whole years inside the data, newest first."""
    months, years = [], []
    month = date(last_day.year, last_day.month, 1)
    while len(months) < 3:
        month = (month - timedelta(days=1)).replace(day=1)
        end = (month + timedelta(days=32)).replace(day=1) - timedelta(days=1)
        if month < first_day:
            break
        months.append((month, end))
    for year in range(last_day.year - 1, first_day.year, -1)[:2]:
        years.append((date(year, 1, 1), date(year, 12, 31)))
    if not years:  # a tiny fill: its whole span
        years.append((first_day, last_day))
    return months, years


def time_requests(client, urls: list[str], headers: dict[str, str]) -> list[float]:
    """Milliseconds of each GET (after untimed warm-ups of the first)."""
    for _ in range(WARM_UP):
        assert client.get(urls[0], headers=headers).status_code == 200
    times = []
    for url in urls:
        start = time.perf_counter()
        response = client.get(url, headers=headers)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return times


def summary(name: str, times: list[float], target: float) -> dict[str, Any]:
    p99 = percentile(times, 0.99)
    return {
        "name": name,
        "runs": len(times),
        "p50_ms": round(statistics.median(times), 1),
        "p99_ms": round(p99, 1),
        "target_p99_ms": target,
        "ratio_to_target": round(p99 / target, 3),
        "met": p99 < target,
    }


def url_of(first: date, last: date, **by: str) -> str:
    extra = "".join(f"&{key}={value}" for key, value in by.items())
    return f"/api/stats?from={first}&to={last}{extra}".replace("+", "%2B")


def measure_stats(app, runs: int) -> tuple[list[dict], list[dict], dict]:
    with app.app_context():
        supervisor = db.session.scalar(select(User).filter_by(role=Role.SUPERVISOR))
        headers = {"Authorization": f"Bearer {make_token(supervisor)}"}
        service = db.session.scalar(select(Service.key).order_by(Service.id))
        oldest, newest = db.session.execute(
            select(func.min(Ticket.created_at), func.max(Ticket.created_at))
        ).one()
        zone = centre_zone()
        months, years = periods(
            oldest.astimezone(zone).date() + timedelta(days=1),
            newest.astimezone(zone).date(),
        )
        db.session.remove()
        client = app.test_client()
        results = []
        plan = [("month", MONTH_MS, months), ("year", YEAR_MS, years)]
        for kind, target, spans in plan:
            for name, by in (
                ("", {}),
                (f", service={service}", {"service": service}),
                (f", line={LINES[1]}", {"line": LINES[1]}),
            ):
                urls = [url_of(*spans[i % len(spans)], **by) for i in range(runs)]
                times = time_requests(client, urls, headers)
                spans_named = ", ".join(f"{a:%Y-%m-%d}..{b:%Y-%m-%d}" for a, b in spans)
                results.append(summary(f"{kind}{name} ({spans_named})", times, target))
                print_result(results[-1])
        explained = explain_year(client, headers, years[0])
        sample = client.get(url_of(*years[0]), headers=headers).get_json()
        return results, explained, sample


def print_result(result: dict[str, Any]) -> None:
    verdict = "PASS" if result["met"] else "MISS"
    print(
        f"  {result['name']:<70} p50 {result['p50_ms']:8.1f}"
        f"  p99 {result['p99_ms']:8.1f}"
        f" ms  {result['ratio_to_target']:.2f}x of p99<{result['target_p99_ms']:g}"
        f" {verdict}",
        flush=True,
    )


def explain_year(client, headers, span: tuple[date, date]) -> list[dict[str, Any]]:
    """The year's statements as the request sends them, each EXPLAINed."""
    with Watch() as watch:
        assert client.get(url_of(*span), headers=headers).status_code == 200
    found = []
    for statement, parameters in watch.statements:
        if not statement.lstrip().upper().startswith("SELECT"):
            continue
        if "api_tokens" in statement or "FROM users" in statement:
            continue  # the sign-in, not the figures
        executed_ms, scans = explain(statement, parameters)
        found.append(
            {
                "statement": " ".join(statement.split())[:160],
                "server_ms": round(executed_ms, 1),
                "scans": [f"{kind} {where}" for kind, where in scans],
            }
        )
    db.session.remove()
    return found


# --- the export, through gunicorn --------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Gunicorn:
    """One sync worker serving the bench's schema, started and stopped here."""

    def __init__(self, schema_url: str, instance: Path) -> None:
        self.port = free_port()
        # Production's settings (wsgi.py), as `flask db upgrade` ran them, but
        # no scheduler thread: its rounds would share the worker being measured.
        env = flask_env(
            instance, DATABASE_URL=schema_url, SCHEDULER_INTERVAL_SECONDS="0"
        )
        log = instance / "gunicorn.log"
        self.log = log.open("w")
        self.process = subprocess.Popen(
            [
                str(BIN / "gunicorn"),
                "--no-control-socket",
                "-w",
                "1",
                "-k",
                "sync",
                "-b",
                f"127.0.0.1:{self.port}",
                "--timeout",
                "600",
                "wsgi:app",
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        for _ in range(300):
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {log.read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("gunicorn did not start")

    @property
    def worker(self) -> int:
        pid = self.process.pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        assert len(children) == 1, children
        return int(children[0])

    def peak_mb(self) -> float:
        """The worker's peak resident memory so far (VmHWM)."""
        for line in Path(f"/proc/{self.worker}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmHWM")

    def download(self, path: str, headers: dict[str, str]) -> tuple[float, int, int]:
        """(seconds, bytes, lines) of a GET read to its end in 64 kB pieces."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        start = time.perf_counter()
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        assert response.status == 200, response.read()[:300]
        size = lines = 0
        while piece := response.read(65536):
            size += len(piece)
            lines += piece.count(b"\n")
        took = time.perf_counter() - start
        connection.close()
        return took, size, lines

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)
        self.log.close()


def export_period(app, rows: int) -> tuple[date, date, int]:
    """The newest days ending a month ago that hold about `rows` tickets."""
    with app.app_context():
        zone = centre_zone()
        newest = db.session.scalar(select(func.max(Ticket.created_at)))
        count = db.session.scalar(select(func.count()).select_from(Ticket))
        oldest = db.session.scalar(select(func.min(Ticket.created_at)))
        per_day = count / max(1, (newest - oldest).days)
        last = newest.astimezone(zone).date() - timedelta(days=31)
        first = last - timedelta(days=max(1, math.ceil(rows / per_day)) - 1)
        db.session.remove()
    return first, last, round(per_day)


def measure_export(
    app, schema_url: str, sizes: list[int], kinds: list[str]
) -> list[dict[str, Any]]:
    with app.app_context():
        supervisor = db.session.scalar(select(User).filter_by(role=Role.SUPERVISOR))
        headers = {"Authorization": f"Bearer {make_token(supervisor)}"}
        db.session.remove()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in kinds:
            for rows in sizes:
                first, last, _ = export_period(app, rows)
                server = Gunicorn(schema_url, Path(tmp))
                try:
                    # One day first: the imports and the connection, not the rows.
                    warm = f"/api/tickets/export.{kind}?from={last}&to={last}"
                    server.download(warm, headers)
                    warm_mb = server.peak_mb()
                    path = f"/api/tickets/export.{kind}?from={first}&to={last}"
                    took, size, lines = server.download(path, headers)
                    peak = server.peak_mb()
                finally:
                    server.stop()
                result = {
                    "name": f"export.{kind}, ~{rows} rows",
                    "format": kind,
                    "period": f"{first}..{last}",
                    "target_rows": rows,
                    # The CSV's lines but its header; a workbook is zipped.
                    "rows": lines - 1 if kind == "csv" else None,
                    "megabytes": round(size / 1e6, 1),
                    "seconds": round(took, 2),
                    "rows_per_second": round((lines - 1) / took)
                    if kind == "csv"
                    else None,
                    "peak_rss_after_warm_up_mb": round(warm_mb, 1),
                    "peak_rss_mb": round(peak, 1),
                    "ratio_to_target": round(peak / EXPORT_PEAK_MB, 3),
                    "met": peak < EXPORT_PEAK_MB,
                }
                results.append(result)
                print(
                    f"  {kind} {first}..{last} (~{rows} rows):"
                    f"{'' if kind != 'csv' else f' {lines - 1} rows,'}"
                    f" {result['megabytes']} MB in {took:.2f} s; worker peak"
                    f" {peak:.1f} MB (after warm-up {warm_mb:.1f}),"
                    f" {result['ratio_to_target']:.2f}x of <{EXPORT_PEAK_MB:g} MB",
                    flush=True,
                )
    return results


def flatness(exports: list[dict[str, Any]]) -> dict[str, float]:
    """Per format: the peak at the largest size over the peak at the smallest."""
    ratios = {}
    for kind in {e["format"] for e in exports}:
        runs = sorted(
            (e for e in exports if e["format"] == kind), key=lambda e: e["target_rows"]
        )
        if len(runs) > 1:
            ratios[kind] = round(runs[-1]["peak_rss_mb"] / runs[0]["peak_rss_mb"], 3)
    return ratios


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=20, help="per period kind")
    parser.add_argument(
        "--export-rows", default="10000,100000", help="sizes, comma-separated"
    )
    parser.add_argument("--formats", default="csv,xlsx", help="csv, xlsx or both")
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--schema", default="bench_stats")
    parser.add_argument("--keep", action="store_true", help="keep the schema")
    parser.add_argument("--reuse", action="store_true", help="use a kept schema")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "bench" / "results" / "stats.json"
    )
    args = parser.parse_args()
    if not args.schema.isidentifier():
        parser.error("--schema must be a plain SQL name")
    url = args.database_url
    schema_url = with_options(url, f"-csearch_path={args.schema}")
    figures: dict[str, Any] = {"tickets": args.tickets}
    try:
        if args.reuse and schema_exists(url, args.schema):
            print(f"reusing schema {args.schema}")
        else:
            drop_schema(url, args.schema)
            with admin(url) as connection:
                connection.execute(f"CREATE SCHEMA {args.schema}")
            took = seed(schema_url, args.tickets)
            figures["fill_seconds"] = round(took, 1)
            print(f"filled in {took:.1f} s ({took / 60:.1f} min)")
        app = bench_app(schema_url)
        load = os.getloadavg()[0]
        print(f"\n/api/stats, {args.runs} runs each, through the app")
        results, explained, sample = measure_stats(app, args.runs)
        figures["stats"] = results
        figures["sample_year"] = sample
        print("\nthe year's statements (EXPLAIN ANALYZE):")
        for found in explained:
            print(f"  {found['server_ms']:8.1f} ms  {found['statement'][:100]}")
            for scan in found["scans"]:
                print(f"{'':14}{scan}")
        figures["explained_year"] = explained
        with app.app_context():
            db.engine.dispose()
        sizes = [int(size) for size in args.export_rows.split(",") if size]
        kinds = [kind for kind in args.formats.split(",") if kind]
        print("\nthe export, through gunicorn (1 sync worker, a fresh one per size)")
        exports = measure_export(app, schema_url, sizes, kinds)
        figures["exports"] = exports
        figures["export_peak_ratio_largest_to_smallest"] = flatness(exports)
        for kind, ratio in figures["export_peak_ratio_largest_to_smallest"].items():
            print(f"  {kind}: peak at {sizes[-1]} / peak at {sizes[0]} = {ratio:.2f}")
        figures["load_average"] = [round(load, 2), round(os.getloadavg()[0], 2)]
        print(
            f"\nload average (1 min) on {os.cpu_count()} cores: {load:.1f} before,"
            f" {os.getloadavg()[0]:.1f} after: other work slows every figure"
        )
        missed = [r["name"] for r in results + exports if not r["met"]]
        print(
            "targets: month p99 < 500 ms, year p99 < 3 s, export peak < 100 MB: "
            + ("all met" if not missed else "MISSED")
        )
        for name in missed:
            print(f"  missed: {name}")
        args.out.parent.mkdir(exist_ok=True)
        args.out.write_text(json.dumps(figures, indent=2, default=str))
    except Exception as error:
        print(f"bench failed: {error!r}", file=sys.stderr)
        raise
    finally:
        if not args.keep:
            drop_schema(url, args.schema)
            print(f"schema {args.schema} dropped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
