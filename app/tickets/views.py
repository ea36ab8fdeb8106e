"""Server-rendered ticket pages for signed-in staff."""

from flask import Blueprint, render_template
from flask_login import login_required
from sqlalchemy import select

from app.extensions import db
from app.models import Ticket

bp = Blueprint("tickets", __name__)


@bp.get("/")
@login_required
def index() -> str:
    tickets = db.session.scalars(
        select(Ticket).order_by(Ticket.created_at.desc()).limit(100)
    )
    return render_template("tickets/index.html", tickets=list(tickets))
