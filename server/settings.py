"""Server settings, read from the environment once at start-up."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    """Where the squad's YAML is and which stores it uses; empty URL means the embedded default."""

    config_path: Path = Path("agents.yaml")
    database_url: str | None = None
    redis_url: str | None = None
    data_dir: Path = Path(".esquadra")
    cache_dir: Path | None = None
    offline: bool = False
    max_message_chars: int = 8_000

    @property
    def embeddings_cache(self) -> Path:
        """Where routing-example embeddings are cached (derived data: safe to delete)."""
        return self.cache_dir or self.data_dir / "cache"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        return cls(
            config_path=Path(env.get("ESQUADRA_CONFIG") or "agents.yaml"),
            database_url=env.get("DATABASE_URL") or None,
            redis_url=env.get("REDIS_URL") or None,
            data_dir=Path(env.get("ESQUADRA_DATA_DIR") or ".esquadra"),
            cache_dir=Path(env["ESQUADRA_CACHE_DIR"]) if env.get("ESQUADRA_CACHE_DIR") else None,
            offline=env.get("ESQUADRA_OFFLINE", "").lower() in {"1", "true", "yes"},
        )
