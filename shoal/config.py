"""Server configuration: defaults, an optional TOML file, then SHOAL_* environment variables."""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo

from shoal.errors import InvalidInput
from shoal.validation import describe_errors

ENV_PREFIX = "SHOAL_"


class WebToolSettings(BaseModel):
    """The `[tools.web]` table: web_fetch's limits and web_search's provider."""

    # brave: Brave Search with BRAVE_API_KEY; searxng: the instance at searxng_url; off: none.
    # Unset: SearXNG if searxng_url is set, else Brave if BRAVE_API_KEY is, else no web_search.
    search: Literal["brave", "searxng", "off"] | None = None
    searxng_url: str = ""
    brave_url: str = "https://api.search.brave.com/res/v1/web/search"
    search_count: int = Field(5, ge=1, le=20)  # results when the model asks for no count
    fetch_max_bytes: int = Field(2_000_000, ge=1024)  # a larger page is refused
    fetch_timeout_seconds: float = Field(15, gt=0)  # for the whole fetch, redirects included
    fetch_max_redirects: int = Field(5, ge=0, le=20)
    fetch_max_chars: int = Field(20_000, ge=500)  # text returned to the model, at most
    cache_seconds: float = Field(300, ge=0)  # how long a fetched page is reused; 0: never

    @model_validator(mode="after")
    def _searxng_has_a_url(self) -> WebToolSettings:
        if self.search == "searxng" and not self.searxng_url:
            raise ValueError('search = "searxng" needs searxng_url, the instance\'s address')
        return self


class ToolSettings(BaseModel):
    """The `[tools]` table, set in the file only: the web tools' settings (`web`); its other
    keys (allow, deny, approval, by_provider) are the server's layer of every agent's tool
    policy, checked by shoal.tools.policy.ServerToolPolicy when the server starts."""

    model_config = ConfigDict(extra="allow")

    web: WebToolSettings = Field(default_factory=WebToolSettings)

    @property
    def policy_table(self) -> dict[str, Any]:
        """The keys of the server's tool policy, as written."""
        return dict(self.model_extra or {})


class CompactionSettings(BaseModel):
    """The `[compaction]` table (and an agent's `compaction` setting, key by key): when a
    session's context is compacted. It is compacted when the context would exceed the model's
    window minus `reserve_tokens`; afterwards the turns kept verbatim take at most
    `max_history_share` of the window, and a summary stands in for the older ones."""

    model_config = ConfigDict(extra="forbid")

    reserve_tokens: int = Field(2000, ge=0, le=1_000_000)
    max_history_share: float = Field(0.5, gt=0.05, le=0.95)


class PruningSettings(BaseModel):
    """The `[pruning]` table (and an agent's `pruning` setting, key by key): old tool results
    in the model's context (never in the session) are cut down. Results after the last
    `keep_last_assistants` assistant turns stay whole. Once the context fills
    `soft_trim_ratio` of the window, longer results than `soft_trim_max_chars` keep their
    head and tail; past `hard_clear_ratio` they become `hard_clear_placeholder`."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    keep_last_assistants: int = Field(3, ge=0, le=1000)
    soft_trim_ratio: float = Field(0.3, ge=0, le=1)
    hard_clear_ratio: float = Field(0.5, ge=0, le=1)
    soft_trim_max_chars: int = Field(4000, ge=100)
    soft_trim_head_chars: int = Field(1500, ge=0)
    soft_trim_tail_chars: int = Field(1500, ge=0)
    hard_clear: bool = True
    hard_clear_placeholder: str = Field("[old tool result cleared]", min_length=1,
                                        max_length=200)


class MemorySettings(BaseModel):
    """The `[memory]` table: how notes and history are embedded and searched. A house's
    `memory` setting may name its own embedding model and weight."""

    # A model reference ("openai/text-embedding-3-small", "ollama/nomic-embed-text",
    # "google/text-embedding-004"); the offline embedder needs no network and no key.
    embedding_model: str = "offline/shoal-embed"
    embedding_fallbacks: list[str] = Field(default_factory=list)
    vector_weight: float = Field(0.6, ge=0, le=1)  # the rest is the keyword score's
    min_score: float = Field(0.12, ge=0, le=1)  # memory_search's default floor
    max_results: int = Field(6, ge=1, le=50)  # memory_search's default count
    max_notes_per_agent: int = Field(10_000, ge=1)  # per house; memory_save refuses beyond
    max_vectors: int = Field(250_000, ge=1000)  # per house, held in memory by each process
    # How soon people's search sees vectors another process wrote (its own at once;
    # memory_search sees every stored vector at once).
    vector_refresh_seconds: float = Field(1.0, ge=0)
    embed_batch: int = Field(256, ge=1, le=1024)  # documents per indexer claim
    embed_poll_seconds: float = Field(0.5, gt=0)  # how often the indexer looks for work
    embed_lease_seconds: float = Field(60, gt=0)
DEFAULT_ATTACHMENT_TYPES = ("image/png,image/jpeg,image/gif,image/webp,text/plain,text/markdown,"
                            "text/csv,application/pdf,application/json,application/zip")


class Settings(BaseModel):
    """Everything a Shoal process needs to know about where it runs."""

    data_dir: Path = Path(".shoal-data")
    database_url: str | None = None
    redis_url: str | None = None
    # all: one process does everything. api: HTTP and sockets only. worker: agent runs only.
    # scheduler: heartbeats, cron jobs and webhook deliveries only. Split roles share
    # PostgreSQL and need Redis to reach each other's sockets.
    role: Literal["all", "api", "worker", "scheduler"] = "all"
    redis_prefix: str = "shoal"  # channel names; give each Shoal cluster sharing a Redis its own
    secret: str | None = None
    host: str = "127.0.0.1"
    port: int = Field(8420, ge=1, le=65535)
    open_registration: bool = False
    session_ttl_days: int = Field(30, ge=1)
    max_content_chars: int = Field(20_000, ge=1)
    max_metadata_bytes: int = Field(32_768, ge=2)
    max_body_bytes: int = Field(262_144, ge=1024)
    auth_attempts_per_minute: int = Field(10, ge=1)
    argon2_time_cost: int = Field(3, ge=1)
    argon2_memory_kib: int = Field(65_536, ge=1024)
    log_level: str = "info"
    log_format: Literal["text", "json"] = "text"  # json: one JSON object a line
    # /metrics on the public port answers only with `Authorization: Bearer <metrics_token>`;
    # unset, it answers 404 there. metrics_port (0: off) serves /metrics and /ready without a
    # token on metrics_host, for every role (workers and schedulers have no other port).
    metrics_token: str = ""
    metrics_port: int = Field(0, ge=0, le=65535)
    metrics_host: str = "127.0.0.1"
    llm: dict[str, Any] = Field(default_factory=dict)  # the [llm] table: see shoal.llm.LLMConfig
    tools: ToolSettings = Field(default_factory=ToolSettings)  # the [tools] table
    memory: MemorySettings = Field(default_factory=MemorySettings)  # the [memory] table
    mcp: dict[str, Any] = Field(default_factory=dict)  # the [mcp] table: see shoal.tools.mcp
    compaction: CompactionSettings = Field(default_factory=CompactionSettings)
    pruning: PruningSettings = Field(default_factory=PruningSettings)
    cors_origins: str = ""  # comma-separated origins allowed besides the server's own
    # Proxies (comma-separated addresses or CIDRs, or *) whose X-Forwarded-For and
    # X-Forwarded-Proto are believed; by default none, so clients cannot choose their address.
    forwarded_allow_ips: str = ""
    # Outbound HTTP (agent webhooks and the like) reaches public addresses only, unless the
    # operator allows every address or lists internal networks (comma-separated CIDRs).
    outbound_allow_private: bool = False
    outbound_allowed_networks: str = ""
    activation_retention_days: int = Field(30, ge=1)
    # How many agent replies one message by a person, a hook or a schedule may wake in all,
    # however the chains of replies branch; a house may set its own (1-1000).
    interaction_budget: int = Field(20, ge=1, le=1000)
    # Runs: an agent that left comes back within the grace period or its run ends as error;
    # a run ends as timed_out after its time limit; every process sweeps this often.
    run_disconnect_grace_seconds: float = Field(30, gt=0)
    run_time_limit_seconds: float = Field(3600, gt=0)
    run_sweep_seconds: float = Field(5, gt=0)
    custom_command_timeout_seconds: float = Field(15, gt=0)  # a house command's webhook
    webhook_retention_days: int = Field(30, ge=1)  # finished webhook deliveries kept in the log
    hook_messages_per_minute: int = Field(60, ge=1)  # per hook and process
    # Workers: how many activations one worker process runs at once; a running activation's
    # lease, renewed while it runs, so another worker takes a crashed worker's queue soon.
    worker_concurrency: int = Field(8, ge=1)
    worker_lease_seconds: float = Field(15, gt=0)
    worker_lease_renew_seconds: float = Field(5, gt=0)
    # On SIGTERM: how long running activations may take to finish before they are handed back.
    shutdown_grace_seconds: float = Field(20, ge=0)
    # Sub-agents: how many children run at once in one house, whichever agents spawned them
    # (each agent's own `subagents.max_concurrent` holds too); the rest wait in order.
    subagent_house_concurrency: int = Field(8, ge=1, le=1000)
    # Files attached to messages: the largest upload, the content types accepted
    # (comma-separated; `image/*` takes every image type), how long a signed link to one lasts.
    # How much builtin agents reason before answering, unless the agent or its house says:
    # off, low, medium or high.
    thinking_default: Literal["off", "low", "medium", "high"] = "off"
    attachment_max_bytes: int = Field(10 * 1024 * 1024, ge=1024)
    attachment_types: str = DEFAULT_ATTACHMENT_TYPES
    attachment_link_seconds: int = Field(600, ge=10, le=7 * 86_400)
    # The address people and other systems reach this server at (https://shoal.example.com),
    # for absolute links in what Shoal sends out (attachments in webhook payloads); unset,
    # http://<host>:<port>.
    public_url: str = ""

    @field_validator("outbound_allowed_networks")
    @classmethod
    def _networks_parse(cls, value: str) -> str:
        parse_networks(value)
        return value

    @model_validator(mode="after")
    def _lease_renewed_in_time(self) -> Settings:
        if self.worker_lease_renew_seconds >= self.worker_lease_seconds:
            raise ValueError(
                f"worker_lease_renew_seconds ({self.worker_lease_renew_seconds:g}) must be "
                f"shorter than worker_lease_seconds ({self.worker_lease_seconds:g}), so that a "
                "running activation's lease is renewed before it runs out")
        return self

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _proxies_parse(cls, value: str) -> str:
        if value.strip() != "*":
            parse_networks(value)
        return value

    @property
    def base_url(self) -> str:
        """Where this server is reached: `public_url`, else its own host and port."""
        return self.public_url.rstrip("/") or f"http://{self.host}:{self.port}"

    @property
    def allowed_origins(self) -> list[str]:
        """Extra browser origins allowed to open sockets."""
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file in the data directory."""
        if self.database_url:
            return normalize_database_url(self.database_url)
        return f"sqlite+aiosqlite:///{(self.data_dir / 'shoal.db').resolve()}"

    def ensure_secret(self) -> str:
        """Return the server secret, creating and keeping one in the data directory if unset."""
        if self.secret:
            return self.secret
        path = self.data_dir / "secret"
        if path.exists():
            self.secret = path.read_text().strip()
        else:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self.secret = secrets.token_urlsafe(48)
            path.write_text(self.secret)
            path.chmod(0o600)
        return self.secret


def normalize_database_url(url: str) -> str:
    """Pick the async driver for a plain postgres:// or sqlite:// URL."""
    for plain, driver in (
        ("postgres://", "postgresql+asyncpg://"),
        ("postgresql://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    return url


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build settings from a TOML file (if given), SHOAL_* variables, then explicit overrides."""
    values: dict[str, Any] = {}
    env_file = os.environ.get("SHOAL_CONFIG")
    path = config_file or (Path(env_file) if env_file else None)
    if path is not None:
        try:
            values.update(tomllib.loads(path.read_text()))
        except FileNotFoundError:
            raise InvalidInput(f"config file {path} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise InvalidInput(f"config file {path} is not valid TOML: {exc}") from None
    for name, field in Settings.model_fields.items():
        env = os.environ.get(ENV_PREFIX + name.upper())
        if env is not None and env != "":
            values[name] = _table(name, env) if _is_table(field) else env
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Settings(**values)
    except ValidationError as exc:
        problems = describe_errors(exc.errors(), subject="the configuration", limit=20)
        raise InvalidInput(f"invalid configuration: {problems}") from None


def _is_table(field: FieldInfo) -> bool:
    factory = field.default_factory
    return factory is not None and isinstance(factory(), dict | BaseModel)  # type: ignore[call-arg]


def _table(name: str, env: str) -> dict[str, Any]:
    """A table of the file given in a variable, as JSON (`SHOAL_MCP='{"servers": {...}}'`)."""
    try:
        value = json.loads(env)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise InvalidInput(f"{ENV_PREFIX}{name.upper()} must be a JSON object, e.g. "
                           f"{ENV_PREFIX}{name.upper()}='{{\"key\": \"value\"}}', because it "
                           f"stands for the [{name}] table of the configuration file")
    return value


IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str) -> tuple[IPNetwork, ...]:
    """Comma-separated CIDRs (`10.0.0.0/8, fd00::/8`); ValueError names a bad one."""
    networks = []
    for part in (p.strip() for p in text.split(",")):
        if part:
            try:
                networks.append(ipaddress.ip_network(part, strict=False))
            except ValueError:
                raise ValueError(f"{part!r} is not a network like 10.0.0.0/8") from None
    return tuple(networks)
