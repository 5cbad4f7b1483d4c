"""Outgoing email: SMTP when configured, a local development mailbox otherwise.

``send_message`` delivers one message now. In the embedded default (no ``smtp_host``) messages are
written as ``.eml`` files under ``<data_dir>/mailbox`` and shown at ``/dev/mailbox`` outside
production, so a laptop run needs no mail server and nothing is lost.
"""

from __future__ import annotations

import email.policy
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import formatdate, make_msgid, parsedate_to_datetime
from pathlib import Path

from rapport.platform.ids import new_id
from rapport.platform.settings import Settings


@dataclass(frozen=True)
class Message:
    to: str
    subject: str
    text: str
    html: str | None = None


@dataclass(frozen=True)
class StoredMessage:
    """A message kept in the development mailbox."""

    id: str
    to: str
    subject: str
    sent_at: str
    text: str
    html: str | None


def build(message: Message, settings: Settings) -> EmailMessage:
    """Build the MIME message: plain text, with an HTML alternative when there is one."""
    mime = EmailMessage(policy=email.policy.SMTP)
    mime["From"] = settings.mail_from
    mime["To"] = message.to
    mime["Subject"] = message.subject
    mime["Date"] = formatdate(localtime=False)
    mime["Message-ID"] = make_msgid(domain="rapport.localhost")
    mime.set_content(message.text)
    if message.html:
        mime.add_alternative(message.html, subtype="html")
    return mime


def send_message(message: Message, settings: Settings) -> None:
    """Deliver one message now (SMTP, or the local mailbox in the embedded default)."""
    mime = build(message, settings)
    if not settings.smtp_host:
        _store_locally(mime, settings)
        return
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=30) as smtp:
        if settings.smtp_tls:
            smtp.starttls(context=ssl.create_default_context())
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password)
        smtp.send_message(mime)


def mailbox_dir(settings: Settings) -> Path:
    return settings.data_dir / "mailbox"


def _store_locally(mime: EmailMessage, settings: Settings) -> None:
    folder = mailbox_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    # UUIDv7 names sort by time; write then rename so a reader never sees half a file.
    name = new_id().hex
    partial = folder / f".{name}.tmp"
    partial.write_bytes(mime.as_bytes())
    partial.rename(folder / f"{name}.eml")


def mailbox(settings: Settings, limit: int = 100) -> list[StoredMessage]:
    """The development mailbox, newest first."""
    folder = mailbox_dir(settings)
    if not folder.is_dir():
        return []
    files = sorted(folder.glob("*.eml"), reverse=True)[:limit]
    return [_read(path) for path in files]


def mailbox_message(settings: Settings, message_id: str) -> StoredMessage | None:
    if not message_id.isalnum():
        return None
    path = mailbox_dir(settings) / f"{message_id}.eml"
    return _read(path) if path.is_file() else None


def _read(path: Path) -> StoredMessage:
    parsed = BytesParser(policy=email.policy.default).parsebytes(path.read_bytes())
    text_part = parsed.get_body(preferencelist=("plain",))
    html_part = parsed.get_body(preferencelist=("html",))
    date = parsed.get("Date")
    return StoredMessage(
        id=path.stem,
        to=str(parsed.get("To", "")),
        subject=str(parsed.get("Subject", "")),
        sent_at=parsedate_to_datetime(date).isoformat(timespec="seconds") if date else "",
        text=text_part.get_content() if text_part is not None else "",
        html=html_part.get_content() if html_part is not None else None,
    )
