"""TwilioGateway: every outbound call to Twilio's REST API goes through here."""

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from flask import Flask
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.jwt.access_token import AccessToken
from twilio.jwt.access_token.grants import VoiceGrant
from twilio.rest import Client

log = logging.getLogger(__name__)

TWILIO_API = "https://api.twilio.com"


class _HttpClient(TwilioHttpClient):
    """Sends the REST client's requests to TWILIO_API_BASE_URL (a proxy or a mock)
    and keeps, per thread, the Retry-After of the last answer: twilio-python's
    exceptions drop the headers, and a 429's back-off is in one."""

    def __init__(self, base_url: str, timeout: float) -> None:
        super().__init__(timeout=timeout)
        self.base_url = base_url.rstrip("/")
        self._last = threading.local()

    @property
    def retry_after(self) -> float | None:
        return getattr(self._last, "retry_after", None)

    def request(self, method, url, *args, **kwargs):  # type: ignore[override]
        if url.startswith(TWILIO_API):
            url = self.base_url + url[len(TWILIO_API) :]
        self._last.retry_after = None
        response = super().request(method, url, *args, **kwargs)
        self._last.retry_after = _seconds(response.headers, "Retry-After")
        return response


def _seconds(headers, name: str) -> float | None:
    """A header in seconds (Twilio sends Retry-After as a number), if any."""
    try:
        value = float((headers or {}).get(name) or "")
    except ValueError:
        return None
    return value if 0 <= value <= 86400 else None


class SoftphoneNotConfigured(Exception):
    pass


@dataclass(frozen=True)
class SoftphoneKeys:
    api_key: str
    api_secret: str
    twiml_app_sid: str

    @classmethod
    def from_config(cls, config) -> "SoftphoneKeys | None":
        values = [
            config.get(k)
            for k in ("TWILIO_API_KEY", "TWILIO_API_SECRET", "TWILIO_TWIML_APP_SID")
        ]
        return cls(*values) if all(values) else None


@dataclass(frozen=True)
class CallParties:
    """Who called whom, as Twilio's Call resource says."""

    from_: str
    to: str


@dataclass
class SentMessage:
    sid: str | None
    status: str


class SendRefused(TwilioRestException):
    """Twilio's refusal, with the Retry-After it gave (429), in seconds."""

    retry_after: float | None = None


class TwilioGateway:
    def __init__(
        self,
        account_sid: str | None,
        auth_token: str | None,
        api_base_url: str = TWILIO_API,
        timeout: float = 15,
    ) -> None:
        self.account_sid = account_sid
        self._auth_token = auth_token
        self.api_base_url = api_base_url
        self.timeout = timeout
        self._client: Client | None = None
        self._http: _HttpClient | None = None

    @classmethod
    def from_app(cls, app: Flask) -> "TwilioGateway":
        config = app.config
        # Without an account SID the token is the local signing token only.
        account = config.get("TWILIO_ACCOUNT_SID")
        gateway = cls(
            account,
            config.get("TWILIO_AUTH_TOKEN") if account else None,
            config.get("TWILIO_API_BASE_URL") or TWILIO_API,
        )
        gateway.softphone = SoftphoneKeys.from_config(config)
        return gateway

    softphone: "SoftphoneKeys | None" = None

    def access_token(self, identity: str, ttl: int) -> str:
        """A Voice access token for a browser softphone (raises if not configured)."""
        keys = self.softphone
        if keys is None or not self.account_sid:
            raise SoftphoneNotConfigured
        token = AccessToken(
            self.account_sid, keys.api_key, keys.api_secret, identity=identity, ttl=ttl
        )
        token.add_grant(
            VoiceGrant(outgoing_application_sid=keys.twiml_app_sid, incoming_allow=True)
        )
        return token.to_jwt()

    @property
    def configured(self) -> bool:
        return bool(self.account_sid and self._auth_token)

    @property
    def client(self) -> Client:
        # Built on first use, never at import or start-up.
        if self._client is None:
            self._http = _HttpClient(self.api_base_url, self.timeout)
            self._client = Client(
                self.account_sid, self._auth_token, http_client=self._http
            )
        return self._client

    def send_sms(
        self, to: str, body: str, from_: str, status_callback: str | None = None
    ) -> SentMessage:
        """Send one SMS; raises TwilioRestException or a network error on failure."""
        if not self.configured:
            # CONTRACT §2: with no account, outgoing SMS are written to the log.
            log.info("SMS not sent (Twilio not configured) to %s: %s", to, body)
            return SentMessage(None, "logged")
        sender = (
            {"messaging_service_sid": from_}
            if from_.startswith("MG")
            else {"from_": from_}
        )
        try:
            message = self.client.messages.create(
                to=to, body=body, status_callback=status_callback, **sender
            )
        except TwilioRestException as error:
            refused = SendRefused(
                error.status, error.uri, error.msg, error.code, error.method
            )
            refused.retry_after = self._http.retry_after
            raise refused from error
        return SentMessage(message.sid, message.status or "queued")

    def find_sent(
        self, to: str, body: str, from_: str, since: datetime
    ) -> list[SentMessage]:
        """The messages Twilio took for `to` with this body since `since`.

        Asked before sending again a text whose job died mid-send: if Twilio
        has it, it left. Raises (TwilioRestException, a network error, with
        the gateway's time-out) when Twilio cannot say: then nobody may send.
        """
        if not self.configured:
            return []
        # DateSent filters by day; the body and the creation time decide (a
        # minute's slack: Twilio's clock, and its dates in whole seconds).
        sender = {} if from_.startswith("MG") else {"from_": from_}
        earliest = since - timedelta(minutes=1)
        day = datetime.combine(earliest.date(), time(), tzinfo=UTC)
        return [
            SentMessage(message.sid, message.status or "queued")
            for message in self.client.messages.list(
                to=to, date_sent_after=day, limit=200, page_size=200, **sender
            )
            if message.body == body
            and (message.date_created is None or message.date_created >= earliest)
        ]

    def call_parties(self, call_sid: str) -> CallParties | None:
        """The numbers of a call, from GET Calls/{CallSid}.json; None if unknown.

        For callbacks that carry no From (a recording's): raises on a network
        error or a Twilio 5xx, so a job's retry asks again.
        """
        if not self.configured:
            return None
        try:
            call = self.client.calls(call_sid).fetch()
        except TwilioRestException as error:
            if error.status == 404:
                return None
            raise
        return CallParties(call._from or "", call.to or "")

    def delete_recording(self, recording_sid: str) -> bool:
        """Delete Twilio's copy of a recording: True if Twilio deleted it, False
        if it had none (a 404: deleted already, or never there).

        Raises (TwilioRestException, a network error, with the gateway's
        time-out) when Twilio may still hold it, so callers can say so.
        """
        if not self.configured:
            return False
        try:
            return self.client.recordings(recording_sid).delete()
        except TwilioRestException as error:
            if error.status == 404:
                return False
            raise
