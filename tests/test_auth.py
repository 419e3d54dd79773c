"""Who may call what (server/auth.py), over HTTP: the page's session cookie, the API key, the
channels no body may claim, JSON-only bodies, CSRF, CORS, and serving safely by default."""

from __future__ import annotations

import re
import stat
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import SQUAD_YAML, parse_sse
from litestar.testing import AsyncTestClient

from core.settings import Settings
from server.app import create_app
from server.auth import SESSION_COOKIE
from server.cli import main

API_KEY = "k" * 40


def settings(data_dir: Path, **overrides: Any) -> Settings:
    return Settings(config_path=SQUAD_YAML, database_url="memory", data_dir=data_dir, **overrides)


@pytest.fixture(scope="module")
async def open_client(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[AsyncTestClient]:
    """No API key: the embedded default (with the admin API on)."""
    app = create_app(settings(tmp_path_factory.mktemp("open"), admin_token="t" * 32), environ={})
    async with AsyncTestClient(app=app) as client:
        yield client


@pytest.fixture(scope="module")
async def keyed_client(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[AsyncTestClient]:
    """`ESQUADRA_API_KEY` set."""
    app = create_app(settings(tmp_path_factory.mktemp("keyed"), api_key=API_KEY), environ={})
    async with AsyncTestClient(app=app) as client:
        yield client


@dataclass
class Browser:
    """One browser's session: what `GET /` gave it."""

    cookie: str
    csrf: str
    user_id: str

    def headers(self, csrf: bool = True) -> dict[str, str]:
        headers = {"Cookie": f"{SESSION_COOKIE}={self.cookie}"}
        return {**headers, "X-CSRF-Token": self.csrf} if csrf else headers


async def open_page(client: AsyncTestClient) -> Browser:
    """A new browser opens the page (the client's own cookie jar stays empty)."""
    client.cookies.clear()
    page = await client.get("/")
    assert page.status_code == 200
    client.cookies.clear()

    def meta(name: str) -> str:
        found = re.search(rf'<meta name="{name}" content="([^"]*)">', page.text)
        assert found, name
        return found.group(1)

    return Browser(page.cookies[SESSION_COOKIE], meta("csrf-token"), meta("user-id"))


async def web_chat(client: AsyncTestClient, browser: Browser, **body: Any) -> Any:
    return await client.post("/v1/chat", json=body, headers=browser.headers())


def done(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    kind, data = parse_sse(response.text)[-1]
    assert kind == "done", data
    return data


def refused(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["code"] == code
    assert response.json()["message"]


# -- the page's session ------------------------------------------------------------------------


async def test_the_page_sets_a_signed_httponly_samesite_cookie(
    open_client: AsyncTestClient,
) -> None:
    open_client.cookies.clear()
    page = await open_client.get("/")
    header = page.headers["set-cookie"].lower()
    assert page.text.startswith("<!doctype html>") and '<html lang="pt-BR">' in page.text
    assert "httponly" in header and "samesite=lax" in header and "path=/" in header
    assert "script-src 'self'" in page.headers["content-security-policy"]


async def test_a_session_reads_its_own_thread_but_not_another_users(
    open_client: AsyncTestClient,
) -> None:
    ana, bruno = await open_page(open_client), await open_page(open_client)
    thread = done(await web_chat(open_client, ana, message="qual meu saldo?"))["thread_id"]

    own = await open_client.get(f"/v1/threads/{thread}", headers=ana.headers())
    assert own.status_code == 200 and own.json()["messages"][0]["content"] == "qual meu saldo?"
    refused(
        await open_client.get(f"/v1/threads/{thread}", headers=bruno.headers()),
        404,
        "thread_not_found",
    )


async def test_a_session_cannot_continue_another_users_thread(
    open_client: AsyncTestClient,
) -> None:
    ana, bruno = await open_page(open_client), await open_page(open_client)
    thread = done(await web_chat(open_client, ana, message="oi"))["thread_id"]
    refused(
        await web_chat(open_client, bruno, message="oi", thread_id=thread), 404, "thread_not_found"
    )


async def test_a_session_reads_its_own_memory_but_not_another_users(
    open_client: AsyncTestClient,
) -> None:
    ana, bruno = await open_page(open_client), await open_page(open_client)
    own = await open_client.get(f"/v1/users/{ana.user_id}/memory", headers=ana.headers())
    assert own.status_code == 200 and own.json()["user_id"] == ana.user_id
    for path in (f"/v1/users/{ana.user_id}/memory", f"/v1/users/{ana.user_id}"):
        refused(await open_client.get(path, headers=bruno.headers()), 403, "forbidden")
    forget = await open_client.delete(f"/v1/users/{ana.user_id}/memory/1", headers=bruno.headers())
    refused(forget, 403, "forbidden")


async def test_a_session_asks_link_codes_only_for_itself(open_client: AsyncTestClient) -> None:
    ana, bruno = await open_page(open_client), await open_page(open_client)
    own = await open_client.post(f"/v1/users/{ana.user_id}/link-codes", headers=ana.headers())
    assert own.status_code == 201 and re.fullmatch(r"\d{6}", own.json()["code"])
    other = await open_client.post(f"/v1/users/{ana.user_id}/link-codes", headers=bruno.headers())
    refused(other, 403, "forbidden")


async def test_a_session_speaks_only_as_itself(open_client: AsyncTestClient) -> None:
    ana, bruno = await open_page(open_client), await open_page(open_client)
    refused(
        await web_chat(open_client, bruno, message="oi", user_id=ana.user_id),
        403,
        "identity_mismatch",
    )
    thread = done(await web_chat(open_client, ana, message="oi", channel="web"))["thread_id"]
    user = await open_client.get(f"/v1/users/{ana.user_id}", headers=ana.headers())
    assert user.json()["active_thread"] == thread
    assert [link["channel"] for link in user.json()["links"]] == ["web"]


async def test_a_session_cannot_use_admin_routes(open_client: AsyncTestClient) -> None:
    ana = await open_page(open_client)
    link = await open_client.post(
        f"/admin/api/users/{ana.user_id}/links",
        json={"channel": "api", "sender_id": "x"},
        headers=ana.headers(),
    )
    refused(link, 401, "unauthorized")  # the session is no admin: only the token is
    classify = await open_client.post("/v1/classify", json={"text": "oi"}, headers=ana.headers())
    refused(classify, 403, "forbidden")


async def test_a_session_post_without_the_csrf_token_is_refused(
    open_client: AsyncTestClient,
) -> None:
    ana = await open_page(open_client)
    missing = await open_client.post(
        "/v1/chat", json={"message": "oi"}, headers=ana.headers(csrf=False)
    )
    refused(missing, 403, "csrf_failed")
    wrong = await open_client.post(
        "/v1/chat",
        json={"message": "oi"},
        headers={**ana.headers(csrf=False), "X-CSRF-Token": "x" * 43},
    )
    refused(wrong, 403, "csrf_failed")


async def test_the_session_survives_a_restart(tmp_path: Path) -> None:
    """The cookie's key is kept in the data dir (0600): a restart keeps every browser's user."""
    async with AsyncTestClient(app=create_app(settings(tmp_path), environ={})) as client:
        ana = await open_page(client)
    secret = tmp_path / "session_secret"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    async with AsyncTestClient(app=create_app(settings(tmp_path), environ={})) as client:
        page = await client.get("/", headers=ana.headers(csrf=False))
    assert "set-cookie" not in page.headers  # the old cookie is still valid
    assert f'<meta name="user-id" content="{ana.user_id}">' in page.text


# -- integrations and the API key ------------------------------------------------------------


async def test_with_a_key_users_need_it(keyed_client: AsyncTestClient) -> None:
    refused(await keyed_client.get("/v1/users/5511999990000"), 401, "unauthorized")
    wrong = await keyed_client.get(
        "/v1/users/5511999990000", headers={"Authorization": "Bearer errada-errada-errada"}
    )
    refused(wrong, 401, "unauthorized")
    right = await keyed_client.get(
        "/v1/users/5511999990000", headers={"Authorization": f"Bearer {API_KEY}"}
    )
    refused(right, 404, "user_not_found")  # authenticated: the user simply does not exist


async def test_with_a_key_chat_needs_it_and_works_with_it(keyed_client: AsyncTestClient) -> None:
    refused(await keyed_client.post("/v1/chat", json={"message": "oi"}), 401, "unauthorized")
    response = await keyed_client.post(
        "/v1/chat", json={"message": "oi"}, headers={"Authorization": f"Bearer {API_KEY}"}
    )
    assert done(response)["thread_id"]


async def test_with_a_key_the_page_needs_only_its_session(keyed_client: AsyncTestClient) -> None:
    ana = await open_page(keyed_client)
    assert done(await web_chat(keyed_client, ana, message="oi"))["thread_id"]
    forged = {"Cookie": f"{SESSION_COOKIE}={ana.cookie[:-2]}xx", "X-CSRF-Token": ana.csrf}
    refused(
        await keyed_client.post("/v1/chat", json={"message": "oi"}, headers=forged),
        401,
        "unauthorized",
    )


async def test_with_a_key_public_routes_stay_open(keyed_client: AsyncTestClient) -> None:
    for path in ("/healthz", "/readyz", "/schema/openapi.json", "/v1/agents", "/"):
        assert (await keyed_client.get(path)).status_code == 200, path


@pytest.mark.parametrize("client_name", ["open_client", "keyed_client"])
async def test_a_chat_body_claiming_whatsapp_is_refused(
    client_name: str, request: pytest.FixtureRequest
) -> None:
    client: AsyncTestClient = request.getfixturevalue(client_name)
    body = {"message": "oi", "channel": "whatsapp", "user_id": "5511987654321"}
    response = await client.post(
        "/v1/chat", json=body, headers={"Authorization": f"Bearer {API_KEY}"}
    )
    refused(response, 403, "channel_not_allowed")
    redeem = await client.post(
        "/v1/link",
        json={"channel": "whatsapp", "sender_id": "5511987654321", "code": "123456"},
        headers={"Authorization": f"Bearer {API_KEY}"},
    )
    refused(redeem, 403, "channel_not_allowed")


async def test_agents_are_listed_with_name_and_colour(open_client: AsyncTestClient) -> None:
    agents = (await open_client.get("/v1/agents")).json()
    assert [a["id"] for a in agents] == ["leo", "max", "lia"]
    assert agents[0]["display_name"] == "Leo · Finanças"
    assert all(re.fullmatch(r"#[0-9a-f]{6}", a["color"]) for a in agents)


# -- browsers: JSON only, CORS -----------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
async def test_a_json_route_refuses_other_media_types(
    open_client: AsyncTestClient, content_type: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = await open_client.post("/v1/chat", content=b'{"message": "oi"}', headers=headers)
    refused(response, 415, "unsupported_media_type")


async def test_cors_is_off_by_default(open_client: AsyncTestClient) -> None:
    preflight = await open_client.options(
        "/v1/chat",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers


async def test_cors_allows_only_the_listed_origins(tmp_path: Path) -> None:
    app = create_app(settings(tmp_path, cors_origins="https://app.example.com"), environ={})
    ask = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    async with AsyncTestClient(app=app) as client:
        allowed = await client.options(
            "/v1/chat", headers={"Origin": "https://app.example.com", **ask}
        )
        other = await client.options("/v1/chat", headers={"Origin": "https://evil.example", **ask})
    assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "access-control-allow-credentials" not in allowed.headers
    assert other.headers.get("access-control-allow-origin") != "https://evil.example"


# -- serving ----------------------------------------------------------------------------------


def test_serving_on_all_interfaces_without_a_key_refuses_to_start(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("ESQUADRA_API_KEY", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    status = main(["serve", "--host", "0.0.0.0", "--config", str(SQUAD_YAML)])
    err = capsys.readouterr().err.strip().splitlines()
    assert status != 0
    assert err == [
        "esquadra serve: --host 0.0.0.0 is reachable from other machines and ESQUADRA_API_KEY "
        "is not set: set it (integrations send 'Authorization: Bearer <key>'), or pass "
        "--allow-open-api if /v1 is meant to be open"
    ]
