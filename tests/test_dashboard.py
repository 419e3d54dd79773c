"""The metrics dashboard (`/admin/dashboard`) in headless Chromium (Debian's, via Playwright),
against a real server whose turns were answered by the stub LLM: the charts are drawn from
those turns, the page signs in like the admin page, and nothing is loaded from another origin.

The screenshot goes to tests/artifacts/dashboard.png (docs/dashboard.png is a reviewed copy).
Skipped without /usr/bin/chromium, except under CI.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from conftest import ADMIN_HEADERS, ADMIN_TOKEN, REPO_ROOT, copy_squad
from live_server import live_server

from checkpointing import open_stores
from checkpointing.sql import utcnow
from checkpointing.turn_log import TurnLog, TurnRow, to_micros
from core.settings import Settings
from server.admin_routes import start_of_day
from server.app import create_app

# Under tests/artifacts (ignored): a test run never rewrites a tracked file; docs/dashboard.png
# is a copy of one, looked at and committed by hand.
SCREENSHOT = REPO_ROOT / "tests" / "artifacts" / "dashboard.png"
# Real turns, each routed differently: a mention, the rules, and whatever the router makes of
# the third; two for Lia.
QUESTIONS = [
    "@lia quantos dias de férias a funcionária tem?",
    "@lia como calculo o décimo terceiro de um funcionário?",
    "registrar despesa de R$ 120,00 com gás hoje",
    "me ajuda com um post pro dia dos pais",
]


SEED_LATENCY_MS = 2000  # above any real turn here, so the real ones can be told apart


def history(at: datetime, agent: str, n: int, latency_ms: int, brl: str, layer: str) -> list[Any]:
    """Rows from before today (the real turns are all today's): the charts then have more
    than one bar, and the latency chart more than one point, to draw."""
    return [
        TurnRow(at, "seeded", None, "web", agent, layer, "default", False,
                latency_ms + 37 * k, None, 900, 120, 0, to_micros(brl), None)
        for k in range(n)
    ]  # fmt: skip


def seeded_rows() -> list[Any]:
    now = utcnow()
    rows = []
    for days_back in range(1, 7):
        at = now - timedelta(days=days_back)
        rows += history(at, "leo", 3 + days_back, SEED_LATENCY_MS, "0.004100", "rules")
        rows += history(at, "lia", 2 + days_back % 3, SEED_LATENCY_MS + 500, "0.0063", "semantic")
        rows += history(at, "max", 1 + days_back % 2, SEED_LATENCY_MS, "0.002900", "fallback")
    # The last 24 hours, but only before today began in São Paulo (today's turns are real).
    for half_hours_back in range(2, 48):
        at = now - timedelta(minutes=30 * half_hours_back)
        if at < start_of_day(now):
            ms = SEED_LATENCY_MS + 25 * half_hours_back
            rows += history(at, "leo", 2, ms, "0.0041", "rules")
    return rows


async def seed(settings: Settings) -> None:
    async with open_stores(settings) as stores:
        log = TurnLog(stores.db)
        for row in seeded_rows():
            log.record(row)
        await log.flush()


@pytest.fixture(scope="module")
def server(
    chromium: Any, stub_server: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """A server (SQLite, admin on) with a latency rule low enough that the real turns fire it,
    six earlier days of rows, and today's real turns."""
    folder = tmp_path_factory.mktemp("dashboard")
    squad = copy_squad(
        folder,
        {
            "interval_s: 30 ": "interval_s: 0.2 ",
            '{id: latency_p95, kind: latency_p95, threshold: "3", window_s: 300, min_turns: 5}': (
                '{id: latency_p95, kind: latency_p95, threshold: "0.05", window_s: 3600, '
                "min_turns: 1}"
            ),
        },
    )
    settings = Settings(
        config_path=squad, database_url=None, data_dir=folder / "data", admin_token=ADMIN_TOKEN
    )
    # In a thread of its own: Playwright's sync API keeps an event loop running in this one.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, seed(settings)).result()
    stub_server.reset()
    stub_server.configure(first_token_ms=120, default_reply="Certo, veja os passos abaixo.")
    environ = {
        "OPENAI_API_KEY": "test-key",
        "OPENAI_BASE_URL": stub_server.url,
        "ESQUADRA_MODEL": "stub-1",
    }
    with live_server(create_app(settings, environ=environ)) as url:
        dones = []
        for question in QUESTIONS:
            reply = httpx.post(
                f"{url}/v1/chat",
                json={"message": question},
                headers={"Accept": "application/json"},
                timeout=60,
            )
            assert reply.status_code == 200, reply.text
            dones.append(reply.json())
        stub_server.reset()
        yield {"url": url, "dones": dones}


@pytest.fixture
def page(chromium: Any, server: dict[str, Any]) -> Iterator[Any]:
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="pt-BR")
    page = context.new_page()
    page.goto(f"{server['url']}/admin/dashboard")
    page.wait_for_selector("body[data-ready=true]")
    try:
        yield page
    finally:
        context.close()


def sign_in(page: Any, token: str = ADMIN_TOKEN) -> None:
    page.fill("#token", token)
    page.click("#sign-in-button")


def chart(page: Any, name: str) -> dict[str, Any]:
    """What Chart.js drew on `#chart-<name>`: labels and each dataset's label and values."""
    return page.evaluate(
        """(name) => {
            const c = window.Chart.getChart(document.getElementById(`chart-${name}`));
            return c && {labels: c.data.labels,
                         datasets: c.data.datasets.map(d => ({label: d.label, data: d.data}))};
        }""",
        name,
    )


def today_total(drawn: dict[str, Any]) -> float:
    return sum(dataset["data"][-1] for dataset in drawn["datasets"])


def test_the_charts_are_drawn_from_the_real_turns(page: Any, server: dict[str, Any]) -> None:
    sign_in(page)
    page.wait_for_selector("#app[data-loaded]")
    latency = chart(page, "latency")
    p95 = [v for v in next(d for d in latency["datasets"] if d["label"] == "p95")["data"] if v]
    assert len(latency["labels"]) == 48  # 24 hours in 30-minute buckets, empty ones too
    assert 120 <= p95[-1] < SEED_LATENCY_MS  # today's real turns, after the stub's first token
    volume = chart(page, "volume")
    assert len(volume["labels"]) == 14 and today_total(volume) == len(QUESTIONS)
    assert sum(sum(d["data"]) for d in volume["datasets"]) > len(QUESTIONS)  # earlier days too
    cost = chart(page, "cost")
    expected = sum(float(done["cost"]["brl"]) for done in server["dones"])
    assert today_total(cost) == pytest.approx(expected, abs=1e-6) and expected > 0
    layers = {d["label"]: d["data"][-1] for d in chart(page, "layers")["datasets"]}
    assert layers["menção (@agente)"] == 2 and sum(layers.values()) == len(QUESTIONS)
    assert page.inner_text("#s-turns") == str(len(QUESTIONS))


def test_the_alerts_panel_shows_the_rule_the_turns_fired(page: Any) -> None:
    sign_in(page)
    row = page.wait_for_selector('#alerts tr[data-rule="latency_p95"]')
    assert "ativo" in row.inner_text() and "Latência p95" in row.inner_text()
    assert page.inner_text("#s-alerts") == "1"
    assert "alarm" in (page.get_attribute("#s-alerts-box", "class") or "")
    assert "sem webhook" in row.inner_text()


def test_a_wrong_token_is_refused_and_nothing_is_shown(page: Any) -> None:
    sign_in(page, "not-the-admin-token-at-all")
    error = page.wait_for_selector("#sign-in-error:not([hidden])")
    assert "Token inválido" in error.inner_text()
    assert page.locator("#app").is_hidden()
    assert page.evaluate("() => sessionStorage.length") == 0


def test_signing_in_on_the_admin_page_opens_the_dashboard_too(
    chromium: Any, server: dict[str, Any]
) -> None:
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="pt-BR")
    try:
        page = context.new_page()
        page.goto(f"{server['url']}/admin")
        page.fill("#token", ADMIN_TOKEN)
        page.click("#sign-in-button")
        page.wait_for_selector("#agents .card")
        page.goto(f"{server['url']}/admin/dashboard")
        page.wait_for_selector("#app[data-loaded]")
        assert page.locator("#sign-in").is_hidden()
    finally:
        context.close()


def test_nothing_comes_from_another_origin_and_the_screenshot_is_kept(
    chromium: Any, server: dict[str, Any]
) -> None:
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="pt-BR")
    requested: list[str] = []
    problems: list[str] = []
    try:
        page = context.new_page()
        page.on("request", lambda request: requested.append(request.url))
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        page.goto(f"{server['url']}/admin/dashboard")
        page.wait_for_selector("body[data-ready=true]")
        sign_in(page)
        page.wait_for_selector("#app[data-loaded]")
        page.wait_for_selector('#alerts tr[data-rule="latency_p95"]')
        SCREENSHOT.parent.mkdir(exist_ok=True)
        SCREENSHOT.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)
    finally:
        context.close()
    others = [url for url in requested if not url.startswith(server["url"])]
    assert others == [] and "/static/vendor/chart.umd.min.js" in " ".join(requested)
    assert problems == []  # no CSP refusal, no script error


def test_the_timeseries_api_needs_the_admin_token(server: dict[str, Any]) -> None:
    url = f"{server['url']}/admin/api/metrics/timeseries"
    assert httpx.get(url, timeout=30).status_code == 401
    reply = httpx.get(url, params={"days": 1, "hours": 1}, headers=ADMIN_HEADERS, timeout=30)
    assert reply.status_code == 200
    assert sum(row["turns"] for row in reply.json()["days"]) == len(QUESTIONS)
    assert sum(point["turns"] for point in reply.json()["latency"]["points"]) == len(QUESTIONS)


def test_bad_parameters_are_a_400_not_a_500(server: dict[str, Any]) -> None:
    url = f"{server['url']}/admin/api/metrics/timeseries"
    reply = httpx.get(url, params={"hours": 0}, headers=ADMIN_HEADERS, timeout=30)
    assert reply.status_code == 400 and "code" in reply.json()
