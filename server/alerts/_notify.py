"""Alert notices to a webhook: Slack-compatible JSON `{"text": ...}`, over async httpx.

The URL is a secret (a Slack incoming webhook carries its token in the path): it is never
logged, and a failure is reported by its status or exception type only.
"""

from __future__ import annotations

import logging

import httpx

log = logging.getLogger("esquadra.alerts")


class NoticeFailed(Exception):
    """The webhook did not take the notice (its status or the transport error)."""


class WebhookNotifier:
    """POSTs one JSON body per notice; `aclose()` closes its connection pool."""

    def __init__(self, url: str, timeout_s: float) -> None:
        self.url = url
        self._client = httpx.AsyncClient(timeout=timeout_s, follow_redirects=False)

    async def send(self, text: str) -> None:
        try:
            response = await self._client.post(self.url, json={"text": text})
        except httpx.HTTPError as exc:
            raise NoticeFailed(type(exc).__name__) from None
        if not response.is_success:
            raise NoticeFailed(f"HTTP {response.status_code}")

    async def aclose(self) -> None:
        await self._client.aclose()
