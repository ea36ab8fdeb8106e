"""The work queue on PostgreSQL: its row-value keysets, FILTER counts, the
due's CASE and the centre's days, as on SQLite."""

import pytest

from tests import test_postgres as pg
from tests import test_work_queue as queue_tests

pytestmark = pytest.mark.postgres

# The app on a migrated PostgreSQL schema; the queue tests' people and tickets.
postgres_url = pg.postgres_url
app = pg.app
people = queue_tests.people
queue = queue_tests.queue

test_each_filter_narrows_the_list = queue_tests.test_each_filter_narrows_the_list
test_created_dates_are_the_centres_days = (
    queue_tests.test_created_dates_are_the_centres_days
)
test_the_orders = queue_tests.test_the_orders
test_pages_follow_a_cursor_and_say_where_they_are = (
    queue_tests.test_pages_follow_a_cursor_and_say_where_they_are
)
test_a_cursor_not_ours_is_refused_with_a_message = (
    queue_tests.test_a_cursor_not_ours_is_refused_with_a_message
)
test_bad_filter_values_get_a_message_not_a_500 = (
    queue_tests.test_bad_filter_values_get_a_message_not_a_500
)
test_an_agent_sees_only_their_services_whatever_the_filters = (
    queue_tests.test_an_agent_sees_only_their_services_whatever_the_filters
)
test_saved_views_are_presets_with_their_counts = (
    queue_tests.test_saved_views_are_presets_with_their_counts
)
test_the_export_is_the_current_view_in_words = (
    queue_tests.test_the_export_is_the_current_view_in_words
)
test_the_export_goes_page_by_page = queue_tests.test_the_export_goes_page_by_page
