"""FastAPI dependencies: the Shoal instance and the authenticated caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shoal.auth.tokens import Principal
from shoal.core import Shoal
from shoal.errors import Unauthorized


def get_shoal(request: Request) -> Shoal:
    """The process's Shoal services."""
    return request.app.state.shoal  # type: ignore[no-any-return]


# Reads `Authorization: Bearer <token>` and declares it in the OpenAPI document.
BEARER = HTTPBearer(auto_error=False, scheme_name="bearer",
                    description="A session token, personal access token or agent session.")
CredentialsDep = Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]


async def get_principal(request: Request, credentials: CredentialsDep) -> Principal:
    """The caller, authenticated from their bearer token, or 401."""
    token = credentials.credentials.strip() if credentials else ""
    if not token:
        raise Unauthorized("authentication required: send Authorization: Bearer <token>")
    return await get_shoal(request).authenticate(token)


def client_address(request: Request) -> str:
    """The caller's address, for per-client limits."""
    return request.client.host if request.client else "unknown"


ShoalDep = Annotated[Shoal, Depends(get_shoal)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
