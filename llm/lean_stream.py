"""A streamed chat completion read straight off aiohttp: the squad's hot path to the model.

Under load the OpenAI SDK's per-request machinery (parameter transform, request building,
auth and retry wrappers) and its per-chunk SSE decoding were a sixth of the worker's CPU per
reply. The happy path — `POST /chat/completions`, 200, `data:` lines — is short enough to do
here; everything else stays the SDK's: a request the fast path cannot take (extra headers,
query or body, structured output) goes to the SDK, and so does any attempt that fails before
the reply starts (non-200, refused connection, timeout), so retries, backoff and the SDK's
typed errors are exactly the SDK's. Failures after the reply started surface as the SDK's
exception types (`APIConnectionError`, `APITimeoutError`, `APIError`), as the SDK would.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httpx2
import openai

# Keys ChatOpenAI may pass that are request options, not body fields; any of them → the SDK.
_SDK_ONLY = frozenset({"extra_headers", "extra_query", "extra_body", "response_format"})


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
    """Opens chat streams for one client (base URL, key, timeout) on the shared session."""

    def __init__(
        self, client: openai.AsyncOpenAI, timeout_s: float, session: SharedSession
    ) -> None:
        self._url = str(client.base_url).rstrip("/") + "/chat/completions"
        self._headers = {
            "Authorization": f"Bearer {client.api_key}",
            "Content-Type": "application/json",
            "Accept": "text/event-stream",
        }
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=timeout_s, sock_connect=timeout_s, sock_read=timeout_s
        )
        self._session = session

    def takes(self, params: dict[str, Any]) -> bool:
        """Whether the fast path can send this request as is."""
        return bool(params.get("stream")) and _SDK_ONLY.isdisjoint(params)

    async def open(self, params: dict[str, Any]) -> LeanStream | None:
        """The open stream, or None when the attempt failed before the reply started."""
        body = {key: value for key, value in params.items() if key != "timeout"}
        try:
            response = await self._session.get().post(
                self._url, data=json.dumps(body), headers=self._headers, timeout=self._timeout
            )
        except (aiohttp.ClientError, TimeoutError):
            return None
        if response.status != 200:
            response.release()
            return None
        return LeanStream(response, httpx2.Request("POST", self._url))


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
        loads = json.loads
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
