"""A page form refused for its CSRF token, or for a session that ended, comes
back with what was typed, ready to send again.

Refused for CSRF (the page stayed open too long, the session cookie went): a
400 page rebuilds the posted fields as a form to the same address, with a fresh
token. Refused because nobody is signed in any more: the fields are kept in the
session across the sign-in, which then leads to that same rebuilt form.
Password fields are never echoed: they come back empty, to be typed again.
"""

from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, login_url, user_logged_in
from flask_wtf.csrf import CSRFError
from werkzeug.wrappers import Response

from app.api.errors import handle_http_error
from app.errors import is_page_request
from app.extensions import login_manager
from app.labels import label
from app.models.types import utcnow

bp = Blueprint("resend", __name__)

KEPT = "resend"  # the session key of a form kept across a sign-in
# Who last signed in with this browser: signing out leaves it, so a form
# typed by one agent is never shown to another who signs in after them.
TYPIST = "resend_typist"
# The session is a cookie, which browsers cap at 4 KB: what is kept across a
# sign-in is cut there (compressed, it fits), and the page says so.
KEPT_CHARACTERS = 2000
KEPT_FIELDS = 30  # a page's form has a handful; their names count too
KEPT_MINUTES = 30  # a form older than this is not offered to whoever signs in
NOT_ECHOED = ("csrf_token",)
# A value longer than this, or with a space, is text a person typed: shown.
SHORT = 40
# Names of the pages' text fields, as a person reads them.
LABELS = {
    "description": _l("Request"),
    "note": _l("Note"),
    "text": _l("Text"),
    "message": _l("Message"),
    "body": _l("Message"),
    "resolution": _l("Resolution"),
    "name": _l("Name"),
    "email": _l("E-mail"),
    "phone": _l("Phone"),
    "channel": _l("Channel"),
    "category": _l("Category"),
    "status": _l("Status"),
    "service": _l("Service"),
}
# Fields whose value is a stored word (app/labels.py): shown in words.
LABELLED = ("status", "priority", "channel", "category", "visibility", "kind")


@dataclass(frozen=True)
class Field:
    name: str
    value: str
    shown: bool  # a visible textarea; else a hidden input
    secret: bool = False  # a password: an empty box to type it again

    @property
    def words(self) -> str:
        """The value as a person reads it (a status in words, say)."""
        return label(self.value, self.name) if self.name in LABELLED else self.value

    @property
    def label(self) -> str:
        return str(LABELS.get(self.name, self.name.replace("_", " ").capitalize()))


def _secret(name: str) -> bool:
    return "password" in name.lower()


def posted_fields() -> list[Field]:
    fields: list[Field] = []
    secrets: set[str] = set()
    for name, value in request.form.items(multi=True):
        if name in NOT_ECHOED:
            continue
        if _secret(name):
            if name not in secrets:
                secrets.add(name)
                fields.append(Field(name, "", shown=True, secret=True))
            continue
        typed = len(value) > SHORT or any(c.isspace() for c in value.strip())
        fields.append(Field(name, value, shown=typed))
    return fields


def _same_site(address: str | None) -> str | None:
    """The path (and query) of `address` if it is on this site, else None."""
    if not address:
        return None
    parts = urlsplit(address)
    if parts.netloc and parts.netloc != request.host:
        return None
    path = parts.path
    # Browsers read `//host` and `/\host` as another site.
    if not path.startswith("/") or path.startswith("//") or "\\" in path:
        return None
    if not (path + parts.query).isprintable():
        return None
    return path + (f"?{parts.query}" if parts.query else "")


def _action() -> str:
    """The address the refused form was posted to: path and query, on this site."""
    query = request.query_string.decode("latin-1")
    return request.path + (f"?{query}" if query else "")


def _page(
    action: str, fields: list[Field], back: str | None, why: str, cut: bool = False
) -> str:
    template = "errors/_resend.html" if request.headers.get("HX-Request") else None
    return render_template(
        template or "errors/resend.html",
        action=action,
        fields=fields,
        back=back,
        why=why,
        cut=cut,
    )


def refused_form(error: CSRFError) -> Response | tuple[str, int, dict[str, str]]:
    if request.path.startswith("/api/"):
        return handle_http_error(error)
    if not is_page_request():
        return error  # type: ignore[return-value]  # a webhook's bare 400
    why = _(
        "This page had expired: for your safety a form is only accepted for a "
        "while after its page was shown. What you typed is below; check it and "
        "send it again."
    )
    back = _same_site(request.referrer)
    page = _page(_action(), posted_fields(), back, why)
    # htmx swaps no error by itself: these headers, with static/resend.js, put
    # the form in the page's main area rather than losing it.
    headers = {"HX-Retarget": "#main", "HX-Reswap": "innerHTML"}
    return page, 400, headers


def _keep() -> bool:
    """Keep the posted fields in the session; whether some text had to be cut."""
    left = KEPT_CHARACTERS
    kept = []
    cut = False
    for field in posted_fields()[:KEPT_FIELDS]:
        value = field.value[: max(left, 0)]
        cut = cut or len(value) < len(field.value)
        left -= len(value)
        kept.append([field.name, value, field.shown, field.secret])
    session[KEPT] = {
        "action": _action(),
        "back": _same_site(request.referrer),
        "fields": kept,
        "at": utcnow().timestamp(),
        "cut": cut,
        # None when nobody signed in with this session: the text was then on
        # the screen of whoever stands there already (a resend page).
        "typist": session.get(TYPIST),
    }
    return cut


def _sign_in_first() -> Response:
    """Flask-Login's answer when nobody is signed in: to the sign-in page, and
    for a page's form, back to what was typed once signed in."""
    if request.method == "POST" and is_page_request() and request.form:
        _keep()
        flash(
            _("Your session had ended. Sign in again: what you typed is kept."),
            "info",
        )
        return _to_sign_in(url_for("auth.login", next=url_for("resend.kept")))
    flash(_("Sign in to open this page."), "info")
    return _to_sign_in(login_url(login_manager.login_view, next_url=request.url))


def _to_sign_in(target: str) -> Response:
    if request.headers.get("HX-Request"):
        # htmx would follow a redirect and swap the sign-in page into a part
        # of this one: the whole page goes there instead.
        return Response(status=401, headers={"HX-Redirect": target})
    return redirect(target)


@bp.get("/resend")
@login_required
def kept() -> str | Response:
    """The form kept across the sign-in, to send again (once: it leaves the session)."""
    stored = session.pop(KEPT, None)
    fresh = stored and utcnow().timestamp() - stored["at"] < KEPT_MINUTES * 60
    typist = stored and stored.get("typist")
    if typist is not None and typist != current_user.get_id():
        fresh = False  # typed by someone else on this browser: not theirs to see
    if not fresh:
        flash(_("There is no form waiting to be sent again."), "info")
        return redirect(url_for("tickets.index"))
    fields = [Field(*row) for row in stored["fields"]]
    why = _(
        "Your session had ended before this form was sent. What you typed is "
        "below; check it and send it again."
    )
    return _page(stored["action"], fields, stored["back"], why, cut=stored["cut"])


def _note_typist(_app: Flask, user: object) -> None:
    session[TYPIST] = user.get_id()  # type: ignore[attr-defined]


def _install(app: Flask) -> None:
    app.register_error_handler(CSRFError, refused_form)
    login_manager.unauthorized_handler(_sign_in_first)
    user_logged_in.connect(_note_typist, app)


bp.record_once(lambda state: _install(state.app))
