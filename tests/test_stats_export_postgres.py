"""The statistics exports on PostgreSQL (a session in another time zone than the
centre's): the same rows, the midnight boundary, the ratings' JSON and batches."""

import pytest

from tests import test_postgres as pg
from tests import test_stats_export as export_tests

pytestmark = pytest.mark.postgres

# The app on a migrated PostgreSQL schema; the SQLite tests' supervisor.
postgres_url = pg.postgres_url
app = pg.app
chief = export_tests.chief

test_a_ticket_row_has_machine_values = export_tests.test_a_ticket_row_has_machine_values
test_days_are_the_centres_from_midnight_to_midnight = (
    export_tests.test_days_are_the_centres_from_midnight_to_midnight
)
test_status_filter = export_tests.test_status_filter
test_xlsx_holds_the_same_rows = export_tests.test_xlsx_holds_the_same_rows
test_csv_is_streamed_in_keyset_batches = (
    export_tests.test_csv_is_streamed_in_keyset_batches
)
