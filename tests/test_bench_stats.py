"""bench/stats.py still runs: a small fill, a few runs, the export through
gunicorn, its report and clean-up."""

import json
import secrets
import subprocess
import sys

import pytest

from config import ROOT
from tests.conftest import service_required
from tests.test_migrations import POSTGRES_URL, postgres_reachable

pytestmark = pytest.mark.postgres


def test_the_stats_bench_fills_measures_exports_and_drops_its_schema(tmp_path):
    if not postgres_reachable():
        service_required("PostgreSQL")
    schema = f"bench_stats_test_{secrets.token_hex(4)}"
    out = tmp_path / "stats.json"
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "stats.py"),
            "--tickets=3000",
            "--runs=2",
            "--export-rows=50,200",
            f"--schema={schema}",
            f"--database-url={POSTGRES_URL}",
            f"--out={out}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "filled in" in result.stdout
    assert f"schema {schema} dropped" in result.stdout
    figures = json.loads(out.read_text())
    names = [entry["name"].split(" (")[0] for entry in figures["stats"]]
    assert names == [
        "month",
        "month, service=service1",
        "month, line=+2290121300001",
        "year",
        "year, service=service1",
        "year, line=+2290121300001",
    ]
    for entry in figures["stats"]:
        assert entry["runs"] == 2
    # The seeded outcomes reach every figure: none is left empty.
    year = figures["sample_year"]
    assert year["calls"]["answered"] > 0
    assert year["calls"]["abandoned"] > 0
    assert year["calls"]["short_abandoned"] > 0
    assert year["calls"]["self_service"] > 0
    assert year["calls"]["voicemails"] > 0
    assert year["tickets"]["resolved"] > 0
    assert year["tickets"]["escalated"] > 0
    assert year["tickets"]["appeals"] > 0
    assert year["tickets"]["median_resolution_hours"] is not None
    assert year["satisfaction"]["answered"] > 0
    assert year["messages"]["sms"]["failed"] > 0
    assert all(found["scans"] for found in figures["explained_year"])
    exports = {(e["format"], e["target_rows"]): e for e in figures["exports"]}
    assert set(exports) == {("csv", 50), ("csv", 200), ("xlsx", 50), ("xlsx", 200)}
    assert exports["csv", 200]["rows"] >= 150
    assert exports["csv", 200]["peak_rss_mb"] > 0
    assert set(figures["export_peak_ratio_largest_to_smallest"]) == {"csv", "xlsx"}
