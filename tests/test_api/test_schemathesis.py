"""Schemathesis against the app in-process: requests generated from the OpenAPI document for
every operation, valid and invalid, as the owner of a house with one of everything, never get
a 5xx nor an answer (status, content type, body) the document does not declare."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import FailureGroup
from schemathesis.generation import GenerationMode

from shoal.app import create_app
from tests.test_api.test_errors import Targets, targets  # noqa: F401 (a fixture)

BASE_URL = "http://shoal.test"
EXAMPLES = 2  # per operation and mode: every operation is covered, and the run stays short
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
# Operations left out, and why: each could end the run's own access midway.
LEFT_OUT = {
    ("POST", "/api/auth/logout"): "revokes the token the run is made with",
    ("DELETE", "/api/houses/{house_id}/members/{user_id}"):
        "a generated user id may be the owner's own: the owner would leave the house",
}


async def test_generated_requests_get_declared_answers(targets: Targets) -> None:  # noqa: F811
    app = create_app(targets.server.shoal.settings, targets.server.shoal)
    headers = {"Authorization": f"Bearer {targets.owner.token}",
               "X-Crustocean-Hook-Key": targets.owner.http.headers["X-Crustocean-Hook-Key"]}
    loop = asyncio.get_running_loop()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url=BASE_URL) as client:
        schema = schemathesis.openapi.from_dict((await client.get("/openapi.json")).json())

        def send(case: Any) -> httpx.Response:
            """A generated request, sent from the Hypothesis thread on this loop, where the
            app's services run."""
            kwargs = case.as_transport_kwargs(base_url=BASE_URL, headers=headers)
            request = client.request(
                kwargs["method"], kwargs["url"], params=kwargs.get("params"),
                headers=kwargs.get("headers"), cookies=kwargs.get("cookies"),
                json=kwargs.get("json"), content=kwargs.get("data"))
            return asyncio.run_coroutine_threadsafe(request, loop).result(60)

        failures = await asyncio.to_thread(check_every_operation, schema, send, targets.values)
    assert failures == [], "\n\n".join(failures)


def check_every_operation(schema: Any, send: Callable[[Any], httpx.Response],
                          ids: dict[str, str]) -> list[str]:
    """Generate a few cases per operation and mode (path ids are real ones, so handlers run
    past their lookups), check each answer, and describe the failures."""
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in LEFT_OUT:
            continue
        known = {p.name: ids[p.name] for p in operation.path_parameters if p.name in ids}
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
                      phases=[Phase.explicit, Phase.generate],
                      suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(mode, path_parameters=known))
            def check(case: Any) -> None:
                case.validate_response(send(case), checks=CHECKS)

            try:
                check()
            except Unsatisfiable:
                pass  # nothing in the request can be made invalid: no negative cases
            except FailureGroup as exc:
                failures.append(f"{operation.method.upper()} {operation.path} "
                                f"({mode.value}): {exc}")
    return failures
