"""Schemathesis over the app's own OpenAPI: no 5xx, and every response is one the schema declares
(status code, content type, body), on the embedded default and on Postgres + Redis.

Bounded: a few dozen generated cases per operation and a deadline for the whole run, so the
module stays under ~90 s on a loaded two-core box.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from conftest import ADMIN_HEADERS, ADMIN_TOKEN, REDIS_TEST_URL, SQUAD_YAML, require_service
from hypothesis import HealthCheck, settings
from litestar.serialization import encode_json
from live_server import live_server

from core.settings import Settings
from server.app import create_app

MAX_EXAMPLES = 25

# Only what the schema promises is checked: server errors and conformance. Checks that guess at
# intent (e.g. that every schema-valid body is accepted: ours refuses unknown fields, blank
# messages and ids the schema cannot express) stay off.
CONFIG = schemathesis.Config.from_dict(
    {
        "checks": {
            "enabled": False,
            "not_a_server_error": {"enabled": True},
            "status_code_conformance": {"enabled": True},
            "content_type_conformance": {"enabled": True},
            "response_schema_conformance": {"enabled": True},
            "response_headers_conformance": {"enabled": True},
        },
        "request-timeout": 30,
    }
)


def _settings(backend: str, data_dir: Path, request: pytest.FixtureRequest) -> Settings:
    if backend == "embedded":
        return Settings(config_path=SQUAD_YAML, data_dir=data_dir, offline=True)
    require_service("Redis", "127.0.0.1", 6379)
    return Settings(
        config_path=SQUAD_YAML,
        database_url=request.getfixturevalue("postgres_url"),
        redis_url=REDIS_TEST_URL,
        data_dir=data_dir,
        offline=True,
        admin_token=ADMIN_TOKEN,  # the admin API on here (off on the embedded default)
    )


def _openapi() -> dict[str, Any]:
    """The schema `GET /schema/openapi.json` serves (built without starting the app), as JSON."""
    app = create_app(Settings(config_path=SQUAD_YAML, database_url="memory"), environ={})
    return json.loads(encode_json(app.openapi_schema.to_schema()))


OPENAPI = _openapi()


# Schemathesis' lazy `from_fixture` loader needs pytest internals pytest 9 removed
# (`Function._nodeid`); the schema is the app's own, so it is loaded eagerly and each case is
# sent to the live server of the backend under test.
schema = schemathesis.openapi.from_dict(copy.deepcopy(OPENAPI), config=CONFIG)


@pytest.fixture(scope="module", params=["embedded", "postgres+redis"])
def api_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    prefix = f"esquadra-test-{uuid.uuid4().hex[:10]}:"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ESQUADRA_REDIS_PREFIX", prefix)
        app = create_app(_settings(request.param, tmp_path_factory.mktemp("data"), request), {})
        with live_server(app) as url:
            served = httpx.get(f"{url}/schema/openapi.json", timeout=30).json()
            assert served == OPENAPI, "the served schema is the one tested"
            yield url
    if request.param != "embedded":
        _drop_keys(prefix)


def _drop_keys(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_TEST_URL)
    for key in client.scan_iter(match=f"{prefix}*"):
        client.delete(key)
    client.close()


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_api_conforms_to_its_schema(case: schemathesis.Case, api_url: str) -> None:
    # The admin token goes with every case: /v1 ignores it (no API key is set), /admin/api
    # takes it where the admin API is on and answers 404 `admin_disabled` where it is off.
    case.call_and_validate(base_url=api_url, headers=ADMIN_HEADERS)
