"""Leo's cash book: the per-user ledger, the workflow that confirms before writing, and what the
owner sees — through the real app and its stores (SQLite in memory, and Postgres)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from conftest import channel_chat, chat, store_settings
from litestar.testing import AsyncTestClient

from checkpointing import open_stores
from checkpointing.ledger import LedgerStore, entries_csv
from server.app import create_app
from tools.base import ToolEnv
from tools.registry import call_tool

RECORD = "Registre receita de R$ 1.500 da venda de hoje"


def reply_of(events: list[tuple[str, dict[str, Any]]]) -> str:
    return "".join(data["text"] for kind, data in events if kind == "token")


def done_of(events: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    kind, data = events[-1]
    assert kind == "done", events[-1]
    return data


@pytest.fixture(params=["sqlite", "postgres"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    return store_settings(url, tmp_path, admin_token="t" * 32)


@pytest.fixture
async def client(settings: Any) -> Any:
    async with AsyncTestClient(app=create_app(settings, environ={})) as client:
        yield client


async def summary(client: Any, user_id: str, month: str) -> dict[str, Any]:
    """`cash_summary` through the app's own store, as an integration would call it."""
    ledger = LedgerStore(client.app.state.chat.ledger.db)

    async def run() -> dict[str, Any]:
        return await call_tool("cash_summary", {"month": month}, ToolEnv(ledger), user_id)

    return await asyncio.to_thread(client.blocking_portal.call, run)


def this_month() -> str:
    return ToolEnv().today().strftime("%Y-%m")


async def test_recording_asks_first_and_sim_writes_the_entry(client: Any) -> None:
    user = f"u-{uuid.uuid4().hex[:8]}"
    first = await channel_chat(client, message=RECORD, user_id=user, channel="whatsapp")
    question = reply_of(first)
    today = ToolEnv().today()
    assert question == (
        f"Confirma receita de R$ 1.500,00 em {today:%d/%m/%Y} (Vendas)? Responda sim ou não."
    )
    pending = done_of(first)["pending_action"]
    assert pending["tool"] == "record_transaction"
    assert pending["args"]["amount"] == "1500.00" and "user_id" not in pending["args"]
    assert (await summary(client, user, this_month()))["entries"] == 0  # nothing yet

    second = await channel_chat(client, message="sim", user_id=user, channel="whatsapp")
    assert (
        "route",
        {"agent": "leo", "layer": "workflow", "confidence": 1.0, "candidates": []},
    ) in (second)
    assert reply_of(second).startswith("Pronto! Registrei receita de R$ 1.500,00")
    assert done_of(second)["pending_action"] is None
    book = await summary(client, user, this_month())
    assert (book["income"], book["expense"], book["balance"]) == ("1500.00", "0.00", "1500.00")
    assert book["by_category"] == {"Vendas": "1500.00"}


async def test_nao_cancels_and_writes_nothing(client: Any) -> None:
    user = f"u-{uuid.uuid4().hex[:8]}"
    await channel_chat(client, message=RECORD, user_id=user, channel="whatsapp")
    cancelled = await channel_chat(client, message="não", user_id=user, channel="whatsapp")
    assert reply_of(cancelled) == "Tudo bem, não registrei nada."
    assert done_of(cancelled)["pending_action"] is None
    assert (await summary(client, user, this_month()))["entries"] == 0
    # And a later "sim" confirms nothing: the question is gone.
    later = await channel_chat(client, message="sim", user_id=user, channel="whatsapp")
    assert done_of(later)["pending_action"] is None
    assert (await summary(client, user, this_month()))["entries"] == 0


async def test_anything_else_is_answered_and_the_question_stays(client: Any) -> None:
    user = f"u-{uuid.uuid4().hex[:8]}"
    await channel_chat(client, message=RECORD, user_id=user, channel="whatsapp")
    aside = await channel_chat(
        client, message="estagiária pode fazer 8h por dia?", user_id=user, channel="whatsapp"
    )
    assert next(d for k, d in aside if k == "route")["agent"] == "lia"
    assert "6 horas" in reply_of(aside)
    assert done_of(aside)["pending_action"]["tool"] == "record_transaction"
    confirmed = await channel_chat(client, message="pode", user_id=user, channel="whatsapp")
    assert reply_of(confirmed).startswith("Pronto! Registrei")
    assert (await summary(client, user, this_month()))["income"] == "1500.00"


async def test_another_channel_of_the_same_owner_resumes_it(client: Any) -> None:
    phone, web = f"55119{uuid.uuid4().int % 10**8:08d}", f"w-{uuid.uuid4().hex[:8]}"
    await channel_chat(client, message=RECORD, user_id=phone, channel="whatsapp")
    identity = client.app.state.identity

    async def link() -> str:
        user = await identity.resolve("whatsapp", phone)
        await identity.link(user, "web", web)
        return user

    user = await asyncio.to_thread(client.blocking_portal.call, link)
    answer = await channel_chat(client, message="sim", user_id=web, channel="web")
    assert reply_of(answer).startswith("Pronto! Registrei receita de R$ 1.500,00")
    book = await summary(client, user, this_month())
    assert book["income"] == "1500.00"


async def test_an_expired_question_is_dropped(settings: Any, tmp_path: Path) -> None:
    from conftest import copy_squad

    squad = copy_squad(tmp_path, {"expires_after_min: 60": "expires_after_min: 1"})
    settings = settings.model_copy(update={"config_path": squad})
    async with AsyncTestClient(app=create_app(settings, environ={})) as client:
        user = f"u-{uuid.uuid4().hex[:8]}"
        await channel_chat(client, message=RECORD, user_id=user, channel="whatsapp")
        graph = client.app.state.chat.graph
        thread = await asyncio.to_thread(
            client.blocking_portal.call, client.app.state.identity.active_thread, user
        )
        config = {"configurable": {"thread_id": thread}}

        async def expire() -> None:
            state = await graph.aget_state(config)
            pending = {**state.values["pending"], "expires_at": "2000-01-01T00:00:00+00:00"}
            await graph.aupdate_state(config, {"pending": pending})

        await asyncio.to_thread(client.blocking_portal.call, expire)
        late = await channel_chat(client, message="sim", user_id=user, channel="whatsapp")
        assert not reply_of(late).startswith("Pronto!")
        assert (await summary(client, user, this_month()))["entries"] == 0


async def test_a_cpf_and_a_phone_are_neither_amount_nor_description(client: Any) -> None:
    user = f"u-{uuid.uuid4().hex[:8]}"
    message = (
        "meu CPF é 123.456.789-09 e meu whats (11) 98765-4321, quero registrar uma despesa de "
        "R$ 230,00 de conta de luz"
    )
    first = await channel_chat(client, message=message, user_id=user, channel="whatsapp")
    assert "R$ 230,00" in reply_of(first)
    await channel_chat(client, message="sim", user_id=user, channel="whatsapp")
    ledger = client.app.state.chat.ledger

    async def entries() -> list[Any]:
        return await ledger.month(user, this_month())

    [entry] = await asyncio.to_thread(client.blocking_portal.call, entries)
    assert (entry.kind, entry.amount) == ("expense", Decimal("230.00"))
    assert "123.456.789-09" not in entry.description and "98765" not in entry.description
    assert entry.source["type"] == "message" and entry.source["channel"] == "whatsapp"


async def test_without_a_user_it_says_so_and_writes_nothing(client: Any) -> None:
    events = await chat(client, message=RECORD)
    assert "não tem um usuário identificado" in reply_of(events)
    assert done_of(events)["pending_action"] is None


async def test_ledger_keeps_users_apart_and_sums_a_month(settings: Any) -> None:
    async with open_stores(settings) as stores:
        ledger = LedgerStore(stores.db)
        a, b = f"a-{uuid.uuid4().hex[:6]}", f"b-{uuid.uuid4().hex[:6]}"
        src = {"type": "api"}
        await ledger.add(a, "income", Decimal("1500.00"), date(2026, 11, 3), "Vendas", "x", src)
        await ledger.add(a, "expense", Decimal("350.10"), date(2026, 11, 4), "Aluguel", "y", src)
        await ledger.add(a, "income", Decimal("99.99"), date(2026, 10, 31), "Vendas", "z", src)
        await ledger.add(b, "income", Decimal("7.00"), date(2026, 11, 3), "Vendas", "w", src)
        november = await ledger.summary(a, "2026-11")
        assert (november.income, november.expense, november.balance) == (
            Decimal("1500.00"),
            Decimal("350.10"),
            Decimal("1149.90"),
        )
        assert november.by_category == {"Aluguel": Decimal("350.10"), "Vendas": Decimal("1500")}
        csv_text = entries_csv(await ledger.month(a, "2026-11"))
        assert csv_text.splitlines()[1] == "03/11/2026,receita,1500.00,Vendas,x,api"
        assert await ledger.delete_user(a) == 3
        assert (await ledger.summary(a, "2026-11")).entries == 0
        assert (await ledger.summary(b, "2026-11")).entries == 1
