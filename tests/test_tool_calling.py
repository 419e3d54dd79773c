"""The model calls Leo's tools through `bind_tools` on the streaming path (stub LLM scripted to
call them): a reading tool runs and its result goes back to the model; a writing tool hands
the turn to its workflow, which asks before anything is written."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
from conftest import channel_chat, memory_settings
from litestar.testing import AsyncTestClient

from server.app import create_app
from tools.base import ToolEnv


@pytest.fixture
async def client(online_env: dict[str, str]) -> Any:
    async with AsyncTestClient(app=create_app(memory_settings(), environ=online_env)) as client:
        yield client


def reply_of(events: list[tuple[str, dict[str, Any]]]) -> str:
    return "".join(data["text"] for kind, data in events if kind == "token")


async def test_a_read_tool_result_reaches_the_model_and_the_reply_streams(
    client: Any, llm: Any
) -> None:
    user = f"u-{uuid.uuid4().hex[:8]}"
    ledger = client.app.state.chat.ledger
    month = ToolEnv().today().strftime("%Y-%m")

    async def seed() -> None:
        from datetime import date
        from decimal import Decimal

        today = date.fromisoformat(f"{month}-01")
        await ledger.add(user, "income", Decimal("2000"), today, "Vendas", "x", {"type": "api"})
        await ledger.add(user, "expense", Decimal("450.5"), today, "Aluguel", "y", {"type": "api"})

    await asyncio.to_thread(client.blocking_portal.call, seed)
    llm.configure(
        replies=[
            {"tool_calls": [{"name": "cash_summary", "arguments": {"month": month}}]},
            "Seu saldo do mês é R$ 1.549,50.",
        ]
    )
    events = await channel_chat(
        client, message="@leo qual meu saldo do mês?", user_id=user, channel="whatsapp"
    )
    assert reply_of(events) == "Seu saldo do mês é R$ 1.549,50."
    first, second = llm.stub.requests[-2:]
    leo_tools = client.app.state.chat.squad.loaded.spec.agent("leo").tools
    assert [t["function"]["name"] for t in first["tools"]] == leo_tools
    # user_id is the caller's, never the model's to choose.
    schema = first["tools"][leo_tools.index("cash_summary")]["function"]["parameters"]
    assert "user_id" not in schema["properties"]
    tool_message = second["messages"][-1]
    assert tool_message["role"] == "tool"
    assert "saldo R$ 1.549,50" in tool_message["content"]
    assert second["messages"][-2]["tool_calls"][0]["function"]["name"] == "cash_summary"
    done = events[-1][1]
    # Both model calls are counted.
    assert done["usage"]["output_tokens"] > 0
    assert done["usage"]["input_tokens"] >= 2


async def test_a_write_tool_call_goes_to_its_confirmation(client: Any, llm: Any) -> None:
    user = f"u-{uuid.uuid4().hex[:8]}"
    call = {"kind": "expense", "amount": "89.90", "date": "2026-11-28", "description": "gás"}
    llm.configure(replies=[{"tool_calls": [{"name": "record_transaction", "arguments": call}]}])
    events = await channel_chat(
        client, message="@leo paguei o gás, 89,90 dia 28", user_id=user, channel="whatsapp"
    )
    assert reply_of(events) == (
        "Confirma despesa de R$ 89,90 em 28/11/2026 (Energia e água)? Responda sim ou não."
    )
    done = events[-1][1]
    assert done["pending_action"]["args"]["amount"] == "89.90"
    assert done["usage"]["output_tokens"] > 0  # the model's call is paid for
    confirmed = await channel_chat(client, message="sim", user_id=user, channel="whatsapp")
    assert reply_of(confirmed).startswith("Pronto! Registrei despesa de R$ 89,90 em 28/11/2026")
    entries = await asyncio.to_thread(
        client.blocking_portal.call, client.app.state.chat.ledger.month, user, "2026-11"
    )
    assert [(e.kind, str(e.amount), e.description) for e in entries] == [
        ("expense", "89.90", "gás")
    ]


async def test_a_bad_tool_argument_from_the_model_is_answered_not_a_500(
    client: Any, llm: Any
) -> None:
    llm.configure(
        replies=[
            {"tool_calls": [{"name": "cash_summary", "arguments": {"month": "novembro"}}]},
            "Me diga o mês no formato certo.",
        ]
    )
    events = await channel_chat(
        client, message="@leo saldo de novembro", user_id="u-bad", channel="whatsapp"
    )
    assert events[-1][0] == "done"
    tool_message = llm.stub.requests[-1]["messages"][-1]
    assert tool_message["role"] == "tool" and "month" in tool_message["content"]
    assert json.dumps(events)  # the events stay plain JSON
