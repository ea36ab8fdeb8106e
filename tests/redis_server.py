"""A private redis-server that a test can stop and start again, for outage tests.

It listens on a free loopback port with no persistence, so data does not survive
stop() and start(). A test module uses the fixture by importing it:
`from tests.redis_server import redis_server  # noqa: F401`.
"""

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import service_required

WAIT_SECONDS = 10


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    def __init__(self, binary: str, port: int, directory: Path) -> None:
        self.binary = binary
        self.port = port
        self.directory = directory
        self.log_path = directory / "redis.log"
        self.url = f"redis://127.0.0.1:{port}/0"
        self._process: subprocess.Popen | None = None

    @property
    def running(self) -> bool:
        return self._process is not None

    def start(self) -> None:
        """Start redis-server on this port and return once it answers PING."""
        if self._process is not None:
            raise RuntimeError("redis-server is already running")
        command = [
            self.binary,
            "--save",
            "",
            "--appendonly",
            "no",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.directory),
        ]
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        deadline = time.monotonic() + WAIT_SECONDS
        while not self._answers_ping():
            if self._process.poll() is not None:
                code = self._process.returncode
                self._process = None
                pytest.fail(
                    f"redis-server exited with {code} on port {self.port}:\n"
                    + self.log_path.read_text(errors="replace")[-2000:]
                )
            if time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"redis-server did not answer PING in {WAIT_SECONDS} s")
            time.sleep(0.05)

    def stop(self) -> None:
        """Shut redis-server down and return once its port refuses connections."""
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()  # SIGTERM: Redis shuts down cleanly (nothing to save)
        try:
            process.wait(timeout=WAIT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        deadline = time.monotonic() + WAIT_SECONDS
        while self._accepts_connections():
            if time.monotonic() > deadline:
                pytest.fail(f"port {self.port} still accepts connections after stop")
            time.sleep(0.05)

    def _accepts_connections(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def _answers_ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(64).startswith(b"+PONG")
        except OSError:
            return False


@pytest.fixture
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A running private redis-server; `.url`, `.stop()`, `.start()`."""
    binary = shutil.which("redis-server")
    if binary is None:
        service_required("redis-server")
    server = RedisServer(binary, free_port(), tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()
