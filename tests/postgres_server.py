"""A private PostgreSQL that a test can stop, start, freeze and thaw, for outages.

initdb makes a cluster in a temporary folder; `postgres` serves it on a free
loopback port with trust authentication. freeze() sends SIGSTOP to the
postmaster and every backend, as a hung host would look: connections stay open
and the kernel still accepts new ones, but nothing answers. A test module uses
the fixture by importing it:
`from tests.postgres_server import postgres_server  # noqa: F401`.
"""

import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.conftest import service_required
from tests.redis_server import free_port

WAIT_SECONDS = 30
# initdb and postgres refuse to run as root; this user runs them when we are root.
SERVICE_USER = "postgres"


def _binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    return Path(found[-1]).parent if found else None


class PostgresServer:
    def __init__(self, bin_dir: Path, port: int, directory: Path) -> None:
        self.bin_dir = bin_dir
        self.port = port
        self.directory = directory
        self.data = directory / "data"
        self.log_path = directory / "postgres.log"
        self.url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        self._process: subprocess.Popen | None = None
        self._frozen: list[int] = []
        self._user = self._service_user()

    @staticmethod
    def _service_user() -> pwd.struct_passwd | None:
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam(SERVICE_USER)
        except KeyError:
            service_required(f"a '{SERVICE_USER}' user to run PostgreSQL as")
            raise

    def _run_as(self) -> dict:
        if self._user is None:
            return {}
        return {"user": self._user.pw_uid, "group": self._user.pw_gid}

    def init(self) -> None:
        if self._user is not None:
            os.chown(self.directory, self._user.pw_uid, self._user.pw_gid)
        subprocess.run(
            [
                str(self.bin_dir / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
            check=True,
            capture_output=True,
            timeout=120,
            **self._run_as(),
        )

    @property
    def running(self) -> bool:
        return self._process is not None

    def start(self) -> None:
        """Start postgres on this port and return once it accepts queries."""
        if self._process is not None:
            raise RuntimeError("postgres is already running")
        command = [
            str(self.bin_dir / "postgres"),
            "-D",
            str(self.data),
            "-p",
            str(self.port),
            "-h",
            "127.0.0.1",
            "-k",
            str(self.directory),  # its Unix socket here, not /var/run
            "-c",
            "fsync=off",
            "-c",
            "max_connections=60",
        ]
        with self.log_path.open("ab") as log:
            if self._user is not None:
                os.chown(self.log_path, self._user.pw_uid, self._user.pw_gid)
            self._process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                **self._run_as(),
            )
        deadline = time.monotonic() + WAIT_SECONDS
        while not self.answers():
            if self._process.poll() is not None:
                code = self._process.returncode
                self._process = None
                pytest.fail(f"postgres exited with {code}:\n{self.read_log()}")
            if time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"postgres did not answer in {WAIT_SECONDS} s")
            time.sleep(0.1)

    def stop(self) -> None:
        """Fast shutdown (SIGINT: sessions are ended); returns once it is gone."""
        process, self._process = self._process, None
        if process is None:
            return
        self.thaw()
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=WAIT_SECONDS)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def freeze(self) -> None:
        """SIGSTOP the postmaster and its backends: a hung database host."""
        if self._process is None:
            raise RuntimeError("postgres is not running")
        pids = [self._process.pid, *self._children(self._process.pid)]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
        self._frozen = pids

    def thaw(self) -> None:
        for pid in self._frozen:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        self._frozen = []

    @staticmethod
    def _children(pid: int) -> list[int]:
        path = Path(f"/proc/{pid}/task/{pid}/children")
        try:
            return [int(child) for child in path.read_text().split()]
        except OSError:
            return []

    def answers(self) -> bool:
        try:
            with psycopg.connect(self.url, connect_timeout=2) as connection:
                connection.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False

    def read_log(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]


@pytest.fixture(scope="module")
def postgres_server() -> Iterator[PostgresServer]:
    """A running private PostgreSQL; `.url`, `.stop()`, `.start()`, `.freeze()`."""
    bin_dir = _binaries()
    if bin_dir is None:
        service_required("PostgreSQL server binaries (/usr/lib/postgresql/*/bin)")
    # Not under pytest's tmp folder: that one is private to root, and the
    # service user must reach its data directory.
    directory = Path(tempfile.mkdtemp(prefix="ecoute-pg-"))
    try:
        server = PostgresServer(bin_dir, free_port(), directory)
        server.init()
        server.start()
        try:
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(directory, ignore_errors=True)
