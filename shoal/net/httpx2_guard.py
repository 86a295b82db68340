"""The outbound address guard for SDKs built on httpx2 rather than httpx (the `mcp` SDK):
the same check as `Outbound`'s, on httpx2's connection layer."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import httpcore2
import httpx2

from shoal.net.outbound import AddressRefused, OutboundPolicy, permitted_addresses


class _CheckedBackend2(httpcore2.AsyncNetworkBackend):
    """Resolves the host, refuses it if any address is refused, connects to a checked one."""

    def __init__(self, policy: OutboundPolicy) -> None:
        self.policy = policy
        self.inner = httpcore2.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Iterable[Any] | None = None
                          ) -> httpcore2.AsyncNetworkStream:
        addresses = await permitted_addresses(host, port, self.policy)
        last: Exception | None = None
        for address in addresses:
            try:
                return await self.inner.connect_tcp(str(address), port, timeout, local_address,
                                                    socket_options)
            except (httpcore2.ConnectError, httpcore2.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[Any] | None = None
                                  ) -> httpcore2.AsyncNetworkStream:
        raise AddressRefused("outbound calls do not use unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class _CheckedTransport2(httpx2.AsyncHTTPTransport):
    def __init__(self, policy: OutboundPolicy) -> None:
        ssl_context = httpx2.create_ssl_context()
        super().__init__(verify=ssl_context, trust_env=False)
        # As in shoal.net.outbound: the pool is replaced by one on the checked backend.
        self._pool = httpcore2.AsyncConnectionPool(
            ssl_context=ssl_context, network_backend=_CheckedBackend2(policy))


def guarded_httpx2_client(policy: OutboundPolicy, headers: dict[str, str] | None = None,
                          timeout: httpx2.Timeout | None = None) -> httpx2.AsyncClient:
    """An httpx2 client whose every connection passes the address check; redirects are not
    followed, proxies from the environment are not used."""
    return httpx2.AsyncClient(transport=_CheckedTransport2(policy), headers=headers,
                              timeout=timeout, trust_env=False, follow_redirects=False)
