"""The chat page in a real browser: Debian's headless Chromium driven by Playwright (never a
downloaded browser), against a real server talking to the stub LLM.

Skipped locally without /usr/bin/chromium (`apt-get install chromium`); under CI=true a missing
browser fails (`.ci/run` installs it). The screenshot is kept in tests/artifacts/.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from conftest import SQUAD_YAML
from live_server import live_server

from core.settings import Settings
from server.app import create_app

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
REPLY = (
    "Seu saldo de caixa hoje é **R$ 1.234,56**.\n\n"
    "- Entradas: R$ 2.000,00\n"
    "- Saídas: R$ 765,44\n\n"
    "Quer que eu registre mais alguma coisa? Veja também o "
    "[Portal do Simples](https://www8.receita.fazenda.gov.br/simplesnacional/)."
)
HOSTILE_REPLY = 'Olha só: <img src=x onerror="window.pwned=1"> e **negrito**.'


def test_chat_page_streams_shows_the_agent_and_keeps_history(
    chromium: Any, tmp_path: Path, online_env: dict[str, str], llm: Any
) -> None:
    llm.configure(replies=[REPLY, HOSTILE_REPLY], token_interval_ms=60)
    settings = Settings(config_path=SQUAD_YAML, database_url=None, data_dir=tmp_path)
    with live_server(create_app(settings, environ=online_env)) as url:
        context = chromium.new_context(viewport={"width": 412, "height": 860}, locale="pt-BR")
        page = context.new_page()
        page.goto(url)
        page.wait_for_selector("body[data-ready=true]")
        page.fill("#message", "@leo qual meu saldo de caixa hoje?")
        page.keyboard.press("Enter")

        # Text appears while the reply is still streaming (not all at once at the end).
        partial = page.wait_for_function(
            "() => { const b = document.querySelector('.msg.assistant.streaming .body');"
            " return b && b.textContent.length > 0 ? b.textContent : null; }",
            polling="raf",
        ).json_value()
        page.wait_for_selector(".msg.assistant:not(.streaming) .body li")
        reply = page.locator(".msg.assistant").last
        final = reply.locator(".body").inner_text()
        assert partial and len(partial) < len(final)
        assert final.replace("\n", "").startswith(partial.replace("\n", "").strip()[:10])
        assert reply.locator(".badge").inner_text() == "Leo · Finanças"
        assert reply.locator(".body strong").inner_text() == "R$ 1.234,56"
        assert reply.locator(".body li").count() == 2
        assert (
            reply.locator(".body a").get_attribute("href")
            == "https://www8.receita.fazenda.gov.br/simplesnacional/"
        )

        # A reload shows the conversation again (the server knows this browser's thread).
        page.reload()
        page.wait_for_selector("body[data-ready=true]")
        page.wait_for_selector(".msg.assistant .badge")
        assert page.locator(".msg.user").inner_text() == "@leo qual meu saldo de caixa hoje?"
        assert page.locator(".msg.assistant .badge").inner_text() == "Leo · Finanças"
        assert "R$ 1.234,56" in page.locator(".msg.assistant .body").inner_text()
        thread_id = page.get_attribute('meta[name="thread-id"]', "content")
        assert thread_id

        ARTIFACTS.mkdir(exist_ok=True)
        shot = tmp_path / "web_chat.png"
        page.screenshot(path=str(shot), full_page=True)
        shutil.copy(shot, ARTIFACTS / "web_chat.png")
        print(f"\nscreenshot: {ARTIFACTS / 'web_chat.png'}")

        # Model output is text, never markup.
        page.fill("#message", "@leo e agora?")
        page.keyboard.press("Enter")
        page.wait_for_selector(".msg.assistant:nth-of-type(4):not(.streaming) strong")
        assert page.locator(".log img").count() == 0
        assert page.evaluate("() => window.pwned") is None
        assert "<img src=x" in page.locator(".msg.assistant").last.inner_text()

        # Another browser (its own session) cannot read this thread.
        other = chromium.new_context().new_page()
        other.goto(url)
        other.wait_for_selector("body[data-ready=true]")
        status = other.evaluate(
            "async (id) => (await fetch(`/v1/threads/${id}`)).status", thread_id
        )
        assert status == 404
        other_memory = other.evaluate(
            "async (user) => (await fetch(`/v1/users/${user}/memory`)).status",
            page.get_attribute('meta[name="user-id"]', "content"),
        )
        assert other_memory == 403
        context.close()


def test_link_code_button_shows_six_digits(
    chromium: Any, tmp_path: Path, online_env: dict[str, str]
) -> None:
    settings = Settings(config_path=SQUAD_YAML, database_url=None, data_dir=tmp_path)
    with live_server(create_app(settings, environ=online_env)) as url:
        page = chromium.new_page()
        page.goto(url)
        page.wait_for_selector("body[data-ready=true]")
        page.click("#link-button")
        code = page.wait_for_selector("#link-panel .code").inner_text()
        assert code.startswith("meu código é ") and code[-6:].isdigit()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "web_link_code.png"))


def test_a_failed_reply_offers_a_retry(
    chromium: Any, tmp_path: Path, online_env: dict[str, str], llm: Any
) -> None:
    llm.configure(fail_status=500, fail_count=10, replies=["Pronto, agora foi."])
    settings = Settings(config_path=SQUAD_YAML, database_url=None, data_dir=tmp_path)
    with live_server(create_app(settings, environ=online_env)) as url:
        page = chromium.new_page()
        page.goto(url)
        page.wait_for_selector("body[data-ready=true]")
        page.fill("#message", "@max uma ideia de post?")
        page.keyboard.press("Enter")
        retry = page.wait_for_selector(".msg.assistant .error .retry")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "web_retry.png"))
        llm.configure(fail_status=None, fail_count=1)
        retry.click()
        page.wait_for_selector(".msg.assistant:not(.streaming):not(.failed) .body p")
        assert "Pronto, agora foi." in page.locator(".msg.assistant").last.inner_text()


def test_an_offline_reply_is_marked(chromium: Any, tmp_path: Path) -> None:
    settings = Settings(config_path=SQUAD_YAML, database_url=None, data_dir=tmp_path)
    with live_server(create_app(settings, environ={})) as url:  # no model: offline mode
        page = chromium.new_page()
        page.goto(url)
        page.wait_for_selector("body[data-ready=true]")
        page.fill("#message", "@lia quantos dias de férias a funcionária tem?")
        page.keyboard.press("Enter")
        note = page.wait_for_selector(".msg.assistant .note.offline")
        assert "modo offline" in note.inner_text()
        assert page.locator(".msg.assistant .badge").inner_text() == "Lia · Pessoas"
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "web_offline.png"))
