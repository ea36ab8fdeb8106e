"""Sign-in throttle: bounded guesses, one answer for every failure, no lock-out."""

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from app.auth import views
from app.extensions import db
from app.models import Role
from tests.factories import PASSWORD, make_user
from tests.test_migrations import flask_env, run_flask
from tests.test_rq_worker import private_redis_db
from tests.test_screenpop_redis import start_gunicorn, stop_gunicorn

FAILED = "trop d&#39;essais"  # the one French answer to every failure


def attempt(client, email: str, password: str, address: str = "10.0.0.1"):
    return client.post(
        "/login",
        data={"email": email, "password": password},
        environ_base={"REMOTE_ADDR": address},
    )


def signed_in(response) -> bool:
    return response.status_code == 302


def test_thirty_wrong_guesses_then_the_right_one_is_still_refused(client):
    user = make_user()
    for _ in range(30):
        assert not signed_in(attempt(client, user.email, "wrong"))
    assert not signed_in(attempt(client, user.email, PASSWORD))


def test_only_five_passwords_a_minute_are_checked_per_account_and_address(
    client, monkeypatch
):
    user = make_user()
    checked = []
    original = type(user).check_password
    monkeypatch.setattr(
        type(user),
        "check_password",
        lambda self, password: checked.append(password) or original(self, password),
    )
    for _ in range(100):
        attempt(client, user.email, "wrong")
    assert len(checked) == 5


def test_the_right_password_from_another_address_still_works(client):
    user = make_user()
    for _ in range(30):
        attempt(client, user.email, "wrong", "10.0.0.66")
    assert signed_in(attempt(client, user.email, PASSWORD, "10.0.0.7"))


def test_an_address_is_slowed_whatever_account_it_tries(client):
    user = make_user()
    for number in range(20):
        attempt(client, f"nobody{number}@example.org", "wrong", "10.0.0.66")
    assert not signed_in(attempt(client, user.email, PASSWORD, "10.0.0.66"))
    assert signed_in(attempt(client, user.email, PASSWORD, "10.0.0.8"))


def test_strangers_on_many_addresses_cannot_keep_a_known_browser_out(app):
    user = make_user()
    agent = app.test_client()
    assert signed_in(attempt(agent, user.email, PASSWORD, "10.0.1.1"))
    agent.post("/logout")  # CSRF is off in tests: a plain POST signs out
    assert agent.get("/").status_code == 302
    stranger = app.test_client()
    for address in range(12):  # 60 guesses: past the account's 50 an hour
        for _ in range(5):
            attempt(stranger, user.email, "wrong", f"10.0.2.{address}")
    # A browser that never signed in to this account waits for the hour…
    assert not signed_in(attempt(app.test_client(), user.email, PASSWORD, "10.0.3.1"))
    # …but the agent's own browser, from a fresh address, gets in at once.
    assert signed_in(attempt(agent, user.email, PASSWORD, "10.0.3.2"))


def flash_of(response) -> tuple[int, str]:
    page = response.get_data(as_text=True)
    assert FAILED in page, page
    # The page minus the e-mail echoed in the form is the same for every failure.
    return response.status_code, re.sub(r'value="[^"]*"', "", page)


def test_every_failure_gets_the_same_answer(client, monkeypatch):
    known = make_user("known@example.org")
    disabled = make_user("disabled@example.org")
    disabled.active = False
    db.session.commit()
    hashes = []
    real = views.check_password_hash
    monkeypatch.setattr(
        views,
        "check_password_hash",
        lambda stored, password: hashes.append(stored) or real(stored, password),
    )
    wrong = flash_of(attempt(client, known.email, "wrong", "10.0.0.1"))
    unknown = flash_of(attempt(client, "ghost@example.org", "wrong", "10.0.0.2"))
    assert hashes == [views._dummy_hash()]  # the unknown account cost a hash too
    inactive = flash_of(attempt(client, disabled.email, PASSWORD, "10.0.0.3"))
    for number in range(20):  # the address's limit, on accounts nobody has
        attempt(client, f"ghost{number}@example.org", PASSWORD, "10.0.0.4")
    throttled = flash_of(attempt(client, known.email, PASSWORD, "10.0.0.4"))
    for _ in range(5):  # the account's limit at this address
        attempt(client, known.email, "wrong", "10.0.0.5")
    throttled_known = flash_of(attempt(client, known.email, PASSWORD, "10.0.0.5"))
    assert wrong == unknown == inactive == throttled == throttled_known
    assert wrong[0] == 200


def test_a_disabled_account_cannot_sign_in_with_its_password(client):
    user = make_user(role=Role.SUPERVISOR)
    user.active = False
    db.session.commit()
    assert not signed_in(attempt(client, user.email, PASSWORD))


# --- the real thing: parallel requests to gunicorn, counts in Redis ------------------

GUESSES = 100


@pytest.mark.redis
def test_parallel_sign_ins_through_gunicorn_are_bounded(tmp_path: Path):
    """100 parallel sign-ins with the right password over 2 processes: 5 get in."""
    database = f"sqlite:///{tmp_path / 'ecoute.sqlite3'}"
    with private_redis_db() as redis_url:
        env = flask_env(
            tmp_path / "instance",
            DATABASE_URL=database,
            REDIS_URL=redis_url,
            TWILIO_AUTH_TOKEN="throttle-test-token",
        )
        run_flask("db", "upgrade", env=env)
        email = "agent@example.org"
        run_flask(
            "users", "create", email, "--role", "agent", "--password", PASSWORD,
            env=env,
        )  # fmt: skip
        try:
            server = start_gunicorn(tmp_path, env, workers=2, threads=8)
        except RuntimeError as error:
            pytest.fail(str(error))
        try:
            page = requests.get(server.url + "/login", timeout=10)
            token = re.search(
                r'name="csrf_token" type="hidden" value="([^"]+)"', page.text
            )
            # Sent by hand: the production cookie is Secure, and this is plain http.
            cookie = f"session={page.cookies['session']}"

            def sign_in(_: int) -> int:
                return requests.post(
                    server.url + "/login",
                    data={"email": email, "password": PASSWORD, "csrf_token": token[1]},
                    headers={"Cookie": cookie, "Connection": "close"},
                    allow_redirects=False,
                    timeout=30,
                ).status_code

            with ThreadPoolExecutor(16) as pool:
                statuses = list(pool.map(sign_in, range(GUESSES)))
        finally:
            stop_gunicorn(server)
    assert statuses.count(302) == 5, statuses
    assert statuses.count(200) == GUESSES - 5, statuses
