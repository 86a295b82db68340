"""FastAPI dependencies: the Shoal instance and the authenticated caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from shoal.auth.tokens import Principal
from shoal.core import Shoal
from shoal.errors import Unauthorized


def get_shoal(request: Request) -> Shoal:
    """The process's Shoal services."""
    return request.app.state.shoal  # type: ignore[no-any-return]


def bearer_token(request: Request) -> str | None:
    """The token of an `Authorization: Bearer` header, if any."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def get_principal(request: Request) -> Principal:
    """The caller, authenticated from their bearer token, or 401."""
    token = bearer_token(request)
    if token is None:
        raise Unauthorized("authentication required: send Authorization: Bearer <token>")
    return await get_shoal(request).authenticate(token)


def client_address(request: Request) -> str:
    """The caller's address, for per-client limits."""
    return request.client.host if request.client else "unknown"


ShoalDep = Annotated[Shoal, Depends(get_shoal)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
