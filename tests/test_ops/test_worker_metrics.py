"""A worker process, which serves no HTTP, answers /metrics and /ready on its metrics port."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_worker_process_serves_its_metrics_and_readiness(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SHOAL_DATA_DIR": str(tmp_path),
           "SHOAL_SECRET": "test-secret-do-not-use", "SHOAL_METRICS_PORT": str(port),
           "SHOAL_LOG_FORMAT": "json", "SHOAL_DATABASE_URL": "", "SHOAL_REDIS_URL": "",
           "SHOAL_CONFIG": ""}
    proc = subprocess.Popen([sys.executable, "-m", "shoal", "serve", "--role", "worker"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.communicate()
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the metrics port never opened"
                time.sleep(0.1)
        assert ready.status_code == 200, ready.text
        assert ready.json()["roles"] == ["worker"]
        scraped = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
        assert scraped.status_code == 200
        samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
                   for family in text_string_to_metric_families(scraped.text)
                   for s in family.samples}
        role = [v for (name, labels), v in samples.items()
                if name == "shoal_process_info" and ("role", "worker") in labels]
        assert role == [1.0]
        assert ("shoal_activation_queue_depth", ()) in samples
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
    # Its log is JSON lines, one of them saying where metrics are served.
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert any(f":{port}/metrics" in line["message"] for line in lines), err
