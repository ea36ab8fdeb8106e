"""app.services.stats' figures, exactly, on a small centre: each call outcome and
each ticket count once, whatever the grouping or joining of the SQL that counts
them (a call with two voice messages is one voicemail; a withdrawn duplicate
and the next month's rows are none)."""

from datetime import UTC, date, datetime, timedelta

import pytest

from app.extensions import db
from app.models import Call, Message, Recording, Service, TicketEvent
from app.services import stats
from tests.factories import make_caller, make_ticket, sid

MARCH = (date(2026, 3, 1), date(2026, 3, 31))
LINE = "+2290121300000"
NOW = datetime(2026, 4, 1, 12, tzinfo=UTC)
AT = datetime(2026, 3, 10, 12, tzinfo=UTC)


def _call(minute: int, **fields) -> Call:
    call = Call(
        call_sid=sid("CA"),
        line=LINE,
        status="completed",
        started_at=AT + timedelta(minutes=minute),
        **fields,
    )
    db.session.add(call)
    db.session.flush()
    return call


def _waited(minute: int, wait: int, **fields) -> Call:
    started = AT + timedelta(minutes=minute)
    return _call(
        minute, intent="agent", wanted_agent_at=started, wait_seconds=wait, **fields
    )


@pytest.fixture
def centre(app):
    service = Service(key="water", name="Eau")
    db.session.add(service)
    db.session.flush()
    caller = make_caller()
    ended = AT + timedelta(hours=1)
    answered = [
        _waited(1, 10, answered_at=AT, talk_seconds=100, ended_at=ended),
        _waited(2, 30, answered_at=AT, talk_seconds=200, ended_at=ended),
    ]
    abandoned = _waited(3, 8, ended_at=ended)
    _waited(4, 2, ended_at=ended)  # a short abandon
    left_a_message = _waited(5, 8, ended_at=ended)
    _call(6, ended_at=ended)  # self-service: the menu was enough
    _waited(7, 40)  # still ringing: no outcome yet
    _call(8, direction="outbound-api", ended_at=ended)
    _call(60 * 24 * 30, ended_at=ended)  # April
    for _ in range(2):  # a second message of the same call counts once
        db.session.add(Recording(recording_sid=sid("RE"), call_id=left_a_message.id))

    water = {"service_id": service.id, "category": "pension", "channel": "phone"}
    closed = make_ticket(
        caller,
        created_at=AT,
        status="closed",
        resolved_at=AT + timedelta(hours=10),
        escalation_level=1,
        take_charge_met=True,
        resolve_met=True,
        **water,
    )
    resolved = make_ticket(
        caller,
        created_at=AT,
        status="resolved",
        channel="sms",
        appeal=True,
        resolved_at=AT + timedelta(hours=30),
        take_charge_met=False,
    )
    # New and past its take-charge deadline: decided, missed.
    make_ticket(
        caller,
        created_at=AT,
        status="new",
        take_charge_due=AT + timedelta(days=1),
        resolve_due=NOW + timedelta(days=1),
        **water,
    )
    make_ticket(caller, created_at=AT, status="new", withdrawn=True, **water)
    make_ticket(caller, created_at=NOW, status="new", **water)
    closed.calls.extend([answered[0], abandoned])

    for ticket, score in ((closed, 5), (resolved, 2)):
        for action, detail in (
            ("satisfaction_asked", {}),
            ("rating", {"score": score}),
        ):
            db.session.add(
                TicketEvent(
                    ticket_id=ticket.id,
                    actor="caller",
                    action=action,
                    at=AT + timedelta(days=1),
                    detail=detail,
                )
            )
    for ticket, channel, status, audience in (
        (closed, "sms", "delivered", "citizen"),
        (resolved, "sms", "failed", "citizen"),
        (resolved, "whatsapp", "read", "citizen"),
        (closed, "sms", "delivered", "staff"),
    ):
        db.session.add(
            Message(
                ticket_id=ticket.id,
                to_number=caller.phone_e164,
                body="x",
                channel=channel,
                status=status,
                audience=audience,
                created_at=AT,
            )
        )
    db.session.commit()
    return service


def test_a_month_of_the_whole_centre(centre):
    figures = stats.figures(stats.scope_for(*MARCH), NOW)
    assert figures["calls"] == {
        "offered": 7,
        "answered": 2,
        "abandoned": 1,
        "short_abandoned": 1,
        "self_service": 1,
        "voicemails": 1,
        "abandonment_rate": 0.3333,
        "asa_seconds": 20.0,
        "service_level": 0.25,  # 1 of the 4 who waited (short abandon aside)
        "aht_seconds": 150.0,
    }
    tickets = figures["tickets"]
    assert tickets["created"] == 3
    assert {k: v for k, v in tickets["by_channel"].items() if v} == {
        "phone": 2,
        "sms": 1,
    }
    assert tickets["by_category"] == {"pension": 2, "none": 1}
    assert tickets["by_service"] == {"water": 2, "none": 1}
    assert {k: v for k, v in tickets["by_status"].items() if v} == {
        "new": 1,
        "resolved": 1,
        "closed": 1,
    }
    assert tickets["resolved"] == 2
    assert tickets["median_resolution_hours"] == 20.0
    assert tickets["take_charge_met_rate"] == 0.3333
    assert tickets["resolve_met_rate"] == 1.0
    assert (tickets["escalated"], tickets["appeals"]) == (1, 1)
    assert tickets["backlog"] == {"0-2d": 0, "3-7d": 0, "8-30d": 1, "31d+": 0}
    assert figures["satisfaction"] == {
        "asked": 2,
        "answered": 2,
        "average": 3.5,
        "csat": 0.5,
    }
    assert figures["messages"] == {
        "sms": {"sent": 2, "delivered": 1, "failed": 1},
        "whatsapp": {"sent": 1, "delivered": 1, "failed": 0},
        "email": {"sent": 0, "delivered": 0, "failed": 0},
    }
    by_day = stats.calls_by_day(stats.scope_for(*MARCH))
    assert list(by_day) == [date(2026, 3, 10)]
    assert by_day[date(2026, 3, 10)] == figures["calls"]


def test_a_month_of_one_service(centre):
    figures = stats.figures(stats.scope_for(*MARCH, service_id=centre.id), NOW)
    assert (figures["calls"]["offered"], figures["calls"]["answered"]) == (2, 1)
    assert figures["calls"]["abandoned"] == 1
    assert figures["tickets"]["created"] == 2
    assert figures["tickets"]["by_service"] == {"water": 2}
    assert figures["satisfaction"] == {
        "asked": 1,
        "answered": 1,
        "average": 5.0,
        "csat": 1.0,
    }
    assert figures["messages"]["sms"] == {"sent": 1, "delivered": 1, "failed": 0}
