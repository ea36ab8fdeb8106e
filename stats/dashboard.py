"""The supervisors' dashboard (CONTRACT §10, issue #13): GET /stats.

A period's figures, per line and service, as headline tiles and charts; each
chart's numbers in a table beside it. The filters are read in
stats.dashboard_filters, the tables built in stats.dashboard_tables.
"""

from datetime import datetime

from flask import abort, render_template, request
from flask_login import current_user, login_required
from sqlalchemy import select

from app.extensions import db
from app.labels import centre_zone
from app.lines import current_lines
from app.models import Service
from app.models.types import utcnow
from app.services import stats
from stats.dashboard_filters import Choices, read_filters
from stats.dashboard_tables import board, shown
from stats.views import bp


def _choices() -> Choices:
    services = db.session.execute(
        select(Service.key, Service.id, Service.name).order_by(Service.name)
    )
    return Choices(
        lines={line.number: line.name for line in current_lines().lines},
        services={key: (service_id, name) for key, service_id, name in services},
    )


@bp.get("")
@login_required
def dashboard() -> tuple[str, int]:
    if not current_user.is_supervisor:
        abort(403)
    choices = _choices()
    now = utcnow()
    today = datetime.now(centre_zone()).date()
    chosen, problems = read_filters(request.args, choices, today)
    page = {"choices": choices, "chosen": chosen, "shown": shown}
    if problems:
        # The form again, with what was typed and why it was refused.
        return render_template("stats/dashboard.html", problems=problems, **page), 400
    service_id = choices.services[chosen.service][0] if chosen.service else None
    scope = stats.scope_for(chosen.first, chosen.last, chosen.line, service_id)
    names = {key: name for key, (_, name) in choices.services.items()}
    figures = board(scope, names, now)
    return render_template("stats/dashboard.html", board=figures, **page), 200
