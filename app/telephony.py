"""TwilioGateway: every outbound call to Twilio's REST API goes through here."""

import logging
from dataclasses import dataclass

from flask import Flask
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.jwt.access_token import AccessToken
from twilio.jwt.access_token.grants import VoiceGrant
from twilio.rest import Client

log = logging.getLogger(__name__)

TWILIO_API = "https://api.twilio.com"


class _BaseUrlHttpClient(TwilioHttpClient):
    """Sends the REST client's requests to TWILIO_API_BASE_URL (a proxy or a mock)."""

    def __init__(self, base_url: str, timeout: float) -> None:
        super().__init__(timeout=timeout)
        self.base_url = base_url.rstrip("/")

    def request(self, method, url, *args, **kwargs):  # type: ignore[override]
        if url.startswith(TWILIO_API):
            url = self.base_url + url[len(TWILIO_API) :]
        return super().request(method, url, *args, **kwargs)


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
            http_client = None
            if self.api_base_url.rstrip("/") != TWILIO_API:
                http_client = _BaseUrlHttpClient(self.api_base_url, self.timeout)
            else:
                http_client = TwilioHttpClient(timeout=self.timeout)
            self._client = Client(
                self.account_sid, self._auth_token, http_client=http_client
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
        message = self.client.messages.create(
            to=to, body=body, status_callback=status_callback, **sender
        )
        return SentMessage(message.sid, message.status or "queued")

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

    def delete_recording(self, recording_sid: str) -> None:
        """Delete Twilio's copy of a recording (ours is kept and verified first)."""
        if not self.configured:
            return
        self.client.recordings(recording_sid).delete()
