"""The finance tools over `POST /v1/tools/{name}`: a domain error is a 422 naming the field."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import memory_settings
from litestar.testing import AsyncTestClient

from server.app import create_app


@pytest.fixture
async def client() -> Any:
    async with AsyncTestClient(app=create_app(memory_settings(), environ={})) as client:
        yield client


async def test_simples_das_over_http(client: Any) -> None:
    # Annex I, RBT12 600.000: 7,19 % of 50.000 = 3.595,00.
    reply = await client.post(
        "/v1/tools/simples_das", json={"annex": "I", "rbt12": 600000, "month_revenue": 50000}
    )
    assert reply.status_code == 200, reply.text
    assert (reply.json()["effective_rate"], reply.json()["das_amount"]) == ("7.19", "3595.00")


@pytest.mark.parametrize(
    ("tool", "args", "field"),
    [
        ("pix_brcode", {"key": "52998224724", "name": "Padaria", "city": "Recife"}, "key"),
        ("simples_das", {"annex": "I", "month_revenue": 1, "months_active": 2}, "revenue_so_far"),
        ("business_calendar", {"from": "2026-12-02", "to": "2026-12-01"}, "to"),
        ("validate_document", {"number": "12.3"}, "number"),
        ("obligations", {"user_id": "u1", "month": "2026-11", "state": "ZZ"}, "state"),
    ],
)
async def test_domain_errors_are_a_422_naming_the_field(
    client: Any, tool: str, args: dict[str, Any], field: str
) -> None:
    reply = await client.post(f"/v1/tools/{tool}", json=args)
    assert reply.status_code == 422, reply.text
    assert [e["field"] for e in reply.json()["errors"]] == [field]
