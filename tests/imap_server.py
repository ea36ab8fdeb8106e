"""A private dovecot (Debian's dovecot-imapd) that a test can stop and start again.

It listens on a free loopback port with a config, a passwd-file user and a
Maildir all in a temporary folder: nothing of the machine's own dovecot
(if any) is read or touched. Plain IMAP without TLS, allowed from loopback
only. Messages are delivered the way a local MTA does it: a file written into
the Maildir's tmp/ then moved to new/. A test module uses the fixture by
importing it: `from tests.imap_server import imap_server  # noqa: F401`.
"""

import getpass
import grp
import itertools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import service_required

DOVECOT = "/usr/sbin/dovecot"
WAIT_SECONDS = 10
USER = "centre"
PASSWORD = "mot de passe"  # a space: the URL must carry it percent-encoded

CONFIG = """\
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
login_trusted_networks = 127.0.0.0/8
default_internal_user = {internal_user}
default_internal_group = {group}
default_login_user = {login_user}
first_valid_uid = {uid}
first_valid_gid = {gid}
mail_location = maildir:{root}/Maildir
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {root}/passwd
}}
userdb {{
  driver = passwd-file
  args = {root}/passwd
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service stats {{
  chroot =
}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ImapServer:
    def __init__(self, port: int, root: Path) -> None:
        self.port = port
        self.root = root
        self.maildir = root / "Maildir"
        self.log_path = root / "dovecot.log"
        self.config = root / "dovecot.conf"
        self._process: subprocess.Popen | None = None
        self._serial = itertools.count(1)
        for folder in ("run", "state", "Maildir/cur", "Maildir/new", "Maildir/tmp"):
            (root / folder).mkdir(parents=True, exist_ok=True)
        uid, gid, login_user = _accounts()
        self._owner = (uid, gid)
        for path in (root, *root.rglob("*")):
            os.chown(path, uid, gid)
        (root / "passwd").write_text(
            f"{USER}:{{PLAIN}}{PASSWORD}:{uid}:{gid}::{root}::\n"
        )
        self.config.write_text(
            CONFIG.format(
                root=root,
                port=port,
                internal_user=pwd.getpwuid(uid).pw_name,
                login_user=login_user,
                group=grp.getgrgid(gid).gr_name,
                uid=uid,
                gid=gid,
            )
        )

    def url(self, mailbox: str = "INBOX") -> str:
        """The MAIL_IMAP_URL of this server's one mailbox."""
        return f"imap://{USER}:mot%20de%20passe@127.0.0.1:{self.port}/{mailbox}"

    def deliver(self, message: bytes | str) -> Path:
        """Put one message in the mailbox, as a local delivery agent does."""
        data = message.encode() if isinstance(message, str) else message
        name = f"{time.time_ns()}.P{os.getpid()}Q{next(self._serial)}.ecoute-tests"
        scratch = self.maildir / "tmp" / name
        scratch.write_bytes(data)
        os.chown(scratch, *self._owner)
        return scratch.rename(self.maildir / "new" / name)

    def messages(self) -> int:
        """How many messages the mailbox holds (read or not)."""
        return sum(
            1 for folder in ("new", "cur") for _ in (self.maildir / folder).iterdir()
        )

    def start(self) -> None:
        """Start dovecot and return once its IMAP port greets."""
        if self._process is not None:
            raise RuntimeError("dovecot is already running")
        self._process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + WAIT_SECONDS
        while not self._greets():
            if self._process.poll() is not None:
                code = self._process.returncode
                self._process = None
                pytest.fail(f"dovecot exited with {code}:\n{self._log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"dovecot did not greet in {WAIT_SECONDS} s")
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop dovecot and return once its port refuses connections."""
        process, self._process = self._process, None
        if process is None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=WAIT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        deadline = time.monotonic() + WAIT_SECONDS
        while self._greets() and time.monotonic() < deadline:
            time.sleep(0.05)

    def _greets(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                return sock.recv(64).startswith(b"* OK")
        except OSError:
            return False

    def _log_tail(self) -> str:
        if not self.log_path.exists():
            return "(no log)"
        return self.log_path.read_text(errors="replace")[-2000:]


def _accounts() -> tuple[int, int, str]:
    """(uid, gid, login user) dovecot runs its processes as.

    Not root: everything runs as the user running the tests. Root (a CI
    container): dovecot refuses to log in as root or to serve mail to uid 0,
    so it uses the accounts Debian's package made (dovenull, dovecot).
    """
    if os.getuid() != 0:
        return os.getuid(), os.getgid(), getpass.getuser()
    mail = pwd.getpwnam("dovecot")
    return mail.pw_uid, mail.pw_gid, "dovenull"


@pytest.fixture
def imap_server() -> Iterator[ImapServer]:
    if shutil.which(DOVECOT) is None:
        service_required("dovecot (apt-get install dovecot-imapd)")
    # Not under tmp_path: pytest makes its folders 0700, and as root dovecot
    # reads its files as another user, who must be able to reach them.
    root = Path(tempfile.mkdtemp(prefix="ecoute-dovecot-"))
    root.chmod(0o755)
    server = ImapServer(free_port(), root)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    """`python -m tests.imap_server`: a local mailbox to try e-mail by hand
    (README, "E-mail"); Ctrl-C stops it and removes its folder."""
    root = Path(tempfile.mkdtemp(prefix="ecoute-dovecot-"))
    root.chmod(0o755)
    server = ImapServer(int(os.environ.get("IMAP_PORT", "1143")), root)
    server.start()
    print(f"MAIL_IMAP_URL={server.url()}", flush=True)
    print(f"user {USER!r}, password {PASSWORD!r}, Maildir {server.maildir}", flush=True)
    stop = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop)  # waited for, not fatal
    try:
        signal.sigwait(stop)
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
