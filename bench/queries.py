"""The read queries at a million tickets, on PostgreSQL, with their plans.

    .venv/bin/python bench/queries.py [--tickets 1000000] [--runs 200] [--keep]
    .venv/bin/python bench/queries.py --reuse          # the schema a --keep left

A schema of its own (`bench_queries`, --schema) on the database of --database-url
(default DATABASE_URL_TEST, else the local `test` database) is built by the real
migrations (`flask --app wsgi db upgrade`, as tests/test_migrations.py does), so
what is measured is the indexes production gets; --revision stops the upgrade
earlier (e.g. 6ef9f6df65d2, before the query indexes) for a "before" figure.
It is filled in SQL with generate_series: N tickets over three years, N/5
callers (one in ten the second number of the one before, CONTRACT §8.5), 2N
calls, 1.5N messages, N/3 recordings (older than a year already purged, as the
daily purge leaves them), 50 agents in 10 services, a few callers waiting for an
agent and a few texts held for quiet hours; then VACUUM ANALYZE.

Each query runs through the app's own code (the page's query and the rows it
serialises), on a new session each run, with inputs drawn at random (callers,
deep cursors, references): p50 and p99 over --runs. Its statements are captured
on a first run and EXPLAINed; the scans are printed, and a sequential scan over
tickets or calls is flagged. Targets: screen-pop p99 < 5 ms, list pages p99 <
20 ms, no sequential scan over tickets or calls. Figures also go to
bench/results/queries.json. The exit status is 0 whether targets are met or not,
1 if the run failed. The schema is dropped at the end unless --keep.
"""

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import psycopg
from sqlalchemy import event, func, select, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import create_app  # noqa: E402
from app.extensions import db  # noqa: E402
from app.menus import category_choices  # noqa: E402
from app.models import Caller, Role, Ticket, User  # noqa: E402
from app.serializers import ticket_json  # noqa: E402
from app.services.callers import history_for  # noqa: E402
from app.services.followups import flush_outbox  # noqa: E402
from app.services.ticket_list import encode_cursor, newest_first  # noqa: E402
from app.services.visibility import visible_tickets  # noqa: E402
from app.services.work_queue import Filters, queue_page  # noqa: E402
from config import TestingConfig  # noqa: E402
from recordings.retention import expired  # noqa: E402
from softphone.supervision import agent_states, waiting_calls  # noqa: E402
from tests.test_migrations import (  # noqa: E402
    flask_env,
    run_flask,
    sqlalchemy_url,
    with_options,
)

DEFAULT_URL = os.environ.get(
    "DATABASE_URL_TEST", "postgresql://postgres@127.0.0.1:5432/test"
)
LINES = ("+2290121300000", "+2290121300001")
AGENTS, SERVICES = 50, 10
HISTORY_P99_MS, LIST_P99_MS = 5.0, 20.0
WATCHED = {"tickets", "calls"}  # a sequential scan over these fails the target
WARM_UP = 5  # untimed runs first: statement caches, psycopg's prepared statements

# Seven digits and their Luhn check digit (app/references.py), in SQL: the desk
# search refuses a reference whose check digit is wrong.
LUHN = """
CREATE FUNCTION pg_temp.reference(body text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT body || ((10 - sum(CASE WHEN (7 - p) % 2 = 0
                            THEN (d * 2) - CASE WHEN d > 4 THEN 9 ELSE 0 END
                            ELSE d END) % 10) % 10)::text
  FROM (SELECT p, substr(body, p, 1)::int AS d FROM generate_series(1, 7) p) s
$$
"""

# :n tickets, :callers callers, :calls calls; ids are the row numbers (fresh schema).
FILL = [
    (
        "services and staff",
        """
        INSERT INTO services (key, name)
          SELECT 'service' || s, 'Service ' || s FROM generate_series(1, :services) s;
        INSERT INTO users (email, name, role, password_hash, active, failed_logins,
                           created_at)
          SELECT 'agent' || u || '@bench.local', 'Agent ' || u, 'agent', 'x', true, 0,
                 now() FROM generate_series(1, :agents) u;
        INSERT INTO users (email, name, role, password_hash, active, failed_logins,
                           created_at)
          VALUES ('chef@bench.local', 'Chef', 'supervisor', 'x', true, 0, now());
        INSERT INTO user_services (user_id, service_id)
          SELECT id, 1 + id % :services FROM users WHERE role = 'agent';
        INSERT INTO presence (user_id, status, since, last_seen)
          SELECT id, (ARRAY['available', 'busy', 'offline'])[1 + id % 3], now(), now()
          FROM users;
        """,
    ),
    (
        "callers",
        """
        INSERT INTO callers (phone_e164, language, sms_opt_out, uses_whatsapp,
                             created_at)
          SELECT '+22901' || lpad(c::text, 8, '0'), 'fr', false, false,
                 now() - interval '3 years'
          FROM generate_series(1, :callers) c;
        -- One caller in ten is the second SIM of the caller before (CONTRACT §8.5).
        UPDATE callers SET person_id = id - 1 WHERE id % 10 = 0;
        """,
    ),
    (
        "tickets",
        """
        INSERT INTO tickets (reference, kind, status, category, channel, caller_id,
                             line, language, description, assignee_id, service_id,
                             created_at, updated_at)
          SELECT pg_temp.reference(lpad((t - 1)::text, 7, '0')),
                 (ARRAY['complaint', 'request', 'callback'])[1 + t % 3],
                 CASE WHEN t <= :n * 0.97
                      THEN (CASE WHEN t % 10 = 0 THEN 'resolved' ELSE 'closed' END)
                      ELSE (ARRAY['new', 'assigned', 'in_progress', 'resolved',
                                  'reopened'])[1 + t % 5] END,
                 (:categories::text[])[1 + t % cardinality(:categories::text[])],
                 (ARRAY['phone', 'phone', 'phone', 'sms', 'web', 'counter'])[1 + t % 6],
                 1 + floor(random() * :callers)::int,
                 (ARRAY[:line1::text, :line2::text])[1 + t % 2],
                 'fr', 'Demande ' || t,
                 CASE WHEN random() < 0.7 THEN 1 + floor(random() * :agents)::int END,
                 CASE WHEN random() < 0.8 THEN 1 + floor(random() * :services)::int END,
                 at, at + interval '2 days'
          FROM (SELECT t, now() - interval '3 years'
                          + (t * (3 * 365 * 86400.0 / :n) + random() * 60)
                            * interval '1 second' AS at
                FROM generate_series(1, :n) t) g;
        """,
    ),
    (
        "calls",
        """
        INSERT INTO calls (call_sid, caller_id, from_raw, line, direction, status,
                           language, intent, agent_id, started_at, ended_at, duration)
          SELECT 'CA' || md5(c::text), caller, '+22901' || lpad(caller::text, 8, '0'),
                 (ARRAY[:line1::text, :line2::text])[1 + c % 2], 'inbound',
                 'completed', 'fr',
                 CASE WHEN c % 3 = 0 THEN 'agent' WHEN c % 3 = 1 THEN 'complaint' END,
                 -- most callers who asked for an agent got one, some hung up first
                 CASE WHEN c % 3 = 0 AND c % 30 <> 0
                      THEN 1 + floor(random() * :agents)::int END,
                 at, at + interval '3 minutes', 180
          FROM (SELECT c, 1 + floor(random() * :callers)::int AS caller,
                       now() - interval '3 years'
                       + (c * (3 * 365 * 86400.0 / :calls)) * interval '1 second' AS at
                FROM generate_series(1, :calls) c) g;
        -- Callers waiting for an agent now: the supervisors' live queue.
        INSERT INTO calls (call_sid, caller_id, from_raw, line, direction, status,
                           language, intent, started_at)
          SELECT 'CAwait' || w, w, '+22901' || lpad(w::text, 8, '0'), :line1,
                 'inbound', (ARRAY['queued', 'ringing', 'in-progress'])[1 + w % 3],
                 'fr', 'agent', now() - w * interval '20 seconds'
          FROM generate_series(1, 12) w;
        """,
    ),
    (
        "messages",
        """
        INSERT INTO messages (message_sid, ticket_id, caller_id, direction, to_number,
                              from_number, body, status, channel, template,
                              created_at, updated_at)
          SELECT 'SM' || md5('out' || t.id), t.id, t.caller_id, 'outbound',
                 c.phone_e164, t.line,
                 'Votre dossier ' || t.reference, 'delivered', 'sms', 'created',
                 t.created_at, t.created_at
          FROM tickets t JOIN callers c ON c.id = t.caller_id;
        INSERT INTO messages (message_sid, ticket_id, caller_id, direction, to_number,
                              from_number, body, status, channel, created_at,
                              updated_at)
          SELECT 'SM' || md5(t.id::text), t.id, t.caller_id, 'inbound', t.line,
                 c.phone_e164, 'Où en est ma demande ?', 'received', 'sms',
                 t.created_at + interval '1 day', t.created_at + interval '1 day'
          FROM tickets t JOIN callers c ON c.id = t.caller_id WHERE t.id % 2 = 0;
        -- The outbox: texts held for quiet hours (not due, so nothing is sent).
        INSERT INTO messages (caller_id, direction, to_number, body, status, channel,
                              send_after, created_at, updated_at)
          SELECT w, 'outbound', '+22901' || lpad(w::text, 8, '0'), 'Bonjour',
                 'queued', 'sms', now() + interval '10 hours', now(), now()
          FROM generate_series(1, 20) w;
        """,
    ),
    (
        "recordings",
        """
        INSERT INTO recordings (recording_sid, call_id, ticket_id, status, purpose,
                                duration, media_status, storage_key, size_bytes,
                                created_at, updated_at, purged_at)
          SELECT 'RE' || md5(t.id::text), 1 + floor(random() * :calls)::int, t.id,
                 'completed', 'voicemail', 40,
                 CASE WHEN t.created_at < now() - interval '366 days' THEN 'purged'
                      WHEN t.id % 500 = 0 THEN 'failed' ELSE 'stored' END,
                 'rec/' || t.id || '.wav', 640000, t.created_at, t.created_at,
                 CASE WHEN t.created_at < now() - interval '366 days'
                      THEN t.created_at + interval '366 days' END
          FROM tickets t WHERE t.id % 3 = 0;
        """,
    ),
]


@dataclass
class Result:
    name: str
    target_ms: float | None
    times_ms: list[float] = field(default_factory=list)
    sql_ms: list[float] = field(default_factory=list)  # in cursor.execute alone
    server_ms: float = 0.0  # EXPLAIN ANALYZE's execution time, first input
    scans: list[str] = field(default_factory=list)
    seq_scans: list[str] = field(default_factory=list)
    statements: int = 0

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "runs": len(self.times_ms),
            "p50_ms": round(statistics.median(self.times_ms), 3),
            "p99_ms": round(percentile(self.times_ms, 0.99), 3),
            "sql_p50_ms": round(statistics.median(self.sql_ms), 3),
            "sql_p99_ms": round(percentile(self.sql_ms, 0.99), 3),
            "server_execution_ms": round(self.server_ms, 3),
            "target_p99_ms": self.target_ms,
            "statements": self.statements,
            "scans": self.scans,
            "seq_scans_watched": self.seq_scans,
        }

    @property
    def met(self) -> bool:
        fast = self.target_ms is None or percentile(self.times_ms, 0.99) < (
            self.target_ms
        )
        return fast and not self.seq_scans


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[index]


def admin(url: str) -> psycopg.Connection:
    return psycopg.connect(url, autocommit=True)


def schema_exists(url: str, schema: str) -> bool:
    with admin(url) as connection:
        found = connection.execute(
            "SELECT 1 FROM information_schema.schemata WHERE schema_name = %s",
            (schema,),
        ).fetchone()
    return found is not None


def drop_schema(url: str, schema: str) -> None:
    with admin(url) as connection:
        connection.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def migrate(schema_url: str, revision: str) -> float:
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as instance:
        env = flask_env(Path(instance), DATABASE_URL=schema_url)
        run_flask("db", "upgrade", revision, env=env, timeout=600)
    return time.perf_counter() - start


def fill(schema_url: str, tickets: int, categories: list[str]) -> float:
    values = {
        "n": tickets,
        "callers": max(1, tickets // 5),
        "calls": tickets * 2,
        "agents": AGENTS,
        "services": SERVICES,
        "line1": LINES[0],
        "line2": LINES[1],
        "categories": categories,
    }
    started = time.perf_counter()
    with psycopg.connect(schema_url) as connection:
        connection.execute("SET synchronous_commit = off")
        connection.execute("SET maintenance_work_mem = '256MB'")
        connection.execute("SELECT setseed(0.42)")
        connection.execute(LUHN)
        # The migration's indexes, all but the constraints', are dropped and built
        # again from their own definitions after the load: much faster than
        # keeping them up to date row by row, and the same indexes in the end.
        indexes = connection.execute(
            "SELECT indexname, indexdef FROM pg_indexes i"
            " WHERE schemaname = current_schema() AND NOT EXISTS ("
            "  SELECT 1 FROM pg_constraint c"
            "  WHERE c.conname = i.indexname"
            "  AND c.connamespace = current_schema()::regnamespace)"
        ).fetchall()
        for name, _ in indexes:
            connection.execute(f'DROP INDEX "{name}"')
        for name, sql in FILL:
            step = time.perf_counter()
            # psycopg takes %(name)s; the SQL above reads better with :name.
            for statement in filter(str.strip, sql.split(";")):
                prepared = statement.replace("%", "%%")
                for key in values:
                    prepared = prepared.replace(f":{key}", f"%({key})s")
                connection.execute(prepared, values)
            connection.commit()
            print(f"  {name:<20} {time.perf_counter() - step:7.1f} s", flush=True)
        step = time.perf_counter()
        for _, definition in indexes:
            connection.execute(definition)
        connection.commit()
        print(
            f"  {f'{len(indexes)} indexes':<20} {time.perf_counter() - step:7.1f} s",
            flush=True,
        )
    step = time.perf_counter()
    with admin(schema_url) as connection:
        # Only this schema's tables: a bare VACUUM would visit the whole database.
        tables = connection.execute(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = current_schema()"
        ).fetchall()
        connection.execute(
            "VACUUM ANALYZE " + ", ".join(f'"{name}"' for (name,) in tables)
        )
    print(f"  {'VACUUM ANALYZE':<20} {time.perf_counter() - step:7.1f} s")
    return time.perf_counter() - started


def bench_app(schema_url: str):
    class BenchConfig(TestingConfig):
        SQLALCHEMY_DATABASE_URI = sqlalchemy_url(schema_url)
        SQLALCHEMY_ENGINE_OPTIONS: ClassVar[dict] = {}
        RECORDINGS_RETENTION_DAYS = 365

    return create_app(BenchConfig)


class Watch:
    """Statements sent while listening, and the time spent in cursor.execute."""

    def __init__(self) -> None:
        self.statements: list[tuple[str, Any]] = []
        self.sql_seconds = 0.0
        self._started = 0.0

    def before(self, conn, cursor, statement, parameters, context, many) -> None:
        self.statements.append((statement, parameters))
        self._started = time.perf_counter()

    def after(self, conn, cursor, statement, parameters, context, many) -> None:
        self.sql_seconds += time.perf_counter() - self._started

    def __enter__(self) -> "Watch":
        event.listen(db.engine, "before_cursor_execute", self.before)
        event.listen(db.engine, "after_cursor_execute", self.after)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(db.engine, "before_cursor_execute", self.before)
        event.remove(db.engine, "after_cursor_execute", self.after)


def explain(statement: str, parameters: Any) -> tuple[float, list[tuple[str, str]]]:
    """The server's execution time (ms) of a SELECT and the (node type, index or
    relation) of every scan in its plan."""
    explained = (
        db.session.connection()
        .exec_driver_sql("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters)
        .scalar()[0]
    )
    return explained["Execution Time"], list(plan_scans(explained["Plan"]))


def plan_scans(plan: dict[str, Any]) -> Iterator[tuple[str, str]]:
    stack = [plan]
    while stack:
        node = stack.pop()
        stack.extend(node.get("Plans", []))
        if "Scan" in node["Node Type"]:
            kind = node["Node Type"]
            if node.get("Scan Direction") == "Backward":
                kind += " Backward"
            relation = node.get("Relation Name") or ""
            index = node.get("Index Name")
            if index and relation:
                yield kind, f"{index} on {relation}"
            else:
                yield kind, index or relation


def measure(result: Result, inputs: list[Any], work: Callable[[Any], Any]) -> Result:
    """Run `work` once per input (drawn beforehand, so drawing is not timed),
    after untimed warm-up runs, the first of which has its statements EXPLAINed
    at the end, caches warm."""
    db.session.remove()
    db.session.execute(text("SELECT 1"))  # the connection's own set-up is not ours
    with Watch() as first:
        work(inputs[0])
    result.statements = len(first.statements)
    db.session.remove()
    for value in inputs[1:WARM_UP]:
        work(value)
        db.session.remove()
    for value in inputs:
        with Watch() as watch:
            start = time.perf_counter()
            work(value)
            result.times_ms.append((time.perf_counter() - start) * 1000)
        result.sql_ms.append(watch.sql_seconds * 1000)
        db.session.remove()
    for statement, parameters in first.statements:
        if not statement.lstrip().upper().startswith("SELECT"):
            continue
        executed_ms, scans = explain(statement, parameters)
        result.server_ms += executed_ms
        for kind, where in scans:
            label = f"{kind} {where}"
            if label not in result.scans:
                result.scans.append(label)
            if kind.startswith("Seq Scan") and where.split(" ")[0] in WATCHED:
                result.seq_scans.append(label)
    db.session.remove()
    return result


def run_queries(app, runs: int) -> list[Result]:
    rng = random.Random(7)
    with app.app_context():
        # Loaded once, as the request's login would: each run starts from them.
        supervisor = db.session.scalar(select(User).filter_by(role=Role.SUPERVISOR))
        agent = db.session.scalar(
            select(User).filter_by(role=Role.AGENT).order_by(User.id)
        )
        callers = db.session.scalar(select(func.max(Caller.id))) or 1
        last = db.session.scalar(select(func.max(Ticket.id))) or 1

        def tickets_at(ids: list[int]) -> list[Ticket]:
            found = db.session.scalars(select(Ticket).where(Ticket.id.in_(ids)))
            return list(found)

        phones = [f"+22901{rng.randint(1, callers):08d}" for _ in range(runs)]
        sample = tickets_at([rng.randint(1, last) for _ in range(runs)])
        references = [t.display_reference for t in sample]
        # Tickets in the older half: their cursors start deep pages.
        deep = tickets_at([rng.randint(1, max(1, last // 2)) for _ in range(runs)])
        cursors = [encode_cursor(t) for t in deep]
        offsets = [rng.randint(last // 2, max(last // 2, last - 100)) for _ in deep]
        db.session.remove()

        def page(viewer: User, cursor: str | None = None, offset: int = 0, **by):
            query = select(Ticket).where(visible_tickets(viewer)).filter_by(**by)
            rows = newest_first(query, 100, cursor, offset).tickets
            return [ticket_json(ticket) for ticket in rows]

        def search(text_typed: str):
            # The work queue's search, its page and its count, as `/?q=` runs it.
            rows = queue_page(Filters(q=text_typed), agent).tickets
            return [(ticket.display_reference, ticket.phone) for ticket in rows]

        def outbox(_: None) -> None:
            assert flush_outbox() == 0  # held for quiet hours: nothing handed over

        same = [None] * runs
        plan = [
            (
                "list, first page (supervisor)",
                LIST_P99_MS,
                same,
                lambda _: page(supervisor),
            ),
            ("list, first page (agent)", LIST_P99_MS, same, lambda _: page(agent)),
            (
                "list, status=new",
                LIST_P99_MS,
                same,
                lambda _: page(supervisor, status="new"),
            ),
            (
                "list, category+line",
                LIST_P99_MS,
                same,
                lambda _: page(supervisor, category="pension", line=LINES[1]),
            ),
            (
                "list, deep page (keyset)",
                LIST_P99_MS,
                cursors,
                lambda cursor: page(supervisor, cursor),
            ),
            (
                "caller history (screen-pop)",
                HISTORY_P99_MS,
                phones,
                lambda phone: history_for(phone, agent),
            ),
            ("desk search by reference", LIST_P99_MS, references, search),
            ("desk search by phone", LIST_P99_MS, phones, search),
            # The work queue's views: a page, then the view's and the saved
            # views' counts in one statement. Measured, no target yet: the
            # counts read every ticket the viewer may see.
            (
                "queue, first page and counts (agent)",
                None,
                same,
                lambda _: queue_page(Filters(), agent),
            ),
            (
                "queue, open by due and counts (supervisor)",
                None,
                same,
                lambda _: queue_page(Filters(status="open", sort="due"), supervisor),
            ),
            (
                "queue, overdue and counts (supervisor)",
                None,
                same,
                lambda _: queue_page(Filters(overdue=True), supervisor),
            ),
            (
                "supervision (queue, agents)",
                None,
                same,
                lambda _: (waiting_calls(), agent_states()),
            ),
            ("retention selection", None, same, lambda _: expired(app)),
            ("outbox flush selection", None, same, outbox),
        ]
        results = [
            measure(Result(name, target), inputs, work)
            for name, target, inputs, work in plan
        ]
        # OFFSET reads every row it skips: slow, so only a few runs.
        few = offsets[: max(3, runs // 20)]
        old_way = Result(
            f"list, deep page (OFFSET, {len(few)} runs: the old way)", None
        )
        results.append(
            measure(old_way, few, lambda offset: page(supervisor, offset=offset))
        )
        return results


def report(results: list[Result]) -> None:
    print()
    print(
        f"{'query':<44} {'p50 ms':>7} {'p99 ms':>7}  {'target':<13}"
        f" {'sql p50':>7} {'sql p99':>7} {'server':>7} stmts"
    )
    for result in results:
        summary = result.summary()
        target = f"p99<{result.target_ms:g}" if result.target_ms else "-"
        verdict = "PASS" if result.met else "MISS"
        if result.target_ms is None and not result.seq_scans:
            verdict = ""
        print(
            f"{result.name:<44} {summary['p50_ms']:7.2f} {summary['p99_ms']:7.2f}  "
            f"{target:<8} {verdict:<4} {summary['sql_p50_ms']:7.2f}"
            f" {summary['sql_p99_ms']:7.2f} {result.server_ms:7.2f}"
            f" {result.statements:5d}"
        )
        for scan in result.scans:
            flag = "   <-- sequential scan" if scan in result.seq_scans else ""
            print(f"{'':6}{scan}{flag}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--schema", default="bench_queries")
    parser.add_argument("--revision", default="head", help="migrate up to this one")
    parser.add_argument("--keep", action="store_true", help="keep the schema")
    parser.add_argument("--reuse", action="store_true", help="use a kept schema")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "bench" / "results" / "queries.json"
    )
    args = parser.parse_args()
    if not args.schema.isidentifier():
        parser.error("--schema must be a plain SQL name")
    url = args.database_url
    schema_url = with_options(url, f"-csearch_path={args.schema}")
    figures: dict[str, Any] = {"tickets": args.tickets, "revision": args.revision}
    try:
        if args.reuse and schema_exists(url, args.schema):
            print(f"reusing schema {args.schema}")
        else:
            drop_schema(url, args.schema)
            with admin(url) as connection:
                connection.execute(f"CREATE SCHEMA {args.schema}")
            took = migrate(schema_url, args.revision)
            print(f"schema {args.schema}: migrated to {args.revision} in {took:.1f} s")
            app = bench_app(schema_url)
            with app.app_context():
                categories = [key for key, _ in category_choices("fr")]
            print(
                f"filling {args.tickets} tickets, {args.tickets // 5} callers, "
                f"{args.tickets * 2} calls, ~{args.tickets * 3 // 2} messages, "
                f"~{args.tickets // 3} recordings",
                flush=True,
            )
            took = fill(schema_url, args.tickets, categories)
            figures["fill_seconds"] = round(took, 1)
            print(f"filled in {took:.1f} s ({took / 60:.1f} min)")
        app = bench_app(schema_url)
        load = os.getloadavg()[0]
        results = run_queries(app, args.runs)
        figures["load_average"] = [round(load, 2), round(os.getloadavg()[0], 2)]
        print(
            f"load average (1 min) on {os.cpu_count()} cores: {load:.1f} before the"
            f" queries, {os.getloadavg()[0]:.1f} after: other work slows every figure"
        )
        with app.app_context():
            db.engine.dispose()
        report(results)
        figures["queries"] = [result.summary() for result in results]
        missed = [r.name for r in results if not r.met]
        print()
        print("targets: screen-pop p99 < 5 ms, list pages p99 < 20 ms, no Seq Scan")
        print("over tickets or calls: " + ("all met" if not missed else "MISSED"))
        for name in missed:
            print(f"  missed: {name}")
        args.out.parent.mkdir(exist_ok=True)
        args.out.write_text(json.dumps(figures, indent=2))
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
