"""What every staff page stands on: htmx served locally, the language switch
that keeps the page and its filters, human words for stored values, the
centre's time."""

import re
from datetime import UTC, datetime

from app.labels import label, local_time
from app.models import Role
from config import ROOT
from tests.factories import make_user
from tests.test_recordings_pages import login


def test_htmx_is_served_by_the_app_and_nothing_else_is(client):
    served = client.get("/static/vendor/htmx.js")
    assert served.status_code == 200
    assert served.mimetype == "text/javascript"
    assert b"htmx" in served.data[:2000]
    served.close()
    assert client.get("/static/vendor/evil.js").status_code == 404
    assert client.get("/static/vendor/..%2Fpackage.json").status_code == 404


def test_the_language_switch_keeps_the_page_and_its_filters(client):
    login(client, make_user("chef@example.org", Role.SUPERVISOR))
    page = client.get("/?q=0197000000&mine=1&lang=fr").get_data(as_text=True)
    assert 'href="/?q=0197000000&amp;mine=1&amp;lang=en"' in page
    assert 'href="#main"' in page  # the skip link
    assert page.count("<h1") == 1


def test_stored_values_read_as_words_and_unknown_ones_as_themselves(app):
    with app.test_request_context("/?lang=en"):
        assert label("in_progress", "status") == "In progress"
        assert label("counter", "channel") == "Counter"
        assert label("something_new", "action") == "something_new"
        assert label(None, "status") == "—"


def test_times_are_the_centres(app):
    assert app.config["CENTRE_TIMEZONE"] == "Africa/Porto-Novo"
    with app.test_request_context("/?lang=fr"):
        # Porto-Novo is UTC+1: half past midnight, the next day.
        shown = local_time(datetime(2026, 11, 30, 23, 30, tzinfo=UTC))
    assert shown == "01/12/2026 00:30"


def test_the_style_sheet_closes_every_block():
    # Parallel branches append to it (merged by union): a lost brace would
    # silently swallow every rule after it.
    depth = 0
    css = (ROOT / "app" / "static" / "ecoute.css").read_text()
    for number, line in enumerate(css.splitlines(), start=1):
        depth += line.count("{") - line.count("}")
        assert depth >= 0, f"ecoute.css:{number} closes a block never opened"
    assert depth == 0, "ecoute.css leaves a block open"


def test_the_french_catalogue_says_each_message_once():
    # Parallel branches append to it (merged by union): a msgid added twice
    # compiles, and the last translation silently wins.
    catalogue = ROOT / "app" / "translations" / "fr" / "LC_MESSAGES" / "messages.po"
    ids = re.findall(r'^msgid "(.+)"$', catalogue.read_text(), flags=re.M)
    repeated = sorted({msgid for msgid in ids if ids.count(msgid) > 1})
    assert repeated == []
