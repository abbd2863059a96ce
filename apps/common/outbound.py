"""Every outbound HTTP request of the app goes through here (modelled on healthchecks' hc/lib/curl.py).

A URL a user typed (a webhook) must not turn the server into a door to its own
network: the host is resolved once, every address it resolves to is checked,
and the connection goes to a checked address (the Host header and TLS SNI
still name the host, so virtual hosts and certificates work). Redirects are
never followed: a 3xx is the answer. Every request has a deadline.

Refused addresses (after DNS, so decimal ``2130706433``, octal, hex and
``[::ffff:127.0.0.1]`` forms are caught as what they resolve to):

- always: cloud metadata addresses (``169.254.169.254``, ``fd00:ec2::254``,
  ``169.254.170.2``, ``100.100.100.200``), unspecified, multicast, broadcast
  and reserved addresses;
- unless ``BM_WEBHOOK_ALLOW_PRIVATE=true``: loopback, private (RFC 1918,
  unique-local ``fc00::/7``), link-local, shared (``100.64.0.0/10``) and any
  other non-global address. The setting opens private networks for installs
  whose receivers live there; it never opens the metadata addresses, which
  hand out cloud credentials and are no one's webhook.

IPv6 forms that carry an IPv4 address (IPv4-mapped ``::ffff:a.b.c.d``,
6to4 ``2002::/16``, NAT64 ``64:ff9b::/96``) are judged by that IPv4 address.

Errors never tell a closed port from a filtered one or from a name that does
not resolve: all of them are "could not be reached".
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.conf import settings

DEFAULT_TIMEOUT = 5.0
# The answer's body is read up to this much (and otherwise ignored).
MAX_BODY = 64 * 1024

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, ...
        "169.254.170.2",  # AWS ECS task credentials
        "100.100.100.200",  # Alibaba Cloud
        "fd00:ec2::254",  # AWS over IPv6
    )
)
_SHARED = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

UNREACHABLE = "could not be reached"
REFUSED = "address is refused: it is on a loopback, private, link-local or reserved network"
METADATA = "address is refused: it is a cloud metadata address"


class OutboundError(Exception):
    """A request did not get an answer; str() is a phrase to follow the target's name (no secret)."""


class AddressRefused(OutboundError):
    """The host resolves to an address the guard refuses."""


class Unreachable(OutboundError):
    """No connection (refused, filtered, unresolvable, unroutable): deliberately one message."""


class Timeout(OutboundError):
    """Connected, but no whole answer before the deadline."""


class TLSFailure(OutboundError):
    """Connected, but the TLS handshake failed (certificate not trusted, wrong name, ...)."""


@dataclass
class Response:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def refusal(address: IPAddress, *, allow_private: bool) -> str | None:
    """Return why this address may not be connected to, or None when it may."""
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
        address = ipaddress.IPv6Address(address.compressed.split("%", 1)[0])
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        return refusal(embedded, allow_private=allow_private) if allow_private else REFUSED
    if address in METADATA_ADDRESSES:
        return METADATA
    if address.is_unspecified or address.is_multicast or (address.is_reserved and not address.is_loopback):
        return REFUSED
    if isinstance(address, ipaddress.IPv4Address) and address == ipaddress.IPv4Address("255.255.255.255"):
        return REFUSED
    if address.is_global:
        return None
    if allow_private and (
        address.is_private or address.is_loopback or address.is_link_local or address in _SHARED
    ):
        return None
    return REFUSED


def allow_private_default() -> bool:
    return bool(getattr(settings, "BM_WEBHOOK_ALLOW_PRIVATE", False))


def resolve(host: str, port: int, *, allow_private: bool) -> list[tuple[int, tuple]]:
    """Resolve once; return (family, sockaddr) for each address; raise if any address is refused.

    All addresses are checked, not only the first: a name that mixes a public and a
    private address is refused as a whole (a public service has no reason to).
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        raise Unreachable(UNREACHABLE) from None
    targets: list[tuple[int, tuple]] = []
    for family, _type, _proto, _name, sockaddr in infos:
        address = ipaddress.ip_address(sockaddr[0])
        why = refusal(address, allow_private=allow_private)
        if why is not None:
            raise AddressRefused(why)
        targets.append((family, sockaddr))
    if not targets:
        raise Unreachable(UNREACHABLE)
    return targets


def _connector(targets: list[tuple[int, tuple]], deadline: float):
    """A replacement for socket.create_connection that only connects to the checked addresses."""

    def create_connection(_address, _timeout=None, _source=None):
        for family, sockaddr in targets:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.settimeout(remaining)
            try:
                sock.connect(sockaddr)
            except OSError:
                sock.close()
                continue
            return sock
        raise Unreachable(UNREACHABLE)

    return create_connection


def request(
    method: str,
    url: str,
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    allow_private: bool | None = None,
) -> Response:
    """Send one request and return its answer (any status, 3xx included: never followed).

    `timeout` bounds the whole exchange (connect, send, answer); raises an OutboundError.
    """
    if allow_private is None:
        allow_private = allow_private_default()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Unreachable(UNREACHABLE)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise Unreachable(UNREACHABLE) from None
    deadline = time.monotonic() + timeout
    targets = resolve(parts.hostname, port, allow_private=allow_private)
    remaining = max(deadline - time.monotonic(), 0.01)
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(
            parts.hostname, port, timeout=remaining, context=ssl.create_default_context()
        )
    else:
        conn = http.client.HTTPConnection(parts.hostname, port, timeout=remaining)
    conn._create_connection = _connector(targets, deadline)  # type: ignore[attr-defined]
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query

    expired = threading.Event()

    def expire() -> None:  # the whole exchange's deadline, also against a slow trickle of bytes
        expired.set()
        sock = conn.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    timer = threading.Timer(remaining, expire)
    timer.daemon = True
    timer.start()
    try:
        try:
            conn.connect()
        except ssl.SSLError:
            raise TLSFailure("refused the TLS handshake (certificate not trusted or wrong name)") from None
        except OutboundError:
            raise
        except OSError:
            raise Unreachable(UNREACHABLE) from None
        try:
            conn.request(method, path, body=body, headers=headers or {})
            answer = conn.getresponse()
            data = answer.read(MAX_BODY)
            if expired.is_set():  # cut off mid-answer: what was read is not the answer
                raise TimeoutError
            return Response(answer.status, {k.lower(): v for k, v in answer.getheaders()}, data)
        except (OSError, http.client.HTTPException) as exc:
            if isinstance(exc, TimeoutError) or expired.is_set() or time.monotonic() >= deadline:
                raise Timeout(f"did not answer within {timeout:g} s") from None
            raise Unreachable("closed the connection without a valid HTTP answer") from None
    finally:
        timer.cancel()
        conn.close()
