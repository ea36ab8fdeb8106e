"""GET /api/stats on PostgreSQL (a migrated schema, a session in another time
zone than the centre's): the same exact figures as on SQLite, so the SQL of
app.services.stats_sql (seconds, the centre's day) says the same on both."""

import pytest

from tests import test_postgres as pg
from tests import test_stats_api as api_tests

pytestmark = pytest.mark.postgres

postgres_url = pg.postgres_url
app = pg.app
chief = api_tests.chief
clock = api_tests.clock
play = api_tests.play

test_no_calls_and_no_requests_give_zeros_and_null_rates = (
    api_tests.test_no_calls_and_no_requests_give_zeros_and_null_rates
)
test_a_day_of_calls_as_twilio_plays_them = (
    api_tests.test_a_day_of_calls_as_twilio_plays_them
)
test_an_abandon_in_3_seconds_is_short_and_the_threshold_is_a_setting = (
    api_tests.test_an_abandon_in_3_seconds_is_short_and_the_threshold_is_a_setting
)
test_a_request_waiting_for_the_citizen_over_a_weekend_is_not_late = (
    api_tests.test_a_request_waiting_for_the_citizen_over_a_weekend_is_not_late
)
test_days_end_at_the_centres_midnight_not_utcs = (
    api_tests.test_days_end_at_the_centres_midnight_not_utcs
)
test_the_day_series_group_by_the_centres_day = (
    api_tests.test_the_day_series_group_by_the_centres_day
)
test_texts_to_citizens_by_channel_and_outcome = (
    api_tests.test_texts_to_citizens_by_channel_and_outcome
)
test_a_service_sees_its_own_requests = api_tests.test_a_service_sees_its_own_requests
test_a_dial_answered_without_the_agents_leg_callback_is_answered = (
    api_tests.test_a_dial_answered_without_the_agents_leg_callback_is_answered
)
