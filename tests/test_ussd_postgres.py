"""USSD on PostgreSQL: the same step posted at the same instant files one ticket."""

import threading

import pytest
from flask import Flask
from sqlalchemy import event, func, select
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import Caller, ChannelReceipt, Message, Ticket
from app.references import format_reference
from tests import test_postgres as pg
from tests import test_ussd as ussd_tests
from tests.conftest import CALLER

pytestmark = pytest.mark.postgres

# The app on a migrated PostgreSQL schema, and the SQLite tests' session poster.
postgres_url = pg.postgres_url
app = pg.app
ussd = ussd_tests.ussd

# Sessions and the status look-up, as on SQLite.
test_a_session_files_a_request_step_by_step = (
    ussd_tests.test_a_session_files_a_request_step_by_step
)
test_a_repeated_step_files_one_ticket_and_answers_it_again = (
    ussd_tests.test_a_repeated_step_files_one_ticket_and_answers_it_again
)
test_another_number_of_the_same_person_hears_it_too = (
    ussd_tests.test_another_number_of_the_same_person_hears_it_too
)

THREADS = 8
FORM = {
    "sessionId": "ATUid_race",
    "serviceCode": "*384*1234#",
    "phoneNumber": CALLER,
    "networkCode": "61602",
    "text": "2*1*1",
}


def post_concurrently(
    app: Flask, threads: int
) -> list[tuple[int, str] | BaseException]:
    """POST the same step from `threads` threads at once; (status, body) of each."""
    start = threading.Barrier(threads)
    outcomes: list[tuple[int, str] | BaseException] = [
        RuntimeError("not run")
    ] * threads

    def deliver(index: int) -> None:
        try:
            with app.app_context():
                client = app.test_client()
                start.wait(timeout=10)
                response = client.post(f"/ussd?key={ussd_tests.SECRET}", data=FORM)
                outcomes[index] = (
                    response.status_code,
                    response.get_data(as_text=True),
                )
        except BaseException as error:  # reported by the test, not lost in a thread
            outcomes[index] = error

    workers = [
        threading.Thread(target=deliver, args=(i,), name=f"ussd-{i}")
        for i in range(threads)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    assert not any(worker.is_alive() for worker in workers), "a post hung"
    return outcomes


def test_the_same_step_posted_at_once_files_one_ticket(app, sms):
    collisions: list[str] = []

    def count_collisions(context) -> None:
        if isinstance(context.sqlalchemy_exception, IntegrityError):
            collisions.append(context.statement.split()[2])

    event.listen(db.engine, "handle_error", count_collisions)
    try:
        outcomes = post_concurrently(app, THREADS)
    finally:
        event.remove(db.engine, "handle_error", count_collisions)

    db.session.expire_all()
    ticket = db.session.scalars(select(Ticket)).one()
    reference = format_reference(ticket.reference)
    expected = (
        f"END Demande enregistrée sous la référence {reference}. "
        "Vous la recevez par SMS."
    )
    assert outcomes == [(200, expected)] * THREADS
    # The posts did overlap: the losers hit the receipt's unique key and recovered.
    assert collisions, "no post collided: the race was not exercised"
    assert set(collisions) == {"channel_receipts"}
    receipt = db.session.scalars(select(ChannelReceipt)).one()
    assert (receipt.key, receipt.ticket_id) == ("ussd:ATUid_race", ticket.id)
    assert (ticket.channel, ticket.category) == ("ussd", "service")
    assert db.session.scalar(select(func.count(Caller.id))) == 1
    assert db.session.scalar(select(func.count(Message.id))) == len(sms.sent) == 1
