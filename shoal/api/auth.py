"""Registration, login, agent sessions and personal access tokens."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from sqlalchemy import select

from shoal.api.deps import PrincipalDep, ShoalDep, client_address
from shoal.api.openapi import checked, errors
from shoal.auth.accounts import (
    MAX_PASSWORD,
    MIN_PASSWORD,
    USERNAME,
    check_password,
    check_username,
    create_person,
    user_by_username,
    user_view,
)
from shoal.auth.tokens import (
    find_token,
    issue_token,
    parse_expiry,
    revoke_user_token,
    token_view,
)
from shoal.errors import Forbidden, InvalidInput, Unauthorized
from shoal.rooms.houses import add_house_member, default_house, house_view, houses_of
from shoal.rooms.invites import redeem_invite
from shoal.store.tables import Token, iso, utcnow

router = APIRouter(prefix="/api/auth", tags=["auth"])


class RegisterBody(BaseModel):
    username: Annotated[str, Field(pattern=f"^{USERNAME.pattern}$"), checked(check_username)]
    password: Annotated[str, Field(min_length=MIN_PASSWORD, max_length=MAX_PASSWORD),
                        checked(check_password)]
    displayName: str | None = None
    inviteCode: str | None = None


class LoginBody(BaseModel):
    username: str
    password: str


class AgentLoginBody(BaseModel):
    agentToken: str


class TokenBody(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    expires: str | None = None


async def _session(shoal: ShoalDep, user_id: str, kind: str = "session") -> str:
    async with shoal.db.write() as session:
        _, token = await issue_token(
            session, user_id, kind,
            expires_at=utcnow() + timedelta(days=shoal.settings.session_ttl_days),
        )
    return token


@router.post("/register", status_code=201, responses=errors(403, 409, 429))
async def register(body: RegisterBody, request: Request, shoal: ShoalDep) -> dict[str, Any]:
    """Create an account (open registration, or with an invite code) and log in."""
    shoal.auth_limiter.hit(f"register:{client_address(request)}")
    if not shoal.settings.open_registration and not body.inviteCode:
        raise Forbidden("registration is by invitation: ask a house admin for an invite code")
    password_hash = await shoal.passwords.hash(body.password)
    async with shoal.db.write() as session:
        user = await create_person(session, body.username, password_hash, body.displayName)
        if body.inviteCode:
            await redeem_invite(session, body.inviteCode, user)
        else:
            house = await default_house(session)
            if house is not None:
                await add_house_member(session, house.id, user, "member")
    return {"token": await _session(shoal, user.id), "user": user_view(user)}


@router.post("/login", responses=errors(401, 429))
async def login(body: LoginBody, request: Request, shoal: ShoalDep) -> dict[str, Any]:
    """Exchange a username and password for a session token."""
    shoal.auth_limiter.hit(f"login:{client_address(request)}")
    async with shoal.db.read() as session:
        user = await user_by_username(session, body.username)
    matched = await shoal.passwords.verify(user.password_hash if user else None, body.password)
    if not matched or user is None or user.deleted_at is not None:
        raise Unauthorized("wrong username or password")
    return {"token": await _session(shoal, user.id), "user": user_view(user)}


@router.post("/agent", responses=errors(401, 403, 429))
async def agent_login(body: AgentLoginBody, request: Request, shoal: ShoalDep) -> dict[str, Any]:
    """Exchange a bot token for an agent session; 403 until the bot's owner or a house admin
    verifies it."""
    shoal.auth_limiter.hit(f"agent:{client_address(request)}")
    async with shoal.db.read() as session:
        token, user = await find_token(session, body.agentToken)
    if token.kind != "bot":
        raise Unauthorized("that is not an agent token")
    return {"token": await _session(shoal, user.id, "agent"), "user": user_view(user)}


@router.get("/me")
async def me(principal: PrincipalDep, shoal: ShoalDep) -> dict[str, Any]:
    """The caller, with the houses they belong to."""
    async with shoal.db.read() as session:
        houses = await houses_of(session, principal.id)
    return {**user_view(principal.user), "houses": [house_view(h, r) for h, r in houses]}


@router.post("/logout")
async def logout(principal: PrincipalDep, shoal: ShoalDep) -> dict[str, Any]:
    """Revoke the token this request was made with."""
    await revoke(shoal, principal.id, principal.token_id)
    return {"ok": True}


@router.post("/tokens", status_code=201)
async def create_pat(body: TokenBody, principal: PrincipalDep, shoal: ShoalDep
                     ) -> dict[str, Any]:
    """A personal access token; its value is shown only in this answer."""
    expires_at = parse_expiry(body.expires, default=timedelta(days=30))
    async with shoal.db.write() as session:
        row, token = await issue_token(session, principal.id, "pat", name=body.name,
                                       expires_at=expires_at)
    return {"token": token, "id": row.id, "name": row.name, "expires_at": iso(row.expires_at)}


@router.get("/tokens")
async def list_pats(principal: PrincipalDep, shoal: ShoalDep) -> list[dict[str, Any]]:
    """The caller's personal access tokens, without their values."""
    async with shoal.db.read() as session:
        rows = (await session.scalars(
            select(Token).where(Token.user_id == principal.id, Token.kind == "pat")
            .order_by(Token.created_at)
        )).all()
    return [token_view(t) for t in rows]


@router.delete("/tokens/{token_id}")
async def revoke_pat(token_id: str, principal: PrincipalDep, shoal: ShoalDep) -> dict[str, Any]:
    """Revoke one of the caller's tokens; sockets opened with it are disconnected."""
    token = await revoke(shoal, principal.id, token_id)
    return token_view(token)


async def revoke(shoal: ShoalDep, user_id: str, token_id: str) -> Token:
    """Revoke a user's token and close the sockets it opened."""
    if not token_id:
        raise InvalidInput("token id is required")
    async with shoal.db.write() as session:
        token = await revoke_user_token(session, user_id, token_id)
    await shoal.gateway.disconnect_tokens([token.id])
    return token
