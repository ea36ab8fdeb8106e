"""The softphone page listens again after /softphone/events answered 503
(the server could not reach Redis): EventSource alone would give up."""

import pytest
from playwright.sync_api import Route
from redis.exceptions import ConnectionError as RedisConnectionError

from tests import test_browser_softphone as softphone
from tests.browser import WAIT_MS, chromium, sign_in
from tests.conftest import CALLER

pytestmark = pytest.mark.browser

served = softphone.served  # the app under a real server, an agent, chromium


def test_the_page_listens_again_after_a_503(served, monkeypatch):
    broker = served.app.extensions["events"]
    subscribe, asked = broker.subscribe, []

    def down_at_first(channel: str):
        asked.append(channel)
        if len(asked) == 1:
            raise RedisConnectionError("Redis is down")
        return subscribe(channel)

    monkeypatch.setattr(broker, "subscribe", down_at_first)
    errors: list[str] = []
    with chromium() as browser:
        page = browser.new_page(locale="fr-FR")
        page.set_default_timeout(WAIT_MS)
        page.on("pageerror", lambda error: errors.append(str(error)))

        def stub(route: Route) -> None:
            route.fulfill(
                status=200,
                content_type="application/javascript",
                body=softphone.TWILIO_STUB,
            )

        page.route("**/softphone/vendor/twilio.min.js", stub)
        sign_in(page, served.url, served.agent)

        with page.expect_response("**/softphone/events") as refused:
            page.goto(f"{served.url}/softphone")
        assert refused.value.status == 503
        assert refused.value.headers["retry-after"]
        softphone.wait_until(lambda: len(asked) >= 2, "the page to ask again")
        page.wait_for_timeout(300)  # the second stream is open and subscribed
        softphone.push_screen_pop(served, "CA" + "e" * 32, CALLER)
        page.wait_for_function(
            "() => document.getElementById('pop-phone').textContent.trim() !== ''"
        )
        assert page.inner_text("#pop-phone").strip() == CALLER
    assert errors == []
