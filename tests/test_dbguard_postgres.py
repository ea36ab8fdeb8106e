"""The connection pool after a PostgreSQL restart, on a private server."""

import pytest
from sqlalchemy import create_engine, text

from tests.postgres_server import PostgresServer, postgres_server  # noqa: F401
from tests.test_migrations import sqlalchemy_url

pytestmark = pytest.mark.postgres


def test_the_first_query_after_a_restart_gets_a_live_connection(
    postgres_server: PostgresServer,  # noqa: F811
):
    engine = create_engine(sqlalchemy_url(postgres_server.url), pool_size=1)
    try:
        with engine.connect() as connection:
            before = connection.scalar(text("SELECT pg_backend_pid()"))
        # Well within the idle time that would make the pool ping anyway: only
        # the server's goodbye on the idle socket tells the connection is dead.
        postgres_server.stop()
        postgres_server.start()
        with engine.connect() as connection:
            after = connection.scalar(text("SELECT pg_backend_pid()"))
        assert after != before
    finally:
        engine.dispose()
