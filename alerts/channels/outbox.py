"""E-mail without a mail server: one .eml file per message in a folder.

This is what ``pricewatch up`` uses until SMTP is configured. Any mail client
opens the files; the name is the notification's key, so a resend after a
crash rewrites the same file instead of adding a second one.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from alerts.channels.base import Channel, PermanentError, TransientError
from alerts.notices import Notice
from alerts.rendering import BadAddress, email_bytes


class OutboxChannel(Channel):
    def __init__(self, directory: Path, sender: str) -> None:
        self.directory = directory
        self.sender = sender

    def path_for(self, notice: Notice) -> Path:
        return self.directory / f"{notice.kind.value}-{notice.notification_id}.eml"

    def _write(self, path: Path, data: bytes) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        # write-then-rename: a reader never sees half a message
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)

    async def send(self, notice: Notice) -> None:
        try:
            data = email_bytes(notice, self.sender)
        except BadAddress as exc:
            raise PermanentError(str(exc)) from exc
        await self._file(self.path_for(notice), data)

    async def send_email(self, to: str, data: bytes, name: str = "") -> None:
        """File a rendered message as ``<name>.eml``."""
        if not name or "/" in name or name.startswith("."):
            raise PermanentError(f"an outbox message needs a plain file name, got {name!r}")
        await self._file(self.directory / f"{name}.eml", data)

    async def _file(self, path: Path, data: bytes) -> None:
        try:
            await asyncio.to_thread(self._write, path, data)
        except OSError as exc:
            raise TransientError(f"cannot write to the outbox {self.directory}: {exc}") from exc
