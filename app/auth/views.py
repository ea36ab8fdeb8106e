"""Sign in and out."""

from functools import cache
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_limiter import RequestLimit
from flask_login import current_user, login_user, logout_user
from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash
from werkzeug.wrappers import Response

from app.auth import throttle
from app.auth.forms import LoginForm, LogoutForm
from app.extensions import db, login_manager
from app.models import User

bp = Blueprint("auth", __name__)
bp.record_once(lambda state: throttle.init_app(state.app))


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    return db.session.get(User, int(user_id)) if user_id.isdigit() else None


login_manager.login_view = "auth.login"


def _safe_next(target: str | None) -> str:
    """`target` if it is a path on this site, else the tickets page.

    An open redirect would let a phishing link borrow our login. Browsers read
    `//host`, `/\\host` and `/<tab>/host` as another site, and drop or fold
    control characters, so only a plain ASCII path passes: one slash, then
    anything but a slash or a backslash.
    """
    if (
        target
        and target.isascii()
        and target.isprintable()
        and " " not in target
        and "\\" not in target
        and target.startswith("/")
        and not target.startswith("//")
        and not urlsplit(target).scheme
        and not urlsplit(target).netloc
    ):
        return target
    return url_for("tickets.index")


@cache
def _dummy_hash() -> str:
    return generate_password_hash("no account has this password")


def _authenticated(email: str, password: str) -> User | None:
    """The active user with this e-mail and password, else None.

    A hash is verified whatever happens, a dummy one for an unknown e-mail, so an
    unknown, a disabled and a known account take the same time to refuse.
    """
    user = db.session.scalar(select(User).where(func.lower(User.email) == email))
    if user is None:
        check_password_hash(_dummy_hash(), password)
        return None
    if not user.check_password(password) or not user.active:
        return None
    return user


def _failed(form: LoginForm | None = None) -> str:
    # One answer for every failure (wrong password, unknown or disabled account,
    # too many attempts): nothing tells whether an account exists.
    flash(
        _(
            "Wrong e-mail or password, or too many attempts: "
            "wait a minute before trying again."
        ),
        "error",
    )
    return render_template("auth/login.html", form=form or LoginForm())


def _throttled(_limit: RequestLimit) -> Response:
    # No password is checked here: a flood costs no hashing.
    return make_response(_failed())


@bp.route("/login", methods=["GET", "POST"])
@throttle.sign_in_limits(on_breach=_throttled)
def login() -> str | Response:
    if current_user.is_authenticated:
        return redirect(url_for("tickets.index"))
    form = LoginForm()
    if not form.validate_on_submit():
        return render_template("auth/login.html", form=form)
    user = _authenticated(form.email.data.strip().lower(), form.password.data)
    if user is None:
        return _failed(form)
    login_user(user)
    response = redirect(_safe_next(request.args.get("next")))
    throttle.device_cookie(response)
    return response


@bp.post("/logout")
def logout() -> Response:
    if LogoutForm().validate_on_submit():
        logout_user()
    return redirect(url_for("auth.login"))
