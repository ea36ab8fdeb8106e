"""The statistics' blueprint; the pages' modules add their routes to it."""

from flask import Blueprint

bp = Blueprint("stats", __name__, template_folder="templates", url_prefix="/stats")
