"""What every Twilio-facing view shares: the signature check and TwiML responses."""

import hmac
import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Flask, Request, Response, abort, current_app, request, url_for
from flask.sessions import SecureCookieSessionInterface
from twilio.request_validator import RequestValidator
from twilio.twiml import TwiML

log = logging.getLogger(__name__)

WEBHOOK_PREFIXES = ("/voice/", "/sms/")


def _signed_urls() -> list[str]:
    """The URLs Twilio may have signed for this request.

    Behind a proxy it is PUBLIC_BASE_URL + path + query (CONTRACT §1). Werkzeug
    decodes the query in request.url, so the raw query string is tried as well.
    """
    query = request.query_string.decode("latin-1")
    suffix = request.path + (f"?{query}" if query else "")
    base = current_app.config.get("PUBLIC_BASE_URL")
    if base:
        return [base.rstrip("/") + suffix]
    return [request.host_url.rstrip("/") + request.script_root + suffix, request.url]


class WebhookAwareSessions(SecureCookieSessionInterface):
    """No session cookie work on Twilio's webhooks: they never use one."""

    def open_session(self, app: Flask, request: Request):  # type: ignore[override]
        if request.path.startswith(WEBHOOK_PREFIXES):
            return None  # Flask then uses a null session and saves nothing
        return super().open_session(app, request)


def signature_is_valid() -> bool:
    signature = request.headers.get("X-Twilio-Signature", "")
    token = current_app.config.get("TWILIO_AUTH_TOKEN")
    if not signature or not token:
        return False
    validator = RequestValidator(token)
    # request.form, not a dict: repeated fields must all be signed.
    params = request.form if request.method == "POST" else {}
    urls = _signed_urls()
    # One HMAC for the usual case; the validator's slower path tries the port
    # and query-encoding variants Twilio is known to sign now and then.
    expected = validator.compute_signature(urls[0], params)
    if hmac.compare_digest(expected, signature):
        return True
    return any(validator.validate(url, params, signature) for url in urls)


def twilio_signed(view: Callable[..., Any]) -> Callable[..., Any]:
    """403 and nothing done unless the request carries Twilio's valid signature."""

    @wraps(view)
    def checked(*args: Any, **kwargs: Any) -> Any:
        if not signature_is_valid():
            log.warning("refused unsigned or forged request to %s", request.path)
            abort(403)
        return view(*args, **kwargs)

    # The mark tests read off the URL map: a webhook without it cannot ship.
    checked.twilio_signed = True  # type: ignore[attr-defined]
    return checked


def twiml(response: TwiML | str) -> Response:
    return Response(str(response), status=200, mimetype="text/xml")


def public_url(endpoint: str, **params: Any) -> str:
    """A URL for TwiML to point at: absolute under PUBLIC_BASE_URL, else relative.

    Parameters set to None are left out, so optional state stays out of the URL.
    """
    path = url_for(endpoint, **{k: v for k, v in params.items() if v is not None})
    base = current_app.config.get("PUBLIC_BASE_URL")
    if not base:
        return path
    return base.rstrip("/") + path[len(request.script_root) :]


def form_text(name: str, limit: int = 256) -> str:
    """A form field as stripped text, cut to `limit` so a huge value costs nothing."""
    return (request.form.get(name) or "")[:limit].strip()
