"""/metrics after real traffic, parsed with prometheus_client's own parser: the counters an
operator alerts on move when messages, activations, webhook deliveries and sockets happen."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.receiver import receiver
from tests.support import ShoalServer, make_house, make_settings, serve, unique

METRICS_TOKEN = "metrics-token-0123456789"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
async def metered(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ShoalServer]:
    settings = make_settings(tmp_path_factory.mktemp("metrics"), "sqlite",
                             metrics_token=METRICS_TOKEN, metrics_port=free_port(),
                             outbound_allow_private=True)
    async for server in serve(settings):
        await server.bootstrap()
        yield server


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples of this name whose labels include these."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


async def scrape(server: ShoalServer) -> Samples:
    r = await server.http().get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=")
    return parse(r.text)


async def eventually(check: Any, timeout: float = 10) -> Any:
    async with asyncio.timeout(timeout):
        while not (result := await check()):
            await asyncio.sleep(0.02)
    return result


async def test_metrics_need_the_token_on_the_public_port(metered: ShoalServer) -> None:
    http = metered.http()
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": METRICS_TOKEN}):
        r = await http.get("/metrics", headers=headers)
        assert r.status_code == 401 and "metrics token" in r.json()["error"]
        assert "shoal_" not in r.text


async def test_the_metrics_port_serves_metrics_and_readiness(metered: ShoalServer) -> None:
    port = metered.shoal.settings.metrics_port
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        r = await http.get("/metrics")
        assert r.status_code == 200
        samples = parse(r.text)
        assert value(samples, "shoal_process_info", role="all") == 1
        assert value(samples, "process_cpu_seconds_total") > 0
        r = await http.get("/ready")
        assert r.status_code == 200 and r.json()["ready"] is True
        assert (await http.get("/health")).json()["ok"] is True


async def test_real_traffic_moves_the_counters(metered: ShoalServer) -> None:
    before = await scrape(metered)
    house = await make_house(metered)
    room = house.room_id
    r = await house.member.post("/api/agents", {"name": unique("bot"), "agencyId": room})
    assert r.status_code == 201, r.text
    bot = r.json()["agent"]
    r = await house.member.patch(f"/api/agents/{bot['id']}/config", {
        "runtime": "builtin", "model": "offline/shoal-offline"})
    assert r.status_code == 200, r.text
    sock = await house.member.socket()
    await sock.join(room)
    async with receiver() as hook:
        r = await house.admin.post(f"/api/webhook-subscriptions/{room}", {
            "url": hook.url + "/in", "events": ["message.created"],
            "secret": "a-webhook-secret-0123456789"})
        assert r.status_code == 201, r.text
        for i in range(3):
            r = await house.member.post(f"/api/agencies/{room}/messages",
                                        {"content": f"plain message {i}"})
            assert r.status_code == 201, r.text
        await sock.call("send-message", {"agencyId": room,
                                         "content": f"@{bot['username']} hello there"})

        async def replied() -> bool:
            r = await house.member.get(f"/api/agencies/{room}/messages")
            return any(m["sender_id"] == bot["id"] for m in r.json())

        await eventually(replied)
        await eventually(lambda: asyncio.sleep(0, len(hook.requests) >= 4))
    await sock.close()
    await house.member.get(f"/api/agencies/{room}/messages?limit=5")

    async def settled() -> Samples | None:
        after = await scrape(metered)
        done = value(after, "shoal_activations_total", kind="mention", outcome="replied")
        return after if done > value(before, "shoal_activations_total", kind="mention",
                                     outcome="replied") else None

    after = await eventually(settled)

    def grew(name: str, by: float = 1, **labels: str) -> bool:
        return value(after, name, **labels) - value(before, name, **labels) >= by

    # HTTP by route template and status, with latency.
    assert grew("shoal_http_requests_total", 3, method="POST",
                route="/api/agencies/{agency_id}/messages", status="201")
    assert grew("shoal_http_request_duration_seconds_count", 3,
                route="/api/agencies/{agency_id}/messages")
    assert not any(room in dict(ls).get("route", "") for (_, ls) in after)  # templates only
    # Sockets, messages and their group commits.
    assert grew("shoal_socket_connects_total", result="accepted")
    assert grew("shoal_socket_events_total", event="send-message")
    assert grew("shoal_messages_stored_total", 5)  # 3 posts, a mention, the reply
    assert grew("shoal_message_batch_size_count", 1)
    # The activation, its claim and the offline model's call with its tokens.
    assert grew("shoal_activation_claim_latency_seconds_count")
    assert grew("shoal_model_calls_total", provider="offline", model="offline/shoal-offline",
                outcome="ok")
    assert grew("shoal_model_call_duration_seconds_count", model="offline/shoal-offline")
    assert grew("shoal_model_tokens_total", model="offline/shoal-offline", direction="output")
    # Webhook deliveries and the scheduler that fired them.
    assert grew("shoal_webhook_deliveries_total", 4, outcome="delivered")
    assert grew("shoal_scheduler_lateness_seconds_count", 4, kind="delivery")
    assert grew("shoal_scheduler_fired_total", 4, kind="delivery", result="ok")
    # Every family is there for an alert to reference, even before its first event.
    r = await metered.http().get("/metrics",
                                 headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    families = {f.name for f in text_string_to_metric_families(r.text)}
    assert {"shoal_activation_lease_expiries", "shoal_model_fallbacks", "shoal_run_events",
            "shoal_activation_queue_depth", "shoal_socket_connections",
            "shoal_model_cooldowns", "shoal_activations_running"} <= families


async def test_requests_carry_an_id_and_unknown_routes_one_series(metered: ShoalServer
                                                                   ) -> None:
    http = metered.http()
    r = await http.get("/api/health", headers={"X-Request-Id": "lb-1234.abc"})
    assert r.headers["x-request-id"] == "lb-1234.abc"
    r = await http.get("/api/health", headers={"X-Request-Id": "bad id with spaces"})
    assert r.headers["x-request-id"] != "bad id with spaces" and len(r.headers["x-request-id"])
    for i in range(3):
        assert (await http.get(f"/api/nothing-{i}")).status_code == 404
    samples = await scrape(metered)
    assert value(samples, "shoal_http_requests_total", route="unmatched", status="404") >= 3
    assert not any("nothing-" in dict(ls).get("route", "") for (_, ls) in samples)
