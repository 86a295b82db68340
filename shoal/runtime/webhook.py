"""The webhook runtime: the bot's brain is someone's HTTP endpoint. Shoal POSTs the activation
(trigger, the bot's identity and persona, the room's charter, recent messages), signed with the
bot's secret, and posts the `content` of the answer as the bot's reply."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from shoal.crypto import signed_headers
from shoal.errors import LeaseLost, ShoalError
from shoal.jsontext import UnusableText
from shoal.llm import is_silent
from shoal.net.outbound import DEFAULT_TIMEOUT, Outbound, OutboundPolicy
from shoal.rooms.messages import history
from shoal.runtime.base import ActivationContext, Outcome
from shoal.store.tables import iso, utcnow

if TYPE_CHECKING:
    from shoal.config import Settings
    from shoal.crypto import SecretBox
    from shoal.rooms.chat import Chat
    from shoal.store import Database

log = logging.getLogger("shoal.runtime.webhook")

RECENT_MESSAGES = 20
MAX_ERROR_CHARS = 300


class WebhookRuntime:
    """Runs bots whose runtime is `webhook`; never raises for the endpoint's failures."""

    def __init__(self, db: Database, chat: Chat, secrets: SecretBox, settings: Settings) -> None:
        self.db = db
        self.chat = chat
        self.secrets = secrets
        self.outbound = Outbound(OutboundPolicy.from_settings(settings))
        self.timeout = DEFAULT_TIMEOUT

    async def run(self, ctx: ActivationContext) -> Outcome:
        """POST the activation, post the answer (or say in the room why there is none)."""
        url = ctx.config.response_webhook_url
        if not url:
            return await self._fail(ctx, "no response_webhook_url configured")
        secret = None
        if ctx.config.response_webhook_secret:
            try:
                secret = self.secrets.decrypt(ctx.config.response_webhook_secret)
            except ValueError:
                return await self._fail(ctx, "its webhook secret can no longer be decrypted "
                                             "(the server secret changed); set it again")
        body = json.dumps(await self._payload(ctx), separators=(",", ":")).encode()
        await ctx.thinking(True)
        try:
            answer = await self.outbound.request("POST", url, content=body,
                                                 headers=signed_headers(body, secret),
                                                 timeout=self.timeout)
        except ShoalError as exc:
            return await self._fail(ctx, exc.message)
        finally:
            await ctx.thinking(False)
        try:
            data = answer.json()
        except UnusableText as exc:
            return await self._fail(ctx, f"the webhook's answer was refused: {exc.message}")
        except ValueError:
            data = None
        if not 200 <= answer.status < 300:
            detail = data.get("error") if isinstance(data, dict) else None
            return await self._fail(ctx, f"the webhook answered HTTP {answer.status}"
                                         + (f": {detail}" if detail else ""))
        if not isinstance(data, dict):
            return await self._fail(ctx, "the webhook's answer is not a JSON object")
        if data.get("error"):
            return await self._fail(ctx, str(data["error"]))
        content = data.get("content")
        if content is None or (isinstance(content, str) and (not content.strip()
                                                              or is_silent(content))):
            return Outcome("skipped", skip_reason="silent")
        if not isinstance(content, str):
            return await self._fail(ctx, "the webhook's content is not a string")
        metadata = data.get("metadata")
        try:
            reply = await ctx.reply(content,
                                    metadata=metadata if isinstance(metadata, dict) else None)
        except LeaseLost as exc:  # another worker runs it now and answers for it
            return Outcome("error", error=exc.message)
        except ShoalError as exc:
            return await self._fail(ctx, f"its reply was refused: {exc.message}")
        return Outcome("replied", reply_message_id=reply["id"])

    async def _payload(self, ctx: ActivationContext) -> dict[str, Any]:
        async with self.db.read() as session:
            recent = await history(session, ctx.room, limit=RECENT_MESSAGES)
        if self.chat.attachments is not None:  # the endpoint reads files by signed links
            self.chat.attachments.with_links([ctx.trigger, *ctx.inputs, *recent])
        return {
            "event": "activation",
            "timestamp": iso(utcnow()),
            "activation_id": ctx.activation.id,
            "trigger_kind": ctx.activation.trigger_kind,
            "agencyId": ctx.room.id,
            "message": ctx.trigger,
            "inputs": ctx.inputs,
            "prompt": (ctx.activation.payload or {}).get("prompt"),  # a scheduled turn's
            "agent": {"id": ctx.bot.id, "username": ctx.bot.username,
                      "displayName": ctx.bot.display_name,
                      "persona": ctx.config.system_prompt,
                      "description": ctx.config.description},
            "agency": {"id": ctx.room.id, "name": ctx.room.name, "slug": ctx.room.slug,
                       "charter": ctx.room.charter},
            "recent_messages": recent[::-1],
        }

    async def _fail(self, ctx: ActivationContext, error: str) -> Outcome:
        """Tell the room why the bot is silent, and record the error."""
        error = error[:MAX_ERROR_CHARS]
        log.info("webhook bot %s failed activation %s: %s", ctx.bot.username,
                 ctx.activation.id, error)
        # A system message's @mentions wake bots: an error text from the endpoint must not
        # wake anyone (least of all this bot, whose failure would repeat forever).
        text = f"{ctx.bot.display_name} could not answer: {error}".replace("@", "\uff20")
        try:
            await self.chat.post_system(ctx.room.id, text, metadata={
                "agent_error": {"agent_id": ctx.bot.id, "activation_id": ctx.activation.id}})
        except ShoalError:
            log.warning("could not post the error of activation %s", ctx.activation.id)
        return Outcome("error", error=error)
