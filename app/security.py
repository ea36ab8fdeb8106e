"""What every request and response goes through: security headers (and the
CSP nonce), bounded JSON bodies, and no NUL characters past the door."""

import secrets

from flask import Flask, Response, abort, request

from app.api.json_body import BoundedJSONProvider
from app.webhooks import WEBHOOK_PREFIXES

# The softphone's Twilio Voice SDK is served by us, but talks to Twilio: its
# signalling over wss, its REST and ringtones over https.
TWILIO = "https://*.twilio.com"
NONCE_KEY = "ecoute.csp_nonce"


def csp_nonce() -> str:
    """This request's nonce, for the one place that needs it: wavesurfer.js
    writes a <style> into its shadow DOM and takes the nonce to mark it."""
    # Kept in the request's environ: one per request, whatever app context holds it.
    return request.environ.setdefault(NONCE_KEY, secrets.token_urlsafe(16))


def _policy(nonce: str | None) -> str:
    styles = f"'self' 'nonce-{nonce}'" if nonce else "'self'"
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            f"style-src {styles}",
            "img-src 'self' data:",
            f"media-src 'self' blob: {TWILIO}",
            f"connect-src 'self' wss://*.twilio.com {TWILIO}",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


def _add_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault(
        "Content-Security-Policy", _policy(request.environ.get(NONCE_KEY))
    )
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("X-Frame-Options", "DENY")  # frame-ancestors, for old browsers
    return response


def _refuse_nul() -> None:
    """A NUL in an API query or in a form body is 400: PostgreSQL would refuse
    it in text, with a 500. Twilio's webhooks are spared (twilio_signed strips
    NULs there, after the signature, so a caller's message is never lost), and
    so are the pages' GET filters, which answer what they do not understand
    with a message of their own."""
    if request.path.startswith(WEBHOOK_PREFIXES):
        return
    fields = []
    if request.path.startswith("/api/"):
        fields += request.args.items(multi=True)
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        fields += request.form.items(multi=True)
    if any("\x00" in key or "\x00" in value for key, value in fields):
        abort(400, description="NUL characters are not accepted")


def init_app(app: Flask) -> None:
    app.json = BoundedJSONProvider(app)
    app.before_request(_refuse_nul)
    app.jinja_env.globals["csp_nonce"] = csp_nonce
    app.after_request(_add_headers)
