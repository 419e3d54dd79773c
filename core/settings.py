"""The service's settings: the one place that reads the environment.

`Settings.from_env()` is called once per process (the CLI, the app factory, Studio) and the
object is passed down; CLI flags replace fields (`model_copy(update=...)`), never the
environment. Every variable the service reads is a field here, so `esquadra serve --help` and
the README list them from this one table (`describe_variables`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

# Read by libraries themselves (the model profiles' defaults); listed
# so the help shows every variable that changes the service's behaviour.
LIBRARY_VARIABLES = {
    "OPENAI_API_KEY": "the default model profile's key; without one the squad runs offline",
    "OPENAI_BASE_URL": "the default profile's OpenAI-compatible endpoint",
    "ESQUADRA_MODEL": "overrides the default profile's model name",
}


class SettingsError(ValueError):
    """An environment variable holds a value the service cannot use; names the variable."""


class Settings(BaseModel):
    """Where the squad's YAML is and which stores and switches it uses."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    config_path: Path = Field(
        Path("agents.yaml"), alias="ESQUADRA_CONFIG", description="the squad YAML"
    )
    database_url: str | None = Field(
        None,
        alias="DATABASE_URL",
        description="postgresql://… for checkpoints and every table; unset: one SQLite file "
        "under the data dir; `memory`: RAM (tests)",
    )
    redis_url: str | None = Field(
        None,
        alias="REDIS_URL",
        description="redis:// or rediss://: locks across workers, hot sessions, memory stream; "
        "unset: in-process (one worker only)",
    )
    redis_prefix: str = Field(
        "esquadra:", alias="ESQUADRA_REDIS_PREFIX", description="every Redis key starts with it"
    )
    data_dir: Path = Field(
        Path(".esquadra"), alias="ESQUADRA_DATA_DIR", description="the embedded default's files"
    )
    cache_dir: Path | None = Field(
        None,
        alias="ESQUADRA_CACHE_DIR",
        description="cached embeddings of the routing examples (default: <data dir>/cache)",
    )
    offline: bool = Field(
        False, alias="ESQUADRA_OFFLINE", description="`1` forces offline mode even with a key"
    )
    embed_threads: int | None = Field(
        None,
        alias="ESQUADRA_EMBED_THREADS",
        ge=1,
        description="OpenMP threads of the embedding model (serving: 1; fit-routing: up to 2)",
    )
    memory_worker: Literal["inprocess", "external"] = Field(
        "inprocess",
        alias="ESQUADRA_MEMORY_WORKER",
        description="`external`: the server leaves the memory stream to `esquadra worker`",
    )
    memory_reclaim_s: float = Field(
        60.0,
        alias="ESQUADRA_MEMORY_RECLAIM_S",
        gt=0,
        description="a crashed memory consumer's messages are taken over after this",
    )
    model_fast_path: bool = Field(
        True,
        alias="ESQUADRA_MODEL_FAST_PATH",
        description="`0` streams replies through the OpenAI SDK alone (no lean aiohttp path)",
    )
    max_message_chars: int = Field(
        8_000, alias="ESQUADRA_MAX_MESSAGE_CHARS", ge=1, description="longest message accepted"
    )
    api_key: str | None = Field(
        None,
        alias="ESQUADRA_API_KEY",
        min_length=16,
        repr=False,
        description="integrations send `Authorization: Bearer <key>` on every /v1 call (16+ "
        "characters); unset: "
        "/v1 is open (loopback only, unless `serve --allow-open-api`)",
    )
    admin_token: str | None = Field(
        None,
        alias="ADMIN_TOKEN",
        min_length=16,
        repr=False,
        description="the admin API (/admin/api) wants `Authorization: Bearer <token>` (16+ "
        "characters); unset: the admin API is off (404 `admin_disabled`)",
    )
    session_secret: str | None = Field(
        None,
        alias="ESQUADRA_SESSION_SECRET",
        min_length=32,
        repr=False,
        description="signs the chat page's session cookie; unset: a random one kept in "
        "<data dir>/session_secret (0600), shared by the workers of one machine",
    )
    cors_origins: str = Field(
        "",
        alias="ESQUADRA_CORS_ORIGINS",
        description="comma-separated origins allowed to call the API from a browser "
        "(e.g. `https://app.example.com`); none by default",
    )
    # WhatsApp Cloud API (server/channels/whatsapp): the webhook is off until both the verify
    # token and the app secret are set. Secrets: SecretStr, so a repr or a log never shows them.
    whatsapp_verify_token: SecretStr | None = Field(
        None,
        alias="WHATSAPP_VERIFY_TOKEN",
        description="the token Meta echoes when the webhook is registered; unset: webhook off",
    )
    whatsapp_app_secret: SecretStr | None = Field(
        None,
        alias="WHATSAPP_APP_SECRET",
        description="the Meta app's secret: signs every webhook (X-Hub-Signature-256); "
        "unset: webhook off",
    )
    whatsapp_access_token: SecretStr | None = Field(
        None,
        alias="WHATSAPP_ACCESS_TOKEN",
        description="the Graph API token replies are sent with (Bearer)",
    )
    graph_api_base_url: str = Field(
        "https://graph.facebook.com",
        alias="GRAPH_API_BASE_URL",
        description="where WhatsApp replies are sent (`/{version}/{phone number id}/messages`)",
    )
    # LangSmith: read here and handed to the SDK's client explicitly (server/tracing.py), so the
    # library never traces on its own with an unmasked default client.
    langsmith_tracing: bool = Field(
        False,
        alias="LANGSMITH_TRACING",
        description="`true` sends one trace per chat turn to LangSmith (personal data masked, "
        "user ids hashed)",
    )
    langsmith_api_key: SecretStr | None = Field(
        None, alias="LANGSMITH_API_KEY", description="LangSmith's key"
    )
    langsmith_endpoint: str = Field(
        "https://api.smith.langchain.com",
        alias="LANGSMITH_ENDPOINT",
        description="LangSmith's base URL (tests point it at a local receiver)",
    )
    langsmith_project: str = Field(
        "esquadra", alias="LANGSMITH_PROJECT", description="the LangSmith project of the traces"
    )
    trace_salt: SecretStr | None = Field(
        None,
        alias="ESQUADRA_TRACE_SALT",
        min_length=16,
        description="salt of the user-id hash in traces (16+ characters); unset: derived from "
        "the session secret",
    )
    prometheus_multiproc_dir: Path | None = Field(
        None,
        alias="PROMETHEUS_MULTIPROC_DIR",
        description="where the workers of one run keep their metrics (read by prometheus_client "
        "too); unset: `serve --workers N` makes one for the run and removes it at the end",
    )
    # The model profiles name their variables in the YAML (`api_key_env`, …), so the process
    # environment is kept as read here and handed to the squad builder; never printed.
    environ: Mapping[str, str] = Field(default_factory=dict, exclude=True, repr=False)

    @property
    def embeddings_cache(self) -> Path:
        """Where routing-example embeddings are cached (derived data: safe to delete)."""
        return self.cache_dir or self.data_dir / "cache"

    @property
    def cors_allow_list(self) -> list[str]:
        """`ESQUADRA_CORS_ORIGINS` as a list (empty: no cross-origin browser calls)."""
        return [origin.strip() for origin in self.cors_origins.split(",") if origin.strip()]

    @property
    def whatsapp_enabled(self) -> bool:
        """The webhook runs only with both of the secrets that authenticate Meta's calls."""
        return bool(self.whatsapp_verify_token and self.whatsapp_app_secret)

    @property
    def backend(self) -> Literal["postgres", "sqlite", "memory"]:
        """Which store `open_stores` builds."""
        if self.database_url is None:
            return "sqlite"
        return "memory" if self.database_url == "memory" else "postgres"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read every field from `environ` (default: the process's); empty means unset."""
        env = dict(os.environ if environ is None else environ)
        values: dict[str, Any] = {
            field.alias: env[field.alias]
            for field in cls.model_fields.values()
            if field.alias and env.get(field.alias)
        }
        for name, value in overrides.items():  # by alias, so a flag replaces its variable
            values[cls.model_fields[name].alias or name] = value
        try:
            return cls.model_validate({"environ": env, **values})
        except ValidationError as exc:
            raise SettingsError(_describe(exc)) from None


def describe_variables() -> list[tuple[str, str, str]]:
    """(variable, default, meaning) for every variable the service reads."""
    rows = []
    for field in Settings.model_fields.values():
        if not field.alias:
            continue
        default = field.get_default(call_default_factory=False)
        rows.append((field.alias, "—" if default is None else str(default), field.description))
    rows += [(name, "—", meaning) for name, meaning in LIBRARY_VARIABLES.items()]
    return [(name, default, meaning or "") for name, default, meaning in rows]


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        name = ".".join(str(part) for part in error["loc"])
        parts.append(f"{name}={error.get('input')!r}: {error['msg']}")
    return "invalid setting: " + "; ".join(parts)
