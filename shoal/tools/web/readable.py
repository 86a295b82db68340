"""A fetched page as text a model reads: HTML through trafilatura (main content, navigation
and other boilerplate left out, as markdown or plain text), other text-like types as sent."""

from __future__ import annotations

import re
from typing import Literal

import trafilatura

Format = Literal["markdown", "text"]

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_OTHER_TEXT_TYPES = frozenset({"application/json", "application/xml", "application/javascript",
                               "application/x-ndjson", "application/yaml", "application/toml"})
_CHARSET = re.compile(r"""charset\s*=\s*["']?([\w.:-]+)""", re.IGNORECASE)


def media_type(content_type: str) -> str:
    """`text/html; charset=utf-8` -> `text/html`."""
    return content_type.partition(";")[0].strip().lower()


def is_readable(media: str) -> bool:
    """Whether web_fetch reads this media type: HTML, text, JSON or XML. An empty type (the
    server sent none) is read too, by looking at the body."""
    return (not media or media.startswith("text/") or media in HTML_TYPES
            or media in _OTHER_TEXT_TYPES or media.endswith(("+json", "+xml")))


def decode(body: bytes, content_type: str) -> str:
    """The body as text, in the charset the header names (UTF-8 if none or unknown)."""
    found = _CHARSET.search(content_type)
    try:
        return body.decode(found.group(1) if found else "utf-8", errors="replace")
    except LookupError:
        return body.decode("utf-8", errors="replace")


def looks_like_html(body: bytes) -> bool:
    """Whether a body sent without a content type is an HTML page."""
    head = body[:1024].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html")) or b"<body" in head


def readable_html(body: bytes, content_type: str, url: str, form: Format) -> tuple[str, str]:
    """The page's title and its main text in this format (links resolved against `url` in
    markdown). Runs for a while on a large page: call it off the event loop."""
    # Without a charset in the header the bytes go as they are: the page's own <meta> says.
    source: str | bytes = decode(body, content_type) if _CHARSET.search(content_type) else body
    tree = trafilatura.load_html(source)
    if tree is None:
        return "", ""
    meta = trafilatura.extract_metadata(tree, default_url=url, extensive=False)
    title = (meta.title or "") if meta is not None else ""
    text = trafilatura.extract(tree, url=url, output_format="markdown" if form == "markdown"
                               else "txt", include_links=form == "markdown",
                               include_tables=True, favor_recall=True)
    # A page with little prose (a list of links, a form) has no "main content": all its text.
    return title.strip(), (text or trafilatura.html2txt(tree)).strip()
