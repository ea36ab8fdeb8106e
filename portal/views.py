"""The public pages (CONTRACT §9.1): GET /public, the request form and the
status look-up. No login, no script, French unless the address says ?lang=en.

The form and the look-up share one budget per address (portal/limits.py); the
look-up answers anyone who does not know the contact exactly as it answers an
unknown reference (portal/lookup.py).
"""

from email.utils import parseaddr

from flask import (
    Blueprint,
    Response,
    current_app,
    make_response,
    render_template,
    request,
)
from flask_babel import force_locale
from flask_limiter import RequestLimit

from app.lines import current_lines
from app.menus import category_choices
from app.phone import as_written
from app.services.followups import commit_and_dispatch
from portal.filing import WebRequest, file_request
from portal.forms import PublicRequestForm
from portal.hours import hours_in_words
from portal.language import in_page_language, lang_arg, page_language
from portal.limits import public_limit, retry_after
from portal.lookup import filed_ticket

bp = Blueprint("public", __name__, url_prefix="/public", template_folder="templates")

# How long a shared cache may keep GET /public: it changes with the lines file.
INDEX_MAX_AGE = 600
# Echoed input is cut: a look-up page never grows with what was sent.
ECHO = 64


def _too_many(limit: RequestLimit) -> Response:
    with force_locale(page_language()):
        response = make_response(
            render_template(
                "public/limited.html", lang=lang_arg(), minutes=_minutes(limit)
            ),
            429,
        )
    response.headers["Retry-After"] = str(retry_after(limit))
    response.headers["Cache-Control"] = "no-store"
    return response


def _minutes(limit: RequestLimit) -> int:
    # Nearest: the window's end is known to the second at best.
    return max(1, round(retry_after(limit) / 60))


def _region() -> str:
    return current_app.config["DEFAULT_REGION"]


def _no_store(response: Response) -> Response:
    # A form's CSRF token, a request's status: for this visitor only.
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("")
@in_page_language
def index() -> Response:
    region = _region()
    lines = [
        {
            "name": line.name,
            "number": line.number,
            "written": as_written(line.number, region),
            "hours": hours_in_words(line.hours),
        }
        for line in current_lines().lines
    ]
    response = make_response(
        render_template(
            "public/index.html",
            lines=lines,
            some_closed=any(line.hours for line in current_lines().lines),
            email=_centre_email(),
            lang=lang_arg(),
        )
    )
    # The same for everyone who asks by this address: no cookie, no user.
    response.headers["Cache-Control"] = f"public, max-age={INDEX_MAX_AGE}"
    return response


def _centre_email() -> str | None:
    """MAIL_FROM when it is an address mail can reach: the default, on
    localhost, is no address to give the public."""
    address = parseaddr(current_app.config.get("MAIL_FROM") or "")[1]
    domain = address.rpartition("@")[2]
    return address if "." in domain else None


def _categories() -> list[tuple[str, str]]:
    return category_choices(page_language())


def _form() -> PublicRequestForm:
    return PublicRequestForm(_region(), _categories())


def _form_page(form: PublicRequestForm, status: int = 200) -> Response:
    page = render_template("public/request.html", form=form, lang=lang_arg())
    return _no_store(make_response(page, status))


@bp.route("/request", methods=["GET", "POST"])
@public_limit(on_breach=_too_many, methods=["POST"])
@in_page_language
def request_form() -> Response:
    form = _form()
    if request.method == "GET":
        return _form_page(form)
    if not form.validate_on_submit():
        return _form_page(form, 400)
    ticket = file_request(
        WebRequest(
            category=form.category.data,
            description=form.description.data.strip(),
            phone=form.e164,
            email=form.clean_email,
            name=form.clean_name,
            language=page_language(),
        )
    )
    page = render_template(
        "public/filed.html",
        reference=ticket.display_reference,
        resolve_due=ticket.resolve_due,
        by_sms=ticket.caller is not None,
        email=ticket.contact_email,
        lang=lang_arg(),
    )
    commit_and_dispatch()
    return _no_store(make_response(page))


def _asked() -> bool:
    """A question is a contact given (even empty): a link with the reference
    alone (the one on the receipt) opens the form, filled in, and costs nothing."""
    return "contact" in request.args


@bp.get("/status")
@public_limit(on_breach=_too_many, exempt_when=lambda: not _asked())
@in_page_language
def status() -> Response:
    """The look-up form; with a question, its answer, or the one "not found"."""
    reference = request.args.get("reference", "")
    contact = request.args.get("contact", "")
    if not _asked():
        page = render_template(
            "public/status.html",
            ticket=None,
            asked=False,
            reference=reference[:ECHO],
            lang=lang_arg(),
        )
        return _no_store(make_response(page))
    ticket = filed_ticket(reference, contact, _region())
    page = render_template(
        "public/status.html",
        ticket=ticket,
        asked=True,
        reference=reference[:ECHO],
        contact=contact[:ECHO],
        lang=lang_arg(),
    )
    return _no_store(make_response(page, 200 if ticket else 404))
