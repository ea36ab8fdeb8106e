"""The WSGI entry point: `gunicorn wsgi:app`, `flask --app wsgi ...`."""

from werkzeug.middleware.proxy_fix import ProxyFix

from app import create_app
from config import SETTINGS

app = create_app(SETTINGS.APP_ENV)

if SETTINGS.TRUSTED_PROXIES:
    # Only behind a proxy we run ourselves: X-Forwarded-* is otherwise forgeable.
    hops = SETTINGS.TRUSTED_PROXIES
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
