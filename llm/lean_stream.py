"""A streamed chat completion read straight off aiohttp: the squad's hot path to the model.

Under load the OpenAI SDK's per-request machinery (parameter transform, request building,
auth and retry wrappers) and its per-chunk SSE decoding were a sixth of the worker's CPU per
reply. The happy path — `POST /chat/completions`, 200, `data:` lines — is short enough to do
here. A request the fast path cannot take (extra headers, query or body, structured output)
goes to the SDK. The fast path's attempt is the SDK's first attempt: when it fails before the
reply starts, the error is the one the SDK would raise, and only if the SDK would retry it do
the SDK's retries follow, with the budget left (`max_retries - 1`) — never a new first attempt,
so a call sends at most `1 + max_retries` requests, as with the SDK alone. Failures after the
reply started surface as the SDK's exception types (`APIConnectionError`, `APITimeoutError`,
`APIError`), as the SDK would.

The retry decision, the first back-off and the status → exception mapping mirror private
methods of `openai`'s client (`_should_retry`, `_calculate_retry_timeout`,
`_make_status_error_from_response`); `tests/test_model_contracts.py` compares them.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import math
import random
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import httpx2
import openai
import orjson

# Keys ChatOpenAI may pass that are request options, not body fields; any of them → the SDK.
_SDK_ONLY = frozenset({"extra_headers", "extra_query", "extra_body", "response_format"})

# The SDK's retry constants (`openai._constants`): the first back-off, and the longest
# server-directed delay it honours.
INITIAL_RETRY_DELAY_S = 0.5
MAX_RETRY_AFTER_S = 120.0


class SharedSession:
    """One aiohttp session for every model of a squad, opened on first use, closed with it."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    def get(self) -> aiohttp.ClientSession:
        # Created inside the running loop: aiohttp binds a session to the loop it starts on.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300)
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()


class LeanStreams:
    """Opens chat streams for one client (base URL, key, timeout, retries) on the shared
    session; the client, with one retry fewer, sends the retries of a failed start."""

    def __init__(
        self, client: openai.AsyncOpenAI, timeout_s: float, session: SharedSession
    ) -> None:
        self._url = str(client.base_url).rstrip("/") + "/chat/completions"
        self._request = httpx2.Request("POST", self._url)
        self._headers = {
            "Authorization": f"Bearer {client.api_key}",
            "Content-Type": "application/json",
            "Accept": "text/event-stream",
        }
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=timeout_s, sock_connect=timeout_s, sock_read=timeout_s
        )
        self._session = session
        self._retries = (
            client.with_options(max_retries=client.max_retries - 1)
            if client.max_retries > 0
            else None
        )

    def takes(self, params: dict[str, Any]) -> bool:
        """Whether the fast path can send this request as is."""
        return bool(params.get("stream")) and _SDK_ONLY.isdisjoint(params)

    async def open(self, params: dict[str, Any]) -> Any:
        """The reply's stream of dict chunks (or, after a failed start, the SDK's stream).

        Raises the SDK's error when the first attempt failed and the SDK would not retry it.
        """
        body = {key: value for key, value in params.items() if key != "timeout"}
        headers: httpx2.Headers | None = None
        try:
            response = await self._session.get().post(
                # orjson: a 4–14 KB body (prompt, tool schemas) in 6 µs against the stdlib 90
                self._url,
                data=orjson.dumps(body),
                headers=self._headers,
                timeout=self._timeout,
            )
        except TimeoutError as err:
            failure, cause = openai.APITimeoutError(request=self._request), err
        except aiohttp.ClientError as err:
            failure, cause = openai.APIConnectionError(request=self._request), err
        else:
            if response.status == 200:
                return LeanStream(response, self._request)
            failed = await self._failed_response(response)
            failure, cause, headers = status_error(failed), None, failed.headers
            if not should_retry(failed):
                raise failure
        if self._retries is None:
            raise failure from cause
        await asyncio.sleep(first_retry_delay(headers))
        return await self._retries.chat.completions.create(**params)

    async def _failed_response(self, response: aiohttp.ClientResponse) -> httpx2.Response:
        """The non-200 reply as the SDK's response type, body read (it is short) and released."""
        try:
            content = await response.read()
        except (aiohttp.ClientError, TimeoutError):
            content = b""
        finally:
            response.release()
        return httpx2.Response(
            response.status,
            headers=list(response.headers.items()),
            content=content,
            request=self._request,
        )


_STATUS_ERRORS: Mapping[int, type[openai.APIStatusError]] = {
    400: openai.BadRequestError,
    401: openai.AuthenticationError,
    403: openai.PermissionDeniedError,
    404: openai.NotFoundError,
    409: openai.ConflictError,
    422: openai.UnprocessableEntityError,
    429: openai.RateLimitError,
}


def status_error(response: httpx2.Response) -> openai.APIStatusError:
    """The SDK's exception for a non-200 reply (`_make_status_error_from_response`)."""
    message = f"Error code: {response.status_code}"
    body: Any = response.text.strip()
    try:
        body = json.loads(body)
    except ValueError:
        pass
    else:
        error = body.get("error", body) if isinstance(body, Mapping) else None
        text = error.get("message") if isinstance(error, Mapping) else None
        if isinstance(text, str) and text:
            message += f" - {text}"
    data = body.get("error", body) if isinstance(body, Mapping) else body
    status = response.status_code
    kind = _STATUS_ERRORS.get(
        status, openai.InternalServerError if status >= 500 else openai.APIStatusError
    )
    return kind(message, response=response, body=data)


def should_retry(response: httpx2.Response) -> bool:
    """Whether the SDK retries this reply (`_should_retry`)."""
    retry_after = _retry_after_s(response.headers)
    if retry_after is not None and math.isfinite(retry_after) and retry_after > MAX_RETRY_AFTER_S:
        return False
    flag = response.headers.get("x-should-retry")
    if flag in ("true", "false"):
        return flag == "true"
    return response.status_code in (408, 409, 429) or response.status_code >= 500


def first_retry_delay(headers: httpx2.Headers | None) -> float:
    """The SDK's wait before its first retry (`_calculate_retry_timeout`)."""
    retry_after = _retry_after_s(headers)
    if (
        retry_after is not None
        and math.isfinite(retry_after)
        and 0 < retry_after <= MAX_RETRY_AFTER_S
    ):
        return retry_after
    return INITIAL_RETRY_DELAY_S * (1 - 0.25 * random.random())


def _retry_after_s(headers: httpx2.Headers | None) -> float | None:
    """`retry-after-ms`, else `retry-after` as seconds or a date (`_parse_retry_after_header`)."""
    if headers is None:
        return None
    for name, divisor in (("retry-after-ms", 1000), ("retry-after", 1)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            delay = float(value)
        except ValueError:
            continue
        if delay == math.inf and value.strip().lower() not in (
            "inf",
            "+inf",
            "infinity",
            "+infinity",
        ):
            return MAX_RETRY_AFTER_S + 1  # an overflowing number: too long, not malformed
        return delay / divisor
    try:
        date = email.utils.parsedate_tz(headers.get("retry-after"))  # type: ignore[arg-type]
        if date is None:
            return None
        return float(email.utils.mktime_tz(date) - time.time())
    except (TypeError, ValueError, OverflowError, OSError):
        return None


class LeanStream:
    """The chunks of one reply as dicts, like the SDK's stream with dict chunks."""

    def __init__(self, response: aiohttp.ClientResponse, request: httpx2.Request) -> None:
        self.response = response
        self._request = request

    async def __aenter__(self) -> LeanStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        self.response.close()

    async def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        try:
            async for data in self._events():
                if isinstance(data, dict) and data.get("error"):
                    error = data["error"]
                    message = error.get("message") if isinstance(error, dict) else None
                    raise openai.APIError(
                        message if isinstance(message, str) and message else "stream error",
                        self._request,
                        body=error,
                    )
                yield data
        except TimeoutError as err:
            raise openai.APITimeoutError(request=self._request) from err
        except ValueError as err:  # a chunk that is not JSON
            raise openai.APIError("invalid chunk", self._request, body=None) from err
        except aiohttp.ClientError as err:
            raise openai.APIConnectionError(request=self._request) from err
        finally:
            self.response.release()

    async def _events(self) -> AsyncIterator[Any]:
        """The JSON of each `data:` line, read by whatever the socket has (usually one event),
        not line by line; ends at `[DONE]`."""
        loads = orjson.loads  # raises a ValueError subclass, as json.loads does
        tail = b""
        async for block in self.response.content.iter_any():
            lines = (tail + block).split(b"\n")
            tail = lines.pop()  # an unfinished line waits for the next block
            for line in lines:
                if line.startswith(b"data:"):  # skip blank separators, comments, `event:`
                    payload = line[5:].strip()
                    if payload == b"[DONE]":
                        return
                    yield loads(payload)
        if tail.startswith(b"data:") and tail[5:].strip() not in (b"", b"[DONE]"):
            yield loads(tail[5:].strip())
