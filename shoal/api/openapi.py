"""The OpenAPI document: every operation declares the errors it can answer, in the one error
shape, so generated clients and API fuzzers agree with the server.

Most errors follow from an operation's shape: a caller who must authenticate can be refused
(401, 403), an id in the path can name nothing (404), a body or query can be malformed (400)
and a body too large (413). Those are declared here for every route, including routes added
later; a route declares the others it can answer (409, 429, 502 ...) with `errors(...)`.
Validation failures are answered 400, never FastAPI's 422, which is dropped from the document.

Body fields declare the rules their checks apply (lengths, patterns, allowed values), so what a
client generates from the document is what the server takes; `checked` runs the check first,
so a refusal keeps the check's own sentence.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, BeforeValidator, Field

ERROR_SCHEMA = "Error"
WHY = {
    400: "The request is malformed or breaks a rule; the error says which.",
    401: "No credentials, or ones that are wrong, expired or revoked.",
    403: "The caller may not do this (or is a bot not verified yet).",
    404: "No such thing, or the caller may not know that it exists.",
    409: "The request clashes with the current state (a taken name, say).",
    413: "The body is larger than the server's limit.",
    415: "The file's type is not one the server accepts; the error lists those it does.",
    429: "Too many requests; Retry-After says in how many seconds to try again.",
    502: "Something Shoal called on the caller's behalf failed.",
    503: "Not ready to take traffic; the error says why.",
}
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before trying again.",
                               "schema": {"type": "integer"}}}
UNANSWERED = ("422",)  # validation errors are answered 400
UNUSED_SCHEMAS = ("HTTPValidationError", "ValidationError")
METHODS = ("get", "put", "post", "patch", "delete")
NOT_BLANK = r"\S"  # a pattern: at least one character that is not white space


class Error(BaseModel):
    """The body of every error answer."""

    error: str = Field(description="What went wrong, in a sentence a person can act on.")


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: the error statuses it answers beyond those its shape
    implies (see the module's docstring)."""
    return {status: _error_response(status) for status in statuses}


def checked(check: Callable[[Any], Any]) -> Any:
    """A field validator (after the field's `Field(...)` in its `Annotated`): `check` refuses
    a bad value with InvalidInput and its sentence before pydantic's constraints apply, and
    may return it cleaned (trimmed, say)."""
    return BeforeValidator(check)


def implied_errors(operation: dict[str, Any]) -> set[int]:
    """The errors an operation can answer by its shape alone."""
    where = {p.get("in") for p in operation.get("parameters", [])}
    statuses = set()
    if operation.get("security"):
        statuses |= {401, 403}
    if "path" in where:
        statuses.add(404)
    if "query" in where or "requestBody" in operation:
        statuses.add(400)
    if "requestBody" in operation:
        statuses.add(413)
    return statuses


def declare_errors(document: dict[str, Any]) -> dict[str, Any]:
    """The document with every operation's errors declared, in the one error shape."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for name in UNUSED_SCHEMAS:
        schemas.pop(name, None)
    schemas[ERROR_SCHEMA] = Error.model_json_schema()
    for path_item in document.get("paths", {}).values():
        for method in METHODS:
            operation = path_item.get(method)
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            for unanswered in UNANSWERED:
                responses.pop(unanswered, None)
            for status in implied_errors(operation):
                responses.setdefault(str(status), _error_response(status))
            operation["responses"] = dict(sorted(responses.items()))
    return document


def _error_response(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": WHY[status],
        "content": {"application/json": {
            "schema": {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}}},
    }
    if status == 429:
        response["headers"] = RETRY_AFTER
    return response


class DocumentedAPI(FastAPI):
    """FastAPI whose OpenAPI document declares each operation's errors."""

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:
            self.openapi_schema = declare_errors(super().openapi())
        return self.openapi_schema
