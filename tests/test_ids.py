"""The id rule (core/ids.py): what it accepts and refuses, and every route applying it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from conftest import ADMIN_HEADERS, ADMIN_TOKEN, SQUAD_YAML
from litestar.testing import AsyncTestClient

from core.ids import MAX_ID_CHARS, InvalidId, check_id, parse_fact_id
from core.settings import Settings
from server.app import create_app
from server.chat import ChatService, ChatTurn


@pytest.mark.parametrize(
    "value",
    ["padaria-1", "5511987654321", "ana@web", "a.b", "Conversa 1", "ação", "x" * MAX_ID_CHARS],
)
def test_valid_ids_pass_unchanged(value: str) -> None:
    assert check_id(value, "user_id") == value


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "vazio"),
        ("x" * (MAX_ID_CHARS + 1), "limite é 128"),
        ("a\x00b", "controle"),
        ("a\nb", "controle"),
        ("a\r\nb", "controle"),
        ("\x1b[31mred\x1b[0m", "controle"),
        ("a\u202eb", "controle"),  # right-to-left override: renders a different id
        ("a\u2028b", "controle"),  # line separator
        ("a\x7fb", "controle"),
        (" padaria", "espaço"),
        ("padaria\t", "controle"),
        ("padaria ", "espaço"),
        ("..", "'..'"),
        ("a/../b", "'..'"),
    ],
)
def test_invalid_ids_say_why_in_portuguese(value: str, reason: str) -> None:
    with pytest.raises(InvalidId) as caught:
        check_id(value, "user_id")
    assert caught.value.field == "user_id"
    assert caught.value.message.startswith("O identificador 'user_id' é inválido: ")
    assert reason in caught.value.message


def test_a_non_string_is_refused() -> None:
    with pytest.raises(InvalidId):
        check_id(42, "thread_id")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1", 1), ("007", 7), ("9" * 18, 10**18 - 1)],
)
def test_fact_ids_parse_within_int64(raw: str, expected: int) -> None:
    assert parse_fact_id(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["", "²", "٣", "1²", "-1", "+1", " 1", "1 ", "1.0", "0x10", "9" * 19, str(2**63), "1_000"],
)
def test_fact_ids_that_cannot_name_a_fact(raw: str) -> None:
    # '²' and '٣' pass `str.isdigit` (and `int('²')` raises); above 18 digits, int64 overflows.
    assert parse_fact_id(raw) is None


# -- at the HTTP edge: every route answers 400 `invalid_id`, never a 500 -----------------------

BAD = "a\x00b"  # Postgres refuses NUL in text: this was a psycopg DataError 500 on six routes
ROUTES_WITH_IDS = [
    ("GET", "/v1/users/a%00b", None),
    ("POST", "/v1/users/a%00b/link-codes", None),
    ("POST", "/admin/api/users/a%00b/links", {"channel": "web", "sender_id": "x@web"}),
    ("POST", "/admin/api/users/ana/links", {"channel": "web", "sender_id": BAD}),
    ("GET", "/v1/users/a%00b/memory", None),
    ("DELETE", "/v1/users/a%00b/memory/1", None),
    ("GET", "/v1/threads/a%00b", None),
    ("POST", "/v1/chat", {"message": "oi", "user_id": BAD}),
    ("POST", "/v1/link", {"channel": "web", "sender_id": BAD, "code": "123456"}),
    ("POST", "/v1/classify", {"text": "oi", "thread_id": BAD}),
]


@pytest.fixture(scope="module")
async def sqlite_client(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[AsyncTestClient]:
    """The embedded default: SQLite identity and memory in a temporary data dir."""
    settings = Settings(config_path=SQUAD_YAML, data_dir=tmp_path_factory.mktemp("data"))
    async with AsyncTestClient(app=create_app(settings, environ={})) as client:
        yield client


@pytest.fixture(scope="module")
async def postgres_client(
    postgres_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[AsyncTestClient]:
    settings = Settings(
        config_path=SQUAD_YAML,
        database_url=postgres_url,
        data_dir=tmp_path_factory.mktemp("pg"),
        admin_token=ADMIN_TOKEN,
    )
    async with AsyncTestClient(app=create_app(settings, environ={})) as client:
        yield client


def assert_invalid_id(response: Any, field: str) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == "invalid_id", body
    assert f"'{field}'" in body["message"]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    ROUTES_WITH_IDS,
    ids=[f"{m} {p} {sorted(b or {})}" for m, p, b in ROUTES_WITH_IDS],
)
async def test_a_nul_in_an_id_is_a_400_on_postgres(
    postgres_client: AsyncTestClient, method: str, path: str, body: dict[str, Any] | None
) -> None:
    response = await postgres_client.request(method, path, json=body, headers=ADMIN_HEADERS)
    fields = {k for k, v in (body or {}).items() if v == BAD}
    field = fields.pop() if fields else ("thread_id" if "threads" in path else "user_id")
    assert_invalid_id(response, field)


async def test_a_superscript_digit_is_not_a_fact_id(sqlite_client: AsyncTestClient) -> None:
    response = await sqlite_client.delete("/v1/users/ana/memory/%C2%B2")  # '²'.isdigit() is True
    assert response.status_code == 404 and response.json()["code"] == "fact_not_found"


async def test_a_fact_id_above_int64_is_a_404_on_sqlite(sqlite_client: AsyncTestClient) -> None:
    response = await sqlite_client.delete(f"/v1/users/ana/memory/{2**63}")
    assert response.status_code == 404 and response.json()["code"] == "fact_not_found"


@pytest.mark.parametrize("user_id", ["ana\nadmin", "ana\r\nX-Forged: 1", "\x1b[2Jana", ".."])
async def test_ids_that_forge_lines_or_paths_are_refused_and_not_stored(
    sqlite_client: AsyncTestClient, user_id: str
) -> None:
    response = await sqlite_client.post("/v1/chat", json={"message": "oi", "user_id": user_id})
    assert_invalid_id(response, "user_id")
    identity = sqlite_client.app.state.identity
    # On the app's loop, where its SQLite seam lives (its alert and reminder loops use it too).
    found = await asyncio.to_thread(sqlite_client.blocking_portal.call, identity.user, user_id)
    assert found is None


async def test_thread_ids_with_dot_dot_are_refused(sqlite_client: AsyncTestClient) -> None:
    response = await sqlite_client.post("/v1/chat", json={"message": "oi", "thread_id": "a..b"})
    assert_invalid_id(response, "thread_id")


async def test_prepare_checks_ids_for_channels_outside_http(
    sqlite_client: AsyncTestClient,
) -> None:
    chat: ChatService = sqlite_client.app.state.chat
    with pytest.raises(InvalidId):
        await chat.prepare(ChatTurn("oi", user_id="5511\n999", channel="whatsapp"))
    with pytest.raises(InvalidId):
        await chat.prepare(ChatTurn("oi", thread_id="t\x00", channel="cli"))
