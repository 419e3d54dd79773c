"""`/metrics`: Prometheus text, route templates and bounded labels, turn figures observed once
per turn, and one consistent view under `esquadra serve --workers 2` (prometheus_client's
multiprocess mode, in a directory `serve` makes for the run and removes at the end)."""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import ADMIN_HEADERS, ADMIN_TOKEN, REDIS_TEST_URL, chat, memory_settings, parse_sse
from litestar.testing import AsyncTestClient
from prometheus_client.parser import text_string_to_metric_families
from server_process import ServerProcess

from server.app import create_app


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the exposition: (name, sorted labels) → value."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


def total(text: str, name: str) -> float:
    return sum(v for (n, _), v in samples(text).items() if n == name)


@pytest.fixture
async def online(online_env: dict[str, str]) -> AsyncIterator[Any]:
    async with AsyncTestClient(app=create_app(memory_settings(), environ=online_env)) as client:
        yield client


async def test_requests_are_counted_by_route_template_not_path(offline_client: Any) -> None:
    for thread in ("a-1", "b-2", "c-3"):
        assert (await offline_client.get(f"/v1/threads/{thread}")).status_code == 404
    text = (await offline_client.get("/metrics")).text
    route = "/v1/threads/{thread_id}"
    assert value(text, "esquadra_http_requests_total", route=route, method="GET", status="404") == 3
    assert "a-1" not in text


async def test_metrics_are_open_like_healthz() -> None:
    settings = memory_settings(api_key="k" * 32)
    async with AsyncTestClient(app=create_app(settings, environ={})) as client:
        assert (await client.get("/v1/threads/x")).status_code == 401
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")


async def test_a_turn_is_observed_once_with_its_tokens_and_cost(online: Any, llm: Any) -> None:
    events = await chat(online, message="@lia como calculo as férias?", thread_id="m-1")
    done = events[-1][1]
    text = (await online.get("/metrics")).text
    assert value(text, "esquadra_turn_seconds_count", agent="lia") == 1
    assert value(text, "esquadra_turn_ttft_seconds_count", agent="lia") == 1
    assert value(text, "esquadra_turns_total", agent="lia", layer="mention") == 1
    assert value(text, "esquadra_routing_seconds_count", layer="mention") == 1
    tokens = {
        direction: value(
            text, "esquadra_model_tokens_total", agent="lia", kind="agent", direction=direction
        )
        for direction in ("input", "output")
    }
    assert tokens == {
        "input": done["usage"]["input_tokens"],
        "output": done["usage"]["output_tokens"],
    }
    cost = value(text, "esquadra_model_cost_brl_total", agent="lia", kind="agent")
    assert cost == pytest.approx(float(done["cost"]["brl"]))
    assert value(text, "esquadra_active_streams") == 0
    assert value(text, "esquadra_gate_wait_seconds_count", channel="api") == 1


async def test_a_live_redis_is_not_degraded(tmp_path: Path, redis_url: str) -> None:
    settings = memory_settings(redis_url=redis_url, data_dir=tmp_path)
    async with AsyncTestClient(app=create_app(settings, environ={})) as client:
        await chat(client, message="@max uma ideia de post", user_id="u-redis-ok")
        text = (await client.get("/metrics")).text
    assert value(text, "esquadra_redis_degraded") == 0


async def test_a_dead_redis_shows_as_degraded(tmp_path: Path) -> None:
    settings = memory_settings(redis_url="redis://127.0.0.1:1/0", data_dir=tmp_path)
    async with AsyncTestClient(app=create_app(settings, environ={})) as client:
        events = await chat(client, message="@max uma ideia de post", user_id="u-redis")
        after = (await client.get("/metrics")).text
    assert events[-1][0] == "done"  # the chat answers from its fallbacks
    # (Noticed at the first Redis call: the alert evaluator's lease may make it at start.)
    assert value(after, "esquadra_redis_degraded") == 1


async def test_turn_errors_are_counted_by_code(online: Any, llm: Any) -> None:
    llm.configure(fail_status=400)  # final at once: no retry
    response = await online.post("/v1/chat", json={"message": "@leo meu saldo?"})
    kind, error = parse_sse(response.text)[-1]
    assert kind == "error"
    code = error["code"]
    text = (await online.get("/metrics")).text
    assert value(text, "esquadra_turn_errors_total", code=code) == 1
    assert value(text, "esquadra_turn_seconds_count", agent="leo") == 0


async def test_trace_export_problems_reach_the_metrics(offline_client: Any) -> None:
    from core.trace_health import export_problems, record_export_problem

    before = (await offline_client.get("/metrics")).text
    lost = value(before, "esquadra_trace_runs_lost_total", kind="dropped")
    assert lost == 0 or export_problems()["dropped"]  # other tests may have dropped some
    record_export_problem("dropped", 3)
    after = (await offline_client.get("/metrics")).text
    assert value(after, "esquadra_trace_runs_lost_total", kind="dropped") == lost + 3


# ---- two workers: one consistent view


@pytest.fixture(scope="module")
def metrics_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("metrics-run")


@pytest.fixture(scope="module")
def two_workers(postgres_url: str, metrics_tmp: Path) -> Iterator[ServerProcess]:
    """`esquadra serve --workers 2` on Postgres and Redis, offline; its temporary files (the
    metrics directory) under `metrics_tmp`."""
    from conftest import require_service

    require_service("Redis", "127.0.0.1", 6379)
    env = {
        "DATABASE_URL": postgres_url,
        "REDIS_URL": REDIS_TEST_URL,
        "ESQUADRA_REDIS_PREFIX": f"esquadra-test-{uuid.uuid4().hex[:8]}:",
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "OPENAI_API_KEY": "",
        "ESQUADRA_OFFLINE": "1",
        "TMPDIR": str(metrics_tmp),
    }
    with ServerProcess(env, workers=2) as process:
        yield process


def _per_worker(url: str) -> dict[int, httpx.Client]:
    """One kept-alive connection to each worker, by pid (a connection stays on its worker)."""
    held: dict[int, httpx.Client] = {}
    deadline = time.monotonic() + 90
    while len(held) < 2 and time.monotonic() < deadline:
        client = httpx.Client(base_url=url, headers=ADMIN_HEADERS, timeout=30)
        pid = client.get("/admin/api/status").json()["pid"]
        if pid in held:
            client.close()
            time.sleep(0.1)
        else:
            held[pid] = client
    assert len(held) == 2, "every connection landed on one worker"
    return held


def test_two_workers_count_every_request_once(two_workers: ServerProcess) -> None:
    workers = _per_worker(two_workers.url)
    sent = 0
    for round_ in range(6):
        for pid, client in workers.items():
            response = client.post(
                "/v1/chat",
                json={"message": f"@max ideia {round_}", "thread_id": f"w{pid}-{round_}"},
            )
            assert response.status_code == 200 and "event: done" in response.text
            sent += 1
    scrapes = [client.get("/metrics").text for client in workers.values()]
    scrapes += [httpx.get(f"{two_workers.url}/metrics").text for _ in range(4)]
    for client in workers.values():
        client.close()
    counted = [
        value(text, "esquadra_http_requests_total", route="/v1/chat", method="POST", status="200")
        for text in scrapes
    ]
    turns = [value(text, "esquadra_turn_seconds_count", agent="max") for text in scrapes]
    assert counted == [sent] * len(scrapes)
    assert turns == [sent] * len(scrapes)
    assert [value(text, "esquadra_active_streams") for text in scrapes] == [0] * len(scrapes)


def test_the_run_s_metrics_directory_is_removed_at_exit(
    two_workers: ServerProcess, metrics_tmp: Path
) -> None:
    made = list(metrics_tmp.glob("esquadra-metrics-*"))
    assert len(made) == 1 and list(made[0].glob("*.db")), "each worker writes its own files"
    two_workers.kill(signal.SIGTERM)
    assert not made[0].exists()
