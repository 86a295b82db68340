"""Whether a provider's server answers at all: a local one (Ollama, vLLM, LM Studio) is
often simply not running."""

from __future__ import annotations

import httpx

REACH_TIMEOUT = 1.0


async def reachable(base_url: str, timeout: float = REACH_TIMEOUT) -> bool:
    """Whether anything answers HTTP at the provider's base URL; any status counts (a key
    may be needed to list models), only no answer within `timeout` does not."""
    try:
        # trust_env off: a proxy from the environment must not answer for a local server.
        async with httpx.AsyncClient(timeout=timeout, trust_env=False) as client:
            await client.get(f"{base_url.rstrip('/')}/models")
    except httpx.HTTPError:
        return False
    return True
