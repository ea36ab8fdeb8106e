"""A local stand-in for Twilio's recording media URLs, with basic auth."""

import base64
import io
import math
import struct
import threading
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

ACCOUNT = "AC" + "1" * 32
TOKEN = "media-token"


def make_wav(seconds: float, channels: int = 1, rate: int = 8000) -> bytes:
    """A real WAV file: a 440 Hz tone, as Twilio's 8 kHz 16-bit recordings are."""
    frames = int(seconds * rate)
    samples = b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate))) * channels
        for i in range(frames)
    )
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as audio:
        audio.setnchannels(channels)
        audio.setsampwidth(2)
        audio.setframerate(rate)
        audio.writeframes(samples)
    return buffer.getvalue()


@dataclass
class MediaStandIn:
    url: str = ""
    media: dict[str, tuple[bytes, str]] = field(
        default_factory=dict
    )  # path -> body, type
    not_found_first: int = 0  # answer 404 this many times first (media not ready)
    requests: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    delay_per_chunk: float = 0.0  # slow down downloads (to kill a worker mid-way)

    def recording_url(self, recording_sid: str) -> str:
        """What Twilio sends in RecordingUrl: no extension."""
        return f"{self.url}/2010-04-01/Accounts/{ACCOUNT}/Recordings/{recording_sid}"

    def serve(self, recording_sid: str, body: bytes, content_type: str = "audio/x-wav"):
        path = f"/2010-04-01/Accounts/{ACCOUNT}/Recordings/{recording_sid}.wav"
        self.media[path] = (body, content_type)


def _handler(standin: MediaStandIn) -> type[BaseHTTPRequestHandler]:
    expected = "Basic " + base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode()).decode()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep test output quiet
            pass

        def do_GET(self) -> None:
            if self.headers.get("Authorization") != expected:
                standin.refused.append(self.path)
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="Twilio API"')
                self.end_headers()
                return
            standin.requests.append(self.path)
            if standin.not_found_first > 0 or self.path not in standin.media:
                standin.not_found_first = max(0, standin.not_found_first - 1)
                self.send_response(404)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"code": 20404, "status": 404}')
                return
            body, content_type = standin.media[self.path]
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            for start in range(0, len(body), 16 * 1024):
                self.wfile.write(body[start : start + 16 * 1024])
                if standin.delay_per_chunk:
                    threading.Event().wait(standin.delay_per_chunk)

    return Handler


@contextmanager
def serving() -> Iterator[MediaStandIn]:
    """The stand-in, served from a thread on a free port of 127.0.0.1."""
    standin = MediaStandIn()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(standin))
    server.daemon_threads = True
    standin.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield standin
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def media() -> Iterator[MediaStandIn]:
    with serving() as standin:
        yield standin
