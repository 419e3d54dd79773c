"""Whatever a client sends, the API answers JSON and never a 5xx (property-based, real uvicorn)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from conftest import SQUAD_YAML
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from live_server import live_server

from core.settings import Settings
from server.app import create_app

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=50),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
chat_like = st.fixed_dictionaries(
    {},
    optional={
        "message": st.one_of(st.text(max_size=60), json_values),
        "thread_id": st.one_of(st.text(max_size=40), json_values),
        "user_id": st.one_of(st.text(max_size=20), json_values),
        "channel": st.one_of(st.sampled_from(["web", "whatsapp", "api", "sms"]), json_values),
    },
)
SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    app = create_app(Settings(config_path=SQUAD_YAML, database_url="memory"), environ={})
    with live_server(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield client


def assert_clean(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        body: Any = response.json()
        assert isinstance(body["code"], str) and isinstance(body["message"], str)


@SETTINGS
@given(body=st.one_of(chat_like, json_values))
def test_chat_never_fails_on_any_json(http: httpx.Client, body: Any) -> None:
    assert_clean(http.post("/v1/chat", json=body, headers={"Accept": "application/json"}))


@SETTINGS
@given(raw=st.binary(max_size=200))
def test_chat_never_fails_on_any_bytes(http: httpx.Client, raw: bytes) -> None:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    assert_clean(http.post("/v1/chat", content=raw, headers=headers))


@SETTINGS
@given(body=st.one_of(json_values, st.fixed_dictionaries({"text": json_values})))
def test_classify_never_fails_on_any_json(http: httpx.Client, body: Any) -> None:
    assert_clean(http.post("/v1/classify", json=body))


@SETTINGS
@given(thread=st.text(min_size=1, max_size=60))
def test_thread_lookup_never_fails(http: httpx.Client, thread: str) -> None:
    assert_clean(http.get(f"/v1/threads/{quote(thread, safe='')}"))
