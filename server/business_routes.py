"""The owner's business profile (`GET`/`PUT /v1/users/{user_id}/business`): the regime, state
and employees Leo's due dates and reminders depend on."""

from __future__ import annotations

from typing import Any, Literal

from litestar import Request, Response, get, put
from litestar.datastructures import State
from litestar.params import FromPath
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from checkpointing.business import BusinessProfile, BusinessProfiles
from core.ids import check_id
from finance.calendar import STATES
from server.errors import ApiError
from server.schemas import ErrorBody, check_json_body, response_spec
from server.tool_routes import read_json_object
from tools.base import field_errors


class ProfileBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    regime: Literal["mei", "simples"]
    segment: str | None = Field(default=None, max_length=60)
    state: str | None = Field(default=None, description="UF, e.g. SP (state holidays)")
    employees: bool = False
    reminders: bool = True

    @field_validator("state")
    @classmethod
    def _known_state(cls, value: str | None) -> str | None:
        if value is not None and value.upper() not in STATES:
            raise ValueError(f"estado desconhecido: {value} (use a sigla, ex.: SP)")
        return value.upper() if value else None


_ERRORS = {
    400: response_spec(ErrorBody, description="`invalid_id` or `invalid_json`."),
    404: response_spec(ErrorBody, description="`not_found`: no profile yet."),
    422: response_spec(ErrorBody, description="`invalid_arguments` with `errors`."),
}


def _view(profile: BusinessProfile) -> dict[str, Any]:
    return {
        "user_id": profile.user_id,
        "regime": profile.regime,
        "segment": profile.segment,
        "state": profile.state,
        "employees": profile.employees,
        "reminders": profile.reminders,
    }


@get(
    "/v1/users/{user_id:str}/business",
    summary="The owner's business profile (regime, state, employees, reminders)",
    responses=_ERRORS,
    opt={"access": "own_user"},
)
async def get_business(user_id: FromPath[str], state: State) -> dict[str, Any]:
    profile = await BusinessProfiles(state.chat.ledger.db).get(check_id(user_id, "user_id"))
    if profile is None:
        raise ApiError(404, "not_found", "Nenhum perfil de negócio cadastrado para este usuário.")
    return _view(profile)


@put(
    "/v1/users/{user_id:str}/business",
    summary="Create or replace the owner's business profile",
    responses={**_ERRORS, 415: response_spec(ErrorBody, description="Send JSON.")},
    opt={"access": "own_user"},
    before_request=check_json_body,
)
async def put_business(
    user_id: FromPath[str], request: Request[Any, Any, Any], state: State
) -> Response[Any]:
    check_id(user_id, "user_id")
    raw = await read_json_object(request)
    try:
        body = ProfileBody.model_validate(raw)
    except ValidationError as error:
        errors = field_errors(error)
        raise ApiError(
            422,
            "invalid_arguments",
            "Perfil inválido: " + ", ".join(e["field"] for e in errors) + ".",
            errors=errors,
        ) from None
    profile = BusinessProfile(
        user_id=user_id,
        regime=body.regime,
        segment=body.segment,
        state=body.state,
        employees=body.employees,
        reminders=body.reminders,
    )
    await BusinessProfiles(state.chat.ledger.db).put(profile)
    return Response(_view(profile))


BUSINESS_ROUTES = [get_business, put_business]
