"""The admin page (`/admin`) in a real browser: Debian's headless Chromium driven by Playwright
(never a downloaded browser), against a real server with ADMIN_TOKEN set, its registry in
SQLite and one turn already answered by the stub LLM (so the figures are not all zero).

Skipped locally without /usr/bin/chromium; under CI=true a missing browser fails. Screenshots
are kept in tests/artifacts/.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import ADMIN_HEADERS, ADMIN_TOKEN, SQUAD_YAML
from live_server import live_server

from core.settings import Settings
from server.app import create_app

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
HOSTILE_NAME = '<img src=x onerror="window.pwned=1">'


@pytest.fixture(scope="module")
def server(
    chromium: Any, stub_server: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """One server for the module (the admin API on); Lia has answered one question today."""
    stub_server.reset()
    stub_server.configure(replies=["Férias: 30 dias por ano trabalhado."])
    environ = {
        "OPENAI_API_KEY": "test-key",
        "OPENAI_BASE_URL": stub_server.url,
        "ESQUADRA_MODEL": "stub-1",
    }
    settings = Settings(
        config_path=SQUAD_YAML,
        database_url=None,
        data_dir=tmp_path_factory.mktemp("admin-page"),
        admin_token=ADMIN_TOKEN,
    )
    with live_server(create_app(settings, environ=environ)) as url:
        reply = httpx.post(
            f"{url}/v1/chat",
            json={"message": "@lia quantos dias de férias a funcionária tem?"},
            headers={"Accept": "application/json"},
            timeout=60,
        )
        assert reply.status_code == 200, reply.text
        yield url


@pytest.fixture
def page(chromium: Any, server: str) -> Iterator[Any]:
    """A fresh browser context (its own sessionStorage) on the admin page."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="pt-BR")
    page = context.new_page()
    page.goto(f"{server}/admin")
    page.wait_for_selector("body[data-ready=true]")
    try:
        yield page
    finally:
        context.close()


def api(server: str, method: str, path: str, **kwargs: Any) -> Any:
    response = httpx.request(
        method, f"{server}/admin/api{path}", headers=ADMIN_HEADERS, timeout=30, **kwargs
    )
    assert response.status_code == 200, response.text
    return response.json()


def registry_state(server: str) -> tuple[Any, Any]:
    """Every agent's current version and config, and the audit log, as the API shows them."""
    agents = [api(server, "GET", f"/agents/{a['id']}") for a in api(server, "GET", "/agents")]
    current = [(a["id"], a["version"], a["config"]) for a in agents]
    return current, api(server, "GET", "/audit")


def sign_in(page: Any, token: str = ADMIN_TOKEN, name: str = "Ana") -> None:
    page.fill("#token", token)
    page.fill("#actor", name)
    page.click("#sign-in-button")


def signed_in(page: Any, name: str = "Ana") -> None:
    sign_in(page, name=name)
    page.wait_for_selector('#agents .card[data-agent="lia"]')


def card(page: Any, agent_id: str) -> Any:
    return page.locator(f'#agents .card[data-agent="{agent_id}"]')


def screenshot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def test_a_wrong_token_shows_an_error_and_changes_nothing(page: Any, server: str) -> None:
    before = registry_state(server)
    sign_in(page, token="not-the-admin-token-at-all")
    error = page.wait_for_selector("#sign-in-error:not([hidden])")
    assert "Token inválido" in error.inner_text()
    assert page.locator("#app").is_hidden()
    assert page.locator("#agents .card").count() == 0
    assert page.evaluate("() => sessionStorage.length") == 0
    assert "not-the-admin-token" not in page.url
    screenshot(page, "admin_wrong_token.png")
    assert registry_state(server) == before


def test_signing_in_shows_the_agents_with_todays_figures(page: Any, server: str) -> None:
    signed_in(page)
    assert page.locator("#agents .card").count() == 3
    lia = card(page, "lia")
    assert lia.locator('[data-figure="messages"]').inner_text() == "1"
    assert lia.locator('[data-figure="p50"]').inner_text().endswith(" ms")
    assert lia.locator('[data-figure="error_rate"]').inner_text() == "0,0%"
    assert lia.locator('[data-figure="cost"]').inner_text() == "R$ 0,00"
    assert lia.get_by_role("switch").is_checked()
    current = api(server, "GET", "/agents/lia")
    meta = f"Versão {current['version']} · por {current['updated_by']} em "
    assert lia.locator(".meta").inner_text().startswith(meta)
    assert card(page, "max").locator(".fallback-tag").is_visible()
    assert card(page, "lia").locator(".fallback-tag").is_hidden()
    # The token is kept for this tab only, and never in the address.
    assert page.evaluate("() => sessionStorage.getItem('esquadra.admin.token')") == ADMIN_TOKEN
    assert ADMIN_TOKEN not in page.url
    screenshot(page, "admin_agents.png")

    # A reload keeps the session; "Sair" forgets it.
    page.reload()
    page.wait_for_selector('#agents .card[data-agent="lia"]')
    page.click("#sign-out")
    page.wait_for_selector("#sign-in:not([hidden])")
    assert page.evaluate("() => sessionStorage.length") == 0
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    assert page.locator("#sign-in").is_visible()
    assert page.locator("#app").is_hidden()


def test_money_is_written_the_brazilian_way(page: Any) -> None:
    brl = "(v) => window.adminFormat.brl(v)"
    assert page.evaluate(brl, "1234.555") == "R$ 1.234,56"
    assert page.evaluate(brl, "0.004999") == "R$ 0,00"
    assert page.evaluate(brl, "0.005") == "R$ 0,01"
    assert page.evaluate(brl, "1234567.8") == "R$ 1.234.567,80"
    assert page.evaluate(brl, "oops") == "—"
    assert page.evaluate("() => window.adminFormat.percent(0.0625)") == "6,3%"


def test_switching_lia_off_and_on(page: Any, server: str) -> None:
    signed_in(page)
    lia = card(page, "lia")
    lia.get_by_role("switch").click()
    page.wait_for_selector('.card.off[data-agent="lia"]')
    assert lia.locator(".switch-text").inner_text() == "Desligado"
    assert not lia.get_by_role("switch").is_checked()
    agents = {a["id"]: a for a in api(server, "GET", "/agents")}
    assert agents["lia"]["active"] is False
    assert agents["lia"]["updated_by"] == "Ana"
    assert "lia" not in [a["id"] for a in httpx.get(f"{server}/v1/agents").json()]
    page.wait_for_selector('#audit tr[data-agent="lia"][data-action="update"]')
    screenshot(page, "admin_lia_off.png")

    lia.get_by_role("switch").click()
    page.wait_for_selector('.card:not(.off)[data-agent="lia"]')
    assert {a["id"]: a for a in api(server, "GET", "/agents")}["lia"]["active"] is True


def test_switching_off_the_fallback_shows_the_servers_refusal(page: Any, server: str) -> None:
    signed_in(page)
    before = registry_state(server)
    card(page, "max").get_by_role("switch").click()
    error = page.wait_for_selector('.card[data-agent="max"] .card-error:not([hidden])')
    assert "fallback" in error.inner_text()
    assert card(page, "max").get_by_role("switch").is_checked()
    assert registry_state(server) == before
    screenshot(page, "admin_fallback_refused.png")


def test_a_bad_temperature_is_shown_next_to_its_field(page: Any, server: str) -> None:
    signed_in(page)
    before = registry_state(server)
    card(page, "lia").locator(".edit").click()
    page.wait_for_selector("#editor:not([hidden])")
    page.fill("#f-temperature", "5")
    page.click("#save")
    error = page.wait_for_selector('.field-error[data-error-for="temperature"]:not([hidden])')
    assert "between 0 and 2" in error.inner_text()
    assert page.get_attribute("#f-temperature", "aria-invalid") == "true"
    assert page.locator('.field-error[data-error-for="max_tokens"]').is_hidden()
    screenshot(page, "admin_field_error.png")
    assert registry_state(server) == before


def test_an_edit_is_a_version_with_its_diff_and_a_rollback_undoes_it(
    page: Any, server: str
) -> None:
    signed_in(page, name=HOSTILE_NAME)
    lia_before = api(server, "GET", "/agents/lia")
    temperature = lia_before["config"]["temperature"]
    card(page, "lia").locator(".edit").click()
    page.wait_for_selector("#editor:not([hidden])")
    page.fill("#f-temperature", "1.1")
    with page.expect_request(lambda r: r.method == "PATCH") as sent:
        page.click("#save")
    # Only the changed field goes out, with the token as a bearer header and the typed name.
    assert sent.value.post_data_json == {"temperature": 1.1}
    assert sent.value.headers["authorization"] == f"Bearer {ADMIN_TOKEN}"
    assert sent.value.headers["x-admin-actor"] == HOSTILE_NAME
    edited = lia_before["version"] + 1
    page.wait_for_selector(f'#versions .version[data-version="{edited}"]')
    assert page.locator("#params-status").inner_text() == f"Salvo: versão {edited}."

    newest = page.locator("#versions .version").first
    assert newest.locator(".diff").count() == 1
    diff = newest.locator('.diff[data-field="temperature"]')
    old = str(temperature).replace(".", ",")
    assert (diff.locator(".before").inner_text(), diff.locator(".after").inner_text()) == (
        old,
        "1,1",
    )
    assert api(server, "GET", "/agents/lia")["config"]["temperature"] == 1.1
    screenshot(page, "admin_new_version.png")

    page.locator(f'#versions .version[data-version="{lia_before["version"]}"] .restore').click()
    restored = edited + 1
    page.wait_for_selector(f'#versions .version[data-version="{restored}"]')
    assert "restaurada" in page.locator("#history-status").inner_text()
    assert page.locator("#params-status").inner_text() == ""
    newest = page.locator("#versions .version").first
    assert newest.locator(".tag.source-rollback").inner_text() == "restauração"
    diff = newest.locator('.diff[data-field="temperature"]')
    assert (diff.locator(".before").inner_text(), diff.locator(".after").inner_text()) == (
        "1,1",
        old,
    )
    assert page.input_value("#f-temperature") == str(temperature)
    lia_after = api(server, "GET", "/agents/lia")
    assert lia_after["config"] == lia_before["config"]

    # The audit shows both, signed with the name exactly as typed (text, not markup).
    page.wait_for_selector('#audit tr[data-agent="lia"][data-action="rollback"]')
    rows = page.locator('#audit tr[data-agent="lia"]')
    assert [rows.nth(i).get_attribute("data-action") for i in range(2)] == ["rollback", "update"]
    assert rows.first.locator("td").nth(1).inner_text() == HOSTILE_NAME
    assert page.locator("img").count() == 0
    assert page.evaluate("() => window.pwned") is None
    screenshot(page, "admin_rollback_audit.png")
    page.set_viewport_size({"width": 412, "height": 860})
    screenshot(page, "admin_phone.png")


def test_a_new_routing_example_shows_as_an_added_line(page: Any, server: str) -> None:
    signed_in(page)
    before = api(server, "GET", "/agents/lia")
    card(page, "lia").locator(".edit").click()
    page.wait_for_selector("#editor:not([hidden])")
    examples = page.input_value("#f-routing_examples")
    page.fill("#f-routing_examples", examples + "\n  posso contratar temporario no natal?  \n\n")
    with page.expect_request(lambda r: r.method == "PATCH") as sent:
        page.click("#save")
    added = [*before["config"]["routing"]["examples"], "posso contratar temporario no natal?"]
    assert sent.value.post_data_json == {"routing_examples": added}
    page.wait_for_selector(f'#versions .version[data-version="{before["version"] + 1}"]')
    diff = page.locator("#versions .version").first.locator('.diff[data-field="routing.examples"]')
    assert diff.locator(".added").all_inner_texts() == ["+ posso contratar temporario no natal?"]
    assert diff.locator(".removed").count() == 0
    row = page.locator('#audit tr[data-agent="lia"]').first
    assert row.locator('.diff[data-field="routing.examples"] .counts').inner_text() == "+1 −0"
    screenshot(page, "admin_examples_diff.png")
    api(server, "POST", "/agents/lia/rollback", json={"version": before["version"]})


def test_without_an_admin_token_the_page_says_admin_is_off(chromium: Any, tmp_path: Path) -> None:
    settings = Settings(config_path=SQUAD_YAML, database_url="memory", data_dir=tmp_path)
    with live_server(create_app(settings, environ={})) as url:
        page = chromium.new_page()
        response = page.goto(f"{url}/admin")
        assert "script-src 'self'" in response.headers["content-security-policy"]
        page.wait_for_selector("body[data-ready=true]")
        assert page.locator("#disabled").is_visible()
        assert "ADMIN_TOKEN" in page.locator("#disabled").inner_text()
        assert page.locator("#sign-in").is_hidden()
        screenshot(page, "admin_disabled.png")
        page.close()
