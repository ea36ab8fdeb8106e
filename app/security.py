"""Security headers on every response, and the per-request CSP nonce."""

import secrets

from flask import Flask, Response, request

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


def init_app(app: Flask) -> None:
    app.jinja_env.globals["csp_nonce"] = csp_nonce
    app.after_request(_add_headers)
