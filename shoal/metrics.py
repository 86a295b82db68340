"""The process's metrics, in one registry every service writes to and `/metrics` reads.

Each Shoal process (api, worker, scheduler, or all three) counts its own work in memory and
serves it on its own `/metrics`: Prometheus scrapes every process as a target and adds the
`instance` label, and `shoal_process_info` says which roles a target plays. Nothing is shared
between processes, so no counter needs a lock or a file, and recording costs a dictionary
lookup and an addition: no database query is made for a metric on any request's path.

Label values are a small fixed set (route templates, never raw paths; event names; outcomes),
so the number of series stays bounded whatever clients send.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)  # CPU seconds, resident memory, open files, start time

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
SLOW_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)

process_info = Gauge("shoal_process_info", "Which roles this process plays (always 1).",
                     ["role", "version"], registry=REGISTRY)

http_requests = Counter("shoal_http_requests", "HTTP requests answered, by route template.",
                        ["method", "route", "status"], registry=REGISTRY)
http_duration = Histogram("shoal_http_request_duration_seconds",
                          "Time from a request's arrival to the end of its answer.",
                          ["method", "route"], buckets=LATENCY_BUCKETS, registry=REGISTRY)

socket_connections = Gauge("shoal_socket_connections", "Socket.IO connections open now.",
                           registry=REGISTRY)
socket_connects = Counter("shoal_socket_connects", "Socket.IO connections, by result.",
                          ["result"], registry=REGISTRY)
socket_events = Counter("shoal_socket_events", "Socket.IO events received from clients.",
                        ["event"], registry=REGISTRY)

messages_stored = Counter("shoal_messages_stored", "Messages stored in rooms.",
                          registry=REGISTRY)
message_batch_size = Histogram("shoal_message_batch_size",
                               "Messages committed together by one group commit.",
                               buckets=BATCH_BUCKETS, registry=REGISTRY)

activations = Counter("shoal_activations", "Activations finished, by kind (what woke the "
                      "agent: mention, ambient, heartbeat, cron...) and outcome (replied, "
                      "skipped, error, delivered, waiting; lease_lost when another worker "
                      "took it over).", ["kind", "outcome"], registry=REGISTRY)
activation_duration = Histogram("shoal_activation_duration_seconds",
                                "Time an activation ran, by kind.", ["kind"],
                                buckets=SLOW_BUCKETS, registry=REGISTRY)
activation_queue_depth = Gauge("shoal_activation_queue_depth",
                               "Activations waiting and due, as this worker last counted "
                               "(every lease-renewal period).", registry=REGISTRY)
activation_claim_latency = Histogram("shoal_activation_claim_latency_seconds",
                                     "Time from an activation being due to a worker "
                                     "claiming it.", buckets=SLOW_BUCKETS, registry=REGISTRY)
activations_running = Gauge("shoal_activations_running",
                            "Activations this worker runs now.", registry=REGISTRY)
lease_expiries = Counter("shoal_activation_lease_expiries",
                         "Activation leases found expired (their worker died or stalled).",
                         registry=REGISTRY)

model_calls = Counter("shoal_model_calls", "Model attempts, by provider, model and outcome "
                      "(ok, or the failure's kind).", ["provider", "model", "outcome"],
                      registry=REGISTRY)
model_call_duration = Histogram("shoal_model_call_duration_seconds",
                                "Time of one model attempt.", ["provider", "model"],
                                buckets=SLOW_BUCKETS, registry=REGISTRY)
model_tokens = Counter("shoal_model_tokens", "Tokens models reported, input or output.",
                       ["provider", "model", "direction"], registry=REGISTRY)
model_fallbacks = Counter("shoal_model_fallbacks",
                          "Attempts that failed and passed the call on to the next profile "
                          "or model, by the failed model and why.", ["model", "reason"],
                          registry=REGISTRY)
model_cooldowns = Counter("shoal_model_cooldowns",
                          "Auth profiles put in cooldown (auth, rate limit, billing), and "
                          "attempts skipped because a profile was cooling down.",
                          ["provider", "event"], registry=REGISTRY)

scheduler_lateness = Histogram("shoal_scheduler_lateness_seconds",
                               "How late the scheduler fired due work, by kind.", ["kind"],
                               buckets=LATENCY_BUCKETS + (30, 60, 300), registry=REGISTRY)
scheduler_fired = Counter("shoal_scheduler_fired", "Due work the scheduler fired, by kind "
                          "and result.", ["kind", "result"], registry=REGISTRY)

webhook_deliveries = Counter("shoal_webhook_deliveries",
                             "Webhook delivery attempts, by outcome.", ["outcome"],
                             registry=REGISTRY)

run_events = Counter("shoal_run_events", "Run events recorded, by type.", ["type"],
                     registry=REGISTRY)


def exposition() -> tuple[bytes, str]:
    """The registry in the Prometheus text format, and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


__all__ = ["REGISTRY", "exposition"]
