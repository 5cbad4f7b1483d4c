"""Where attachment bytes live: a small interface, a local folder in the embedded default.

``LocalStorage`` keeps each tenant's files under ``<data_dir>/attachments/<tenant id>/``, named by
a key the application made (never by the uploaded file's name), written to a temporary file and
renamed so a reader never sees half a file. Another backend (S3 and the like) implements the same
three methods.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

from flask import current_app

_KEY = re.compile(r"^[0-9a-f]{32}$")


class Storage(Protocol):
    def put(self, tenant_id: uuid.UUID, key: str, data: bytes) -> None: ...
    def open(self, tenant_id: uuid.UUID, key: str) -> BinaryIO: ...
    def delete(self, tenant_id: uuid.UUID, key: str) -> None: ...
    def keys(self, tenant_id: uuid.UUID, before: float) -> Iterator[str]:
        """The tenant's stored keys last written before ``before`` (a Unix time)."""
        ...


class LocalStorage:
    """Files in a local folder, one subfolder per tenant."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, tenant_id: uuid.UUID, key: str) -> Path:
        if not _KEY.match(key):
            raise ValueError("storage keys are 32 hex digits")
        return self.root / uuid.UUID(str(tenant_id)).hex / key[:2] / key

    def put(self, tenant_id: uuid.UUID, key: str, data: bytes) -> None:
        path = self._path(tenant_id, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{key}.tmp")
        with open(partial, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        partial.replace(path)

    def open(self, tenant_id: uuid.UUID, key: str) -> BinaryIO:
        return open(self._path(tenant_id, key), "rb")  # noqa: SIM115 - the caller streams it

    def delete(self, tenant_id: uuid.UUID, key: str) -> None:
        self._path(tenant_id, key).unlink(missing_ok=True)

    def keys(self, tenant_id: uuid.UUID, before: float) -> Iterator[str]:
        folder = self.root / uuid.UUID(str(tenant_id)).hex
        if not folder.is_dir():
            return
        for path in folder.glob("*/*"):
            if _KEY.match(path.name) and path.stat().st_mtime < before:
                yield path.name
            elif path.name.startswith(".") and path.stat().st_mtime < before:
                path.unlink(missing_ok=True)  # a write that never finished


def storage() -> Storage:
    """The application's attachment storage."""
    app = current_app._get_current_object()
    found = app.extensions.get("rapport.attachments")
    if found is None:
        root = app.config["RAPPORT"].data_dir / "attachments"
        found = app.extensions.setdefault("rapport.attachments", LocalStorage(root))
    return found
