"""`flask db upgrade` builds exactly the schema the models describe.

Also home to the helpers the PostgreSQL and worker tests share: running the
`flask` command line in a subprocess, and a throw-away PostgreSQL schema.
"""

import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import Engine

import app.models  # noqa: F401 - registers every table on db.metadata
from app.extensions import db
from config import ROOT
from config.settings import Settings
from tests.conftest import service_required

FLASK = str(Path(sys.executable).with_name("flask"))
POSTGRES_URL = os.environ.get(
    "DATABASE_URL_TEST", "postgresql://postgres@127.0.0.1:5432/test"
)
# Every setting the app reads; the subprocesses get them empty unless given, so
# neither the developer's shell nor a `.env` file leaks into a test.
APP_SETTINGS = tuple(Settings.model_fields)
TABLES = {
    "api_tokens",
    "callers",
    "calls",
    "erasures",
    "focal_links",
    "focal_points",
    "messages",
    "recordings",
    "sla_alerts",
    "ticket_calls",
    "ticket_events",
    "tickets",
    "users",
}


def flask_env(instance: Path, **settings: str) -> dict[str, str]:
    """The environment of a `flask --app wsgi` subprocess, its instance under tmp."""
    env = {key: value for key, value in os.environ.items() if key not in APP_SETTINGS}
    env.update(dict.fromkeys(APP_SETTINGS, ""))
    env.update(APP_ENV="production", ECOUTE_INSTANCE=str(instance), **settings)
    return env


def run_flask(
    *args: str, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run `flask --app wsgi ARGS`; fail the test with its output if it fails."""
    result = subprocess.run(
        [FLASK, "--app", "wsgi", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(
            f"flask {' '.join(args)} exited {result.returncode}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    return result


def postgres_reachable() -> bool:
    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def with_options(url: str, options: str) -> str:
    """`url` with a libpq `options` parameter (e.g. "-csearch_path=x")."""
    parts = urlsplit(url)
    query = "&".join(filter(None, [parts.query, f"options={quote(options)}"]))
    return urlunsplit(parts._replace(query=query))


@contextmanager
def postgres_schema(timezone: str | None = None) -> Iterator[str]:
    """A fresh, empty schema on the test database; yields a URL whose search_path
    is only that schema. Dropped afterwards, whatever it holds."""
    if not postgres_reachable():
        service_required("PostgreSQL")
    name = f"ecoute_test_{secrets.token_hex(6)}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {name}")
    options = f"-csearch_path={name}"
    if timezone:
        options += f" -ctimezone={timezone}"
    try:
        yield with_options(POSTGRES_URL, options)
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")


def sqlalchemy_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


@contextmanager
def engine_for(url: str) -> Iterator[Engine]:
    engine = create_engine(sqlalchemy_url(url))
    try:
        yield engine
    finally:
        engine.dispose()


def schema_differences(engine: Engine) -> list:
    """What autogenerate would write to turn this database into the models."""
    with engine.connect() as connection:
        return compare_metadata(MigrationContext.configure(connection), db.metadata)


def migrated_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory(str(ROOT / "migrations")).get_current_head()


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


@pytest.fixture(scope="module")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file `flask db upgrade` created from nothing (read-only for tests)."""
    folder = tmp_path_factory.mktemp("migrated")
    path = folder / "ecoute.sqlite3"
    run_flask("db", "upgrade", env=flask_env(folder, DATABASE_URL=sqlite_url(path)))
    return path


def test_upgrade_on_a_fresh_sqlite_file_matches_the_models(migrated_sqlite):
    with engine_for(sqlite_url(migrated_sqlite)) as engine:
        assert set(inspect(engine).get_table_names()) >= TABLES
        assert migrated_revision(engine) == head_revision()
        assert schema_differences(engine) == []


def test_downgrade_to_base_then_upgrade_again_on_sqlite(tmp_path, migrated_sqlite):
    path = tmp_path / "ecoute.sqlite3"
    shutil.copyfile(migrated_sqlite, path)
    env = flask_env(tmp_path, DATABASE_URL=sqlite_url(path))
    with engine_for(sqlite_url(path)) as engine:
        assert migrated_revision(engine) == head_revision()
    run_flask("db", "downgrade", "base", env=env)
    with engine_for(sqlite_url(path)) as engine:
        assert set(inspect(engine).get_table_names()) & TABLES == set()
        assert migrated_revision(engine) is None
    run_flask("db", "upgrade", env=env)
    with engine_for(sqlite_url(path)) as engine:
        assert migrated_revision(engine) == head_revision()
        assert schema_differences(engine) == []


def test_schema_comparison_notices_a_missing_table(tmp_path):
    # The comparisons here are only worth something if they can see a difference.
    with engine_for(sqlite_url(tmp_path / "models.sqlite3")) as engine:
        db.metadata.create_all(engine)
        assert schema_differences(engine) == []
        with engine.begin() as connection:
            connection.exec_driver_sql("DROP TABLE ticket_calls")
        differences = schema_differences(engine)
    assert [(d[0], d[1].name) for d in differences] == [
        ("add_table", "ticket_calls"),
        ("add_index", "ix_ticket_calls_call_id"),  # the table's own index
    ]


@pytest.mark.postgres
def test_upgrade_on_a_fresh_postgres_schema_matches_the_models(tmp_path):
    with postgres_schema() as url:
        run_flask("db", "upgrade", env=flask_env(tmp_path, DATABASE_URL=url))
        with engine_for(url) as engine:
            assert set(inspect(engine).get_table_names()) >= TABLES
            assert migrated_revision(engine) == head_revision()
            assert schema_differences(engine) == []
