"""Every HTTP call Shoal makes to an address someone else chose (agent webhooks, webhook
commands, subscriptions) goes through `Outbound`: http(s) only, no private, loopback or
link-local targets unless the operator allows them, a hard timeout and a response size cap.
A URL that is stored to be called later is checked when it is saved too (`check_destination`):
an address written in any form a resolver reads, or a name of the local host, is refused then.

The address check cannot be dodged by DNS: the connection layer resolves the host itself,
refuses the call if *any* resolved address is refused, and then connects to one of the checked
addresses (TLS still verifies the certificate against the host name), so a second, different
answer from DNS (rebinding) is never used.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import socket
import ssl
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpcore
import httpx

from shoal.config import IPNetwork, parse_networks
from shoal.errors import UpstreamError
from shoal.jsontext import parse_json

if TYPE_CHECKING:
    from shoal.config import Settings

log = logging.getLogger("shoal.net")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
DEFAULT_TIMEOUT = 15.0
DEFAULT_MAX_BYTES = 1024 * 1024
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class OutboundError(UpstreamError):
    """An outbound call failed: refused, unreachable, too slow or answered too much."""


class AddressRefused(OutboundError):
    """The target's scheme or address is not one Shoal may call."""


class OutboundTimeout(OutboundError):
    """The whole call took longer than its time limit."""


class ResponseTooLarge(OutboundError):
    """The answer was larger than the response size cap."""


@dataclass(frozen=True)
class OutboundPolicy:
    """Which addresses outbound calls may reach: public ones always, others only if the
    operator allows all of them or lists their networks."""

    allow_private: bool = False
    allowed_networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> OutboundPolicy:
        """The operator's policy: `outbound_allow_private`, `outbound_allowed_networks`."""
        return cls(settings.outbound_allow_private,
                   parse_networks(settings.outbound_allowed_networks))

    def permits(self, address: IPAddress) -> bool:
        """Whether a connection to this address is allowed."""
        if self.allow_private or any(address in net for net in self.allowed_networks):
            return True
        return all(_is_public(a) for a in _embedded(address))


def _embedded(address: IPAddress) -> list[IPAddress]:
    # An IPv6 address can carry an IPv4 one (mapped, 6to4, NAT64) that routes somewhere
    # private, e.g. ::ffff:127.0.0.1 reaches the loopback interface: check both.
    found: list[IPAddress] = [address]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            found.append(address.ipv4_mapped)
        if address.sixtofour is not None:
            found.append(address.sixtofour)
        if address in NAT64:
            found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def _is_public(address: IPAddress) -> bool:
    # `is_global` is False for private, loopback, link-local, reserved, unspecified and shared
    # (CGNAT) space; multicast is checked apart because parts of it count as global.
    return address.is_global and not address.is_multicast


@dataclass(frozen=True)
class OutboundResponse:
    """A complete answer: status, headers and the body, read whole within the size cap."""

    status: int
    headers: httpx.Headers
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON; ValueError if it is not, UnusableText (naming the field)
        if it holds text that cannot be stored."""
        return parse_json(self.body, "the answer")


class CheckedBackend(httpcore.AsyncNetworkBackend):
    """Resolves the host, refuses it if any address is refused, connects to a checked one.
    `inner` and `connect_errors` default to httpcore's; httpcore2's (which the `mcp` SDK's
    httpx2 uses, with the same interface) are given by shoal.net.httpx2_guard."""

    def __init__(self, policy: OutboundPolicy, inner: Any = None,
                 connect_errors: tuple[type[Exception], ...] = (httpcore.ConnectError,
                                                                httpcore.ConnectTimeout)
                 ) -> None:
        self.policy = policy
        self.inner = inner or httpcore.AnyIOBackend()
        self.connect_errors = connect_errors

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Iterable[Any] | None = None
                          ) -> httpcore.AsyncNetworkStream:
        addresses = await permitted_addresses(host, port, self.policy)
        last: Exception | None = None
        for address in addresses:
            try:
                return await self.inner.connect_tcp(str(address), port, timeout, local_address,
                                                    socket_options)
            except self.connect_errors as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[Any] | None = None
                                  ) -> httpcore.AsyncNetworkStream:
        raise AddressRefused("outbound calls do not use unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


async def permitted_addresses(host: str, port: int, policy: OutboundPolicy
                              ) -> list[IPAddress]:
    """Every address the host resolves to, or AddressRefused if the policy refuses any."""
    addresses = await resolve(host, port)
    refused = [a for a in addresses if not policy.permits(a)]
    if refused:
        log.warning("outbound call to %s refused: it resolves to %s", host,
                    ", ".join(map(str, refused)))
        raise AddressRefused(
            f"{host} resolves to a private, loopback or other internal address, which "
            "Shoal does not call unless the operator allows it "
            "(outbound_allow_private or outbound_allowed_networks)")
    return addresses


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address a host name resolves to (an IP literal resolves to itself)."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port,
                                                             type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):  # UnicodeError: a name IDNA cannot encode
        raise OutboundError(f"the host {host} could not be resolved") from None
    found: dict[IPAddress, None] = {}
    for _family, _type, _proto, _name, sockaddr in infos:
        # IPv6 link-local answers carry a scope (`fe80::1%eth0`); the address is what counts.
        found.setdefault(ipaddress.ip_address(str(sockaddr[0]).partition("%")[0]), None)
    if not found:
        raise OutboundError(f"the host {host} has no addresses")
    return list(found)


class _CheckedTransport(httpx.AsyncHTTPTransport):
    def __init__(self, policy: OutboundPolicy, ssl_context: ssl.SSLContext) -> None:
        super().__init__(verify=ssl_context, trust_env=False)
        # httpx takes no network backend, so its connection pool is replaced by one that
        # connects through the checked backend; everything else stays httpx's own.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context, network_backend=CheckedBackend(policy))


# Sees an answer's status and headers before its body is read, and may raise to refuse it.
InspectHead = Callable[[int, httpx.Headers], None]


class Outbound:
    """Makes outbound HTTP calls under one policy; create one per process and reuse it."""

    def __init__(self, policy: OutboundPolicy) -> None:
        self.policy = policy
        self._ssl = httpx.create_ssl_context()

    async def request(self, method: str, url: str, *, content: bytes | None = None,
                      headers: dict[str, str] | None = None,
                      timeout: float = DEFAULT_TIMEOUT,
                      max_bytes: int = DEFAULT_MAX_BYTES,
                      inspect: InspectHead | None = None) -> OutboundResponse:
        """Make one call and read its whole answer; redirects are returned, not followed.
        Raises an OutboundError subclass saying what went wrong, never the URL's secrets;
        `inspect`, when given, may refuse the answer by its headers before the body is read."""
        target = check_url(url)
        try:
            async with asyncio.timeout(timeout):
                return await self._send(method, url, content, headers or {}, timeout,
                                        max_bytes, target, inspect)
        except TimeoutError:
            raise OutboundTimeout(f"{target} did not answer within {timeout:g} s") from None

    async def _send(self, method: str, url: str, content: bytes | None,
                    headers: dict[str, str], timeout: float, max_bytes: int, target: str,
                    inspect: InspectHead | None) -> OutboundResponse:
        # A fresh client per call: nothing to close at shutdown, and no pooled connection
        # outlives the policy it was checked under. Calls are rare next to their latency.
        transport = _CheckedTransport(self.policy, self._ssl)
        async with httpx.AsyncClient(transport=transport, timeout=timeout, trust_env=False,
                                     follow_redirects=False) as client:
            try:
                async with client.stream(method, url, content=content,
                                         headers=headers) as response:
                    if inspect is not None:
                        inspect(response.status_code, response.headers)
                    body = await _read_capped(response, max_bytes, target)
            except httpx.TimeoutException:
                raise TimeoutError from None
            except httpx.HTTPError as exc:
                raise OutboundError(f"{target} could not be reached "
                                    f"({type(exc).__name__})") from None
        return OutboundResponse(response.status_code, response.headers, body)


async def _read_capped(response: httpx.Response, max_bytes: int, target: str) -> bytes:
    too_large = ResponseTooLarge(f"{target} answered with more than {max_bytes:,} bytes")
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def check_url(url: str) -> str:
    """The URL's origin (`https://host:port`, safe to show: no path, query or credentials),
    or AddressRefused when it is not an http(s) URL with a host."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        raise AddressRefused("the URL is not valid") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise AddressRefused("only http:// and https:// URLs with a host can be called")
    port = f":{parsed.port}" if parsed.port else ""
    host = f"[{parsed.host}]" if ":" in parsed.host else parsed.host
    return f"{parsed.scheme}://{host}{port}"


def guarded_http_client(policy: OutboundPolicy, timeout: float) -> httpx.AsyncClient:
    """An httpx client whose every connection passes the address check, for SDKs that take
    one (a provider endpoint an agent chose); redirects are not followed."""
    transport = _CheckedTransport(policy, httpx.create_ssl_context())
    return httpx.AsyncClient(transport=transport, timeout=timeout, trust_env=False,
                             follow_redirects=False)


INTERNAL_ADDRESS = ("points to a private, loopback or other internal address, which Shoal does "
                    "not call unless the operator allows it (outbound_allow_private or "
                    "outbound_allowed_networks)")
_LOOPBACK = (ipaddress.IPv4Address("127.0.0.1"), ipaddress.IPv6Address("::1"))
_IPV4_PART = re.compile(r"0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*")


def check_destination(url: str, policy: OutboundPolicy, field: str = "the URL") -> str:
    """The URL's origin, as `check_url` gives it, or AddressRefused (naming `field`) when the
    URL names an address the policy refuses: an IP literal in any form (`127.1`, `2130706433`,
    `0x7f000001`, `[::ffff:127.0.0.1]`) or `localhost`. Other host names are checked each time
    they are resolved, when the URL is called, so no DNS answer is trusted for later."""
    try:
        origin = check_url(url)
    except AddressRefused as exc:
        raise AddressRefused(f"{field}: {exc.message}") from None
    host = httpx.URL(url).host
    if not all(policy.permits(address) for address in literal_addresses(host)):
        raise AddressRefused(f"{field} {INTERNAL_ADDRESS}")
    return origin


def literal_addresses(host: str) -> tuple[IPAddress, ...]:
    """The addresses a host stands for without asking DNS: an IP address written as any
    resolver reads it, the loopback addresses for `localhost` and `*.localhost` (RFC 6761),
    and nothing for any other name."""
    name = host.rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return _LOOPBACK
    try:
        return (ipaddress.ip_address(name),)
    except ValueError:
        pass
    address = _legacy_ipv4(name)
    return (address,) if address is not None else ()


def _legacy_ipv4(name: str) -> ipaddress.IPv4Address | None:
    # inet_aton's forms, which getaddrinfo accepts: 1 to 4 parts, each decimal, 0x-hex or
    # 0-led octal, the last one filling the remaining bytes (127.1, 2130706433, 0x7f000001).
    parts = name.split(".")
    if not 1 <= len(parts) <= 4 or not all(_IPV4_PART.fullmatch(p) for p in parts):
        return None
    *head, last = [int(p, 16) if p[:2] in ("0x", "0X") else int(p, 8 if p[0] == "0" else 10)
                   for p in parts]
    if any(n > 255 for n in head) or last >= 256 ** (4 - len(head)):
        return None
    return ipaddress.IPv4Address(sum(n << (8 * (3 - i)) for i, n in enumerate(head)) + last)
