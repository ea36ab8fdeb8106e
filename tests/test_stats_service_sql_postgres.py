"""The statistics' figures on PostgreSQL: the same exact values as on SQLite
(the voicemail asked once per call, the grouped reading of the tickets)."""

import pytest

from tests import test_postgres as pg
from tests import test_stats_service_sql as sql_tests

pytestmark = pytest.mark.postgres

# The app on a migrated PostgreSQL schema; the SQLite tests' centre.
postgres_url = pg.postgres_url
app = pg.app
centre = sql_tests.centre

test_a_month_of_the_whole_centre = sql_tests.test_a_month_of_the_whole_centre
test_a_month_of_one_service = sql_tests.test_a_month_of_one_service
