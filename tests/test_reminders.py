"""Leo's due-date reminders: the owner's profile says the regime, the server sends a WhatsApp
message a few days before each due date — free text inside the 24-hour window, the approved
template outside it — once per obligation and period (to a local fake Graph API)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from datetime import date, timedelta
from typing import Any

import pytest
import whatsapp_meta as meta
from conftest import copy_squad
from litestar.testing import AsyncTestClient

from checkpointing.business import BusinessProfile
from fakes.graph_api import GraphServer, run_fake_graph_api
from server.app import create_app
from server.reminders import due_soon


def first_weekday_from(day: date) -> date:
    """Independent of the code under test: a weekend moves to Monday (no holiday here)."""
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def test_the_das_of_a_simples_company_is_due_the_next_business_day_after_the_20th() -> None:
    profile = BusinessProfile("u", "simples")
    due = first_weekday_from(date(2026, 12, 20))  # a Sunday → Monday the 21st
    found = due_soon(profile, due - timedelta(days=3), 3)
    assert [(ob.code, ob.due_date, ob.period) for ob in found] == [("das", due, "2026-11")]
    assert due_soon(profile, due - timedelta(days=4), 3) == []


def test_a_mei_with_employees_also_gets_fgts_and_wages() -> None:
    profile = BusinessProfile("u", "mei", employees=True)
    codes = {ob.code for ob in due_soon(profile, date(2026, 12, 1), 30)}
    assert {"das_mei", "fgts", "salario"} <= codes
    assert "das" not in codes


@pytest.fixture(scope="module")
def graph_server() -> Iterator[GraphServer]:
    with run_fake_graph_api() as server:
        yield server


@pytest.fixture
async def client(graph_server: GraphServer, tmp_path: Any) -> AsyncIterator[AsyncTestClient]:
    graph_server.reset()
    squad = copy_squad(
        tmp_path,
        {
            "\nmemory:": "\nchannels:\n  whatsapp:\n    reminder_template:\n"
            "      name: lembrete_vencimento\n      language: pt_BR\n\nmemory:",
        },
    )
    settings = meta.whatsapp_settings(graph_server.url, config=squad)
    async with AsyncTestClient(app=create_app(settings, environ={})) as client:
        yield client


async def in_app(client: AsyncTestClient, function: Any, *args: Any) -> Any:
    return await asyncio.to_thread(client.blocking_portal.call, function, *args)


async def owner_who_wrote(client: AsyncTestClient, sent_at: float | None = None) -> tuple[str, str]:
    """A WhatsApp owner (wa_id, user id) whose message reached us at `sent_at`."""
    wa_id = meta.new_wa_id()
    body = meta.webhook([meta.change([meta.text(wa_id, "oi", sent_at=sent_at)])])
    response = await client.post("/webhooks/whatsapp", **meta.signed(body))
    assert response.status_code == 200
    await in_app(client, client.app.state.whatsapp.processor.idle)
    user = await in_app(client, client.app.state.identity.store.resolve, "whatsapp", wa_id)
    reply = await client.put(
        f"/v1/users/{user}/business", json={"regime": "simples", "state": "sp"}
    )
    assert reply.status_code == 200, reply.text
    assert reply.json()["state"] == "SP"
    return wa_id, user


def das_due_in(days: int) -> date:
    """A day `days` before the next DAS due date (the 20th or the next business day)."""
    return first_weekday_from(date(2027, 1, 20)) - timedelta(days=days)


async def test_inside_the_window_a_text_goes_once(
    client: AsyncTestClient, graph_server: GraphServer
) -> None:
    wa_id, _ = await owner_who_wrote(client)
    graph_server.reset()
    reminders = client.app.state.reminders
    assert await in_app(client, reminders.run_once, das_due_in(2)) >= 1
    [text] = [t for t in graph_server.texts() if "DAS" in t]
    assert "DAS do Simples Nacional vence em 2 dias" in text
    assert "20/01/2027" in text and "referente a 12/2026" in text
    assert graph_server.sent()[-1].body["to"] == wa_id
    # The next look (or another worker's) sends nothing again.
    assert await in_app(client, reminders.run_once, das_due_in(1)) == 0
    assert len([t for t in graph_server.texts() if "DAS" in t]) == 1


async def test_outside_the_window_the_template_carries_the_date(
    client: AsyncTestClient, graph_server: GraphServer
) -> None:
    await owner_who_wrote(client, sent_at=time.time() - 3 * 86_400)
    graph_server.reset()
    await in_app(client, client.app.state.reminders.run_once, das_due_in(3))
    [sent] = [r for r in graph_server.sent() if r.body.get("type") == "template"]
    template = sent.body["template"]
    assert template["name"] == "lembrete_vencimento"
    values = [p["text"] for p in template["components"][0]["parameters"]]
    assert values == ["DAS do Simples Nacional", "20/01/2027"]


async def test_two_workers_at_once_send_it_once(
    client: AsyncTestClient, graph_server: GraphServer
) -> None:
    await owner_who_wrote(client)
    graph_server.reset()
    reminders = client.app.state.reminders

    async def both() -> list[int]:
        return await asyncio.gather(
            reminders.run_once(das_due_in(2)), reminders.run_once(das_due_in(2))
        )

    counts = await in_app(client, both)
    assert sorted(counts)[0] == 0
    assert len([t for t in graph_server.texts() if "DAS" in t]) == 1


async def test_a_bad_profile_is_a_422_naming_the_field(client: AsyncTestClient) -> None:
    reply = await client.put("/v1/users/u-x/business", json={"regime": "lucro", "state": "ZZ"})
    assert reply.status_code == 422
    assert {e["field"] for e in reply.json()["errors"]} == {"regime", "state"}
    missing = await client.get("/v1/users/u-nobody/business")
    assert missing.status_code == 404
