"""One outbound webhook request, refusing to reach the provider's own network (SSRF).

The host is resolved once; every address it resolves to must be public (not private, loopback,
link-local, multicast, reserved or unspecified) unless ``webhook_allow_private`` is on. The
connection then goes to the address that was checked, never to a second resolution of the name
(which an attacker's DNS could answer differently: the TOCTOU of DNS rebinding). TLS still
verifies the certificate against the host name (SNI). Redirects are never followed: a 3xx is
reported as a failed attempt, so a receiver cannot bounce the request to an internal address.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

TIMEOUT = 10.0  # seconds, for connecting and for each read
EXCERPT = 1000  # characters of the response body kept in the log
_MAX_READ = 64 * 1024


class Refused(Exception):
    """The URL may not be called (bad form, or an address that is not public)."""


@dataclass(frozen=True)
class Outcome:
    status: int | None  # None: no HTTP response
    duration_ms: int
    error: str | None
    excerpt: str | None

    @property
    def accepted(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


def check_url(url: str) -> tuple[str, str, int, str]:
    """Split a webhook URL into (scheme, host, port, path); Refused when it cannot be one."""
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
    except ValueError:
        raise Refused("The address is not valid.") from None
    if parts.scheme not in ("http", "https") or not hostname:
        raise Refused("Use an http:// or https:// address.")
    if parts.username or parts.password:
        raise Refused("Leave user names and passwords out of the address.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise Refused("The port is not valid.") from None
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return parts.scheme, hostname, port, path


def resolve(host: str, port: int, allow_private: bool) -> str:
    """The address to connect to; Refused if the host does not resolve or is not public."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise Refused(f"The host {host} does not resolve.") from None
    addresses = [info[4][0] for info in infos]
    if not addresses:
        raise Refused(f"The host {host} does not resolve.")
    if not allow_private:
        # All of them: a name that also resolves privately could be steered there.
        for address in addresses:
            if not is_public(address):
                raise Refused(f"{host} resolves to {address}, which is not a public address.")
    return addresses[0]


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str) -> None:
        super().__init__(host, port, timeout=TIMEOUT)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), TIMEOUT)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str) -> None:
        super().__init__(host, port, timeout=TIMEOUT, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), TIMEOUT)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)  # type: ignore[attr-defined]


def post(url: str, body: bytes, headers: dict[str, str], *, allow_private: bool) -> Outcome:
    """POST ``body`` to ``url`` once; never raises for network trouble, reports it."""
    started = time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        scheme, host, port, path = check_url(url)
        address = resolve(host, port, allow_private)
    except Refused as exc:
        return Outcome(None, elapsed(), f"Refused: {exc}", None)
    kind = _PinnedHTTPS if scheme == "https" else _PinnedHTTP
    connection = kind(host, port, address)
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        raw = response.read(_MAX_READ)
        excerpt = raw.decode("utf-8", "replace")[:EXCERPT] or None
        error = None
        if 300 <= response.status < 400:
            target = response.getheader("Location") or "nowhere"
            error = f"Redirect to {target[:300]} not followed: webhooks never follow redirects."
        elif not 200 <= response.status < 300:
            error = f"The receiver answered {response.status} {response.reason}."[:500]
        return Outcome(response.status, elapsed(), error, excerpt)
    except (OSError, http.client.HTTPException) as exc:
        return Outcome(None, elapsed(), f"{type(exc).__name__}: {exc}"[:500], None)
    finally:
        connection.close()
