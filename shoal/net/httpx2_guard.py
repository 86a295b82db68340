"""The outbound address guard for SDKs built on httpx2 rather than httpx (the `mcp` SDK):
the same checked backend as `Outbound`'s, on httpx2's connection layer."""

from __future__ import annotations

import httpcore2
import httpx2

from shoal.net.outbound import CheckedBackend, OutboundPolicy


class _CheckedTransport2(httpx2.AsyncHTTPTransport):
    def __init__(self, policy: OutboundPolicy) -> None:
        ssl_context = httpx2.create_ssl_context()
        super().__init__(verify=ssl_context, trust_env=False)
        # As in shoal.net.outbound: the pool is replaced by one on the checked backend.
        self._pool = httpcore2.AsyncConnectionPool(
            ssl_context=ssl_context, network_backend=CheckedBackend(  # type: ignore[arg-type]
                policy, httpcore2.AnyIOBackend(),
                (httpcore2.ConnectError, httpcore2.ConnectTimeout)))


def guarded_httpx2_client(policy: OutboundPolicy, headers: dict[str, str] | None = None,
                          timeout: httpx2.Timeout | None = None) -> httpx2.AsyncClient:
    """An httpx2 client whose every connection passes the address check; redirects are not
    followed, proxies from the environment are not used."""
    return httpx2.AsyncClient(transport=_CheckedTransport2(policy), headers=headers,
                              timeout=timeout, trust_env=False, follow_redirects=False)
