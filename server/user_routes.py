"""Users across channels: see one user's links, link a channel by one-time code or admin call."""

from __future__ import annotations

import re
from typing import Any

import msgspec
from litestar import Request, get, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody

from checkpointing.hooks import IdentityService, InvalidLinkCode
from checkpointing.identity import UnknownUser, UserView
from checkpointing.link_codes import TooManyAttempts
from core.ids import check_id
from server.auth import caller_of, claimed_sender
from server.errors import ApiError
from server.schemas import Channel, ErrorBody, Id, check_json_body, response_spec

_CODE = re.compile(r"^\d{6}$")


class LinkView(msgspec.Struct):
    channel: str
    sender_id: str
    linked_at: str | None


class UserReply(msgspec.Struct):
    user_id: str
    links: list[LinkView]
    active_thread: str | None


class LinkCodeReply(msgspec.Struct):
    user_id: str
    code: str
    expires_in_s: int


class LinkRequest(msgspec.Struct, forbid_unknown_fields=True):
    channel: Channel
    sender_id: Id


class RedeemRequest(msgspec.Struct, forbid_unknown_fields=True):
    channel: Channel
    sender_id: Id
    code: str


_INVALID = response_spec(
    ErrorBody, description="Invalid request, id or link code: `{code, message}`."
)
_ERRORS = {
    400: _INVALID,
    401: response_spec(ErrorBody, description="`unauthorized`: `ESQUADRA_API_KEY` is set."),
    403: response_spec(ErrorBody, description="Another user's data, or a channel not allowed."),
    404: response_spec(ErrorBody, description="Unknown user."),
}
_JSON = {415: response_spec(ErrorBody, description="`unsupported_media_type`: send JSON.")}


@get(
    "/v1/users/{user_id:str}",
    summary="A user's channel links and active thread",
    responses=_ERRORS,
    opt={"access": "own_user"},
)
async def get_user(user_id: FromPath[str], state: State) -> UserReply:
    view = await _identity(state).user(check_id(user_id, "user_id"))
    if view is None:
        raise _unknown(user_id)
    return _reply(view)


@post(
    "/v1/users/{user_id:str}/link-codes",
    summary="A one-time code to link another channel to this user",
    description="Six digits, valid 10 minutes, single use. Ask for it on the channel the user "
    "is on; type it on the other one (`POST /v1/link`).",
    responses=_ERRORS,
    status_code=201,
    opt={"access": "own_user"},
)
async def create_link_code(user_id: FromPath[str], state: State) -> LinkCodeReply:
    identity = _identity(state)
    try:
        code = await identity.issue_code(check_id(user_id, "user_id"))
    except UnknownUser:
        raise _unknown(user_id) from None
    canonical = await identity.store.canonical(user_id) or user_id
    return LinkCodeReply(user_id=canonical, code=code, expires_in_s=identity.codes.ttl_s)


@post(
    "/v1/link",
    summary="Link this channel's sender to a user with a one-time code",
    responses={
        **{k: v for k, v in _ERRORS.items() if k != 404},
        **_JSON,
        429: response_spec(ErrorBody, description="Too many wrong codes."),
    },
    status_code=200,
    before_request=check_json_body,
)
async def redeem_link_code(
    data: JSONBody[RedeemRequest], request: Request[Any, Any, Any], state: State
) -> UserReply:
    identity = _identity(state)
    check_id(data.sender_id, "sender_id")
    channel, sender_id = claimed_sender(caller_of(request), data.channel, data.sender_id)
    if not _CODE.match(data.code.strip()):
        raise _bad_code()
    try:
        result = await identity.redeem_code(data.code.strip(), channel, sender_id or "")
    except InvalidLinkCode:
        raise _bad_code() from None
    except TooManyAttempts:
        raise ApiError(
            429,
            "too_many_attempts",
            "Muitas tentativas com código errado. Aguarde 10 minutos e peça um novo código.",
        ) from None
    except UnknownUser:  # the user behind a valid code vanished: treat as an invalid code
        raise _bad_code() from None
    return await _view(identity, result.user_id)


@post(
    "/admin/api/users/{user_id:str}/links",
    summary="Admin: link a channel's sender to this user",
    responses={
        400: _INVALID,
        401: response_spec(ErrorBody, description="`unauthorized`: missing or wrong admin token."),
        404: response_spec(
            ErrorBody, description="Unknown user, or `admin_disabled` (no ADMIN_TOKEN set)."
        ),
        **_JSON,
    },
    status_code=200,
    before_request=check_json_body,
)
async def add_link(user_id: FromPath[str], data: JSONBody[LinkRequest], state: State) -> UserReply:
    identity = _identity(state)
    check_id(user_id, "user_id")
    check_id(data.sender_id, "sender_id")
    try:
        result = await identity.link(user_id, data.channel, data.sender_id)
    except UnknownUser:
        raise _unknown(user_id) from None
    return await _view(identity, result.user_id)


USER_ROUTES = [get_user, create_link_code, redeem_link_code, add_link]


def _identity(state: State) -> IdentityService:
    return state.identity


async def _view(identity: IdentityService, user_id: str) -> UserReply:
    view = await identity.user(user_id)
    if view is None:
        raise _unknown(user_id)
    return _reply(view)


def _reply(view: UserView) -> UserReply:
    links = [LinkView(link.channel, link.sender_id, link.linked_at) for link in view.links]
    return UserReply(user_id=view.user_id, links=links, active_thread=view.active_thread)


def _unknown(user_id: str) -> ApiError:
    return ApiError(404, "user_not_found", f"Usuário '{user_id}' não encontrado.")


def _bad_code() -> ApiError:
    return ApiError(
        400,
        "invalid_link_code",
        "Código inválido ou expirado. Peça um novo código no outro canal e tente de novo.",
    )
