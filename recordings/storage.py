"""Where recording media is kept, behind one small interface.

LocalStorage keeps files under RECORDINGS_DIR. A centre running several machines
would add an S3-compatible backend with the same five methods (save streams to
a multipart upload and returns size and SHA-256; open_range reads with a Range
GET; local_path returns None so playback streams instead of sending a file).
"""

import hashlib
import os
import re
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from flask import Flask

# Keys are made by the app (never from a request): a safe file name, no folders.
KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class StorageError(Exception):
    pass


@dataclass(frozen=True)
class Stored:
    size: int
    sha256: str


class Storage(Protocol):
    def save(self, key: str, chunks: Iterable[bytes], max_bytes: int) -> Stored: ...
    def local_path(self, key: str) -> Path | None: ...
    def exists(self, key: str) -> bool: ...
    def delete(self, key: str) -> bool: ...
    def sweep_partials(self, older_than_seconds: float) -> int: ...


class LocalStorage:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        if not KEY.match(key) or ".." in key:
            raise StorageError(f"not a storage key: {key!r}")
        return self.root / key

    def save(self, key: str, chunks: Iterable[bytes], max_bytes: int) -> Stored:
        """Write atomically: a temp file in the same folder, fsync, then rename.

        A worker killed half-way leaves only a temp file, never a short recording
        under the real name.
        """
        target = self._path(key)
        self.root.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        descriptor, temporary = tempfile.mkstemp(dir=self.root, prefix=".part-")
        try:
            with os.fdopen(descriptor, "wb") as handle:
                for chunk in chunks:
                    size += len(chunk)
                    if size > max_bytes:
                        raise StorageError(f"larger than {max_bytes} bytes")
                    digest.update(chunk)
                    handle.write(chunk)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return Stored(size, digest.hexdigest())

    def local_path(self, key: str) -> Path | None:
        return self._path(key)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> bool:
        path = self._path(key)
        existed = path.is_file()
        path.unlink(missing_ok=True)
        return existed

    def sweep_partials(self, older_than_seconds: float) -> int:
        """Remove temp files a killed download left behind; how many went."""
        cutoff = time.time() - older_than_seconds
        removed = 0
        for partial in self.root.glob(".part-*"):
            if partial.stat().st_mtime < cutoff:
                partial.unlink(missing_ok=True)
                removed += 1
        return removed


def storage_for(app: Flask) -> Storage:
    """The app's storage, built on first use."""
    if "recordings.storage" not in app.extensions:
        app.extensions["recordings.storage"] = LocalStorage(
            app.config["RECORDINGS_DIR"]
        )
    return app.extensions["recordings.storage"]
