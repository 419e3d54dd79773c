"""The WhatsApp webhook end to end: Meta-shaped payloads in, replies out to a local fake Graph
API, on the app with in-memory stores (durability across restarts: test_whatsapp_durability)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import whatsapp_meta as meta
from conftest import copy_squad, memory_settings
from litestar.testing import AsyncTestClient

from fakes.graph_api import GraphServer, run_fake_graph_api
from server.app import create_app
from server.channels.whatsapp import replies

LEO_MESSAGE = "Registre receita de R$ 1.500 da venda de hoje"


@pytest.fixture(scope="module")
def graph_server() -> Iterator[GraphServer]:
    with run_fake_graph_api() as server:
        yield server


@pytest.fixture
def graph(graph_server: GraphServer) -> GraphServer:
    graph_server.reset()
    return graph_server


@asynccontextmanager
async def whatsapp_app(settings: Any, environ: dict[str, str]) -> AsyncIterator[AsyncTestClient]:
    async with AsyncTestClient(app=create_app(settings, environ=environ)) as client:
        yield client


def service(client: AsyncTestClient) -> Any:
    return client.app.state.whatsapp


async def in_app(client: AsyncTestClient, function: Any, *args: Any) -> Any:
    """`await function(*args)` on the app's own event loop: the test client runs the app in a
    portal thread, and its tasks and connections belong to that loop."""
    return await asyncio.to_thread(client.blocking_portal.call, function, *args)


async def deliver(client: AsyncTestClient, body: dict[str, Any]) -> None:
    """POST a signed webhook, assert the 200, and wait until its messages are answered."""
    response = await client.post("/webhooks/whatsapp", **meta.signed(body))
    assert response.status_code == 200, response.text
    await in_app(client, service(client).processor.idle)


async def row(client: AsyncTestClient, wamid: str) -> dict[str, Any] | None:
    columns = ("direction", "state", "status", "reply_to", "error", "kind", "body", "attempts")
    found = await in_app(
        client,
        service(client).log.db.fetchone,
        f"SELECT {', '.join(columns)} FROM whatsapp_messages WHERE wamid = %s",
        (wamid,),
    )
    return dict(zip(columns, found, strict=True)) if found else None


async def count_rows(client: AsyncTestClient) -> int:
    found = await in_app(
        client, service(client).log.db.fetchone, "SELECT COUNT(*) FROM whatsapp_messages"
    )
    return int(found[0])


@pytest.fixture
async def online(graph: GraphServer, online_env: dict[str, str]) -> AsyncIterator[AsyncTestClient]:
    async with whatsapp_app(meta.whatsapp_settings(graph.url), online_env) as client:
        yield client


@pytest.fixture
async def offline(graph: GraphServer) -> AsyncIterator[AsyncTestClient]:
    async with whatsapp_app(meta.whatsapp_settings(graph.url), {}) as client:
        yield client


# ------------------------------------------------------------------------- verification


async def test_verification_echoes_the_challenge(offline: AsyncTestClient) -> None:
    response = await offline.get(
        "/webhooks/whatsapp",
        params={
            "hub.mode": "subscribe",
            "hub.verify_token": meta.VERIFY_TOKEN,
            "hub.challenge": "1158201444",
        },
    )
    assert response.status_code == 200
    assert response.text == "1158201444"
    assert response.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize(
    "params",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": meta.VERIFY_TOKEN, "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.verify_token": meta.VERIFY_TOKEN},
    ],
    ids=["wrong-token", "wrong-mode", "no-token", "no-challenge"],
)
async def test_verification_refused_is_403(
    offline: AsyncTestClient, params: dict[str, str]
) -> None:
    response = await offline.get("/webhooks/whatsapp", params=params)
    assert response.status_code == 403
    assert response.json()["code"] == "verification_failed"


async def test_webhook_is_off_without_its_secrets() -> None:
    async with whatsapp_app(memory_settings(), {}) as client:
        assert client.app.state.whatsapp is None
        got = await client.get("/webhooks/whatsapp", params={"hub.mode": "subscribe"})
        posted = await client.post("/webhooks/whatsapp", **meta.signed(meta.webhook([])))
    assert got.status_code == posted.status_code == 404
    assert got.json()["code"] == posted.json()["code"] == "whatsapp_disabled"


# ------------------------------------------------------------------------- messages


async def test_text_message_is_answered_once_through_the_graph_api(
    online: AsyncTestClient, graph: GraphServer, llm: Any
) -> None:
    reply = "Anotei: receita de R$ 1.500,00 em Vendas, hoje."
    llm.configure(replies=[reply])
    wa_id = meta.new_wa_id()
    message = meta.text(wa_id, LEO_MESSAGE)
    await deliver(online, meta.webhook([meta.change([message])]))

    assert graph.texts() == [reply]
    sent = graph.sent()[0]
    assert sent.version == "v21.0" and sent.phone_number_id == meta.PHONE_NUMBER_ID
    assert sent.authorization == f"Bearer {meta.ACCESS_TOKEN}"
    assert sent.body["to"] == wa_id and sent.body["messaging_product"] == "whatsapp"
    assert graph.reads() == [message["id"]]
    assert (await row(online, message["id"]))["state"] == "answered"  # type: ignore[index]
    outbound = await row(online, "wamid.out.2")  # 1 was the read receipt's call
    assert outbound is not None
    assert outbound["direction"] == "out" and outbound["reply_to"] == message["id"]
    assert outbound["body"] == reply


async def test_the_sender_is_the_whatsapp_identity_in_its_active_thread(
    online: AsyncTestClient, graph: GraphServer, llm: Any
) -> None:
    llm.configure(replies=["Primeira.", "Segunda."])
    wa_id = meta.new_wa_id()
    await deliver(online, meta.webhook([meta.change([meta.text(wa_id, LEO_MESSAGE)])]))
    await deliver(online, meta.webhook([meta.change([meta.text(wa_id, "e quanto ficou?")])]))

    user = await in_app(online, online.app.state.identity.user, wa_id)
    assert [(link.channel, link.sender_id) for link in user.links] == [("whatsapp", wa_id)]
    thread = await in_app(online, online.app.state.chat.thread_messages, user.active_thread)
    assert [m["content"] for m in thread] == [
        LEO_MESSAGE,
        "Primeira.",
        "e quanto ficou?",
        "Segunda.",
    ]


@pytest.mark.parametrize("kind", ["button", "list"])
async def test_interactive_reply_is_read_as_its_title(
    online: AsyncTestClient, graph: GraphServer, llm: Any, kind: str
) -> None:
    llm.configure(replies=["Certo, vamos ver o caixa."])
    wa_id = meta.new_wa_id()
    title = "Ver saldo do caixa"
    message = (
        meta.button_reply(wa_id, "saldo", title)
        if kind == "button"
        else meta.list_reply(wa_id, "saldo", title, "Entradas e saídas de hoje")
    )
    await deliver(online, meta.webhook([meta.change([message])]))

    assert graph.texts() == ["Certo, vamos ver o caixa."]
    user = await in_app(online, online.app.state.identity.user, wa_id)
    thread = await in_app(online, online.app.state.chat.thread_messages, user.active_thread)
    assert thread[0] == {"role": "user", "content": title, "agent": None}


@pytest.mark.parametrize(
    "kind", ["audio", "image", "sticker", "video", "document", "location", "contacts"]
)
async def test_unsupported_type_gets_a_polite_reply_without_the_squad(
    online: AsyncTestClient, graph: GraphServer, llm: Any, kind: str
) -> None:
    message = meta.media(meta.new_wa_id(), kind)
    await deliver(online, meta.webhook([meta.change([message])]))

    assert graph.texts() == [replies.UNSUPPORTED]
    assert llm.stub.requests == []  # the model was not asked
    assert (await row(online, message["id"]))["state"] == "answered"  # type: ignore[index]


async def test_a_reaction_needs_no_answer(offline: AsyncTestClient, graph: GraphServer) -> None:
    reaction = meta._message(
        meta.new_wa_id(), "reaction", {"reaction": {"message_id": "wamid.x", "emoji": "👍"}}, None
    )
    await deliver(offline, meta.webhook([meta.change([reaction])]))
    assert graph.requests == []
    assert (await row(offline, reaction["id"]))["state"] == "ignored"  # type: ignore[index]


async def test_several_entries_and_changes_are_all_processed(
    online: AsyncTestClient, graph: GraphServer
) -> None:
    other_number = "106540352242999"
    ana, bia, caio = meta.new_wa_id(), meta.new_wa_id(), meta.new_wa_id()
    body = meta.webhook(
        [meta.change([meta.text(ana, LEO_MESSAGE)]), meta.change([meta.media(bia, "image")])],
        [meta.change([meta.text(caio, LEO_MESSAGE)], phone_number_id=other_number)],
    )
    await deliver(online, body)

    by_user = {r.body["to"]: r.phone_number_id for r in graph.sent()}
    assert by_user == {ana: meta.PHONE_NUMBER_ID, bia: meta.PHONE_NUMBER_ID, caio: other_number}


async def test_a_burst_is_one_turn_and_the_merged_message_sends_nothing(
    online: AsyncTestClient, graph: GraphServer, llm: Any
) -> None:
    llm.configure(replies=["Uma resposta para as duas."])
    wa_id = meta.new_wa_id()
    first, second = meta.text(wa_id, "oi"), meta.text(wa_id, LEO_MESSAGE)
    await deliver(online, meta.webhook([meta.change([first, second])]))

    assert graph.texts() == ["Uma resposta para as duas."]
    states = {(await row(online, m["id"]))["state"] for m in (first, second)}  # type: ignore[index]
    assert states == {"answered", "merged"}


async def test_a_failed_turn_sends_an_apology(
    online: AsyncTestClient, graph: GraphServer, llm: Any
) -> None:
    llm.configure(fail_status=500, fail_count=10)
    await deliver(online, meta.webhook([meta.change([meta.text(meta.new_wa_id(), LEO_MESSAGE)])]))
    assert graph.texts() == [replies.APOLOGY]


async def test_the_ack_comes_before_a_slow_reply_is_sent(
    online: AsyncTestClient, graph: GraphServer, llm: Any
) -> None:
    llm.configure(replies=["Demorei, mas respondi."], first_token_ms=3000)
    body = meta.webhook([meta.change([meta.text(meta.new_wa_id(), LEO_MESSAGE)])])
    response = await online.post("/webhooks/whatsapp", **meta.signed(body))
    assert response.status_code == 200
    assert graph.texts() == []  # acknowledged while the model is still thinking
    await in_app(online, service(online).processor.idle)
    assert graph.texts() == ["Demorei, mas respondi."]


# ------------------------------------------------------------------------- statuses


async def test_statuses_are_recorded_on_the_outbound_message_and_only_move_forward(
    online: AsyncTestClient, graph: GraphServer
) -> None:
    wa_id = meta.new_wa_id()
    await deliver(online, meta.webhook([meta.change([meta.text(wa_id, LEO_MESSAGE)])]))
    wamid = "wamid.out.2"
    for state in ("delivered", "sent", "read", "delivered"):  # out of order, as Meta may send
        await deliver(
            online, meta.webhook([meta.change(statuses=[meta.status(wamid, state, wa_id)])])
        )
    assert (await row(online, wamid))["status"] == "read"  # type: ignore[index]


async def test_a_failed_status_keeps_meta_s_error(online: AsyncTestClient) -> None:
    wamid, wa_id = meta.new_wamid(), meta.new_wa_id()
    await deliver(
        online, meta.webhook([meta.change(statuses=[meta.status(wamid, "failed", wa_id)])])
    )
    found = await row(online, wamid)
    assert found is not None and found["direction"] == "out" and found["status"] == "failed"
    assert found["error"] == "131047: Re-engagement message"


# ------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Hub-Signature-256": "sha256=" + "0" * 64},
        {"X-Hub-Signature-256": meta.signed(b"{}")["headers"]["X-Hub-Signature-256"]},
        {
            "X-Hub-Signature-256": meta.signed(b"x", secret="other")["headers"][
                "X-Hub-Signature-256"
            ]
        },
    ],
    ids=["missing", "zeros", "another-body", "another-secret"],
)
async def test_bad_signature_is_401_and_nothing_is_processed(
    offline: AsyncTestClient, graph: GraphServer, headers: dict[str, str]
) -> None:
    body = meta.signed(meta.webhook([meta.change([meta.text(meta.new_wa_id(), LEO_MESSAGE)])]))
    response = await offline.post(
        "/webhooks/whatsapp",
        content=body["content"],
        headers={"Content-Type": "application/json", **headers},
    )
    assert response.status_code == 401 and response.json()["code"] == "invalid_signature"
    await in_app(offline, service(offline).processor.idle)
    assert await count_rows(offline) == 0
    assert graph.requests == []


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b'{"object": "whatsapp_business_account", "entry": {"id": "1"}}',
        b'{"object": "page", "entry": []}',
        b'{"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": '
        b'"messages", "value": {"metadata": {"phone_number_id": "1"}, "messages": [{"id": "w", '
        b'"type": "text", "from": "55", "timestamp": "ontem"}]}}]}]}',
    ],
    ids=["not-json", "entry-not-a-list", "not-whatsapp", "bad-timestamp"],
)
async def test_malformed_body_is_400(offline: AsyncTestClient, raw: bytes) -> None:
    response = await offline.post("/webhooks/whatsapp", **meta.signed(raw))
    assert response.status_code == 400 and response.json()["code"] == "invalid_payload"
    assert await count_rows(offline) == 0


async def test_oversized_body_is_413(offline: AsyncTestClient) -> None:
    limit = service(offline).config.max_body_bytes
    response = await offline.post("/webhooks/whatsapp", **meta.signed(b" " * (limit + 1)))
    assert response.status_code == 413 and response.json()["code"] == "payload_too_large"


# ------------------------------------------------------------------------- sending


async def test_a_429_is_retried_after_retry_after_and_the_reply_delivered(
    online: AsyncTestClient, graph: GraphServer, llm: Any
) -> None:
    llm.configure(replies=["Tudo certo."])
    graph.fail_next(429, retry_after="1", when="text")
    await deliver(online, meta.webhook([meta.change([meta.text(meta.new_wa_id(), LEO_MESSAGE)])]))

    tries = [r for r in graph.requests if r.body.get("type") == "text"]
    assert [r.status for r in tries] == [429, 200]
    assert tries[1].at - tries[0].at >= 1.0  # Retry-After honoured
    assert graph.texts() == ["Tudo certo."]


async def test_a_long_reply_is_split_at_sentences(
    online: AsyncTestClient, graph: GraphServer, llm: Any
) -> None:
    sentence = "O fluxo de caixa mostra o que entra e o que sai do negócio a cada dia. "
    reply = (sentence * 80).strip()  # ~5,700 characters
    llm.configure(replies=[reply])
    await deliver(online, meta.webhook([meta.change([meta.text(meta.new_wa_id(), LEO_MESSAGE)])]))

    pieces = graph.texts()
    assert len(pieces) == 2
    assert all(len(p) <= 4096 and p.endswith("dia.") for p in pieces)
    assert " ".join(pieces) == reply


def _squad_with(tmp_path: Path, channels_yaml: str) -> Path:
    config = copy_squad(tmp_path)
    config.write_text(config.read_text(encoding="utf-8") + channels_yaml, encoding="utf-8")
    return config


async def test_outside_the_24_hour_window_the_template_is_sent(
    graph: GraphServer, online_env: dict[str, str], llm: Any, tmp_path: Path
) -> None:
    config = _squad_with(
        tmp_path,
        "\nchannels:\n  whatsapp:\n    reply_template: {name: retomar_conversa, language: pt_BR}\n",
    )
    day_ago = time.time() - 25 * 3600  # delivered late: Meta retries for days
    message = meta.text(meta.new_wa_id(), LEO_MESSAGE, sent_at=day_ago)
    async with whatsapp_app(meta.whatsapp_settings(graph.url, config), online_env) as client:
        await deliver(client, meta.webhook([meta.change([message])]))

    assert graph.texts() == []
    [sent] = graph.sent()
    assert sent.body["type"] == "template"
    assert sent.body["template"] == {"name": "retomar_conversa", "language": {"code": "pt_BR"}}


async def test_outside_the_window_without_a_template_nothing_is_sent(
    offline: AsyncTestClient, graph: GraphServer
) -> None:
    message = meta.text(meta.new_wa_id(), LEO_MESSAGE, sent_at=time.time() - 25 * 3600)
    await deliver(offline, meta.webhook([meta.change([message])]))
    assert graph.sent() == []
    found = await row(offline, message["id"])
    assert found is not None and found["state"] == "failed"
    assert found["error"].startswith("window_closed")


# ------------------------------------------------------------------------- linking


async def test_a_link_code_typed_in_whatsapp_links_the_number_to_the_web_user(
    offline: AsyncTestClient, graph: GraphServer
) -> None:
    identity = offline.app.state.identity
    web_user = await in_app(offline, identity.resolve, "web", "ana-no-navegador")
    code = await in_app(offline, identity.issue_code, web_user)
    wa_id = meta.new_wa_id()
    await deliver(offline, meta.webhook([meta.change([meta.text(wa_id, f"meu código é {code}")])]))

    assert graph.texts() == [replies.LINKED]
    user = await in_app(offline, identity.user, web_user)
    assert ("whatsapp", wa_id) in [(link.channel, link.sender_id) for link in user.links]
    assert await in_app(offline, identity.resolve, "whatsapp", wa_id) == web_user


async def test_a_wrong_link_code_gets_a_polite_message(
    offline: AsyncTestClient, graph: GraphServer
) -> None:
    wa_id = meta.new_wa_id()
    await deliver(offline, meta.webhook([meta.change([meta.text(wa_id, "meu codigo é 000000")])]))
    assert graph.texts() == [replies.BAD_CODE]
    assert await in_app(offline, offline.app.state.identity.user, wa_id) is None  # no link
