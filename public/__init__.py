"""The citizen's public pages (CONTRACT §9.1): how to reach the centre, the
request form, the status look-up, and their JSON twins for integrators."""

from flask import Flask


def register_blueprints(app: Flask) -> None:
    """Both blueprints, so create_app names this package once."""
    from public.api import bp as api_bp
    from public.views import bp

    app.register_blueprint(bp)  # /public: pages, no login
    app.register_blueprint(api_bp)  # /api/public: JSON, no token, no CSRF
