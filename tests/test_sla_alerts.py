"""CONTRACT §8.3 on the clock: the reminder at 75% of a deadline, the escalation
ladder (the service's heads, then the supervisors), each sent once however often
`flask sla check` runs, and by two workers at once on PostgreSQL."""

import socket
import threading
from datetime import datetime, timedelta

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from app.extensions import db
from app.models import FocalPoint, Message, Role, Service, SlaAlert, Ticket
from app.services import sla_alerts
from tests import test_postgres
from tests.factories import make_token, make_user
from tests.test_journey_sla import BENIN, Clock, change, file


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock(monkeypatch)
    monkeypatch.setattr("app.services.sla_alerts.utcnow", lambda: clock.at)
    return clock


@pytest.fixture
def centre(app) -> dict:
    """A supervisor (whose token files the tickets), an agent, and a service
    with a head focal point reachable by phone."""
    chief = make_user("chef@example.org", Role.SUPERVISOR)
    agent = make_user("awa@example.org", Role.AGENT)
    pensions = Service(key="pensions", name="Pensions")
    db.session.add(pensions)
    db.session.flush()
    db.session.add_all(
        [
            FocalPoint(
                service_id=pensions.id,
                name="Mme Head",
                phone_e164="+2290196000001",
                head=True,
            ),
            FocalPoint(
                service_id=pensions.id, name="M. Desk", email="desk@example.org"
            ),
        ]
    )
    db.session.commit()
    return {
        "headers": {"Authorization": f"Bearer {make_token(chief)}"},
        "agent": agent,
    }


def notices(template: str | None = None) -> list[Message]:
    query = select(Message).where(Message.audience == "staff").order_by(Message.id)
    if template:
        query = query.where(Message.template == template)
    return list(db.session.scalars(query))


def history(ticket: dict, *actions: str) -> list[dict]:
    reference = ticket["reference"].replace("-", "")
    row = db.session.scalars(select(Ticket).filter_by(reference=reference))
    return [
        event.detail | {"action": event.action}
        for event in row.one().events
        if event.action in actions
    ]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_check(runner, times: int = 1) -> list[str]:
    outputs = []
    for _ in range(times):
        result = runner.invoke(args=["sla", "check"])
        assert result.exit_code == 0, result.output
        outputs.append(result.output.strip())
    return outputs


def test_the_person_in_charge_is_reminded_once_at_75_percent(
    client, runner, centre, clock
):
    # Monday 30 November, 09:00: the answer is due in 10 business days of
    # 9.5 h, Monday 14 December 09:00; 75% of it is Wednesday 9, 13:45.
    ticket = file(client, centre["headers"])
    change(client, centre["headers"], ticket, assignee="awa@example.org")
    clock.set(2026, 12, 9, 13, 30)
    assert run_check(runner) == ["0 reminder(s), 0 escalation(s) sent"]
    clock.set(2026, 12, 9, 14, 0)
    assert run_check(runner, 3) == [
        "1 reminder(s), 0 escalation(s) sent",
        "0 reminder(s), 0 escalation(s) sent",
        "0 reminder(s), 0 escalation(s) sent",
    ]
    [reminder] = notices()
    assert (reminder.template, reminder.channel, reminder.to_number) == (
        "reminder",
        "email",
        "awa@example.org",
    )
    assert ticket["reference"][:4] in reminder.subject
    assert "réponse" in reminder.body
    assert "14/12/2026 09:00" in reminder.body
    [event] = history(ticket, "sla_reminder")
    assert (event["deadline"], event["level"]) == ("resolve", 0)
    # A staff notice is not one of the citizen's messages.
    detail = client.get(
        f"/api/tickets/{ticket['reference']}", headers=centre["headers"]
    )
    assert all(m["body"] != reminder.body for m in detail.get_json()["messages"])


def test_a_late_ticket_climbs_the_ladder_once_each_step(client, runner, centre, clock):
    ticket = file(client, centre["headers"])  # Monday 09:00
    # Given to the pensions service but never taken in charge: still `new`.
    change(client, centre["headers"], ticket, service="pensions", status="new")
    clock.set(2026, 12, 1, 9, 30)  # Tuesday: the 1-day due has passed
    assert run_check(runner, 2)[0] == "0 reminder(s), 1 escalation(s) sent"
    [head] = notices("escalation_service")
    assert (head.channel, head.to_number) == ("sms", "+2290196000001")
    assert "en retard" in head.body
    # The desk focal point (not a head) is not told at level 1 (only sent
    # their link when the ticket came to the service).
    told = notices("escalation_service")
    assert not [m for m in told if m.to_number == "desk@example.org"]
    ticket_json = client.get(
        f"/api/tickets/{ticket['reference']}", headers=centre["headers"]
    ).get_json()
    assert ticket_json["escalation_level"] == 1

    # Half the deadline again later (4 h 45 of business time): the supervisors.
    clock.set(2026, 12, 1, 13, 40)
    assert run_check(runner) == ["0 reminder(s), 0 escalation(s) sent"]
    clock.set(2026, 12, 1, 13, 50)
    assert run_check(runner, 3)[0] == "0 reminder(s), 1 escalation(s) sent"
    [supervisor] = notices("escalation_centre")
    assert supervisor.to_number == "chef@example.org"
    levels = [event["level"] for event in history(ticket, "escalation")]
    assert levels == [1, 2]


def test_a_waiting_ticket_is_not_chased_and_its_moved_due_is_alerted_afresh(
    client, runner, centre, clock
):
    ticket = file(client, centre["headers"])  # Monday 09:00, resolve due in 10 days
    change(client, centre["headers"], ticket, status="in_progress")
    clock.set(2026, 12, 10, 9, 0)  # 80% of the 10 days: the answer's reminder
    assert run_check(runner)[0] == "1 reminder(s), 0 escalation(s) sent"
    change(client, centre["headers"], ticket, status="waiting")
    clock.set(2026, 12, 16, 9, 0)  # past the first due, but the clock is stopped
    assert run_check(runner)[0] == "0 reminder(s), 0 escalation(s) sent"
    resumed = change(client, centre["headers"], ticket, status="in_progress")
    # Two business days of pause: the due is two business days later, so no
    # escalation yet, and the reminder of the moved due goes once.
    assert datetime.fromisoformat(resumed["sla"]["resolve_due"]) > clock.at
    assert run_check(runner, 2)[0] == "1 reminder(s), 0 escalation(s) sent"
    assert len(history(ticket, "sla_reminder")) == 2


def test_nothing_is_sent_for_a_resolved_ticket(client, runner, centre, clock):
    ticket = file(client, centre["headers"])
    change(client, centre["headers"], ticket, resolution="Votre pension est payée.")
    clock.set(2027, 1, 30, 9, 0)
    assert run_check(runner)[0] == "0 reminder(s), 0 escalation(s) sent"
    assert notices() == []


def test_the_check_is_one_of_the_scheduled_jobs(app):
    jobs = [job for job, _queue in app.extensions["periodic_jobs"]]
    assert sla_alerts.check in jobs


def test_a_notice_by_email_goes_through_smtp(app, client, runner, centre, clock):
    received = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            received.append((envelope.rcpt_tos, envelope.content.decode()))
            return "250 OK"

    smtp = Controller(Handler(), hostname="127.0.0.1", port=free_port())
    smtp.start()
    try:
        app.config.update(
            MAIL_SMTP_URL=f"smtp://127.0.0.1:{smtp.port}",
            MAIL_FROM="centre@example.org",
        )
        ticket = file(client, centre["headers"])
        change(client, centre["headers"], ticket, assignee="awa@example.org")
        clock.set(2026, 12, 9, 14, 0)
        run_check(runner)
    finally:
        smtp.stop()
    [(to, content)] = received
    assert to == ["awa@example.org"]
    assert "Subject: Rappel: dossier" in content
    [reminder] = notices()
    assert reminder.status == "sent"
    assert reminder.message_sid.startswith("<")


# Two workers at once, on PostgreSQL where they really are concurrent.
postgres_url = test_postgres.postgres_url
pg_app = test_postgres.app


@pytest.mark.postgres
def test_two_workers_at_once_send_each_alert_once(pg_app):
    chief = make_user("chef@example.org", Role.SUPERVISOR)
    assert chief.id
    start = datetime(2026, 11, 30, 9, 0, tzinfo=BENIN)
    # Twenty tickets whose taking in charge was due a week ago: each has
    # reached level 2 (the supervisors).
    for number in range(20):
        db.session.add(
            Ticket(
                reference=f"{number:08d}",
                status="new",
                sla_plan="default",
                created_at=start,
                take_charge_due=start + timedelta(days=1),
                resolve_due=start + timedelta(days=14),
            )
        )
    db.session.commit()
    now = start + timedelta(days=7)
    barrier = threading.Barrier(2)
    outcomes: list = [None, None]

    def worker(index: int) -> None:
        try:
            with pg_app.app_context():
                barrier.wait(timeout=10)
                outcomes[index] = sla_alerts.check(now)
        except BaseException as error:  # reported below, not lost in the thread
            outcomes[index] = error

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert all(isinstance(outcome, dict) for outcome in outcomes), outcomes
    assert sum(outcome["escalations"] for outcome in outcomes) == 20
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(SlaAlert)) == 20
    sent = db.session.scalar(
        select(func.count()).select_from(Message).where(Message.audience == "staff")
    )
    assert sent == 20  # one supervisor, one e-mail per ticket
