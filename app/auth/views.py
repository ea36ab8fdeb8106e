"""Sign in and out."""

from datetime import timedelta
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from sqlalchemy import func, select
from werkzeug.wrappers import Response

from app.auth.forms import LoginForm, LogoutForm
from app.extensions import db, login_manager
from app.models import User
from app.models.types import utcnow

bp = Blueprint("auth", __name__)


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    return db.session.get(User, int(user_id)) if user_id.isdigit() else None


login_manager.login_view = "auth.login"


def _safe_next(target: str | None) -> str:
    # Only local paths: an open redirect would let a phishing link borrow our login.
    if (
        target
        and target.startswith("/")
        and not urlsplit(target).netloc
        and "\\" not in target
    ):
        return target
    return url_for("tickets.index")


@bp.route("/login", methods=["GET", "POST"])
def login() -> str | Response:
    if current_user.is_authenticated:
        return redirect(url_for("tickets.index"))
    form = LoginForm()
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        user = db.session.scalar(select(User).where(func.lower(User.email) == email))
        now = utcnow()
        if user is not None and user.locked_until and user.locked_until > now:
            flash(_("Too many failed attempts: try again later."), "error")
        elif (
            user is not None and user.active and user.check_password(form.password.data)
        ):
            user.failed_logins = 0
            user.locked_until = None
            db.session.commit()
            login_user(user)
            return redirect(_safe_next(request.args.get("next")))
        else:
            if user is not None:
                user.failed_logins += 1
                config = current_app.config
                if user.failed_logins >= config["LOGIN_MAX_FAILURES"]:
                    user.locked_until = now + timedelta(
                        minutes=config["LOGIN_LOCK_MINUTES"]
                    )
                    user.failed_logins = 0
                db.session.commit()
            flash(_("Wrong e-mail or password."), "error")
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
def logout() -> Response:
    if LogoutForm().validate_on_submit():
        logout_user()
    return redirect(url_for("auth.login"))
