"""Shoal's web tools: `web_fetch` (a page's readable text, through the outbound guard) and
`web_search` (Brave Search or SearXNG), in group `web`."""

from shoal.tools.web.source import WebTools

__all__ = ["WebTools"]
