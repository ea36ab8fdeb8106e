"""Command line of CONTRACT §5: users, services and their focal points, worker,
simulate-call, privacy (and demo seeding)."""

import getpass
import os
import secrets
import sys
import tempfile
import time
from datetime import timedelta

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from redis import Redis
from redis.exceptions import RedisError
from rq.cron import CronScheduler
from rq.exceptions import StopRequested
from rq.worker_pool import WorkerPool
from sqlalchemy import delete, select

from app import demo
from app.extensions import db
from app.models import ApiToken, Role, Service, User
from app.models.agents import agent_lines
from app.models.journey import FocalPoint
from app.models.users import hash_token
from app.phone import to_e164
from app.queue import AppWorker, ForkingWorker, _backing_off
from app.services import focal_points, staff
from app.services import privacy as personal_data
from app.services.followups import flush_outbox
from app.services.refused import Refused
from app.simulator import CallSimulator, HttpTransport, InProcessTransport, parse_inputs
from app.spool import failed_dir, replay

users = AppGroup("users", help="Manage staff accounts.")


def _user(email: str) -> User:
    user = db.session.scalar(select(User).filter_by(email=email.strip().lower()))
    if user is None:
        raise click.ClickException(f"no user {email}")
    return user


@users.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--name", default=None)
def create_user(email: str, role: str, password: str, name: str | None) -> None:
    """Add a staff member (agent, supervisor or admin)."""
    try:
        staff.create_user(email, Role(role), password, name)
    except Refused as refused:
        if refused.code == "email_taken":
            raise click.ClickException(refused.message) from None
        hint = "EMAIL" if refused.field == "email" else "--password"
        raise click.BadParameter(refused.message, param_hint=hint) from None
    db.session.commit()
    click.echo(f"created {role} {email.strip().lower()}")


@users.command("token")
@click.argument("email")
def create_token(email: str) -> None:
    """Print a new API token for EMAIL (only its hash is kept)."""
    user = _user(email)
    token = secrets.token_urlsafe(32)
    db.session.add(ApiToken(user=user, token_hash=hash_token(token)))
    db.session.commit()
    click.echo(f"API token for {user.email} (shown once):", err=True)
    click.echo(token)


@click.command("seed-demo")
def seed_demo() -> None:
    """A living demo centre, added once (used by `make run`): see app/demo.py."""
    seeded = demo.seed()
    for role, email in seeded.users:
        click.echo(f"  {role:<11} {email}  /  {demo.DEMO_PASSWORD}")
    if seeded.tickets:
        click.echo(
            f"demo: {seeded.tickets} tickets in every status,"
            f" {seeded.escalations} escalation(s) sent for the overdue ones"
        )


def _queue_names(wanted: str | None) -> list[str]:
    """The queues to serve, in the app's order of priority whatever order is given."""
    served = list(current_app.config["RQ_QUEUES"])
    if not wanted:
        return served
    names = {name.strip() for name in wanted.split(",") if name.strip()}
    unknown = names - set(served)
    if unknown or not names:
        raise click.BadParameter(
            f"choose among {', '.join(served)}", param_hint="--queues"
        )
    return [name for name in served if name in names]


@click.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
@click.option(
    "--queues",
    default=None,
    help="Comma-separated queues to serve (default: all; notify first, media last).",
)
@click.option(
    "--pool",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Worker processes, each running one job at a time.",
)
@click.option("--fork", is_flag=True, help="Fork a work horse for each job (slower).")
def worker(burst: bool, queues: str | None, pool: int, fork: bool) -> None:
    """Run an RQ worker for the app's queues (needs REDIS_URL)."""
    url = current_app.config.get("REDIS_URL")
    if not url:
        raise click.ClickException("REDIS_URL is not set: jobs already run in-process")
    names = _queue_names(queues)
    # Load once here what every job needs (twilio's message modules), so jobs
    # start warm instead of paying for it.
    current_app.extensions["twilio"].client.messages  # noqa: B018 - imports modules
    db.engine.dispose()
    # A forked process (a pool's worker, a work horse, RQ's scheduler) must never
    # share the parent's database connections; without fork, jobs share the
    # worker's pool, one connection at a time, each job in its own session.
    os.register_at_fork(after_in_child=lambda: db.engine.dispose(close=False))
    worker_class = ForkingWorker if fork else AppWorker
    connection = Redis.from_url(url, socket_connect_timeout=2, health_check_interval=30)
    if pool > 1:
        workers = WorkerPool(
            names, connection=connection, num_workers=pool, worker_class=worker_class
        )
        workers.start(burst=burst)
        return
    _work_through_outages(lambda: worker_class(names, connection=connection), burst)


def _work_through_outages(make_worker, burst: bool) -> None:
    """Run a worker; when Redis goes away and RQ's loop gives up, wait with
    back-off and start a new one, until asked to stop (SIGTERM) or, in burst
    mode, done. RQ's worker survives an outage only while it waits for a job:
    one met mid-job, mid-heartbeat or mid-maintenance ends work()."""
    failures = 0
    worker = None
    while True:
        try:
            # Making one may ask Redis too (still down after the back-off).
            worker = make_worker()
            worker.work(burst=burst, with_scheduler=True)
        except StopRequested:
            return
        except RedisError:
            pass  # its teardown met the outage too
        if worker is not None and (
            burst or worker._shutdown_requested_date is not None
        ):
            return
        failures += 1
        try:
            time.sleep(_backing_off("worker", failures))
        except StopRequested:
            return
        if worker is not None and _redis_up(worker.connection):
            failures = 0


def _redis_up(connection: Redis) -> bool:
    try:
        return bool(connection.ping())
    except RedisError:
        return False


@click.command("simulate-call")
@click.option(
    "--from", "from_", required=True, help="The caller's number (any format)."
)
@click.option("--to", default=None, help="The line called (default: the first line).")
@click.option(
    "--press", default=None, help="Keys, one group per menu: 1,1 or 2,12345678"
)
@click.option(
    "--say", multiple=True, help="Words said at the first menus (repeatable)."
)
@click.option(
    "--url",
    default=None,
    help="A running app to call (default: an in-process client on the same database).",
)
def simulate_call(
    from_: str, to: str | None, press: str | None, say: tuple[str, ...], url: str | None
) -> None:
    """Play a whole call through the IVR without Twilio; print what the caller hears."""
    app: Flask = current_app._get_current_object()
    lines = app.extensions["lines"]
    to_number = to or lines.lines[0].number
    public = app.config.get("PUBLIC_BASE_URL")
    transport = HttpTransport(url) if url else InProcessTransport(app)
    base = public or (url.rstrip("/") if url else "http://localhost")
    simulator = CallSimulator(
        transport,
        app.config["TWILIO_AUTH_TOKEN"],
        base,
        from_,
        to_number,
        parse_inputs(press, say),
        account_sid=app.config.get("TWILIO_ACCOUNT_SID") or "AC" + "0" * 32,
        echo=click.echo,
    )
    heard = simulator.run()
    if heard.reference:
        click.echo(f"Ticket: GET /api/tickets/{heard.reference}")
    sys.stdout.flush()


services = AppGroup("services", help="The centre's services (focal points).")


@services.command("create")
@click.argument("key")
@click.argument("name")
def create_service(key: str, name: str) -> None:
    """Add a service, such as `pensions "Direction des pensions"`."""
    try:
        staff.create_service(key, name)
    except Refused as refused:
        if refused.code == "service_taken":
            raise click.ClickException(refused.message) from None
        raise click.BadParameter(
            refused.message, param_hint=refused.field.upper()
        ) from None
    db.session.commit()
    click.echo(f"created service {key}")


@services.command("join")
@click.argument("email")
@click.argument("key")
def join_service(email: str, key: str) -> None:
    """Make a staff member part of a service: they see its tickets."""
    user = _user(email)
    service = _service(key)
    if service not in user.services:
        user.services.append(service)
    db.session.commit()
    click.echo(f"{user.email} is in {', '.join(s.key for s in user.services)}")


def _service(key: str) -> Service:
    service = db.session.scalar(select(Service).filter_by(key=key))
    if service is None:
        raise click.ClickException(f"no service {key}")
    return service


@services.command("focal-point")
@click.argument("key")
@click.option("--name", required=True, help="As the history will name them.")
@click.option("--phone", default=None, help="Any format; stored as E.164.")
@click.option("--email", default=None)
@click.option(
    "--head/--not-head",
    default=None,
    help="The service's head, told of escalations (an update keeps it if not given).",
)
@click.option("--remove", is_flag=True, help="Remove them and kill their links.")
def focal_point(
    key: str,
    name: str,
    phone: str | None,
    email: str | None,
    head: bool | None,
    remove: bool,
) -> None:
    """Add, update (same name) or remove a focal point of service KEY (§8.3)."""
    service = _service(key)
    try:
        if remove:
            name = focal_points.clean_name(name)
            found = focal_points.focal_point_named(service, name)
            if found is None or found.removed_at is not None:
                raise click.ClickException(f"no focal point {name} in {key}")
            revoked = focal_points.remove_focal_point(found)
            db.session.commit()
            click.echo(f"removed {name} from {key} ({revoked} link(s) revoked)")
            return
        saved, created = focal_points.submit_focal_point(
            service, name, phone, email, head
        )
    except Refused as refused:
        if refused.code == "contact_missing":
            raise click.UsageError("give a --phone or an --email (or both)") from None
        raise click.BadParameter(
            refused.message, param_hint=f"--{refused.field}"
        ) from None
    db.session.commit()
    click.echo(f"{'added' if created else 'updated'} {_describe(saved)} in {key}")


def _describe(focal_point: FocalPoint) -> str:
    contacts = ", ".join(c for c in (focal_point.phone_e164, focal_point.email) if c)
    head = " [head]" if focal_point.head else ""
    return f"{focal_point.name}{head} ({contacts})"


@services.command("focal-points")
@click.argument("key")
def list_focal_points(key: str) -> None:
    """List the focal points of service KEY (removed ones are left out)."""
    service = _service(key)
    found = focal_points.active_focal_points(service.id)
    for one in found:
        click.echo(_describe(one))
    if not found:
        click.echo(f"no focal point in {key}", err=True)


@users.command("lines")
@click.argument("email")
@click.argument("numbers", nargs=-1)
def agent_lines_command(email: str, numbers: tuple[str, ...]) -> None:
    """The lines an agent answers (none given: every line)."""
    user = _user(email)
    lines = current_app.extensions["lines"]
    chosen = []
    for number in numbers:
        e164 = to_e164(number, current_app.config["DEFAULT_REGION"])
        if e164 not in lines.by_number:
            raise click.BadParameter(f"{number} is not one of the centre's lines")
        chosen.append(e164)
    db.session.execute(delete(agent_lines).where(agent_lines.c.user_id == user.id))
    for number in chosen:
        db.session.execute(agent_lines.insert().values(user_id=user.id, line=number))
    db.session.commit()
    click.echo(f"{user.email} answers {', '.join(chosen) or 'every line'}")


sms = AppGroup("sms", help="SMS follow-ups.")


@sms.command("flush")
def flush_sms() -> None:
    """Hand over every message still waiting (Redis was down, quiet hours ended)."""
    handed = flush_outbox(older_than=timedelta(0))
    click.echo(f"handed {handed} waiting message(s) to the jobs")


@click.command("cron")
@click.option("--interval", default=60, show_default=True, help="Seconds between runs.")
def cron(interval: int) -> None:
    """Run RQ's cron scheduler: flush the SMS outbox each minute (needs REDIS_URL)."""
    url = current_app.config.get("REDIS_URL")
    if not url:
        raise click.ClickException("REDIS_URL is not set: run `sms flush` instead")
    connection = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=10)
    failures = 0
    # RQ's cron scheduler ends on the first Redis error: a new one takes over
    # once Redis answers again, until SIGTERM.
    while True:
        scheduler = CronScheduler(connection=connection)
        scheduler.register(flush_outbox, queue_name="notify", interval=interval)
        # Feature packages add theirs (recordings: fetches lost while Redis was down).
        for job, queue_name in current_app.extensions.get("periodic_jobs", []):
            scheduler.register(job, queue_name=queue_name, interval=interval)
        try:
            scheduler.start()
            return  # stopped on request
        except RedisError:
            failures += 1
        try:
            time.sleep(_backing_off("cron", failures))
        except StopRequested:
            return
        if _redis_up(connection):
            failures = 0


spool = AppGroup("spool", help="Callbacks kept on disk during a database outage.")


@spool.command("replay")
def replay_spool() -> None:
    """Feed callbacks and texts spooled during a database outage to the app again.

    Exits 1 while some still wait for the database or were moved to failed/.
    """
    report = replay(current_app._get_current_object())
    click.echo(
        f"replayed {report.replayed} callback(s), {report.waiting} still failing"
        f" (database unavailable), {report.failed} moved to failed/"
    )
    if report.failed:
        click.echo(
            f"see {failed_dir(current_app)} for each one's error; they are not retried",
            err=True,
        )
    if report.waiting or report.failed:
        sys.exit(1)


privacy = AppGroup("privacy", help="Personal data: access, erasure (CONTRACT §11).")


def _person_key(who: str) -> str:
    """A phone number in E.164, or an e-mail address (anything with an "@",
    trimmed and lower-cased): someone who wrote and never gave a number."""
    if personal_data.is_address(who):
        return personal_data.as_address(who)
    number = to_e164(who, current_app.config["DEFAULT_REGION"])
    if number is None:
        raise click.BadParameter(
            "not a phone number nor an e-mail address", param_hint="PHONE_OR_EMAIL"
        )
    return number


def _operator() -> str:
    """Who runs the command, for the register: the system account's name."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no such user in a container: still on record
        return "cli"


@privacy.command("export")
@click.argument("who", metavar="PHONE_OR_EMAIL")
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, writable=True),
    required=True,
    help="The zip file to write.",
)
def privacy_export(who: str, out: str) -> None:
    """Write everything held about the person with PHONE_OR_EMAIL to a zip
    (access request)."""
    number = _person_key(who)
    # Written aside, then renamed: no half zip under the name, no file at all
    # for an unknown number; readable by its owner only (mkstemp), as it holds
    # personal data.
    folder = os.path.dirname(os.path.abspath(out))
    descriptor, partial = tempfile.mkstemp(dir=folder, prefix=".export-")
    try:
        with os.fdopen(descriptor, "wb") as target:
            personal_data.write_export(number, target)
        os.replace(partial, out)
    except personal_data.PrivacyError as error:
        raise click.ClickException(str(error)) from None
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    click.echo(f"wrote {out}")


@privacy.command("erase")
@click.argument("who", metavar="PHONE_OR_EMAIL")
@click.option("--reason", required=True, help="Why: the request, the decision.")
@click.option(
    "--actor", default=None, help="Who decided (default: the system account)."
)
def privacy_erase(who: str, reason: str, actor: str | None) -> None:
    """Erase the person with PHONE_OR_EMAIL; refused while a ticket of theirs is
    on hold."""
    number = _person_key(who)
    if not reason.strip():
        raise click.BadParameter(
            "give the reason of the erasure", param_hint="--reason"
        )
    try:
        erasure = personal_data.erase(number, reason.strip(), actor or _operator())
    except personal_data.PrivacyError as error:
        raise click.ClickException(str(error)) from None
    counts = erasure.counts or {}
    click.echo(
        f"erased as {erasure.subject}: {len(erasure.tickets or [])} ticket(s) kept"
        f" anonymised, {counts.get('recordings', 0)} recording(s),"
        f" {counts.get('messages', 0)} message(s),"
        f" {counts.get('attachments', 0)} attachment(s)"
    )
    failed = counts.get("twilio_failed") or []
    if failed:
        # Recorded in the register all the same: the rest of the erasure stands.
        click.echo(
            f"{len(failed)} recording(s) could not be deleted at Twilio, delete them"
            f" in its console: {', '.join(failed)}",
            err=True,
        )
        sys.exit(1)
    if counts.get("twilio_not_configured"):
        click.echo("Twilio is not configured: no copy there was deleted", err=True)


@privacy.command("register")
def privacy_register() -> None:
    """The erasure register: date, actor, subject, reason, tickets kept."""
    for erasure in personal_data.register():
        reason = " ".join(erasure.reason.split())
        click.echo(
            f"{erasure.at.isoformat(timespec='seconds')}  {erasure.actor}"
            f"  {erasure.subject}  {reason}  {len(erasure.tickets or [])} ticket(s)"
        )


def register_commands(app: Flask) -> None:
    app.cli.add_command(privacy)
    app.cli.add_command(spool)
    app.cli.add_command(sms)
    app.cli.add_command(services)
    app.cli.add_command(cron)
    app.cli.add_command(users)
    app.cli.add_command(seed_demo)
    app.cli.add_command(worker)
    app.cli.add_command(simulate_call)
