"""The live wallboard on PostgreSQL (a session in another time zone than the
centre's): the GROUP BY of the agents' states, the queues' oldest instant and
today's figures, as on SQLite."""

import pytest

from tests import test_postgres as pg
from tests import test_stats_wallboard as wallboard_tests

pytestmark = pytest.mark.postgres

# The app on a migrated PostgreSQL schema; the SQLite tests' supervisor.
postgres_url = pg.postgres_url
app = pg.app
supervisor = wallboard_tests.supervisor

test_two_callers_waiting_and_the_longest_wait = (
    wallboard_tests.test_two_callers_waiting_and_the_longest_wait
)
test_an_agent_on_a_call_for_90_seconds = (
    wallboard_tests.test_an_agent_on_a_call_for_90_seconds
)
test_agents_by_state = wallboard_tests.test_agents_by_state
test_agents_of_a_line = wallboard_tests.test_agents_of_a_line
test_todays_figures_of_the_centre = wallboard_tests.test_todays_figures_of_the_centre
test_tickets_created_is_ticket_figures_created = (
    wallboard_tests.test_tickets_created_is_ticket_figures_created
)
