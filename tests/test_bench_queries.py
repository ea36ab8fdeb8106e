"""bench/queries.py still runs: a small fill, a few runs, its report and clean-up."""

import json
import secrets
import subprocess
import sys

import pytest

from config import ROOT
from tests.conftest import service_required
from tests.test_migrations import POSTGRES_URL, postgres_reachable

pytestmark = pytest.mark.postgres


def test_the_query_bench_fills_measures_explains_and_drops_its_schema(tmp_path):
    if not postgres_reachable():
        service_required("PostgreSQL")
    schema = f"bench_queries_test_{secrets.token_hex(4)}"
    out = tmp_path / "queries.json"
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "queries.py"),
            "--tickets=1000",
            "--runs=3",
            f"--schema={schema}",
            f"--database-url={POSTGRES_URL}",
            f"--out={out}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "filled in" in result.stdout
    assert f"schema {schema} dropped" in result.stdout
    figures = json.loads(out.read_text())
    names = [query["name"] for query in figures["queries"]]
    assert "caller history (screen-pop)" in names
    assert "list, deep page (keyset)" in names
    for query in figures["queries"]:
        assert query["runs"] >= 3
        assert query["scans"], query["name"]  # every query was explained
