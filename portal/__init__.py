"""The citizens' portal, the public pages of CONTRACT §9.1 (under /public): how
to reach the centre, the request form, the status look-up, and their JSON twins
for integrators. (Not named `public`: aiosmtpd's dependency atpublic owns that
module name.)"""

from flask import Flask


def register_blueprints(app: Flask) -> None:
    """Both blueprints, so create_app names this package once."""
    from portal.api import bp as api_bp
    from portal.views import bp

    app.register_blueprint(bp)  # /public: pages, no login
    app.register_blueprint(api_bp)  # /api/public: JSON, no token, no CSRF
