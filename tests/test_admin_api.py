"""The admin API (`/admin/api`): the token, live edits validated like the YAML (422 naming the
field), versions, rollback, the audit log, and each agent's figures from the per-turn rows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ADMIN_HEADERS, ADMIN_TOKEN, SQUAD_YAML, chat, store_settings
from litestar.testing import AsyncTestClient

from checkpointing import open_stores
from core.settings import Settings
from server.app import create_app

HR_QUESTION = "@lia quanto é o 13º da funcionária que entrou em agosto?"
MARKETING_QUESTION = "me ajuda com um post pro dia dos pais"


@pytest.fixture(params=["sqlite", "postgres"])
async def client(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    """The app with the admin API on, on this backend, with a fresh registry; offline."""
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    settings = store_settings(url, tmp_path, admin_token=ADMIN_TOKEN)
    async with open_stores(settings) as stores, stores.db.transaction() as tx:
        for table in ("agent_versions", "agent_audit", "agent_synced", "chat_turns"):
            await tx.execute(f"DELETE FROM {table}")  # the database is per test module
    async with AsyncTestClient(app=create_app(settings, environ={})) as test_client:
        yield test_client


async def admin(client: Any, method: str, path: str, **kwargs: Any) -> Any:
    headers = {**ADMIN_HEADERS, **kwargs.pop("headers", {})}
    return await client.request(method, f"/admin/api{path}", headers=headers, **kwargs)


async def snapshot(client: Any) -> tuple[Any, Any]:
    """Every version of every agent, and the audit log, as the admin API shows them."""
    agents = (await admin(client, "GET", "/agents")).json()
    versions = [(await admin(client, "GET", f"/agents/{a['id']}/versions")).json() for a in agents]
    return versions, (await admin(client, "GET", "/audit")).json()


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong-token-of-some-length"}, {"Authorization": ADMIN_TOKEN}],
    ids=["missing", "wrong", "not-bearer"],
)
async def test_without_the_token_nothing_changes(client: Any, headers: dict[str, str]) -> None:
    before = await snapshot(client)
    requests = [
        client.patch("/admin/api/agents/lia", json={"active": False}, headers=headers),
        client.post("/admin/api/agents/lia/rollback", json={"version": 1}, headers=headers),
        client.get("/admin/api/agents", headers=headers),
        client.get("/admin/api/audit", headers=headers),
    ]
    for pending in requests:
        response = await pending
        assert response.status_code == 401, response.text
        assert response.json()["code"] == "unauthorized"
        assert response.headers["www-authenticate"] == "Bearer"
    assert await snapshot(client) == before
    assert "lia" in client.app.state.chat.live.current.active


async def test_the_api_key_is_not_the_admin_token(tmp_path: Path) -> None:
    key = "k" * 40
    settings = Settings(
        config_path=SQUAD_YAML, database_url="memory", data_dir=tmp_path, api_key=key
    )
    async with AsyncTestClient(app=create_app(settings, environ={})) as client:
        response = await client.get(
            "/admin/api/agents", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        )
        assert (response.status_code, response.json()["code"]) == (404, "admin_disabled")
        response = await client.get("/admin/api/agents", headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 404


async def test_without_admin_token_the_admin_api_is_off(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(config_path=SQUAD_YAML, database_url="memory", data_dir=tmp_path)
    with caplog.at_level("WARNING", logger="esquadra.server"):
        async with AsyncTestClient(app=create_app(settings, environ={})) as client:
            response = await client.patch(
                "/admin/api/agents/lia", json={"active": False}, headers=ADMIN_HEADERS
            )
            assert "lia" in client.app.state.chat.live.current.active
    assert response.status_code == 404
    assert response.json()["code"] == "admin_disabled"
    assert "ADMIN_TOKEN" in response.json()["message"]
    lines = [r.getMessage() for r in caplog.records if "ADMIN_TOKEN" in r.getMessage()]
    assert lines == ["ADMIN_TOKEN is not set: the admin API (/admin/api) is disabled"]


async def test_agents_list_status_and_config(client: Any) -> None:
    agents = {a["id"]: a for a in (await admin(client, "GET", "/agents")).json()}
    assert set(agents) == {"leo", "max", "lia"}
    max_ = agents["max"]
    assert (max_["active"], max_["fallback"], max_["version"]) == (True, True, 1)
    assert (max_["temperature"], max_["max_tokens"]) == (0.6, 800)
    assert max_["today"]["messages"] == 0
    detail = (await admin(client, "GET", "/agents/max")).json()
    assert detail["config"]["prompt_text"].strip()
    assert detail["config"]["routing"]["examples"]
    missing = await admin(client, "GET", "/agents/zeca")
    assert (missing.status_code, missing.json()["code"]) == (404, "agent_not_found")


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"temperature": 7}, "temperature"),
        ({"max_tokens": "muitos"}, "max_tokens"),
        ({"model": "gpt-que-nao-existe"}, "model"),
        ({"tools": ["calculadora_quantica"]}, "tools"),
        ({"prompt_text": "   "}, "prompt_text"),
        ({"routing_examples": "não é lista"}, "routing_examples"),
        ({"temperatura": 0.2}, "temperatura"),
    ],
)
async def test_a_bad_edit_is_a_422_naming_the_field(
    client: Any, patch: dict[str, Any], field: str
) -> None:
    before = await snapshot(client)
    response = await admin(client, "PATCH", "/agents/leo", json=patch)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "invalid_agent_config"
    assert [e["field"] for e in body["errors"]] == [field]
    assert body["errors"][0]["message"]
    assert await snapshot(client) == before


async def test_the_fallback_cannot_be_switched_off(client: Any) -> None:
    response = await admin(client, "PATCH", "/agents/max", json={"active": False})
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["field"] == "active" and "fallback" in error["message"]
    assert "max" in client.app.state.chat.live.current.active


async def test_an_edit_is_a_version_served_at_once_and_rollback_restores_it_exactly(
    client: Any,
) -> None:
    original = (await admin(client, "GET", "/agents/lia")).json()["config"]
    edit = {"active": False, "temperature": 0.1, "prompt_text": "Você é a Lia. Seja breve."}
    response = await admin(
        client, "PATCH", "/agents/lia", json=edit, headers={"X-Admin-Actor": "ana"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["changed"] is True
    version = response.json()["version"]
    assert (version["version"], version["actor"], version["source"]) == (2, "ana", "admin")
    assert version["diff"]["active"] == [True, False]
    assert version["diff"]["temperature"] == [original["temperature"], 0.1]
    # This worker serves it before the response is sent (no wait for the poll).
    assert "lia" not in client.app.state.chat.live.current.active
    assert "lia" not in {a["id"] for a in (await client.get("/v1/agents")).json()}
    assert (await chat(client, message=HR_QUESTION))[0][1]["agent"] == "max"

    rolled = await admin(client, "POST", "/agents/lia/rollback", json={"version": 1})
    assert rolled.status_code == 200, rolled.text
    assert rolled.json()["version"]["version"] == 3
    assert rolled.json()["version"]["source"] == "rollback"
    assert (await admin(client, "GET", "/agents/lia")).json()["config"] == original
    assert (await chat(client, message=HR_QUESTION))[0][1]["agent"] == "lia"

    audit = (await admin(client, "GET", "/audit")).json()
    assert [(e["action"], e["actor"], e["from_version"], e["to_version"]) for e in audit[:2]] == [
        ("rollback", "admin", 2, 3),
        ("update", "ana", 1, 2),
    ]
    assert audit[1]["diff"]["prompt_text"][1] == "Você é a Lia. Seja breve."
    versions = (await admin(client, "GET", "/agents/lia/versions")).json()
    assert [v["version"] for v in versions] == [3, 2, 1]


async def test_an_edit_that_changes_nothing_writes_nothing(client: Any) -> None:
    before = await snapshot(client)
    response = await admin(client, "PATCH", "/agents/leo", json={"active": True})
    assert response.status_code == 200
    assert response.json()["changed"] is False
    assert await snapshot(client) == before


async def test_rollback_to_a_missing_version_is_a_404(client: Any) -> None:
    response = await admin(client, "POST", "/agents/leo/rollback", json={"version": 99})
    assert (response.status_code, response.json()["code"]) == (404, "version_not_found")


async def test_the_per_turn_rows_feed_todays_figures(client: Any) -> None:
    for _ in range(3):
        assert (await chat(client, message=MARKETING_QUESTION))[-1][0] == "done"
    assert (await chat(client, message=HR_QUESTION))[-1][0] == "done"
    agents = {a["id"]: a for a in (await admin(client, "GET", "/agents")).json()}
    today = agents["max"]["today"]
    assert today["messages"] == 3 and today["errors"] == 0
    assert today["p50_latency_ms"] is not None
    assert today["p95_latency_ms"] >= today["p50_latency_ms"]
    assert agents["lia"]["today"]["messages"] == 1
    assert agents["leo"]["today"]["messages"] == 0


async def test_the_link_route_is_an_admin_route(client: Any) -> None:
    await chat(client, message="oi", user_id="joana@api", channel="api")
    body = {"channel": "web", "sender_id": "joana@web"}
    old = await client.post("/v1/users/joana@api/links", json=body)
    assert old.status_code in (404, 405)  # gone from /v1
    refused = await client.post("/admin/api/users/joana@api/links", json=body)
    assert refused.status_code == 401
    linked = await admin(client, "POST", "/users/joana@api/links", json=body)
    assert linked.status_code == 200, linked.text
    assert {x["sender_id"] for x in linked.json()["links"]} == {"joana@api", "joana@web"}
