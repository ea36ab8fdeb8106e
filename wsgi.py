"""The WSGI entry point: `gunicorn wsgi:app`, `flask --app wsgi ...`."""

import os

from werkzeug.middleware.proxy_fix import ProxyFix

from app import create_app

app = create_app(os.environ.get("APP_ENV", "production"))

if os.environ.get("TRUSTED_PROXIES"):
    # Only behind a proxy we run ourselves: X-Forwarded-* is otherwise forgeable.
    hops = int(os.environ["TRUSTED_PROXIES"])
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
