"""POST /v1/classify: the router over HTTP, off the event loop, never an inactive agent."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from conftest import SQUAD_YAML, copy_squad
from litestar.testing import AsyncTestClient

from core.embeddings import Embedder
from core.settings import Settings
from server.app import create_app


def app_for(config: Path = SQUAD_YAML) -> Any:
    return create_app(Settings(config_path=config, database_url="memory"), environ={})


@pytest.fixture(scope="module")
async def client() -> AsyncIterator[AsyncTestClient]:
    async with AsyncTestClient(app=app_for()) as test_client:
        yield test_client


async def test_classify_returns_agent_layer_confidence_candidates(client: AsyncTestClient) -> None:
    response = await client.post("/v1/classify", json={"text": "estagiaria pode fazer 8h?"})
    body = response.json()
    assert response.status_code == 200
    assert body["agent"] == "lia" and body["layer"] == "semantic"
    assert 0 < body["confidence"] <= 1
    assert body["candidates"][0]["agent"] == "lia"
    assert {c["agent"] for c in body["candidates"]} == {"leo", "max", "lia"}
    assert body["latency_ms"] > 0


async def test_history_makes_a_followup_stay(client: AsyncTestClient) -> None:
    history = [
        {"role": "user", "content": "me da 3 ideias de post pro dia dos pais"},
        {"role": "assistant", "content": "1) Kit 2) Sorteio 3) Foto com o pai", "agent": "max"},
    ]
    body = (
        await client.post("/v1/classify", json={"text": "gostei da 2", "history": history})
    ).json()
    assert body["agent"] == "max" and body["layer"] == "followup"


async def test_thread_id_uses_the_stored_conversation(client: AsyncTestClient) -> None:
    await client.post("/v1/chat", json={"message": "qual meu saldo esse mes?", "thread_id": "c-1"})
    body = (
        await client.post("/v1/classify", json={"text": "e o mes passado?", "thread_id": "c-1"})
    ).json()
    assert body["agent"] == "leo" and body["layer"] == "followup"


@pytest.mark.parametrize(
    "payload",
    [
        {"text": ""},
        {"text": "   "},
        {"text": "a" * 8001},
        {"text": 42},
        {"history": []},
        {"text": "oi", "history": [{"role": "system", "content": "x"}]},
        {"text": "oi", "history": "nada"},
        {"text": "oi", "thread_id": "com espaço"},
    ],
)
async def test_bad_classify_input_is_a_4xx_with_code(
    client: AsyncTestClient, payload: dict[str, Any]
) -> None:
    response = await client.post("/v1/classify", json=payload)
    assert 400 <= response.status_code < 500
    assert {"code", "message"} <= set(response.json())


async def test_inactive_agent_is_never_returned(tmp_path: Path) -> None:
    config = copy_squad(tmp_path, {"- id: lia": "- id: lia\n    active: false"})
    async with AsyncTestClient(app=app_for(config)) as test_client:
        for text in ["estagiaria pode fazer 8h?", "@lia quanto e o 13?", "ferias da funcionaria"]:
            body = (await test_client.post("/v1/classify", json={"text": text})).json()
            assert body["agent"] != "lia"
            assert "lia" not in {c["agent"] for c in body["candidates"]}


async def test_embedding_runs_off_the_event_loop(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A slow embedding (0.5 s, blocking) must not delay a health check on the same server."""
    import json

    import httpx
    from live_server import live_server

    config = copy_squad(tmp_path)
    fitted = json.loads((tmp_path / "agents.routing.json").read_text(encoding="utf-8"))
    fitted["semantic"]["lexical_threshold"] = 1.01  # never skip the embedding stage
    (tmp_path / "agents.routing.json").write_text(json.dumps(fitted), encoding="utf-8")

    original = Embedder._query

    def slow_query(self: Embedder, texts: list[str]) -> Any:
        if any("loja 7" in text for text in texts):
            time.sleep(0.5)
        return original(self, texts)

    monkeypatch.setattr(Embedder, "_query", slow_query)
    with live_server(app_for(config)) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:

            async def finished(request: Any) -> float:
                (await request).raise_for_status()
                return time.perf_counter()

            classify = asyncio.create_task(
                finished(http.post("/v1/classify", json={"text": "o pix da loja 7 caiu?"}))
            )
            await asyncio.sleep(0.1)
            started = time.perf_counter()
            health_done = await finished(http.get("/healthz"))
            classify_done = await classify
    assert health_done < classify_done
    assert health_done - started < 0.3
