"""Whatever a client sends, the API answers JSON `{code, message}` and never a 5xx (real uvicorn).

Property-based over bodies, raw bytes and path ids; `tests/test_schemathesis.py` covers every
operation from the OpenAPI schema.
"""

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
from server.schemas import MAX_JSON_DEPTH, json_depth_exceeds

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


ID_ROUTES = [
    ("GET", "/v1/threads/{}"),
    ("GET", "/v1/users/{}"),
    ("POST", "/v1/users/{}/link-codes"),
    ("GET", "/v1/users/{}/memory"),
    ("DELETE", "/v1/users/{}/memory/{}"),
]


@SETTINGS
@given(
    route=st.sampled_from(ID_ROUTES),
    ids=st.lists(st.text(min_size=1, max_size=60), min_size=2, max_size=2),
)
def test_any_id_in_a_path_never_fails(http: httpx.Client, route: Any, ids: list[str]) -> None:
    method, template = route
    path = template.format(*(quote(i, safe="") for i in ids))
    assert_clean(http.request(method, path))


# -- JSON nested too deep: msgspec's untyped decode recursed ~1,000 levels into a RecursionError --


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/chat", f'{{"message": {nested(1000)}}}'),
        ("/v1/classify", nested(1000)),
        ("/v1/link", f'{{"channel": "web", "sender_id": "x", "code": {nested(5000)}}}'),
    ],
    ids=["chat", "classify", "link"],
)
def test_json_nested_too_deep_is_invalid_json(http: httpx.Client, path: str, body: str) -> None:
    response = http.post(path, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "invalid_json"


def test_brackets_inside_strings_are_not_nesting(http: httpx.Client) -> None:
    message = "[" * 200 + '{"a": "\\"}' + "{" * 200
    response = http.post("/v1/classify", json={"text": message})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("body", "too_deep"),
    [
        (b'{"history": [{"role": "user", "content": "oi"}]}', False),
        (nested(MAX_JSON_DEPTH).encode(), False),
        (nested(MAX_JSON_DEPTH + 1).encode(), True),
        (b'"' + b"[" * 100 + b'"', False),
        (rb'["\\"' + b", []" * 100 + b"]", False),  # an escaped backslash ends its string
        (rb'["\"' + b"[" * 100 + b'"]', False),  # an escaped quote does not end the string
        (b"[" * 100, True),  # unbalanced: still refused before decoding
    ],
)
def test_json_depth_scan(body: bytes, too_deep: bool) -> None:
    assert json_depth_exceeds(body) is too_deep
