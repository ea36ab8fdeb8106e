"""Front-end packages as npm installed them (pinned in package-lock.json),
served by the app itself: never a CDN, which an office's connection or a
centre's firewall may not reach."""

from flask import Blueprint, Flask, abort, send_from_directory, url_for
from werkzeug.wrappers import Response

from config import ROOT

NODE_MODULES = ROOT / "node_modules"
# The name a page asks for -> the file in node_modules.
PACKAGES = {
    "htmx.js": "htmx.org/dist/htmx.min.js",
    # The UMD build: one self-contained file (its colour helper bundled in).
    "chart.js": "chart.js/dist/chart.umd.min.js",
}

bp = Blueprint("vendor", __name__)


@bp.get("/static/vendor/<name>")
def package(name: str) -> Response:
    if name not in PACKAGES:
        abort(404)
    path = NODE_MODULES / PACKAGES[name]
    response = send_from_directory(path.parent, path.name, mimetype="text/javascript")
    response.cache_control.public = True
    response.cache_control.max_age = 86400  # pinned: it changes with a release only
    return response


def vendor_url(name: str) -> str:
    return url_for("vendor.package", name=name)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.jinja_env.globals["vendor_url"] = vendor_url
