"""The centre's figures in the JSON API (CONTRACT §10): GET /api/stats.

The routes join the API blueprint of app.api.views through api_route; the query
is read through StatsQuery and the answer sent through Stats, both documented.
The figures and what each one counts are app.services.stats'.
"""

from typing import Any, ClassVar

from flask import current_app
from pydantic import ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError
from sqlalchemy import select

from app.api import schemas
from app.api.errors import ApiError
from app.api.routes import api_route
from app.api.views import EXPORTERS, bp
from app.extensions import db
from app.lines import current_lines
from app.models import Service
from app.phone import to_e164
from app.services import stats

Rate = float | None


class StatsQuery(schemas.Body):
    """A period of the centre's days, both included; a line, a service."""

    model_config = ConfigDict(extra="ignore", strict=False)
    error_codes: ClassVar[dict[str, str]] = {
        "from": "invalid_date",
        "to": "invalid_date",
    }

    first: schemas.Day = Field(
        alias="from", description="first day (centre's time zone), included"
    )
    last: schemas.Day = Field(
        alias="to", description="last day (centre's time zone), included"
    )
    line: str | None = Field(None, max_length=32, description="a line's number")
    service: str | None = Field(None, max_length=64, description="a service's key")

    @model_validator(mode="after")
    def _in_order(self) -> "StatsQuery":
        if self.last < self.first:
            raise PydanticCustomError("invalid_period", "to is before from")
        return self


class CallFigures(schemas.Out):
    offered: int
    answered: int
    abandoned: int
    short_abandoned: int
    self_service: int
    voicemails: int
    abandonment_rate: Rate
    asa_seconds: float | None
    service_level: Rate
    aht_seconds: float | None


class Backlog(schemas.Out):
    young: int = Field(alias="0-2d")
    week: int = Field(alias="3-7d")
    month: int = Field(alias="8-30d")
    old: int = Field(alias="31d+")


class TicketFigures(schemas.Out):
    created: int
    by_channel: dict[str, int]
    by_category: dict[str, int]
    by_service: dict[str, int]
    by_status: dict[str, int]
    resolved: int
    median_resolution_hours: float | None
    take_charge_met_rate: Rate
    resolve_met_rate: Rate
    escalated: int
    appeals: int
    backlog: Backlog


class SatisfactionFigures(schemas.Out):
    asked: int
    answered: int
    average: float | None
    csat: Rate


class MessageCounts(schemas.Out):
    sent: int
    delivered: int
    failed: int


class Stats(schemas.Out):
    calls: CallFigures
    tickets: TicketFigures
    satisfaction: SatisfactionFigures
    messages: dict[str, MessageCounts]


def service_id(key: str | None) -> int | None:
    if key is None:
        return None
    found = db.session.scalar(select(Service.id).filter_by(key=key))
    if found is None:
        raise ApiError(404, "unknown_service", f"{key} is not one of the services")
    return found


def line_number(typed: str | None) -> str | None:
    """The line's E.164 number; a "+" sent unencoded arrives as a space."""
    if typed is None:
        return None
    number = to_e164(typed.strip(), current_app.config["DEFAULT_REGION"])
    if number not in current_lines().by_number:
        raise ApiError(404, "unknown_line", f"{typed} is not one of the centre's lines")
    return number


@api_route(
    bp,
    "GET",
    "/stats",
    summary="The centre's figures over a period, per line and service",
    query=StatsQuery,
    response=Stats,
    errors=[404],
    roles=EXPORTERS,
)
def get_stats(query: StatsQuery) -> dict[str, Any]:
    scope = stats.scope_for(
        query.first, query.last, line_number(query.line), service_id(query.service)
    )
    return stats.figures(scope)
