"""After sign-in, `next` only ever leads to a path on this site."""

import itertools
from urllib.parse import urljoin, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import PASSWORD, make_user

SITE = "https://ecoute.example/login"
TRICKS = [
    "//",
    "///",
    "////",
    "/\\",
    "\\\\",
    "\\/",
    "/\t/",
    "/\n/",
    "/\r/",
    " //",
    "\x00//",
    "https:",
    "http://",
    "https://evil.example",
    "javascript:",
    "%2F%2F",
    "/%2F",
    "/%5C",
    "/.//",
    "/ /",
]


def as_a_browser_reads_it(location: str) -> str:
    """Where a browser goes: it strips C0 controls and spaces at the ends, drops
    tabs and newlines inside, and reads a backslash as a slash (WHATWG URL)."""
    location = location.strip("".join(map(chr, range(33))))
    location = location.replace("\t", "").replace("\n", "").replace("\r", "")
    return urljoin(SITE, location.replace("\\", "/"))


_addresses = (
    f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}" for n in itertools.count(1)
)


@pytest.fixture
def user(app):
    return make_user()


@pytest.fixture
def browser(app):
    return app.test_client()


def sign_in_with_next(browser, email: str, target: str) -> str:
    response = browser.post(
        "/login",
        query_string={"next": target},
        data={"email": email, "password": PASSWORD},
        # A new address each time: the sign-in throttle counts per address (and
        # spares the account's own limit for this browser, which signed in).
        environ_base={"REMOTE_ADDR": next(_addresses)},
    )
    browser.post("/logout")  # CSRF is off in tests
    assert response.status_code == 302, response.get_data(as_text=True)
    return response.headers["Location"]


@pytest.mark.parametrize("target", [trick + "evil.example/x" for trick in TRICKS])
def test_known_tricks_stay_on_site(browser, user, target):
    location = sign_in_with_next(browser, user.email, target)
    assert urlsplit(as_a_browser_reads_it(location)).netloc == "ecoute.example"


def test_a_local_path_is_followed(browser, user):
    location = sign_in_with_next(browser, user.email, "/tickets/1234-5678?tab=calls")
    assert location == "/tickets/1234-5678?tab=calls"


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    target=st.one_of(
        st.text(),
        st.builds(
            lambda trick, rest: trick + rest,
            st.sampled_from(TRICKS),
            st.text(alphabet=st.characters(codec="utf-8"), max_size=30),
        ),
    )
)
def test_no_next_leads_off_site(browser, user, target):
    location = sign_in_with_next(browser, user.email, target)
    assert urlsplit(as_a_browser_reads_it(location)).netloc == "ecoute.example"
    assert location.startswith("/")
    assert not location.startswith(("//", "/\\"))
