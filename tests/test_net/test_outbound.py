"""Outbound calls: internal addresses refused unless allowed, hard time limit, size cap."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest
from aiohttp import web

from shoal.config import load_settings
from shoal.errors import InvalidInput
from shoal.net import (
    AddressRefused,
    Outbound,
    OutboundError,
    OutboundPolicy,
    OutboundTimeout,
    ResponseTooLarge,
)
from shoal.net.outbound import check_destination, parse_networks
from tests.receiver import receiver
from tests.support import INTERNAL_URLS, fake_dns

STRICT = Outbound(OutboundPolicy())
LOOPBACK_ALLOWED = Outbound(OutboundPolicy(allowed_networks=parse_networks("127.0.0.0/8")))


async def test_loopback_is_refused_by_default_and_never_contacted() -> None:
    async with receiver() as hook:
        with pytest.raises(AddressRefused, match="private, loopback or other internal"):
            await STRICT.request("POST", hook.url + "/hook", content=b"{}")
        assert hook.requests == []


async def test_the_operator_can_allow_private_addresses_or_listed_networks() -> None:
    async with receiver() as hook:
        everything = Outbound(OutboundPolicy.from_settings(
            load_settings(outbound_allow_private=True)))
        listed = Outbound(OutboundPolicy.from_settings(
            load_settings(outbound_allowed_networks="10.0.0.0/8, 127.0.0.0/8")))
        for client in (everything, listed):
            answer = await client.request("POST", hook.url + "/hook", content=b'{"a":1}')
            assert answer.status == 200 and answer.json() == {"ok": True}
        assert [r.body for r in hook.requests] == [b'{"a":1}'] * 2
    other_net = Outbound(OutboundPolicy(allowed_networks=parse_networks("10.0.0.0/8")))
    with pytest.raises(AddressRefused):
        await other_net.request("GET", "http://127.0.0.1:9/")


def test_a_bad_network_in_the_settings_is_refused_at_start() -> None:
    with pytest.raises(InvalidInput, match="'10.0.0/33' is not a network"):
        load_settings(outbound_allowed_networks="10.0.0/33")


@pytest.mark.parametrize("url", [
    "http://10.1.2.3/hook", "http://172.16.0.1/", "http://192.168.1.1/",
    "http://169.254.169.254/latest/meta-data/", "http://100.64.0.1/", "http://0.0.0.0:80/",
    "http://224.0.0.1/", "http://[::1]/", "http://[::]/", "http://[fe80::1]/",
    "http://[fd00::1]/", "http://[::ffff:127.0.0.1]/", "http://[::ffff:10.0.0.1]/",
    "http://[2002:7f00:1::]/", "http://[64:ff9b::a9fe:a9fe]/", "http://localhost/",
])
async def test_internal_addresses_are_refused(url: str) -> None:
    with pytest.raises(AddressRefused):
        await STRICT.request("GET", url, timeout=2)


async def test_ipv6_loopback_and_mapped_ipv4_loopback_reach_nothing_by_default() -> None:
    async with receiver(host="::1") as hook:
        with pytest.raises(AddressRefused):
            await STRICT.request("GET", hook.url)
        allowed = Outbound(OutboundPolicy(allowed_networks=parse_networks("::1/128")))
        assert (await allowed.request("GET", hook.url)).status == 200
    async with receiver() as hook:
        port = hook.url.rsplit(":", 1)[1]
        with pytest.raises(AddressRefused):
            await STRICT.request("GET", f"http://[::ffff:127.0.0.1]:{port}/")
        assert hook.requests == []


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/x", "gopher://x/",
                                 "http:///nohost", "not a url"])
async def test_only_http_and_https_urls_with_a_host(url: str) -> None:
    with pytest.raises(AddressRefused):
        await STRICT.request("GET", url)


async def test_a_host_name_that_cannot_be_resolved_is_an_outbound_error() -> None:
    too_long_label = "a" * 64  # DNS labels are at most 63 characters
    with pytest.raises(OutboundError, match="could not be resolved"):
        await STRICT.request("GET", f"http://{too_long_label}.example/")


async def test_a_name_with_any_internal_address_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with receiver() as hook:
        port = hook.url.rsplit(":", 1)[1]
        fake_dns(monkeypatch, {"mixed.example": ["93.184.216.34", "127.0.0.1"]})
        with pytest.raises(AddressRefused, match="mixed.example resolves to a private"):
            await STRICT.request("GET", f"http://mixed.example:{port}/")
        assert hook.requests == []


async def test_the_connection_goes_to_the_checked_address_under_the_host_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with receiver() as hook:
        port = hook.url.rsplit(":", 1)[1]
        fake_dns(monkeypatch, {"hooks.example": ["127.0.0.1"]})
        answer = await LOOPBACK_ALLOWED.request("GET", f"http://hooks.example:{port}/x")
        assert answer.status == 200
        assert hook.requests[0].headers["Host"] == f"hooks.example:{port}"


async def test_the_time_limit_covers_the_whole_call() -> None:
    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(5)
        return web.json_response({})

    async def dribble(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        for _ in range(50):  # each byte comes quickly; all of them take far too long
            await response.write(b"x")
            await asyncio.sleep(0.05)
        return response

    for answer in (slow, dribble):
        async with receiver(answer) as hook:
            # Both would answer in full after 2.5 s or more: the call ends on the limit.
            with pytest.raises(OutboundTimeout, match=r"did not answer within 0\.5 s"):
                await LOOPBACK_ALLOWED.request("GET", hook.url + "/slow", timeout=0.5)


async def test_answers_over_the_size_cap_are_refused_while_reading() -> None:
    async def declared(request: web.Request) -> web.StreamResponse:
        return web.Response(body=b"x" * 4096)

    async def streamed(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        for _ in range(1000):
            await response.write(b"y" * 1024)
        return response

    for answer in (declared, streamed):
        async with receiver(answer) as hook:
            with pytest.raises(ResponseTooLarge, match="more than 2,000 bytes"):
                await LOOPBACK_ALLOWED.request("GET", hook.url, max_bytes=2000)
            small = await LOOPBACK_ALLOWED.request("GET", hook.url, max_bytes=2 * 10**6)
            assert len(small.body) in (4096, 1000 * 1024)


async def test_redirects_are_returned_not_followed() -> None:
    async def redirect(request: web.Request) -> web.StreamResponse:
        if request.path == "/start":
            raise web.HTTPFound("http://169.254.169.254/latest/meta-data/")
        return web.json_response({})

    async with receiver(redirect) as hook:
        answer = await LOOPBACK_ALLOWED.request("GET", hook.url + "/start")
        assert answer.status == 302
        assert [r.path for r in hook.requests] == ["/start"]


async def test_errors_never_show_credentials_paths_or_queries() -> None:
    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(5)
        return web.json_response({})

    async with receiver(slow) as hook:
        secret_url = hook.url.replace("http://", "http://user:hunter2@") + "/t0ken?key=s3cret"
        with pytest.raises(OutboundTimeout) as caught:
            await LOOPBACK_ALLOWED.request("GET", secret_url, timeout=0.2)
    message = str(caught.value)
    assert message.startswith(hook.url) and not {"hunter2", "t0ken", "s3cret"} & set(
        message.replace("/", " ").replace("?", " ").replace("=", " ").split())
    with pytest.raises(AddressRefused) as refused:
        await STRICT.request("GET", "http://user:hunter2@10.0.0.1/t0ken?key=s3cret")
    assert "hunter2" not in str(refused.value) and "s3cret" not in str(refused.value)


def test_every_special_range_is_internal() -> None:
    policy = OutboundPolicy()
    for text in ("127.0.0.1", "10.0.0.1", "169.254.1.1", "0.0.0.0", "240.0.0.1", "::1",
                 "::ffff:127.0.0.1", "fe80::1", "ff02::1", "::"):
        assert not policy.permits(ipaddress.ip_address(text)), text
    for text in ("93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"):
        assert policy.permits(ipaddress.ip_address(text)), text


@pytest.mark.parametrize("url", INTERNAL_URLS)
def test_a_stored_url_naming_an_internal_address_is_refused_unless_allowed(url: str) -> None:
    with pytest.raises(AddressRefused, match="internal address.*outbound_allow_private"):
        check_destination(url, OutboundPolicy())
    assert check_destination(url, OutboundPolicy(allow_private=True)).startswith("http://")


def test_public_addresses_and_host_names_pass_the_stored_url_check() -> None:
    # A host name is not resolved here: it is checked when it is called (the tests above).
    for url in ("https://93.184.216.34/x", "https://hooks.example/x", "http://[2606:4700::1]/",
                "https://localhost.example.com/x"):
        assert check_destination(url, OutboundPolicy())
    assert check_destination("http://10.1.2.3/", OutboundPolicy(
        allowed_networks=parse_networks("10.0.0.0/8"))) == "http://10.1.2.3"
