"""Callers are people, on PostgreSQL: the same changes through the API, and two
staff joining the same people's numbers at the same instant."""

import threading

import pytest
from flask import Flask
from sqlalchemy import select

from app.extensions import db
from app.models import Caller, Role
from tests import test_callers_people as people_tests
from tests import test_postgres as pg
from tests.factories import make_caller, make_token, make_user

pytestmark = pytest.mark.postgres

# The app on a migrated PostgreSQL schema; the people tests' own staff.
postgres_url = pg.postgres_url
app = pg.app
pensions = people_tests.pensions
staff = people_tests.staff
boss = people_tests.boss

# The changes of numbers, as on SQLite.
test_joining_two_numbers_merges_their_histories = (
    people_tests.test_joining_two_numbers_merges_their_histories
)
test_a_root_that_moves_brings_its_numbers_and_fills_the_gaps = (
    people_tests.test_a_root_that_moves_brings_its_numbers_and_fills_the_gaps
)
test_leaving_out_the_profiles_number_keeps_the_profile_with_the_person = (
    people_tests.test_leaving_out_the_profiles_number_keeps_the_profile_with_the_person
)
test_an_agent_cannot_pull_in_a_number_of_someone_they_may_not_see = (
    people_tests.test_an_agent_cannot_pull_in_a_number_of_someone_they_may_not_see
)

ROUNDS = 6
A, B, C, D = (f"+22901970000{n}0" for n in range(4))


def test_two_staff_joining_the_same_people_at_once_leave_no_chain(app: Flask):
    """One pulls the other's person into hers while the other does the reverse:
    one change waits for the other (no deadlock, no 500), and every number
    still points straight at the number holding its profile."""
    for phone in (A, B, C, D):
        make_caller(phone)
    chief = make_user("chef@example.org", Role.SUPERVISOR)
    headers = {"Authorization": f"Bearer {make_token(chief)}"}
    client = app.test_client()
    for phones in ([A, B], [C, D]):
        response = client.patch(
            f"/api/callers/{phones[0]}", json={"phones": phones}, headers=headers
        )
        assert response.status_code == 200
    # Each writes its own numbers, then the other's: in opposite orders.
    changes = [(A, [A, B, C, D]), (C, [C, D, A, B])] * ROUNDS
    start = threading.Barrier(len(changes))
    outcomes: list[int | BaseException] = []

    def change(phone: str, phones: list[str]) -> None:
        try:
            with app.app_context():
                start.wait(timeout=10)
                response = app.test_client().patch(
                    f"/api/callers/{phone}", json={"phones": phones}, headers=headers
                )
                outcomes.append(response.status_code)
        except BaseException as error:  # reported by the test, not lost in a thread
            outcomes.append(error)

    workers = [threading.Thread(target=change, args=pair) for pair in changes]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert not any(worker.is_alive() for worker in workers), "a change hung"
    assert outcomes == [200] * len(changes)
    db.session.expire_all()
    callers = {row.id: row for row in db.session.scalars(select(Caller))}
    roots = [row for row in callers.values() if row.person_id is None]
    assert len(roots) == 1  # the four numbers are one person, whoever won
    for row in callers.values():
        if row.person_id is not None:
            assert callers[row.person_id].person_id is None, "a chain"
