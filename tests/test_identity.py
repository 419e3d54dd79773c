"""Cross-channel identity: the store on SQLite and the real Postgres, and the /v1/users API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ADMIN_HEADERS, ADMIN_TOKEN, SQUAD_YAML, channel_chat, parse_sse, store_settings
from litestar.testing import AsyncTestClient

from checkpointing import open_stores
from checkpointing.identity import IdentityStore, UnknownUser
from core.settings import Settings
from server.app import create_app

PHONE = "5511987654321"


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[IdentityStore]:
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    async with open_stores(store_settings(url, tmp_path)) as stores:
        yield IdentityStore(stores.db)


async def test_first_contact_creates_a_user_named_after_the_sender(store: IdentityStore) -> None:
    assert await store.resolve("whatsapp", PHONE) == PHONE
    assert await store.resolve("whatsapp", PHONE) == PHONE
    # The same id on another channel is another person until linked.
    other = await store.resolve("web", PHONE)
    assert other != PHONE and other.startswith("u-")
    view = await store.user(PHONE)
    assert view is not None and [(x.channel, x.sender_id) for x in view.links] == [
        ("whatsapp", PHONE)
    ]


async def test_linking_merges_the_senders_user_and_keeps_the_targets_thread(
    store: IdentityStore,
) -> None:
    whatsapp = await store.resolve("whatsapp", PHONE)
    web = await store.resolve("web", "ana@padaria")
    await store.set_active_thread(whatsapp, "thread-whatsapp")
    await store.set_active_thread(web, "thread-web")

    result = await store.link(whatsapp, "web", "ana@padaria")

    assert result.user_id == whatsapp and result.merged_user == web
    assert await store.resolve("web", "ana@padaria") == whatsapp
    assert await store.active_thread(whatsapp) == "thread-whatsapp"
    view = await store.user(web)  # the merged id stays an alias of the canonical user
    assert view is not None and view.user_id == whatsapp
    assert {(x.channel, x.sender_id) for x in view.links} == {
        ("whatsapp", PHONE),
        ("web", "ana@padaria"),
    }
    assert (await store.link(whatsapp, "web", "ana@padaria")).moved == []  # idempotent


async def test_the_first_thread_claimed_for_a_user_wins(store: IdentityStore) -> None:
    user = await store.resolve("whatsapp", PHONE)
    winners = await asyncio.gather(
        *(store.claim_active_thread(user, f"thread-{n}") for n in range(8))
    )
    assert len(set(winners)) == 1 and winners[0].startswith("thread-")
    assert await store.active_thread(user) == winners[0]
    assert await store.claim_active_thread(user, "thread-late") == winners[0]


async def test_linking_a_new_sender_and_unknown_users(store: IdentityStore) -> None:
    user = await store.resolve("whatsapp", PHONE)
    await store.link(user, "web", "novo@web")
    assert await store.resolve("web", "novo@web") == user
    with pytest.raises(UnknownUser):
        await store.link("ninguem", "web", "x")
    assert await store.user("ninguem") is None


# -- the HTTP API (embedded default: in-memory checkpoints, SQLite identity, no Redis) ---------


@pytest.fixture(scope="module")
async def client(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[AsyncTestClient]:
    settings = Settings(
        config_path=SQUAD_YAML,
        database_url=None,
        data_dir=tmp_path_factory.mktemp("data"),
        admin_token=ADMIN_TOKEN,
    )
    async with AsyncTestClient(app=create_app(settings, environ={})) as client:
        yield client


async def chat(client: AsyncTestClient, **body: Any) -> dict[str, Any]:
    response = await client.post("/v1/chat", json=body)
    assert response.status_code == 200, response.text
    kind, data = parse_sse(response.text)[-1]
    assert kind == "done", data
    return data


async def whatsapp_chat(client: AsyncTestClient, **turn: Any) -> dict[str, Any]:
    """A WhatsApp turn, as the webhook's adapter runs it; its `done` event."""
    kind, data = (await channel_chat(client, channel="whatsapp", **turn))[-1]
    assert kind == "done", data
    return data


async def test_a_new_senders_simultaneous_first_messages_share_one_thread(
    client: AsyncTestClient,
) -> None:
    from server.chat import ChatTurn

    async def prepare_burst() -> set[str | None]:
        service = client.app.state.chat
        turns = await asyncio.gather(
            *(
                service.prepare(ChatTurn(message=f"oi {n}", user_id="5511900000077", channel="web"))
                for n in range(6)
            )
        )
        return {turn.thread_id for turn in turns}

    threads = await asyncio.to_thread(client.blocking_portal.call, prepare_burst)
    assert len(threads) == 1 and None not in threads


async def test_link_code_joins_whatsapp_and_web_in_one_thread(client: AsyncTestClient) -> None:
    phone, web = "5511900000001", "maria@web"
    first = await whatsapp_chat(client, message="oi, tenho uma padaria", user_id=phone)
    thread = first["thread_id"]

    code = await client.post(f"/v1/users/{phone}/link-codes")
    assert code.status_code == 201, code.text
    body = code.json()
    assert body["user_id"] == phone and len(body["code"]) == 6 and body["code"].isdigit()
    assert body["expires_in_s"] == 600

    linked = await client.post(
        "/v1/link", json={"channel": "web", "sender_id": web, "code": body["code"]}
    )
    assert linked.status_code == 200, linked.text
    assert linked.json()["user_id"] == phone
    assert linked.json()["active_thread"] == thread

    again = await chat(client, message="e como anda meu caixa?", channel="web", user_id=web)
    assert again["thread_id"] == thread
    messages = (await client.get(f"/v1/threads/{thread}")).json()["messages"]
    assert [m["content"] for m in messages if m["role"] == "user"] == [
        "oi, tenho uma padaria",
        "e como anda meu caixa?",
    ]

    user = (await client.get(f"/v1/users/{phone}")).json()
    assert user["user_id"] == phone and user["active_thread"] == thread
    assert {(x["channel"], x["sender_id"]) for x in user["links"]} == {
        ("whatsapp", phone),
        ("web", web),
    }
    assert all(x["linked_at"] for x in user["links"])

    # Single use: the same code again is refused in Portuguese.
    reused = await client.post(
        "/v1/link", json={"channel": "web", "sender_id": "outro@web", "code": body["code"]}
    )
    assert reused.status_code == 400
    assert reused.json()["code"] == "invalid_link_code"
    assert "Código inválido" in reused.json()["message"]


async def test_wrong_codes_unknown_users_and_bad_input(client: AsyncTestClient) -> None:
    for code in ("000000", "12345", "abcdef"):
        response = await client.post(
            "/v1/link", json={"channel": "web", "sender_id": "x@web", "code": code}
        )
        assert response.status_code == 400 and response.json()["code"] == "invalid_link_code"
    assert (await client.get("/v1/users/ninguem")).status_code == 404
    assert (await client.get("/v1/users/ninguem")).json()["code"] == "user_not_found"
    assert (await client.post("/v1/users/ninguem/link-codes")).status_code == 404
    response = await client.post(
        "/admin/api/users/ninguem/links",
        json={"channel": "web", "sender_id": "x"},
        headers=ADMIN_HEADERS,
    )
    assert response.status_code == 404
    response = await client.post("/v1/link", json={"channel": "fax", "sender_id": "x", "code": "1"})
    assert response.status_code == 400 and response.json()["code"] == "invalid_request"


async def test_repeated_wrong_codes_are_throttled(client: AsyncTestClient) -> None:
    body = {"channel": "web", "sender_id": "forca-bruta@web", "code": "999999"}
    statuses = [(await client.post("/v1/link", json=body)).status_code for _ in range(7)]
    assert statuses[:5] == [400] * 5 and statuses[5:] == [429, 429]


async def test_admin_link(client: AsyncTestClient) -> None:
    phone = "5511900000002"
    await whatsapp_chat(client, message="bom dia", user_id=phone)
    response = await client.post(
        f"/admin/api/users/{phone}/links",
        json={"channel": "web", "sender_id": "joao@web"},
        headers=ADMIN_HEADERS,
    )
    assert response.status_code == 200, response.text
    assert {x["sender_id"] for x in response.json()["links"]} == {phone, "joao@web"}
    done = await chat(client, message="e agora?", channel="web", user_id="joao@web")
    assert done["thread_id"] == response.json()["active_thread"]
