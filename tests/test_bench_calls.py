"""bench/calls.py, run tiny: whole calls through gunicorn, Redis, workers and back.

Five callers with 0.1 s between steps, so the bench cannot rot unnoticed; the
figures themselves are not judged here, only that every step was answered as
its path expects and that every acknowledgment and recording arrived.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from config import ROOT
from tests.conftest import service_required
from tests.test_migrations import postgres_reachable

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

COMPLAINT_STEPS = {
    "/voice/incoming",
    "/voice/menu",
    "/voice/category",
    "/voice/voicemail",
    "/voice/recording",
    "/voice/status",
}


def run_bench(output: Path, *args: str) -> str:
    if not postgres_reachable():
        service_required("PostgreSQL")
    if shutil.which("redis-server") is None:
        service_required("redis-server")
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "calls.py"), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def test_five_callers_play_complaint_and_agent_calls_to_the_end(tmp_path):
    output = tmp_path / "calls.json"
    printed = run_bench(
        output,
        "--callers=5",
        "--agent-callers=3",
        "--agents=2",
        "--think-min=0.1",
        "--think-max=0.1",
        "--ramp=0.1",
        "--workers=1",
        "--threads=4",
        "--rq-workers=1",
        "--ack-timeout=120",
        f"--output={output}",
    )
    complaint, agent, bare = json.loads(output.read_text())["bursts"]
    for burst in (complaint, agent, bare):
        assert burst["non_2xx"] == {}, printed
        assert burst["unexpected"] == {}, printed
        assert burst["failures"] == {}, printed
    assert complaint["complete"] == 5
    assert set(complaint["webhooks"]) == COMPLAINT_STEPS
    assert {w["count"] for w in complaint["webhooks"].values()} == {5}
    assert complaint["acks"] == complaint["acks_expected"] == 5
    assert complaint["ack_seconds_after_burst"] is not None
    assert complaint["recordings_stored"] == complaint["recordings_expected"] == 5
    assert complaint["server_cpu_ms_per_webhook"] > 0
    assert agent["complete"] == 3
    assert "/voice/agent-status" in agent["webhooks"]
    assert bare["requests"] == 30
    assert "targets:" in printed


def test_profile_counts_what_each_step_costs(tmp_path):
    output = tmp_path / "profile.json"
    printed = run_bench(
        output,
        "--profile",
        "--profile-calls=2",
        "--profile-threads=4",
        f"--output={output}",
    )
    steps = json.loads(output.read_text())["steps"]
    assert set(steps) == COMPLAINT_STEPS
    assert steps["/voice/voicemail"]["statements"] > 0
    assert steps["/voice/voicemail"]["commits"] >= 1
    assert steps["/voice/voicemail"]["redis_round_trips"] > 0
    assert "/voice/voicemail: the SQL of one request" in printed
    assert "pyinstrument" in printed
    assert steps["/voice/incoming"]["threaded_pool_wait_max_ms"] >= 0
