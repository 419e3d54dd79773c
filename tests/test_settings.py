"""Settings: read once from the environment, every variable listed from one table."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import Settings, SettingsError, describe_variables


def test_defaults_are_the_embedded_default() -> None:
    settings = Settings.from_env({})
    assert settings.backend == "sqlite" and settings.redis_url is None
    assert settings.redis_prefix == "esquadra:"
    assert settings.embeddings_cache == Path(".esquadra") / "cache"
    assert settings.offline is False


def test_every_field_reads_its_variable() -> None:
    settings = Settings.from_env(
        {
            "ESQUADRA_CONFIG": "other.yaml",
            "DATABASE_URL": "postgresql://u@h/db",
            "REDIS_URL": "redis://h:6379/0",
            "ESQUADRA_REDIS_PREFIX": "falachefe:prod:",
            "ESQUADRA_DATA_DIR": "/var/lib/esquadra",
            "ESQUADRA_CACHE_DIR": "/tmp/cache",
            "ESQUADRA_OFFLINE": "yes",
            "ESQUADRA_EMBED_THREADS": "2",
            "ESQUADRA_MEMORY_WORKER": "external",
            "ESQUADRA_MEMORY_RECLAIM_S": "30",
        }
    )
    assert settings.config_path == Path("other.yaml") and settings.backend == "postgres"
    assert settings.redis_prefix == "falachefe:prod:" and settings.offline is True
    assert settings.embeddings_cache == Path("/tmp/cache") and settings.embed_threads == 2
    assert settings.memory_worker == "external" and settings.memory_reclaim_s == 30


def test_empty_values_mean_unset() -> None:
    assert Settings.from_env({"DATABASE_URL": "", "ESQUADRA_OFFLINE": ""}).backend == "sqlite"


def test_a_bad_value_names_the_variable() -> None:
    with pytest.raises(SettingsError, match="ESQUADRA_OFFLINE='talvez'"):
        Settings.from_env({"ESQUADRA_OFFLINE": "talvez"})
    with pytest.raises(SettingsError, match="ESQUADRA_MEMORY_WORKER"):
        Settings.from_env({"ESQUADRA_MEMORY_WORKER": "sometimes"})


def test_overrides_win_over_the_environment() -> None:
    settings = Settings.from_env({"ESQUADRA_CONFIG": "a.yaml"}, config_path=Path("b.yaml"))
    assert settings.config_path == Path("b.yaml")


def test_the_model_variables_are_kept_but_never_printed() -> None:
    settings = Settings.from_env({"OPENAI_API_KEY": "sk-secret"})
    assert settings.environ["OPENAI_API_KEY"] == "sk-secret"
    assert "sk-secret" not in repr(settings)


def test_every_variable_is_described() -> None:
    names = {name for name, _, meaning in describe_variables() if meaning}
    assert {"DATABASE_URL", "REDIS_URL", "ESQUADRA_REDIS_PREFIX", "ESQUADRA_CACHE_DIR"} <= names
    assert {"OPENAI_API_KEY", "LANGSMITH_TRACING"} <= names


def test_the_readme_lists_every_variable() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    missing = [name for name, _, _ in describe_variables() if f"`{name}`" not in readme]
    assert not missing, f"README.md does not list {missing}"
