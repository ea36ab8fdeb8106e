"""The administration pages (admins only): users, services and their focal
points, and the configuration read-only.

Every rule is a service's (app/services/staff.py, focal_points.py), as for the
command line; a view checks the form, calls the service, commits once, and logs
who did what to whom (never a password). htmx swaps a section in place; without
JavaScript the same forms post and redirect, or show their page again.
"""

import logging

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload
from werkzeug.wrappers import Response

from app.admin import configuration
from app.admin.forms import (
    AccessForm,
    ActionForm,
    FocalPointForm,
    NewUserForm,
    ServiceForm,
)
from app.extensions import db
from app.models import FocalPoint, Role, Service, User
from app.models.types import utcnow
from app.services import focal_points, staff
from app.services.refused import Refused

log = logging.getLogger(__name__)
bp = Blueprint("admin", __name__, url_prefix="/admin")

# What a person reads for each refusal of a service (their codes).
REFUSALS = {
    "email_invalid": _l("Not an e-mail address."),
    "email_taken": _l("An account with this e-mail already exists."),
    "password_short": _l("At least 8 characters."),
    "password_long": _l("At most 200 characters."),
    "own_role": _l("You cannot change your own role."),
    "own_account": _l("You cannot disable your own account."),
    "service_key": _l("Lower-case letters a-z, digits and _ only."),
    "service_taken": _l("This service already exists."),
    "name_length": _l("1 to 120 characters."),
    "phone_invalid": _l("Not a phone number."),
    "contact_missing": _l("Give a phone number or an e-mail (or both)."),
}


@bp.before_request
def admins_only() -> Response | None:
    """Administrators only; supervisors too get 403: accounts and passwords are
    not part of their day's work, and one rule is easier to trust."""
    if not current_user.is_authenticated:
        return current_app.login_manager.unauthorized()
    if current_user.role != Role.ADMIN:
        abort(403)
    return None


def _htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


def _refused(form: FlaskForm, refused: Refused) -> None:
    """Show a service's refusal under the field it names."""
    field = getattr(form, refused.field, None)
    words = str(REFUSALS.get(refused.code, refused.message))
    if field is None:
        flash(words, "error")
    else:
        field.errors = [*field.errors, words]


def _no_store(response: Response) -> Response:
    """A page with a password in it is kept by no cache and no history."""
    response.headers["Cache-Control"] = "no-store"
    return response


def _committed() -> bool:
    """Commit; False when a unique key refused the row (a twin saved in the
    meantime by another request: the check before it could not see it)."""
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return False
    return True


def _audit(action: str, target: str, **detail: object) -> None:
    extra = "".join(f" {key}={value}" for key, value in detail.items())
    log.info("admin %s %s %s%s", current_user.email, action, target, extra)


# --- users --------------------------------------------------------------------------


def _services() -> list[Service]:
    return list(db.session.scalars(select(Service).order_by(Service.name)))


def _service_choices() -> list[tuple[int, str]]:
    return [(service.id, service.name) for service in _services()]


# Past PostgreSQL's integer, an id in a URL would be a database error: 404.
MAX_ID = 2**31 - 1


def _user(user_id: int) -> User:
    if user_id > MAX_ID:
        abort(404)
    return db.get_or_404(User, user_id)


def _users_page(form: NewUserForm, status: int = 200) -> tuple[str, int]:
    users = db.session.scalars(
        select(User).options(selectinload(User.services)).order_by(User.email)
    ).all()
    return render_template(
        "admin/users.html", users=users, form=form, now=utcnow()
    ), status


@bp.get("/")
def index() -> Response:
    return redirect(url_for("admin.users", **request.args))


@bp.get("/users")
def users() -> tuple[str, int]:
    return _users_page(NewUserForm(_service_choices(), prefix="new"))


@bp.post("/users")
def create_user() -> tuple[str, int] | Response:
    form = NewUserForm(_service_choices(), prefix="new")
    if not form.validate_on_submit():
        return _users_page(form, 400)
    typed = form.password.data or ""
    password = typed or staff.new_password()
    try:
        user = staff.create_user(
            form.email.data,
            Role(form.role.data),
            password,
            form.name.data,
            staff.services_by_ids(form.services.data or []),
        )
    except Refused as refused:
        _refused(form, refused)
        return _users_page(form, 400)
    if not _committed():  # another admin created the same e-mail meanwhile
        _refused(form, Refused("email", "email_taken", "already exists"))
        return _users_page(form, 400)
    _audit("created user", user.email, role=user.role.value)
    if typed:
        flash(_("Account %(email)s created.", email=user.email), "success")
        return redirect(url_for("admin.user", user_id=user.id))
    # A password made here is shown once, on this answer; never stored readable.
    return _no_store(
        make_response(_user_page(user, new_password=password, created=True), 201)
    )


def _user_page(
    user: User,
    access: AccessForm | None = None,
    new_password: str | None = None,
    created: bool = False,
) -> str:
    if access is None:
        # formdata=None: after a POST (a new account, a new password) the form
        # shows the account as saved, not what that request sent.
        access = AccessForm(
            _service_choices(),
            prefix="access",
            formdata=None,
            data={
                "role": user.role.value,
                "services": [service.id for service in user.services],
            },
        )
    return render_template(
        "admin/user.html",
        user=user,
        access=access,
        new_password=new_password,
        created=created,
        now=utcnow(),
    )


def _account(user: User, new_password: str | None = None) -> str:
    """The account's section, as htmx swaps it."""
    return render_template(
        "admin/_account.html",
        partial=True,
        user=user,
        new_password=new_password,
        now=utcnow(),
    )


@bp.get("/users/<int:user_id>")
def user(user_id: int) -> str:
    return _user_page(_user(user_id))


@bp.post("/users/<int:user_id>")
def update_user(user_id: int) -> tuple[str, int] | Response:
    user = _user(user_id)
    form = AccessForm(_service_choices(), prefix="access")
    if not form.validate_on_submit():
        return _user_page(user, form), 400
    try:
        staff.change_role_and_services(
            user,
            Role(form.role.data),
            staff.services_by_ids(form.services.data or []),
            current_user,
        )
    except Refused as refused:
        _refused(form, refused)
        return _user_page(user, form), 400
    db.session.commit()
    _audit(
        "changed access of",
        user.email,
        role=user.role.value,
        services=",".join(service.key for service in user.services) or "-",
    )
    flash(_("Role and services saved."), "success")
    return redirect(url_for("admin.user", user_id=user.id))


def _account_action(user: User, done: str, new_password: str | None = None) -> Response:
    """After an action on the account: its section for htmx, else the page
    (shown at once when it holds a new password, else after a redirect)."""
    flash(done, "success")
    if _htmx():
        return _no_store(make_response(_account(user, new_password)))
    if new_password is not None:
        return _no_store(make_response(_user_page(user, new_password=new_password)))
    return redirect(url_for("admin.user", user_id=user.id))


def _check_button() -> None:
    """A button's form holds only its CSRF token (checked by Flask-WTF's
    CSRFProtect before the view); what else could fail is a missing form."""
    if not ActionForm().validate_on_submit():
        abort(400)


@bp.post("/users/<int:user_id>/active")
def set_active(user_id: int) -> Response:
    user = _user(user_id)
    _check_button()
    enable = request.form.get("active") == "1"
    try:
        staff.set_active(user, enable, current_user)
    except Refused as refused:
        flash(str(REFUSALS[refused.code]), "error")
        if _htmx():
            return make_response(_account(user))
        return redirect(url_for("admin.user", user_id=user.id))
    db.session.commit()
    _audit("enabled" if enable else "disabled", user.email)
    done = _("Account enabled.") if enable else _("Account disabled.")
    return _account_action(user, done)


@bp.post("/users/<int:user_id>/password")
def reset_password(user_id: int) -> Response:
    user = _user(user_id)
    _check_button()
    password = staff.reset_password(user)
    db.session.commit()
    _audit("reset the password of", user.email)
    return _account_action(user, _("New password made."), new_password=password)


@bp.post("/users/<int:user_id>/unlock")
def unlock(user_id: int) -> Response:
    user = _user(user_id)
    _check_button()
    cleared = staff.unlock(user)
    db.session.commit()
    _audit("unlocked", user.email, throttle="cleared" if cleared else "unreachable")
    done = (
        _("Sign-in attempts forgotten: the account may sign in again.")
        if cleared
        else _(
            "Failed sign-ins cleared, but the sign-in counter could not be "
            "reached: it ends by itself within the hour."
        )
    )
    return _account_action(user, done)


# --- services and focal points ------------------------------------------------------


def _services_page(form: ServiceForm, status: int = 200) -> tuple[str, int]:
    services = _services()
    members = db.session.scalars(
        select(User).options(selectinload(User.services)).order_by(User.email)
    ).all()
    agents: dict[int, list[User]] = {service.id: [] for service in services}
    for member in members:
        for service in member.services:
            agents[service.id].append(member)
    focal: dict[int, list[FocalPoint]] = {service.id: [] for service in services}
    for point in db.session.scalars(
        select(FocalPoint)
        .where(FocalPoint.removed_at.is_(None))
        .order_by(FocalPoint.name)
    ):
        focal[point.service_id].append(point)
    return render_template(
        "admin/services.html",
        services=services,
        agents=agents,
        focal=focal,
        form=form,
    ), status


@bp.get("/services")
def services() -> tuple[str, int]:
    return _services_page(ServiceForm(prefix="service"))


@bp.post("/services")
def create_service() -> tuple[str, int] | Response:
    form = ServiceForm(prefix="service")
    if not form.validate_on_submit():
        return _services_page(form, 400)
    try:
        service = staff.create_service(form.key.data, form.name.data)
    except Refused as refused:
        _refused(form, refused)
        return _services_page(form, 400)
    if not _committed():  # created by another admin meanwhile
        _refused(form, Refused("key", "service_taken", "already exists"))
        return _services_page(form, 400)
    _audit("created service", service.key)
    flash(_("Service %(name)s created.", name=service.name), "success")
    return redirect(url_for("admin.service", key=service.key))


def _service(key: str) -> Service:
    service = db.session.scalar(select(Service).filter_by(key=key[:64]))
    if service is None:
        abort(404)
    return service


def _edit_form(point: FocalPoint) -> FocalPointForm:
    return FocalPointForm(
        prefix=f"fp{point.id}",
        formdata=None,  # as saved, whatever the request that shows it sent
        data={
            "name": point.name,
            "phone": point.phone_e164 or "",
            "email": point.email or "",
            "head": point.head,
        },
    )


def _focal_section(
    service: Service,
    refused: FocalPointForm | None = None,
    refused_id: int | None = None,
    template: str = "admin/service.html",
) -> str:
    """The service's page (or its focal points' section); `refused` is a form
    shown again with its errors, for the focal point `refused_id` or a new one."""
    points = focal_points.active_focal_points(service.id)
    editing = {point.id: _edit_form(point) for point in points}
    new = FocalPointForm(prefix="new", formdata=None)
    if refused is not None and refused_id is not None:
        editing[refused_id] = refused
    elif refused is not None:
        new = refused
    members = db.session.scalars(
        select(User)
        .where(User.services.any(Service.id == service.id))
        .order_by(User.email)
    ).all()
    return render_template(
        template,
        partial=template != "admin/service.html",
        service=service,
        points=points,
        editing=editing,
        new=new,
        members=members,
    )


def _focal_answer(
    service: Service,
    refused: FocalPointForm | None = None,
    refused_id: int | None = None,
) -> Response:
    """The section for htmx; else the page with the errors (400) or a redirect."""
    if _htmx():
        section = _focal_section(
            service, refused, refused_id, "admin/_focal_points.html"
        )
        return make_response(section, 200)
    if refused is not None:
        return make_response(_focal_section(service, refused, refused_id), 400)
    return redirect(url_for("admin.service", key=service.key))


@bp.get("/services/<key>")
def service(key: str) -> str:
    return _focal_section(_service(key))


def _save_focal_point(
    service: Service, form: FocalPointForm, point_id: int | None = None
) -> Response:
    if not form.validate_on_submit():
        return _focal_answer(service, form, point_id)
    try:
        point, created = focal_points.submit_focal_point(
            service,
            form.name.data,
            form.phone.data or "",
            form.email.data or "",
            bool(form.head.data),
            replace=True,
        )
    except Refused as refused:
        _refused(form, refused)
        return _focal_answer(service, form, point_id)
    db.session.commit()
    _audit(
        "added focal point" if created else "updated focal point",
        f"{point.name} ({service.key})",
        head=point.head,
    )
    flash(
        _("%(name)s added.", name=point.name)
        if created
        else _("%(name)s saved.", name=point.name),
        "success",
    )
    return _focal_answer(service)


@bp.post("/services/<key>/focal-points")
def add_focal_point(key: str) -> Response:
    service = _service(key)
    return _save_focal_point(service, FocalPointForm(prefix="new"))


def _focal_point(service: Service, point_id: int) -> FocalPoint:
    point = db.session.get(FocalPoint, point_id) if point_id <= MAX_ID else None
    if point is None or point.service_id != service.id or point.removed_at:
        abort(404)
    return point


@bp.post("/services/<key>/focal-points/<int:point_id>")
def update_focal_point(key: str, point_id: int) -> Response:
    service = _service(key)
    point = _focal_point(service, point_id)
    form = FocalPointForm(prefix=f"fp{point.id}")
    # The name is who they are (the history names them): it is not changed here.
    form.name.data = point.name
    form.name.raw_data = [point.name]
    return _save_focal_point(service, form, point.id)


@bp.post("/services/<key>/focal-points/<int:point_id>/remove")
def remove_focal_point(key: str, point_id: int) -> Response:
    service = _service(key)
    point = _focal_point(service, point_id)
    _check_button()
    revoked = focal_points.remove_focal_point(point)
    db.session.commit()
    _audit("removed focal point", f"{point.name} ({service.key})", links=revoked)
    flash(_("%(name)s removed.", name=point.name), "success")
    return _focal_answer(service)


# --- configuration ------------------------------------------------------------------


@bp.get("/configuration")
def configuration_page() -> str:
    return render_template("admin/configuration.html", conf=configuration)
