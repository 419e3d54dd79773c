"""Tools for integrations: `POST /v1/tools/{name}`, the cash book's CSV, and `esquadra tool`.

A bad argument is a 422 (or exit 1) naming the field — never a 500 — on every tool."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO_ROOT, memory_settings
from litestar.testing import AsyncTestClient

from server.app import create_app
from tools.registry import TOOLS

ESQUADRA = str(Path(sys.executable).parent / "esquadra")
KEY = "k" * 32


@pytest.fixture
async def client() -> Any:
    async with AsyncTestClient(app=create_app(memory_settings(), environ={})) as client:
        yield client


async def test_record_then_summary_through_the_api(client: Any) -> None:
    user = f"u-{uuid.uuid4().hex[:8]}"
    recorded = await client.post(
        "/v1/tools/record_transaction",
        json={"user_id": user, "kind": "income", "amount": "R$ 1.500,00", "date": "2026-11-30"},
    )
    assert recorded.status_code == 200, recorded.text
    body = recorded.json()
    assert (body["amount"], body["date"], body["category"]) == (
        "1500.00",
        "2026-11-30",
        "Outras receitas",
    )
    await client.post(
        "/v1/tools/record_transaction",
        json={
            "user_id": user,
            "kind": "expense",
            "amount": 350.1,
            "date": "2026-11-29",
            "description": "conta de luz",
        },
    )
    summary = await client.post(
        "/v1/tools/cash_summary", json={"user_id": user, "month": "2026-11"}
    )
    assert summary.status_code == 200
    assert summary.json() == {
        "month": "2026-11",
        "income": "1500.00",
        "expense": "350.10",
        "balance": "1149.90",
        "by_category": {"Energia e água": "350.10", "Outras receitas": "1500.00"},
        "entries": 2,
    }
    csv_reply = await client.get(f"/v1/users/{user}/ledger.csv", params={"month": "2026-11"})
    assert csv_reply.status_code == 200
    assert csv_reply.headers["content-type"].startswith("text/csv")
    rows = csv_reply.text.splitlines()
    assert rows[0] == "data,tipo,valor,categoria,descricao,origem"
    assert rows[1] == "29/11/2026,despesa,350.10,Energia e água,conta de luz,api"


@pytest.mark.parametrize(
    ("tool", "args", "field"),
    [
        ("record_transaction", {"user_id": "u1", "kind": "income", "amount": "-5"}, "amount"),
        ("record_transaction", {"user_id": "u1", "kind": "income", "amount": "muito"}, "amount"),
        ("record_transaction", {"user_id": "u1", "kind": "lucro", "amount": 10}, "kind"),
        ("record_transaction", {"user_id": "u1", "kind": "income"}, "amount"),
        ("record_transaction", {"user_id": "u1", "kind": "income", "amount": 1, "x": 1}, "x"),
        (
            "record_transaction",
            {"user_id": "u1", "kind": "income", "amount": 1, "date": "ontem"},
            "date",
        ),
        ("cash_summary", {"user_id": "u1", "month": "2026-13"}, "month"),
        ("cash_summary", {"month": "2026-11"}, "user_id"),
    ],
)
async def test_bad_arguments_are_a_422_naming_the_field(
    client: Any, tool: str, args: dict[str, Any], field: str
) -> None:
    reply = await client.post(f"/v1/tools/{tool}", json=args)
    assert reply.status_code == 422, reply.text
    body = reply.json()
    assert body["code"] == "invalid_arguments"
    assert field in body["message"]
    assert [e["field"] for e in body["errors"]] == [field]
    assert all(e["message"] for e in body["errors"])


async def test_every_tool_answers_an_empty_or_wrong_body_with_a_4xx(client: Any) -> None:
    for name in TOOLS:
        for body in ({}, {"nada": None}, {"amount": [1, 2]}):
            reply = await client.post(f"/v1/tools/{name}", json=body)
            assert reply.status_code == 422, (name, body, reply.text)
            assert reply.json()["errors"]
        not_object = await client.post(f"/v1/tools/{name}", json=[1, 2])
        assert not_object.status_code == 400 and not_object.json()["code"] == "invalid_json"


async def test_unknown_tool_and_wrong_media_type(client: Any) -> None:
    unknown = await client.post("/v1/tools/nao_existe", json={})
    assert (unknown.status_code, unknown.json()["code"]) == (404, "unknown_tool")
    text = await client.post(
        "/v1/tools/cash_summary", content=b"{}", headers={"content-type": "text/plain"}
    )
    assert text.status_code == 415


async def test_the_tool_list_gives_each_schema(client: Any) -> None:
    listed = (await client.get("/v1/tools")).json()["tools"]
    record = next(t for t in listed if t["name"] == "record_transaction")
    assert record["writes"] is True
    assert set(record["arguments"]["properties"]) >= {"user_id", "kind", "amount", "date"}


async def test_with_an_api_key_tools_need_it() -> None:
    settings = memory_settings(api_key=KEY)
    async with AsyncTestClient(app=create_app(settings, environ={})) as client:
        args = {"user_id": "u1", "month": "2026-11"}
        assert (await client.post("/v1/tools/cash_summary", json=args)).status_code == 401
        ok = await client.post(
            "/v1/tools/cash_summary", json=args, headers={"Authorization": f"Bearer {KEY}"}
        )
        assert ok.status_code == 200


def esquadra_tool(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}  # the embedded store
    env["ESQUADRA_DATA_DIR"] = str(tmp_path)
    return subprocess.run(
        [ESQUADRA, "tool", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
        env=env,
    )


def test_cli_records_and_summarises_in_the_embedded_store(tmp_path: Path) -> None:
    record = {"user_id": "cli-user", "kind": "income", "amount": 1500, "date": "2026-11-30"}
    first = esquadra_tool(tmp_path, "record_transaction", "--args", json.dumps(record))
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["amount"] == "1500.00"
    summary = esquadra_tool(
        tmp_path, "cash_summary", "--args", '{"user_id": "cli-user", "month": "2026-11"}'
    )
    assert summary.returncode == 0, summary.stderr
    assert json.loads(summary.stdout)["income"] == "1500.00"


def test_cli_bad_argument_exits_1_naming_the_field(tmp_path: Path) -> None:
    result = esquadra_tool(
        tmp_path, "cash_summary", "--args", '{"user_id": "u", "month": "13/2026"}'
    )
    assert result.returncode == 1
    assert "cash_summary: month:" in result.stderr
    assert "Traceback" not in result.stderr


async def test_obligations_follow_the_owners_business_profile(client: Any) -> None:
    user = f"u-{uuid.uuid4().hex[:8]}"
    before = await client.post("/v1/tools/obligations", json={"user_id": user, "month": "2027-05"})
    assert (before.json()["regime"], before.json()["regime_from"]) == ("simples", "default")
    profile = {"regime": "mei", "state": "PE", "employees": True}
    assert (await client.put(f"/v1/users/{user}/business", json=profile)).status_code == 200
    after = (
        await client.post("/v1/tools/obligations", json={"user_id": user, "month": "2027-05"})
    ).json()
    assert (after["regime"], after["regime_from"]) == ("mei", "profile")
    codes = {o["code"] for o in after["obligations"]}
    assert {"das_mei", "dasn_simei", "fgts"} <= codes and "das" not in codes
