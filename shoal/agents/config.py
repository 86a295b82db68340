"""A bot's configuration: what it runs on, how it thinks, when it wakes and what it may do.

Stored in the bot's `users.config` JSON; secrets in it are encrypted with the server secret.
Edits are ordinary updates: the next activation reads the record again.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING, Any, Literal

import emoji as emoji_lib
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from shoal.config import CompactionSettings, PruningSettings
from shoal.errors import InvalidInput
from shoal.jsontext import json_loads_scrubbed
from shoal.llm.agentaccess import AgentAccess
from shoal.validation import describe_errors

if TYPE_CHECKING:
    from shoal.crypto import SecretBox

Runtime = Literal["builtin", "sdk", "webhook"]
TriggerMode = Literal["mention", "ambient"]
TriggerPolicy = Literal["open", "closed", "whitelist"]
BusyPolicy = Literal["queue", "collect", "interrupt"]
SECRET_FIELDS = ("response_webhook_secret", "llm_api_key")
MAX_TOOL_PATTERNS = 200
TOOL_PATTERN = re.compile(r"^[A-Za-z0-9_*?\[\]!.:-]{1,200}$")
MODEL_FORMS = ('a model reference such as "openai/gpt-5-mini" or "sonnet", or '
               '{"primary": "openai/gpt-5-mini", "fallbacks": ["sonnet"]}')


class ModelChoice(BaseModel):
    """A primary model and its fallbacks; None fallbacks means the server's default list.
    A plain reference string is the primary alone."""

    primary: str | None = None
    fallbacks: list[str] | None = None

    @model_validator(mode="before")
    @classmethod
    def _reference_alone(cls, value: Any) -> Any:
        return {"primary": value} if isinstance(value, str) else value


def normalise_model(value: Any) -> dict[str, Any]:
    """A `model` setting in its one stored form, `{primary, fallbacks}`: a reference string
    is that primary with the server's default fallbacks. InvalidInput says which forms work."""
    if isinstance(value, str):
        if not value.strip():
            raise InvalidInput(f"model must not be empty; give {MODEL_FORMS}")
        return {"primary": value.strip()}
    if not isinstance(value, dict):
        raise InvalidInput(f"model must be {MODEL_FORMS}")
    unknown = sorted(set(value) - set(ModelChoice.model_fields))
    if unknown:
        raise InvalidInput(f"model has no key {unknown[0]!r}; give {MODEL_FORMS}")
    return value


class ToolPolicy(BaseModel):
    """Which tools may be called, as one layer of the tool policy (the agent's own, a house's,
    the server's): `allow` and `deny` list tool names, `group:<name>` groups and
    `<group>:<name>` names within a group, all with `*` wildcards; a deny wins. Tools in
    `approval` need a person's approval before they run. Matching is in `shoal.tools.policy`.
    Stored policies load as they are; new ones are checked by `StrictToolPolicy`."""

    allow: list[str] = Field(default_factory=lambda: ["*"])
    deny: list[str] = Field(default_factory=list)
    approval: list[str] = Field(default_factory=list)


class StrictToolPolicy(ToolPolicy):
    """A tool policy as given to be stored: known keys only, and every pattern one."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("allow", "deny", "approval")
    @classmethod
    def _patterns(cls, value: list[str]) -> list[str]:
        if len(value) > MAX_TOOL_PATTERNS:
            raise ValueError(f"may list at most {MAX_TOOL_PATTERNS} patterns")
        for pattern in value:
            if not TOOL_PATTERN.match(pattern) or pattern.endswith(":"):
                raise ValueError(f"{pattern!r} is not a tool pattern; give a tool name such as "
                                 '"save", a group such as "group:notes", or a wildcard such '
                                 'as "mcp:github__*"')
        return value


def check_tool_policy(value: Any, subject: str) -> dict[str, Any]:
    """A tool policy given as JSON, checked as the agent's is: the keys given (of allow, deny
    and approval), or InvalidInput naming what is wrong."""
    if not isinstance(value, dict):
        raise InvalidInput(f"{subject} must be a JSON object with allow, deny and approval lists "
                           'of tool patterns, e.g. {"deny": ["group:notes"]}')
    try:
        StrictToolPolicy.model_validate(value)
    except ValidationError as exc:
        raise InvalidInput(describe_errors(exc.errors(), subject=subject, prefix=subject)
                           ) from None
    return dict(value)


class SubagentSettings(BaseModel):
    """How an agent spawns sub-agents: whom it may run them as (`allow_agents`: handles or
    ids, `*` for any agent of the house; its own self always), their default model (else the
    agent's own), how many of its children run at once (the rest wait in order), and how long
    a finished child stays in the room's list."""

    allow_agents: list[str] = Field(default_factory=list, max_length=200)
    model: ModelChoice | None = None
    max_concurrent: int = Field(1, ge=1, le=50)
    archive_after_minutes: int = Field(60, ge=1, le=60 * 24 * 30)

    @field_validator("allow_agents")
    @classmethod
    def _handles(cls, value: list[str]) -> list[str]:
        return [v.strip().lstrip("@").lower() for v in value if v.strip()]


class Identity(BaseModel):
    """How a bot presents itself beside its name and avatar (crocbot's `identity`)."""

    emoji: str | None = None

    @field_validator("emoji")
    @classmethod
    def _one_emoji(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if len(value) > 16 or not emoji_lib.is_emoji(value.strip()):
            raise ValueError(f"{value[:20]!r} is not one emoji; give one such as 🦀")
        return value.strip()


class HumanDelay(BaseModel):
    """A pause before an agent's reply when its previous message in the room is recent: a
    random wait between `min_ms` and `max_ms` after it (crocbot's `humanDelay`)."""

    min_ms: int = Field(800, ge=0, le=60_000)
    max_ms: int = Field(2500, ge=0, le=60_000)

    @model_validator(mode="after")
    def _ordered(self) -> HumanDelay:
        if self.max_ms < self.min_ms:
            raise ValueError(f"max_ms ({self.max_ms}) must not be below min_ms ({self.min_ms})")
        return self


class BotConfig(BaseModel):
    """Everything a bot's record says about how it works."""

    description: str = Field("", max_length=2000)
    runtime: Runtime = "builtin"
    model: ModelChoice = Field(default_factory=ModelChoice)
    # The models for turns that carry images when `model`'s primary cannot see (crocbot's
    # imageModel); none: such turns go to `model` with the images described in words.
    image_model: ModelChoice | None = None
    system_prompt: str = Field("", max_length=20_000)
    identity: Identity = Field(default_factory=Identity)
    human_delay: HumanDelay | None = None
    # How much it reasons first (off, low, medium, high); none: its house's thinking_default,
    # then the server's.
    thinking: Literal["off", "low", "medium", "high"] | None = None
    trigger_mode: TriggerMode = "mention"
    ambient_on_agents: bool = False  # an ambient bot also hears other agents' messages
    trigger_policy: TriggerPolicy = "open"
    trigger_whitelist: list[str] = Field(default_factory=list)
    busy_policy: BusyPolicy = "queue"
    tools: ToolPolicy = Field(default_factory=ToolPolicy)
    response_webhook_url: str | None = Field(None, max_length=2000)
    response_webhook_secret: str | None = None  # encrypted at rest
    max_hops: int = Field(20, ge=1, le=1000)
    daily_token_budget: int | None = Field(None, ge=1)
    role: str | None = Field(None, max_length=200)
    llm_provider: str | None = None
    llm_api_key: str | None = None  # encrypted at rest
    ollama_endpoint: str | None = None
    # Overrides of the server's [compaction] and [pruning] tables, key by key.
    compaction: dict[str, Any] = Field(default_factory=dict)
    pruning: dict[str, Any] = Field(default_factory=dict)

    @field_validator("compaction")
    @classmethod
    def _compaction_keys(cls, value: dict[str, Any]) -> dict[str, Any]:
        CompactionSettings.model_validate(value)
        return value

    @field_validator("pruning")
    @classmethod
    def _pruning_keys(cls, value: dict[str, Any]) -> dict[str, Any]:
        PruningSettings.model_validate(value)
        return value

    def compaction_settings(self, server: CompactionSettings) -> CompactionSettings:
        """The server's compaction settings with this agent's overrides."""
        return CompactionSettings.model_validate({**server.model_dump(), **self.compaction})

    def pruning_settings(self, server: PruningSettings) -> PruningSettings:
        """The server's pruning settings with this agent's overrides."""
        return PruningSettings.model_validate({**server.model_dump(), **self.pruning})
    subagents: SubagentSettings = Field(default_factory=SubagentSettings)

    @field_validator("trigger_whitelist")
    @classmethod
    def _lowercase(cls, value: list[str]) -> list[str]:
        return [v.lstrip("@").lower() for v in value]

    @field_validator("llm_provider")
    @classmethod
    def _provider_name(cls, value: str | None) -> str | None:
        return value.strip().lower() if value is not None else None

    def model_access(self, bot_id: str, box: SecretBox) -> AgentAccess | None:
        """The bot's own provider key and Ollama endpoint for the model layer, or None when
        it uses the house's and server's. InvalidInput when its key cannot be decrypted."""
        if self.llm_api_key is None and self.ollama_endpoint is None:
            return None
        key = None
        if self.llm_api_key is not None:
            try:
                key = box.decrypt(self.llm_api_key)
            except ValueError:
                raise InvalidInput("its llm_api_key can no longer be decrypted (the server "
                                   "secret changed); set it again") from None
        return AgentAccess(bot_id, self.llm_provider, key, self.ollama_endpoint)

    def view(self) -> dict[str, Any]:
        """The configuration as the API shows it: secrets only say whether they are set."""
        data = self.model_dump()
        for key in SECRET_FIELDS:
            data[key] = data[key] is not None
        data["personality"] = self.system_prompt
        data["prompt_permission"] = self.trigger_policy
        primary = self.model.primary or ""
        data["ollama_model"] = primary.removeprefix("ollama/") if primary.startswith(
            "ollama/") else None
        return data


# The wire contract's names for fields Shoal names otherwise.
ALIASES = {"personality": "system_prompt", "prompt_permission": "trigger_policy"}
EDITABLE = set(BotConfig.model_fields) | set(ALIASES) | {"ollama_model", "fallbacks"}


def load_config(raw: dict[str, Any] | None) -> BotConfig:
    """The stored configuration (secrets still encrypted); unknown stored keys are ignored."""
    raw = raw or {}
    try:
        return BotConfig.model_validate({k: v for k, v in raw.items()
                                         if k in BotConfig.model_fields})
    except ValidationError:
        return BotConfig()


@functools.lru_cache(maxsize=4096)
def load_stored_config(text: str | None) -> BotConfig:
    """`load_config` of a configuration's stored JSON text, remembered by that text: every
    batch of messages reads all the bots of its houses, and validating each one's
    configuration again was a tenth of the work of posting a scheduled prompt. The answer is
    shared between callers: read it, never change it."""
    return load_config(json_loads_scrubbed(text) if text else None)


def apply_patch(raw: dict[str, Any] | None, patch: dict[str, Any], box: SecretBox
                ) -> dict[str, Any]:
    """The stored configuration after a PATCH: contract names are translated, `null` clears
    a field back to its default, secrets are encrypted. Raises InvalidInput naming the field."""
    unknown = sorted(set(patch) - EDITABLE)
    if unknown:
        raise InvalidInput(f"unknown config key {unknown[0]!r}; known keys: "
                           f"{', '.join(sorted(EDITABLE))}")
    stored = dict(raw or {})
    for key, value in patch.items():
        if key == "ollama_model":
            key, value = "model", (None if value is None else {
                **stored.get("model", {}), "primary": f"ollama/{value}"})
        elif key == "fallbacks":
            key, value = "model", {**stored.get("model", {}), "fallbacks": value}
        key = ALIASES.get(key, key)
        if key in ("model", "image_model") and value is not None:
            value = normalise_model(value)
        if key == "tools" and value is not None:
            value = check_tool_policy(value, "tools")
        if value is None:
            stored.pop(key, None)
        elif key in SECRET_FIELDS:
            if not isinstance(value, str) or not value:
                raise InvalidInput(f"{key} must be a non-empty string")
            stored[key] = box.encrypt(value)
        else:
            stored[key] = value
    try:
        BotConfig.model_validate({k: v for k, v in stored.items()
                                  if k in BotConfig.model_fields})
    except ValidationError as exc:
        raise InvalidInput(describe_errors(exc.errors(), subject="the configuration")
                           ) from None
    return stored


def may_trigger(config: BotConfig, sender_role: str | None, sender_username: str | None
                ) -> bool:
    """Whether a message from this sender may wake the bot: open to anyone who can post,
    closed to house admins and owners, whitelist to the named usernames (and admins)."""
    if config.trigger_policy == "open":
        return True
    if sender_role in ("admin", "owner"):
        return True
    if config.trigger_policy == "whitelist" and sender_username:
        return sender_username.lower() in config.trigger_whitelist
    return False
