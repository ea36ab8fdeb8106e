"""Prism, the OpenAPI mock server, serving Twilio's own API description.

`make test` installs Prism from package-lock.json into node_modules. The spec
lives beside the repository in ../shared/twilio (TWILIO_SPEC overrides it).
Prism answers with the spec's examples and rejects requests the spec forbids
with 422, so twilio-python's real client runs against Twilio's contract.

A test module uses the fixture by importing it:
`from tests.prism import prism_url  # noqa: F401`.
"""

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import service_required

ROOT = Path(__file__).resolve().parents[1]
PRISM = ROOT / "node_modules" / ".bin" / "prism"
SPEC = ROOT.parent / "shared" / "twilio" / "twilio_api_v2010.json"
START_SECONDS = 30
STOP_SECONDS = 10


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def listening(log_path: Path, port: int) -> bool:
    """Prism said so and the port answers (not some other process that took it)."""
    said = f"Prism is listening on http://127.0.0.1:{port}"
    return said in log_path.read_text(errors="replace") and accepts_connections(port)


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def prism_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of a Prism mock of api.twilio.com, for TWILIO_API_BASE_URL."""
    if not PRISM.exists():
        service_required("Prism (npm @stoplight/prism-cli; run make test)")
    spec = Path(os.environ.get("TWILIO_SPEC") or SPEC)
    if not spec.is_file():
        pytest.fail(f"Twilio's OpenAPI description is missing: {spec} (TWILIO_SPEC)")
    port = free_port()
    log_path = tmp_path_factory.mktemp("prism") / "prism.log"
    command = [str(PRISM), "mock", "-h", "127.0.0.1", "-p", str(port), str(spec)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    try:
        deadline = time.monotonic() + START_SECONDS
        while not listening(log_path, port):
            if process.poll() is not None:
                pytest.fail(
                    f"Prism exited with {process.returncode}; see {log_path}:\n"
                    + log_path.read_text(errors="replace")[-2000:]
                )
            if time.monotonic() > deadline:
                pytest.fail(f"Prism did not listen in {START_SECONDS} s: {log_path}")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)
