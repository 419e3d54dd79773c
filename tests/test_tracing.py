"""LangSmith traces (server/tracing.py) against a local receiver (fakes/langsmith_receiver.py):
one trace per turn with its metadata, personal data masked in every byte sent, and a chat that
answers just as fast with the receiver down."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from conftest import memory_settings, parse_sse

from core.trace_health import export_problems
from fakes.serving import bind

CPF = "529.982.247-25"
CNPJ = "11.222.333/0001-81"
PHONE = "(11) 98765-4321"
USER = "5511987654321"  # a WhatsApp-style sender id: a phone number
SALT = "test-trace-salt-0123456789"
RAW = (CPF, "52998224725", CNPJ, "11222333000181", PHONE, "98765-4321", "987654321", USER)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Any]:
    from fakes.langsmith_receiver import run_langsmith_receiver

    with run_langsmith_receiver() as server:
        yield server


async def _client(endpoint: str, online_env: dict[str, str]) -> Any:
    from litestar.testing import AsyncTestClient

    from server.app import create_app

    settings = memory_settings(langsmith_tracing=True, langsmith_endpoint=endpoint, trace_salt=SALT)
    return AsyncTestClient(app=create_app(settings, environ=online_env))


@pytest.fixture
async def traced(receiver: Any, online_env: dict[str, str]) -> AsyncIterator[Any]:
    """The app (stub LLM) tracing to the receiver, which starts empty."""
    receiver.reset()
    async with await _client(receiver.url, online_env) as client:
        yield client


async def _turn(client: Any, message: str, thread_id: str) -> dict[str, Any]:
    response = await client.post(
        "/v1/chat", json={"message": message, "thread_id": thread_id, "user_id": USER}
    )
    assert response.status_code == 200, response.text
    events = parse_sse(response.text)
    assert events[-1][0] == "done", events[-1]
    reply = "".join(data["text"] for kind, data in events if kind == "token")
    return {"route": events[0][1], "done": events[-1][1], "reply": reply}


def _ended(receiver: Any, count: int) -> bool:
    """`count` root runs have ended (their patch arrived)."""
    return sum(1 for root in receiver.roots() if root.get("end_time")) >= count


async def test_each_turn_is_one_trace_with_its_metadata(traced: Any, receiver: Any) -> None:
    thread = f"t-{uuid.uuid4().hex[:8]}"
    turns = [
        await _turn(traced, "Registre receita de R$ 1.500 da venda de hoje", thread),
        await _turn(traced, "como faço o cálculo das férias da funcionária?", thread),
    ]
    await receiver.wait_for(lambda r: _ended(r, 2))
    roots = sorted(receiver.roots(), key=lambda run: run["start_time"])
    assert [root["name"] for root in roots] == ["esquadra.turn", "esquadra.turn"]
    for root, turn in zip(roots, turns, strict=True):
        metadata = root["extra"]["metadata"]
        assert metadata["thread_id"] == thread
        assert metadata["channel"] == "api"
        assert metadata["agent"] == turn["done"]["agent"]
        assert metadata["layer"] == turn["route"]["layer"]
        assert metadata["confidence"] == pytest.approx(turn["route"]["confidence"])
        assert {f"agent:{turn['done']['agent']}", f"layer:{turn['route']['layer']}"} <= set(
            root["tags"]
        )
        assert root["outputs"] == {"reply": turn["reply"], "agent": turn["done"]["agent"]}
    # The user id is a salted pseudonym, the same in both traces.
    hashed = {root["extra"]["metadata"]["user_id"] for root in roots}
    assert len(hashed) == 1 and USER not in hashed.pop()


async def test_the_classifier_and_the_agent_run_inside_the_turn(traced: Any, receiver: Any) -> None:
    turn = await _turn(traced, "Registre receita de R$ 1.500 da venda de hoje", "t-inside")
    await receiver.wait_for(lambda r: _ended(r, 1))
    (root,) = receiver.roots()
    runs = receiver.trace(root["trace_id"])
    names = {run["name"] for run in runs}
    assert {"classify", turn["done"]["agent"]} <= names
    assert any(run.get("run_type") == "llm" for run in runs)  # the agent's model call
    # Every run of the process belongs to this one trace, and nests under its root.
    assert len(runs) == len(receiver.runs())
    assert all(run.get("parent_run_id") for run in runs if run["id"] != root["id"])


async def test_no_internal_key_and_no_raw_user_id_is_sent(traced: Any, receiver: Any) -> None:
    await _turn(traced, "oi, tudo bem?", "t-internal")
    await receiver.wait_for(lambda r: _ended(r, 1))
    raw = receiver.raw()
    assert b"esquadra_fence" not in raw
    assert USER.encode() not in raw
    # LangGraph copies the config's metadata into every run: each carries the pseudonym.
    user_ids = {run["extra"]["metadata"].get("user_id") for run in receiver.runs().values()}
    assert len(user_ids) == 1 and user_ids.pop().startswith("u")


async def test_the_checkpoint_keeps_the_real_user_id(traced: Any, receiver: Any) -> None:
    await _turn(traced, "oi", "t-owner")
    service = traced.app.state.chat
    owner = await asyncio.to_thread(traced.blocking_portal.call, service.thread_owner, "t-owner")
    assert owner == USER


async def test_personal_data_reaches_the_receiver_masked_everywhere(
    traced: Any, receiver: Any, llm: Any
) -> None:
    # The model repeats it too: outputs, the model run and the root's reply are checked.
    llm.stub.config.replies = [f"Anotei: CPF {CPF}, CNPJ {CNPJ}, telefone {PHONE}."]
    message = f"Meu CPF é {CPF}, o CNPJ da padaria é {CNPJ} e o telefone {PHONE}"
    turn = await _turn(traced, message, "t-pii")
    assert CPF in turn["reply"]  # the user still gets the real reply
    await receiver.wait_for(lambda r: _ended(r, 1))
    raw = receiver.raw().decode("utf-8", errors="replace")
    for value in RAW:
        assert value not in raw, f"{value} reached LangSmith"
    (root,) = receiver.roots()
    assert root["inputs"]["message"] == (
        "Meu CPF é <cpf>, o CNPJ da padaria é <cnpj> e o telefone <phone>"
    )
    assert root["outputs"]["reply"] == "Anotei: CPF <cpf>, CNPJ <cnpj>, telefone <phone>."


def _closed_port() -> str:
    sock = bind()
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now: connections are refused
    return f"http://127.0.0.1:{port}"


async def test_the_chat_answers_fast_with_the_receiver_down(online_env: dict[str, str]) -> None:
    failed_before = export_problems().get("failed", 0)
    async with await _client(_closed_port(), online_env) as client:
        await _turn(client, "oi", "t-warm")  # first-turn costs (model client, routing) apart
        started = time.perf_counter()
        for n in range(5):
            await _turn(client, "Registre receita de R$ 1.500 da venda de hoje", f"t-down-{n}")
        per_turn_s = (time.perf_counter() - started) / 5
        # The SDK's sender, in its own thread, fails and says so: counted, not raised.
        deadline = time.monotonic() + 20
        while export_problems().get("failed", 0) == failed_before:
            assert time.monotonic() < deadline, "no export failure was counted"
            await asyncio.sleep(0.1)
    assert per_turn_s < 1.0, f"{per_turn_s:.3f} s per turn with LangSmith down"


async def test_a_backed_up_sender_drops_whole_traces_and_counts_them(
    traced: Any, receiver: Any
) -> None:
    traced.app.state.chat.tracer.max_queued = 0  # as if the queue were full
    dropped_before = export_problems().get("dropped", 0)
    turn = await _turn(traced, "oi", "t-dropped")
    assert turn["reply"]
    assert export_problems()["dropped"] == dropped_before + 1
    await asyncio.sleep(0.5)  # the SDK's sender runs every few ms: nothing comes
    assert receiver.roots() == []


def test_the_scrubber_masks_nested_strings_and_hashes_user_ids() -> None:
    from server.tracing import trace_scrubber

    scrub = trace_scrubber(b"salt")
    data = {
        "messages": [[{"kwargs": {"content": f"cpf {CPF}", "deep": {"x": [[PHONE]]}}}]],
        "user_id": USER,
        "esquadra_fence": 7,
        "count": 3,
    }
    clean = scrub(json.loads(json.dumps(data)))
    assert clean["messages"][0][0]["kwargs"] == {
        "content": "cpf <cpf>",
        "deep": {"x": [["<phone>"]]},
    }
    assert clean["user_id"] == scrub({"user_id": USER})["user_id"] != USER
    assert "esquadra_fence" not in clean and clean["count"] == 3


async def test_with_tracing_off_the_library_sends_nothing_of_its_own(
    receiver: Any, online_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An operator's leftover `LANGCHAIN_TRACING_V2=true` would make LangChain trace every run
    with a default client, unmasked; the app switches that off whatever the environment says."""
    import langsmith
    from langchain_core.runnables import RunnableLambda
    from langsmith.utils import get_env_var
    from litestar.testing import AsyncTestClient

    from server.app import create_app

    receiver.reset()
    monkeypatch.setenv("LANGCHAIN_TRACING_V2", "true")
    get_env_var.cache_clear()  # the SDK caches the environment it read
    langsmith.configure(client=langsmith.Client(api_url=receiver.url, api_key="k"), enabled=None)
    try:
        # The control: as the environment stands, LangChain alone does trace.
        await RunnableLambda(lambda text: text.upper()).ainvoke("cpf " + CPF)
        await receiver.wait_for(lambda r: len(r.roots()) == 1)
        receiver.reset()
        app = create_app(memory_settings(), environ=online_env)  # LANGSMITH_TRACING unset
        async with AsyncTestClient(app=app) as client:
            await _turn(client, f"meu cpf é {CPF}", "t-untraced")
            await RunnableLambda(lambda text: text.upper()).ainvoke("cpf " + CPF)
        await asyncio.sleep(0.5)
        assert receiver.bodies == []
    finally:
        langsmith.configure(client=None, enabled=False)
        monkeypatch.delenv("LANGCHAIN_TRACING_V2")
        get_env_var.cache_clear()
