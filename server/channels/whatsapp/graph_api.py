"""The Graph API's `/messages` endpoint: texts, templates and read receipts, with retries.

One `httpx.AsyncClient` for the service (opened and closed with it). A 429, a 5xx or a broken
connection is retried up to `attempts` times in all, waiting `Retry-After` when Meta sends one
and an exponential backoff otherwise; any other 4xx is final (a bad token or a closed window
will not fix itself). Every send waits for its phone number's token bucket first.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import httpx

from server.channels.whatsapp.rate_limit import PerKeyBuckets

log = logging.getLogger("esquadra.whatsapp")

FIRST_BACKOFF_S = 0.5
MAX_WAIT_S = 60.0  # a Retry-After beyond this is cut short: the reply is late enough already


class GraphApiError(Exception):
    """The Graph API refused the call, or kept failing after every attempt."""

    def __init__(self, status: int | None, detail: str) -> None:
        super().__init__(f"graph api {status or 'unreachable'}: {detail}")
        self.status = status


class GraphClient:
    """Sends on behalf of the business numbers the webhooks name."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        base_url: str,
        api_version: str,
        access_token: str,
        rate_per_s: float,
        attempts: int,
    ) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.api_version = api_version
        self._auth = {"Authorization": f"Bearer {access_token}"}
        self.buckets = PerKeyBuckets(rate_per_s)
        self.attempts = attempts

    async def send_text(self, phone_number_id: str, to: str, body: str) -> str:
        """Send a text message; Meta's id for it (`wamid…`)."""
        return await self._send(
            phone_number_id,
            {
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": to,
                "type": "text",
                "text": {"preview_url": False, "body": body},
            },
        )

    async def send_template(
        self,
        phone_number_id: str,
        to: str,
        name: str,
        language: str,
        parameters: Sequence[str] = (),
    ) -> str:
        """Send an approved template (the only thing Meta accepts outside the 24-hour window),
        with its body's `{{1}}`, `{{2}}`… filled by `parameters`."""
        template: dict[str, Any] = {"name": name, "language": {"code": language}}
        if parameters:
            template["components"] = [
                {
                    "type": "body",
                    "parameters": [{"type": "text", "text": value} for value in parameters],
                }
            ]
        return await self._send(
            phone_number_id,
            {
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": to,
                "type": "template",
                "template": template,
            },
        )

    async def mark_read(self, phone_number_id: str, wamid: str) -> None:
        """Show the user's message as read (blue ticks)."""
        await self._post(
            phone_number_id,
            {"messaging_product": "whatsapp", "status": "read", "message_id": wamid},
        )

    async def _send(self, phone_number_id: str, payload: dict[str, Any]) -> str:
        reply = await self._post(phone_number_id, payload)
        try:
            return str(reply["messages"][0]["id"])
        except (KeyError, IndexError, TypeError):
            raise GraphApiError(200, f"no message id in {reply!r:.200}") from None

    async def _post(self, phone_number_id: str, payload: dict[str, Any]) -> Any:
        url = f"{self.base_url}/{self.api_version}/{phone_number_id}/messages"
        for attempt in range(1, self.attempts + 1):
            await self.buckets[phone_number_id].take()
            try:
                response = await self.http.post(url, json=payload, headers=self._auth)
            except httpx.TransportError as exc:
                error = GraphApiError(None, f"{type(exc).__name__}: {exc}")
                wait = _backoff(attempt)
            else:
                if response.status_code < 300:
                    return response.json()
                error = GraphApiError(response.status_code, response.text[:500])
                if response.status_code != 429 and response.status_code < 500:
                    raise error
                after = _retry_after(response)
                wait = after if after is not None else _backoff(attempt)
            if attempt == self.attempts:
                raise error
            log.warning("graph api: %s; attempt %d again in %.1fs", error, attempt + 1, wait)
            await asyncio.sleep(wait)
        raise AssertionError("unreachable")


def _backoff(attempt: int) -> float:
    return min(MAX_WAIT_S, FIRST_BACKOFF_S * 2 ** (attempt - 1))


def _retry_after(response: httpx.Response) -> float | None:
    """`Retry-After` in seconds (Meta sends seconds; an HTTP date falls back to the backoff)."""
    value = response.headers.get("retry-after")
    try:
        return min(MAX_WAIT_S, max(0.0, float(value))) if value is not None else None
    except ValueError:
        return None
