"""A local stand-in for Twilio's REST API (Messages, Calls), served from a thread.

Point TWILIO_API_BASE_URL at `TwilioStandIn.url`: the app's gateway rewrites
https://api.twilio.com to it, so twilio-python's real client, HTTP stack and error
handling run against it. It checks HTTP basic auth, records what it received and
answers like Twilio: 201 and a Message resource, or an error queued by `fail_next`.

GET on Messages.json lists what it accepted (To, From, DateSent>= filters, as
Twilio does), so a job can ask whether a text left. `hold_next` keeps the next
accepted POST's answer until `release()`: the message is in Twilio's hands,
the sender has not heard so yet (kill it then).

GET Calls/{CallSid}.json answers the calls a test declared with `add_call`.
DELETE Recordings/{RecordingSid}.json deletes one declared with `add_recording`
(204), answers 404 for any other, or an error queued by `fail_next_delete`.
"""

import base64
import binascii
import json
import re
import secrets
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from app.models.types import utcnow

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "standin-auth-token-" + "5" * 13

MESSAGES_PATH = re.compile(r"^/2010-04-01/Accounts/(AC[0-9a-fA-F]{32})/Messages\.json$")
CALL_PATH = re.compile(
    r"^/2010-04-01/Accounts/(AC[0-9a-fA-F]{32})/Calls/(CA[0-9a-fA-F]{32})\.json$"
)

RECORDING_PATH = re.compile(
    r"^/2010-04-01/Accounts/(AC[0-9a-fA-F]{32})/Recordings/(RE[0-9a-fA-F]{32})\.json$"
)


@dataclass(frozen=True)
class Received:
    """One request that reached the Messages endpoint with credentials."""

    path: str
    account_sid: str
    username: str
    password: str
    form: dict[str, str]


class TwilioStandIn:
    def __init__(self, credentials: tuple[str, str] | None = None) -> None:
        # With credentials set, any other username/password gets Twilio's 401.
        self.credentials = credentials
        self.received: list[Received] = []
        self.refused: list[str] = []  # paths of requests answered 401
        self._failures: deque[tuple[int, dict[str, Any]]] = deque()
        self.created: list[dict[str, Any]] = []  # Message resources accepted
        self.listings: list[dict[str, str]] = []  # query of each GET Messages.json
        self._list_failures: deque[tuple[int, dict[str, Any]]] = deque()
        self._holding = False
        self.accepted_held = threading.Event()  # a held POST has been accepted
        self._release = threading.Event()
        self._retry_after: str | None = None
        self.calls: dict[str, dict[str, str]] = {}  # CallSid -> from, to
        self.call_lookups: list[str] = []  # CallSids asked for, in order
        self.recordings: set[str] = set()  # RecordingSids Twilio still holds
        self.deletions: list[str] = []  # RecordingSids of each DELETE, in order
        self._delete_failures: deque[tuple[int, dict[str, Any]]] = deque()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        # Handler threads are joined by server_close(): nothing outlives stop().
        self._server.daemon_threads = False
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="twilio-standin",
            daemon=True,
        )
        host, port = self._server.server_address[:2]
        self.url = f"http://{host}:{port}"

    @property
    def requests(self) -> list[dict[str, str]]:
        """The forms received by the Messages endpoint, in order."""
        with self._lock:
            return [received.form for received in self.received]

    def fail_next(
        self, status: int, body: dict[str, Any] | None = None, times: int = 1
    ) -> None:
        """Answer the next `times` authenticated requests with `status` and `body`."""
        if body is None:
            body = {"code": 20500, "message": "Internal Server Error", "status": status}
        with self._lock:
            self._failures.extend([(status, body)] * times)

    def fail_next_listing(self, status: int, times: int = 1) -> None:
        """Answer the next `times` listings with `status` (Twilio cannot say)."""
        body = _error(20500, "Internal Server Error", status)
        with self._lock:
            self._list_failures.extend([(status, body)] * times)

    def retry_after(self, seconds: str | None) -> None:
        """Send Retry-After with every 429 (as Twilio does)."""
        self._retry_after = seconds

    def hold_next(self) -> None:
        """Accept the next POST, then keep its answer until `release()`."""
        self._release.clear()
        self.accepted_held.clear()
        self._holding = True

    def release(self) -> None:
        self._release.set()

    def forget(self) -> None:
        """Forget what was received, so a test counts only its own requests."""
        with self._lock:
            self.received.clear()
            self.refused.clear()
            self.call_lookups.clear()
            self.listings.clear()  # what Twilio took stays listed

    def add_call(self, call_sid: str, from_: str, to: str) -> None:
        """A call Twilio knows about: GET Calls/{call_sid}.json answers it."""
        with self._lock:
            self.calls[call_sid] = {"from": from_, "to": to}

    def add_recording(self, recording_sid: str) -> None:
        """A recording Twilio holds: DELETE Recordings/{sid}.json removes it."""
        with self._lock:
            self.recordings.add(recording_sid)

    def fail_next_delete(self, status: int, times: int = 1) -> None:
        """Answer the next `times` recording deletions with `status`."""
        body = _error(20500, "Internal Server Error", status)
        with self._lock:
            self._delete_failures.extend([(status, body)] * times)

    def start(self) -> "TwilioStandIn":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()  # no handler thread may wait past the end
        self._server.shutdown()
        self._thread.join(timeout=5)
        self._server.server_close()

    def _authorised(self, path: str, auth: str | None) -> tuple[str, str] | None:
        credentials = _basic_auth(auth)
        if credentials is None or (
            self.credentials is not None and credentials != self.credentials
        ):
            with self._lock:
                self.refused.append(path)
            return None
        return credentials

    def _answer_get(self, path: str, auth: str | None) -> tuple[int, dict]:
        match = CALL_PATH.match(path)
        if match is None:
            return 405, _error(20004, "Method not allowed", 405)
        if self._authorised(path, auth) is None:
            return 401, _error(20003, "Authenticate", 401)
        account_sid, call_sid = match.groups()
        with self._lock:
            self.call_lookups.append(call_sid)
            call = self.calls.get(call_sid)
        if call is None:
            return 404, _error(20404, "The requested resource was not found", 404)
        return 200, _call_resource(account_sid, call_sid, call)

    def _delete(self, path: str, auth: str | None) -> tuple[int, dict | None]:
        match = RECORDING_PATH.match(path)
        if match is None:
            return 405, _error(20004, "Method not allowed", 405)
        if self._authorised(path, auth) is None:
            return 401, _error(20003, "Authenticate", 401)
        recording_sid = match.group(2)
        with self._lock:
            self.deletions.append(recording_sid)
            if self._delete_failures:
                return self._delete_failures.popleft()
            if recording_sid not in self.recordings:
                return 404, _error(20404, "The requested resource was not found", 404)
            self.recordings.discard(recording_sid)
        return 204, None  # Twilio answers a deletion with no body

    def _answer(self, path: str, auth: str | None, body: bytes) -> tuple[int, dict]:
        match = MESSAGES_PATH.match(path)
        if match is None:
            return 404, _error(20404, "The requested resource was not found", 404)
        credentials = self._authorised(path, auth)
        if credentials is None:
            return 401, _error(20003, "Authenticate", 401)
        form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        account_sid = match.group(1)
        with self._lock:
            self.received.append(Received(path, account_sid, *credentials, form))
            failure = self._failures.popleft() if self._failures else None
        if failure is not None:
            return failure
        resource = _message_resource(account_sid, form)
        with self._lock:
            self.created.append(resource)
            hold, self._holding = self._holding, False
        if hold:
            self.accepted_held.set()
            self._release.wait(timeout=60)
        return 201, {key: value for key, value in resource.items() if key != "_date"}

    def _list(self, path: str, auth: str | None, query: str) -> tuple[int, dict]:
        match = MESSAGES_PATH.match(path)
        if match is None:
            return 404, _error(20404, "The requested resource was not found", 404)
        if self._authorised(path, auth) is None:
            return 401, _error(20003, "Authenticate", 401)
        params = dict(parse_qsl(query, keep_blank_values=True))
        with self._lock:
            self.listings.append(params)
            failure = self._list_failures.popleft() if self._list_failures else None
            created = list(self.created)
        if failure is not None:
            return failure
        since = params.get("DateSent>") or params.get("DateSent>=")
        day = since[:10] if since else None
        found = [
            message
            for message in reversed(created)  # newest first, as Twilio lists
            if params.get("To") in (None, message["to"])
            and params.get("From") in (None, message["from"])
            and (day is None or message["_date"] >= day)
        ]
        messages = [
            {key: value for key, value in m.items() if key != "_date"} for m in found
        ]
        uri = f"{path}?{query}"
        return 200, {
            "messages": messages,
            "end": max(len(messages) - 1, 0),
            "first_page_uri": uri,
            "next_page_uri": None,
            "page": 0,
            "page_size": len(messages),
            "previous_page_uri": None,
            "start": 0,
            "uri": uri,
        }


def _error(code: int, message: str, status: int) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def _call_resource(
    account_sid: str, call_sid: str, call: dict[str, str]
) -> dict[str, Any]:
    now = format_datetime(utcnow(), usegmt=True)
    return {
        "sid": call_sid,
        "account_sid": account_sid,
        "api_version": "2010-04-01",
        "date_created": now,
        "date_updated": now,
        "direction": "inbound",
        "from": call["from"],
        "from_formatted": call["from"],
        "to": call["to"],
        "to_formatted": call["to"],
        "status": "completed",
        "uri": f"/2010-04-01/Accounts/{account_sid}/Calls/{call_sid}.json",
    }


def _basic_auth(header: str | None) -> tuple[str, str] | None:
    if not header or not header.startswith("Basic "):
        return None
    try:
        decoded = base64.b64decode(header[len("Basic ") :], validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, colon, password = decoded.partition(":")
    return (username, password) if colon and username else None


def _message_resource(account_sid: str, form: dict[str, str]) -> dict[str, Any]:
    sid = "SM" + secrets.token_hex(16)
    moment = utcnow()
    now = format_datetime(moment, usegmt=True)
    uri = f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}"
    return {
        "account_sid": account_sid,
        "api_version": "2010-04-01",
        "body": form.get("Body", ""),
        "date_created": now,
        "date_sent": now,
        "_date": moment.strftime("%Y-%m-%d"),  # for DateSent filters, not sent
        "date_updated": now,
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": form.get("From"),
        "messaging_service_sid": form.get("MessagingServiceSid"),
        "num_media": "0",
        "num_segments": "1",
        "price": None,
        "price_unit": "USD",
        "sid": sid,
        "status": "queued",
        "subresource_uris": {"media": f"{uri}/Media.json"},
        "to": form.get("To"),
        "uri": f"{uri}.json",
    }


def _handler_for(standin: TwilioStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # HTTP/1.0: one request per connection, so no socket stays open for reuse.
        protocol_version = "HTTP/1.0"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            status, payload = standin._answer(
                urlsplit(self.path).path, self.headers.get("Authorization"), body
            )
            self._send(status, payload)

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if MESSAGES_PATH.match(url.path):
                status, payload = standin._list(
                    url.path, self.headers.get("Authorization"), url.query
                )
            else:
                status, payload = standin._answer_get(
                    url.path, self.headers.get("Authorization")
                )
            self._send(status, payload)

        def do_DELETE(self) -> None:
            status, payload = standin._delete(
                urlsplit(self.path).path, self.headers.get("Authorization")
            )
            self._send(status, payload)

        def _send(self, status: int, payload: dict[str, Any] | None) -> None:
            data = b"" if payload is None else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if status == 401:
                self.send_header("WWW-Authenticate", 'Basic realm="Twilio API"')
            if status == 429 and standin._retry_after is not None:
                self.send_header("Retry-After", standin._retry_after)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the tests assert on `received`, not on a log

    return Handler


@pytest.fixture
def twilio_api() -> Iterator[TwilioStandIn]:
    """A running stand-in that requires ACCOUNT_SID / AUTH_TOKEN as credentials."""
    standin = TwilioStandIn(credentials=(ACCOUNT_SID, AUTH_TOKEN)).start()
    try:
        yield standin
    finally:
        standin.stop()
