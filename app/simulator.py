"""Plays a phone call against the app the way Twilio would, with no Twilio account.

It signs every webhook with the app's token, follows the TwiML verb by verb
(Say, Play, Gather, Record, Redirect, Dial, Enqueue, Hangup), feeds the caller's
key presses and words to each <Gather>, and reports what the caller heard.
"""

import re
import secrets
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import requests
from flask import Flask
from twilio.request_validator import RequestValidator

SILENCE = "-"  # an input that means the caller says and presses nothing
MAX_STEPS = 60  # a guard against a menu that loops forever


class _CallerHungUp(Exception):
    pass


@dataclass
class Heard:
    lines: list[str] = field(default_factory=list)
    reference: str | None = None
    call_sid: str = ""
    ended_by: str = ""


class Transport:
    """Sends one signed POST and returns (status, body)."""

    def post(self, url: str, form: dict[str, str], signature: str) -> tuple[int, str]:
        raise NotImplementedError


class InProcessTransport(Transport):
    def __init__(self, app: Flask) -> None:
        self.client = app.test_client()

    def post(self, url: str, form: dict[str, str], signature: str) -> tuple[int, str]:
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        response = self.client.post(
            path, data=form, headers={"X-Twilio-Signature": signature}
        )
        return response.status_code, response.get_data(as_text=True)


class HttpTransport(Transport):
    def __init__(self, target: str) -> None:
        self.session = requests.Session()
        self.target = target.rstrip("/")

    def post(self, url: str, form: dict[str, str], signature: str) -> tuple[int, str]:
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        response = self.session.post(
            self.target + path,
            data=form,
            headers={"X-Twilio-Signature": signature},
            timeout=20,
        )
        return response.status_code, response.text


def _sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def parse_inputs(presses: str | None, says: tuple[str, ...]) -> deque[tuple[str, str]]:
    """Spoken words first, then key presses ("1,1" or "2,12345678#"; "-" is silence)."""
    queue: deque[tuple[str, str]] = deque(("speech", text) for text in says)
    for item in (presses or "").split(","):
        item = item.strip()
        if item:
            queue.append(
                ("silence", "") if item == SILENCE else ("dtmf", item.rstrip("#"))
            )
    return queue


class CallSimulator:
    def __init__(
        self,
        transport: Transport,
        auth_token: str,
        base_url: str,
        from_number: str,
        to_number: str,
        inputs: deque[tuple[str, str]],
        account_sid: str = "AC" + "0" * 32,
        echo: Callable[[str], None] = print,
    ) -> None:
        self.transport = transport
        self.validator = RequestValidator(auth_token)
        self.base_url = base_url.rstrip("/")
        self.inputs = inputs
        self.echo = echo
        self.heard = Heard(call_sid=_sid("CA"))
        self.params = {
            "CallSid": self.heard.call_sid,
            "AccountSid": account_sid,
            "From": from_number,
            "To": to_number,
            "Caller": from_number,
            "Called": to_number,
            "Direction": "inbound",
            "ApiVersion": "2010-04-01",
        }
        self.late_callbacks: list[tuple[str, dict[str, str]]] = []
        self.language: str | None = None  # of the last <Say> heard
        self.steps = 0
        self.current_url = self.base_url + "/voice/incoming"

    def _post(self, url: str, extra: dict[str, str]) -> tuple[int, str]:
        absolute = urljoin(self.base_url + "/", url)
        form = {**self.params, **extra}
        signature = self.validator.compute_signature(absolute, form)
        return self.transport.post(absolute, form, signature)

    def _document(
        self, url: str, extra: dict[str, str]
    ) -> tuple[str, ET.Element | None]:
        absolute = urljoin(self.current_url, url)
        status, body = self._post(absolute, extra)
        if status != 200:
            self.echo(f"  ! the app answered HTTP {status} to {absolute}")
            return absolute, None
        try:
            return absolute, ET.fromstring(body)  # noqa: S314 - our own TwiML
        except ET.ParseError:
            self.echo(
                f"  ! the app answered something that is not TwiML: {body[:200]!r}"
            )
            return absolute, None

    def _say(self, element: ET.Element) -> None:
        text = " ".join((element.text or "").split())
        if text:
            self.heard.lines.append(text)
            # The voice's language, whenever it changes: a sentence said in the
            # wrong language's voice stands out.
            language = element.get("language", "")
            changed = self.language is not None and language != self.language
            self.language = language
            self.echo(f"  🔊 {f'[{language}] ' if changed else ''}{text}")

    def run(self) -> Heard:
        self.echo(f"📞 {self.params['From'] or '(withheld)'} calls {self.params['To']}")
        self.current_url, root = self._document(
            self.current_url, {"CallStatus": "ringing"}
        )
        self.params["CallStatus"] = "in-progress"
        try:
            while root is not None and self.steps < MAX_STEPS:
                self.steps += 1
                root = self._play(root)
        except _CallerHungUp:
            pass
        if self.steps >= MAX_STEPS:
            self.echo("  ! too many steps: the simulator hangs up")
        self._finish()
        return self.heard

    def _follow(self, url: str | None, extra: dict[str, str]) -> ET.Element | None:
        self.current_url, root = self._document(url or self.current_url, extra)
        return root

    def _play(self, root: ET.Element) -> ET.Element | None:
        """Play one TwiML document; return the next one, or None when the call ends."""
        for verb in root:
            tag = verb.tag
            if tag == "Say":
                self._say(verb)
            elif tag == "Play":
                self.echo(f"  ♪ {verb.text or verb.get('digits', '')}")
            elif tag == "Gather":
                for child in verb:
                    if child.tag == "Say":
                        self._say(child)
                answer = self._answer(verb)
                if answer is not None:
                    return self._follow(verb.get("action"), answer)
            elif tag == "Record":
                result = self._record(verb)
                if result is not None:
                    return self._follow(verb.get("action"), result)
            elif tag == "Redirect":
                return self._follow(verb.text, {})
            elif tag == "Dial":
                result = self._dial(verb)
                if verb.get("action"):
                    return self._follow(verb.get("action"), result)
            elif tag == "Enqueue":
                return self._enqueue(verb)
            elif tag in ("Hangup", "Reject"):
                self.heard.ended_by = "app"
                self.echo("  ☎  the app hangs up")
                return None
        self.heard.ended_by = self.heard.ended_by or "end of TwiML"
        return None

    def _answer(self, gather: ET.Element) -> dict[str, str] | None:
        if not self.inputs:
            self.heard.ended_by = "caller"
            self.echo("  ☎  (no more input: the caller hangs up)")
            raise _CallerHungUp
        kind, value = self.inputs.popleft()
        accepts = (gather.get("input") or "dtmf").split()
        if kind == "silence":
            self.echo("  …  (silence)")
            return None  # Twilio falls through to the next verb
        if kind == "speech" and "speech" in accepts:
            self.echo(f"  🗣  « {value} »")
            return {"SpeechResult": value, "Confidence": "0.92"}
        self.echo(f"  ⌨  {value}")
        return {"Digits": value}

    def _record(self, record: ET.Element) -> dict[str, str] | None:
        callback = record.get("recordingStatusCallback")
        silent = bool(self.inputs) and self.inputs[0][0] == "silence"
        if silent:
            self.inputs.popleft()
        recording_sid = _sid("RE")
        account = self.params["AccountSid"]
        media = f"https://api.twilio.com/2010-04-01/Accounts/{account}/Recordings/{recording_sid}"
        if callback:
            events = (record.get("recordingStatusCallbackEvent") or "completed").split()
            status = "absent" if silent else "completed"
            if status in events:
                self.late_callbacks.append(
                    (
                        urljoin(self.current_url, callback),
                        {
                            "RecordingSid": recording_sid,
                            "RecordingUrl": media,
                            "RecordingStatus": status,
                            "RecordingDuration": "0" if silent else "12",
                            "RecordingChannels": "1",
                            "RecordingSource": "RecordVerb",
                            **({"ErrorCode": "16102"} if silent else {}),
                        },
                    )
                )
        if silent:
            self.echo("  …  (beep — the caller says nothing)")
            return None  # nothing recorded: Twilio goes on to the next verb
        self.echo("  ⏺  (beep — the caller leaves a 12-second message, then presses #)")
        return {
            "RecordingSid": recording_sid,
            "RecordingUrl": media,
            "RecordingDuration": "12",
            "Digits": "#",
        }

    def _dial(self, dial: ET.Element) -> dict[str, str]:
        targets = [
            (child.findtext("Identity") or child.text or "").strip() for child in dial
        ] or [(dial.text or "").strip()]
        self.echo(f"  ☎  ringing {', '.join(filter(None, targets))}: no answer here")
        return {"DialCallStatus": "no-answer", "DialCallDuration": "0"}

    def _enqueue(self, enqueue: ET.Element) -> ET.Element | None:
        self.echo(f"  ⏳ waiting in queue {(enqueue.text or '').strip()}")
        if enqueue.get("waitUrl"):
            _, wait = self._document(
                urljoin(self.current_url, enqueue.get("waitUrl")),
                {"QueuePosition": "1", "QueueTime": "0", "CurrentQueueSize": "1"},
            )
            for verb in wait if wait is not None else []:
                if verb.tag == "Say":
                    self._say(verb)
        self.echo("  ☎  (the caller hangs up while waiting)")
        self.heard.ended_by = "caller"
        if enqueue.get("action"):
            self._document(
                urljoin(self.current_url, enqueue.get("action")),
                {"QueueResult": "hangup", "QueueTime": "30"},
            )
        return None

    def _finish(self) -> None:
        self.params["CallStatus"] = "completed"
        self._post("/voice/status", {"CallDuration": "42", "SequenceNumber": "0"})
        # Twilio posts recording callbacks once processing is done, after the call.
        for url, form in self.late_callbacks:
            self._post(url, form)
        text = " ".join(self.heard.lines)
        match = re.search(r"(\d) (\d) (\d) (\d), (\d) (\d) (\d) (\d)", text)
        if match:
            digits = "".join(match.groups())
            self.heard.reference = f"{digits[:4]}-{digits[4:]}"
            self.echo(f"✅ reference heard: {self.heard.reference}")
        self.echo(
            f"📴 call {self.heard.call_sid} ended ({self.heard.ended_by or 'caller'})"
        )
