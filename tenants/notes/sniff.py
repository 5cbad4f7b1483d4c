"""What an uploaded file really is, from its bytes: the client's content type is never trusted.

Only kinds people attach to CRM records are accepted (documents, images, spreadsheets, archives,
plain text); executables, scripts, HTML, SVG and anything unrecognised are refused, since a file
served back from our origin must never be something a browser or an OS would run.
"""

from __future__ import annotations

import io
import zipfile

#: (magic prefix, content type) of accepted binary formats.
_MAGIC = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/x-ole-storage"),  # legacy .doc/.xls/.msg
    (b"%!PS", "application/postscript"),
)
#: Refused whatever they are called: executables and libraries of every common platform.
_EXECUTABLE = (
    b"MZ",  # Windows PE / DOS
    b"\x7fELF",
    b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe",  # Mach-O
    b"\xca\xfe\xba\xbe",  # Mach-O universal / Java class
    b"#!",  # scripts
    b"\x00asm",  # WebAssembly
)  # fmt: skip
_MARKUP = (
    b"<!doctype html", b"<html", b"<head", b"<body", b"<script", b"<iframe", b"<svg", b"<?xml",
    b"<object", b"<embed", b"<meta", b"<style", b"<a ", b"<img", b"<div",
)  # fmt: skip
_OFFICE = {
    "word/": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xl/": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "ppt/": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}
_ODF = (
    b"application/vnd.oasis.opendocument.text",
    b"application/vnd.oasis.opendocument.spreadsheet",
    b"application/vnd.oasis.opendocument.presentation",
)
_RISKY_IN_ZIP = (".exe", ".dll", ".scr", ".bat", ".cmd", ".com", ".msi", ".js", ".vbs", ".ps1",
                 ".jar", ".app", ".sh", ".hta", ".lnk")  # fmt: skip


class Refused(ValueError):
    """The bytes are of a kind we do not store; the message says why, for the person."""


def sniff(data: bytes) -> str:
    """The content type of ``data``, or Refused."""
    if not data:
        raise Refused("The file is empty.")
    head = data[:16]
    if any(head.startswith(magic) for magic in _EXECUTABLE):
        raise Refused("Programs and scripts cannot be attached.")
    if head.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "image/webp"
    for magic, content_type in _MAGIC:
        if head.startswith(magic):
            return content_type
    if head.startswith(b"PK\x03\x04"):
        return _zip_type(data)
    return _text_type(data)


def _zip_type(data: bytes) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
            if "mimetype" in names:
                kind = archive.read("mimetype").strip()
                if kind in _ODF:
                    return kind.decode()
    except (zipfile.BadZipFile, KeyError, RuntimeError):
        raise Refused("The archive is damaged.") from None
    if "[Content_Types].xml" in names:
        for prefix, content_type in _OFFICE.items():
            if any(name.startswith(prefix) for name in names):
                return content_type
    if any(name.lower().endswith(_RISKY_IN_ZIP) for name in names):
        raise Refused("Archives holding programs or scripts cannot be attached.")
    return "application/zip"


def _text_type(data: bytes) -> str:
    sample = data[:8192]
    if b"\x00" in sample:
        raise Refused("This kind of file cannot be attached (use PDF, an image, an office "
                      "document, a ZIP archive or plain text).")  # fmt: skip
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(sample) - 4:  # not just a character cut at the sample's end
            raise Refused("Text files must be UTF-8.") from None
        text = sample[: exc.start].decode("utf-8")
    lowered = text.lstrip("\ufeff \t\r\n").lower().encode()
    # Browsers sniff HTML from the first bytes; refuse markup anywhere near the top as well.
    if any(tag in lowered[:1024] for tag in _MARKUP):
        raise Refused("HTML and other markup files cannot be attached.")
    return "text/plain"
