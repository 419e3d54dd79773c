"""Meta's webhook body (WhatsApp Cloud API, `object: whatsapp_business_account`) as msgspec
structs, and the events this service acts on: inbound messages and delivery statuses.

Only the fields read here are declared; Meta adds fields over time, so unknown ones are
ignored (never `forbid_unknown_fields`). A body that is not JSON, or whose declared fields have
the wrong type, is a `PayloadError` (the route answers 400).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import msgspec


class PayloadError(ValueError):
    """The body is not a webhook of the shape Meta sends."""


class Text(msgspec.Struct):
    body: str


class Reply(msgspec.Struct):
    """A tapped reply button or list row: `id` is ours (set when sent), `title` what they saw."""

    id: str
    title: str


class Interactive(msgspec.Struct):
    type: str
    button_reply: Reply | None = None
    list_reply: Reply | None = None


class Button(msgspec.Struct):
    """A quick-reply button of a template message."""

    text: str
    payload: str | None = None


class Message(msgspec.Struct):
    id: str
    type: str
    timestamp: str
    from_: str = msgspec.field(name="from")
    text: Text | None = None
    interactive: Interactive | None = None
    button: Button | None = None


class StatusError(msgspec.Struct):
    code: int | None = None
    title: str | None = None
    message: str | None = None


class Status(msgspec.Struct):
    id: str
    status: str
    timestamp: str
    recipient_id: str
    errors: list[StatusError] = []


class Metadata(msgspec.Struct):
    phone_number_id: str
    display_phone_number: str | None = None


class Value(msgspec.Struct):
    metadata: Metadata | None = None
    messages: list[Message] = []
    statuses: list[Status] = []


class Change(msgspec.Struct):
    field: str
    value: Value


class Entry(msgspec.Struct):
    id: str
    changes: list[Change] = []


class Webhook(msgspec.Struct):
    object: str
    entry: list[Entry]


_DECODER = msgspec.json.Decoder(Webhook)

# What is read as the user's words; everything else gets a polite "text only" reply, except
# the kinds in IGNORED, which need no answer at all (a reaction, a number change notice).
TEXT_KINDS = frozenset({"text", "interactive", "button"})
IGNORED_KINDS = frozenset({"reaction", "system", "ephemeral", "request_welcome"})


@dataclass(frozen=True)
class Inbound:
    """One message a user sent, as the message log keeps it."""

    wamid: str
    phone_number_id: str
    wa_id: str
    kind: str
    text: str | None  # the user's words (text, tapped button or list row); None otherwise
    sent_at: datetime  # when the user sent it (Meta's timestamp): starts the 24-hour window
    raw: bytes  # the message object as JSON, for the log


@dataclass(frozen=True)
class StatusUpdate:
    """What happened to a message we sent: sent, delivered, read or failed."""

    wamid: str
    phone_number_id: str
    wa_id: str
    status: str
    at: datetime
    error: str | None


@dataclass(frozen=True)
class Events:
    messages: list[Inbound]
    statuses: list[StatusUpdate]


def parse_webhook(body: bytes) -> Events:
    """Every message and status in the body, over all its entries and changes."""
    try:
        webhook = _DECODER.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise PayloadError(str(exc)) from None
    if webhook.object != "whatsapp_business_account":
        raise PayloadError(f"object is {webhook.object!r}, not 'whatsapp_business_account'")
    messages: list[Inbound] = []
    statuses: list[StatusUpdate] = []
    for entry in webhook.entry:
        for change in entry.changes:
            value = change.value
            if change.field != "messages" or value.metadata is None:
                continue  # account and template updates: nothing to answer
            number = value.metadata.phone_number_id
            messages += [_inbound(number, message) for message in value.messages]
            statuses += [_status(number, status) for status in value.statuses]
    return Events(messages, statuses)


def _inbound(phone_number_id: str, message: Message) -> Inbound:
    return Inbound(
        wamid=message.id,
        phone_number_id=phone_number_id,
        wa_id=message.from_,
        kind=message.type,
        text=_words(message),
        sent_at=_moment(message.timestamp),
        raw=msgspec.json.encode(message),
    )


def _words(message: Message) -> str | None:
    if message.type == "text" and message.text is not None:
        return message.text.body
    if message.type == "interactive" and message.interactive is not None:
        reply = message.interactive.button_reply or message.interactive.list_reply
        return reply.title if reply is not None else None
    if message.type == "button" and message.button is not None:
        return message.button.text
    return None


def _status(phone_number_id: str, status: Status) -> StatusUpdate:
    error = None
    if status.errors:
        first = status.errors[0]
        error = f"{first.code}: {first.title or first.message or ''}".strip()
    return StatusUpdate(
        wamid=status.id,
        phone_number_id=phone_number_id,
        wa_id=status.recipient_id,
        status=status.status,
        at=_moment(status.timestamp),
        error=error,
    )


def _moment(timestamp: str) -> datetime:
    """Meta's Unix seconds (a string) as an aware datetime."""
    try:
        return datetime.fromtimestamp(int(timestamp), UTC)
    except (ValueError, OverflowError, OSError):
        raise PayloadError(f"timestamp {timestamp!r} is not Unix seconds") from None
