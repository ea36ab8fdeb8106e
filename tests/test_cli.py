"""The command line of CONTRACT §5, through Flask's CLI runner."""

import re

from sqlalchemy import select

from app import demo
from app.extensions import db
from app.models import Role, Ticket, User
from tests.conftest import CALLER


def test_users_create_then_token_works_on_the_api(runner, client):
    result = runner.invoke(
        args=[
            "users",
            "create",
            "Awa@Example.org",
            "--role",
            "supervisor",
            "--password",
            "s3cret-pass",
        ]
    )
    assert result.exit_code == 0, result.output
    user = db.session.scalars(select(User)).one()
    assert (user.email, user.role) == ("awa@example.org", Role.SUPERVISOR)
    assert user.check_password("s3cret-pass")
    result = runner.invoke(args=["users", "token", "awa@example.org"])
    assert result.exit_code == 0
    token = result.stdout.strip().splitlines()[-1]
    response = client.get("/api/tickets", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


def test_users_create_refuses_bad_input(runner):
    bad_role = runner.invoke(
        args=["users", "create", "a@b.c", "--role", "boss", "--password", "longenough"]
    )
    assert bad_role.exit_code != 0
    short = runner.invoke(
        args=["users", "create", "a@b.c", "--role", "agent", "--password", "x"]
    )
    assert "at least 8" in short.output
    runner.invoke(
        args=["users", "create", "a@b.c", "--role", "agent", "--password", "longenough"]
    )
    twice = runner.invoke(
        args=["users", "create", "a@b.c", "--role", "agent", "--password", "longenough"]
    )
    assert "already exists" in twice.output
    assert runner.invoke(args=["users", "token", "ghost@b.c"]).exit_code != 0


def test_seed_demo_is_idempotent_and_prints_logins(runner):
    first = runner.invoke(args=["seed-demo"])
    runner.invoke(args=["seed-demo"])
    assert "agent@ecoute.local" in first.output
    assert len(db.session.scalars(select(User)).all()) == len(demo.USERS)


def test_simulate_call_ends_with_a_reference_and_a_ticket(runner, sms):
    result = runner.invoke(
        args=["simulate-call", "--from", "0197000000", "--press", "1,1"]
    )
    assert result.exit_code == 0, result.output
    assert "Votre numéro de dossier" in result.output
    shown = re.search(r"reference heard: (\d{4}-\d{4})", result.output).group(1)
    ticket = db.session.scalars(select(Ticket)).one()
    assert ticket.display_reference == shown
    assert ticket.phone == CALLER
    assert sms.sent[0]["to"] == CALLER


def test_simulate_call_with_speech_and_silence(runner):
    result = runner.invoke(
        args=[
            "simulate-call",
            "--from",
            "+33612345678",
            "--say",
            "information",
            "--press",
            "-,-,-",
        ]
    )
    assert result.exit_code == 0, result.output
    assert "lundi au vendredi" in result.output
    assert "pas entendu" in result.output
    assert "Aucun conseiller" in result.output  # three silences: handed on


def test_simulate_call_follow_up_by_reference(runner):
    first = runner.invoke(
        args=["simulate-call", "--from", "0197000000", "--press", "1,2"]
    )
    shown = re.search(r"reference heard: (\d{4}-\d{4})", first.output).group(1)
    digits = shown.replace("-", "")
    result = runner.invoke(
        args=["simulate-call", "--from", "0197000000", "--press", f"2,{digits}#"]
    )
    assert "enregistré" in result.output
    assert len(db.session.scalars(select(Ticket)).one().calls) == 2


def test_worker_without_redis_says_so(runner):
    result = runner.invoke(args=["worker", "--burst"])
    assert result.exit_code != 0
    assert "REDIS_URL is not set" in result.output


def test_services_and_agent_lines(runner):
    runner.invoke(
        args=[
            "users",
            "create",
            "awa@example.org",
            "--role",
            "agent",
            "--password",
            "longenough",
        ]
    )
    assert (
        "created service pensions"
        in runner.invoke(
            args=["services", "create", "pensions", "Direction des pensions"]
        ).output
    )
    assert runner.invoke(args=["services", "create", "Bad Key", "x"]).exit_code != 0
    assert (
        "awa@example.org is in pensions"
        in runner.invoke(
            args=["services", "join", "awa@example.org", "pensions"]
        ).output
    )
    assert (
        runner.invoke(args=["services", "join", "awa@example.org", "nope"]).exit_code
        != 0
    )
    result = runner.invoke(args=["users", "lines", "awa@example.org", "0121300001"])
    assert "answers +2290121300001" in result.output
    assert (
        runner.invoke(
            args=["users", "lines", "awa@example.org", "+22900000000"]
        ).exit_code
        != 0
    )
    assert (
        "every line" in runner.invoke(args=["users", "lines", "awa@example.org"]).output
    )
