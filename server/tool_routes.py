"""Tools for integrations: `GET /v1/tools`, `POST /v1/tools/{name}` (JSON args → JSON result),
and a month of a user's cash book as CSV.

The same validation as the model's and offline mode's calls (`tools.base.ToolSpec.validate`):
a bad argument is a 422 naming the field, never a 500.
"""

from __future__ import annotations

from typing import Any

import orjson
from litestar import Request, Response, get, post
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery

from core.ids import check_id
from server.errors import ApiError
from server.schemas import ErrorBody, check_json_body, response_spec
from tools.base import MONTH, ToolArgsError, ToolEnv, UnknownTool
from tools.registry import TOOLS, call_tool

_ERRORS = {
    400: response_spec(ErrorBody, description="`invalid_json`: the body is not a JSON object."),
    401: response_spec(ErrorBody, description="`unauthorized`: `ESQUADRA_API_KEY` is set."),
    404: response_spec(ErrorBody, description="`unknown_tool`."),
    422: response_spec(
        ErrorBody,
        description="`invalid_arguments`: `errors` lists `{field, message}` for each bad field.",
    ),
}


@get(
    "/v1/tools",
    summary="The tools integrations can call, with their argument schemas",
    opt={"access": "integration"},
)
async def list_tools() -> dict[str, Any]:
    return {
        "tools": [
            {
                "name": spec.name,
                "description": spec.description,
                "writes": spec.writes,
                "arguments": spec.args.model_json_schema(),
            }
            for spec in TOOLS.values()
        ]
    }


@post(
    "/v1/tools/{name:str}",
    summary="Call a tool: JSON arguments in, its JSON result out",
    description='Money in results is a decimal string with two places (`"1500.00"`), rates '
    'percentage strings (`"11.20"`). A tool that writes records the call as its source.',
    responses={**_ERRORS, 415: response_spec(ErrorBody, description="Send JSON.")},
    status_code=200,
    opt={"access": "integration"},
    before_request=check_json_body,
)
async def call_tool_route(
    name: FromPath[str], request: Request[Any, Any, Any], state: State
) -> Response[Any]:
    if name not in TOOLS:
        raise ApiError(404, "unknown_tool", f"Ferramenta desconhecida: {name}.")
    raw = await read_json_object(request)
    user_id = raw.get("user_id")
    if TOOLS[name].user_scoped and isinstance(user_id, str):
        check_id(user_id, "user_id")
    env = ToolEnv(ledger=state.chat.ledger, profiles=state.chat.profiles, source={"type": "api"})
    try:
        result = await call_tool(name, raw, env)
    except UnknownTool:
        raise ApiError(404, "unknown_tool", f"Ferramenta desconhecida: {name}.") from None
    except ToolArgsError as error:
        raise invalid_arguments(error) from None
    return Response(result)


@get(
    "/v1/users/{user_id:str}/ledger.csv",
    summary="A month of a user's cash book as CSV (`?month=YYYY-MM`)",
    responses={
        400: response_spec(ErrorBody, description="`invalid_request`: month is not YYYY-MM."),
    },
    opt={"access": "own_user"},
    media_type="text/csv",
)
async def ledger_csv(user_id: FromPath[str], month: FromQuery[str], state: State) -> Response[str]:
    from checkpointing.ledger import entries_csv

    check_id(user_id, "user_id")
    if not MONTH.fullmatch(month):
        raise ApiError(400, "invalid_request", "Use month=AAAA-MM, por exemplo 2026-11.")
    entries = await state.chat.ledger.month(user_id, month)
    return Response(
        entries_csv(entries),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="caixa-{month}.csv"'},
    )


def invalid_arguments(error: ToolArgsError) -> ApiError:
    """A tool's field errors as the API's 422."""
    fields = ", ".join(e["field"] for e in error.errors)
    return ApiError(
        422,
        "invalid_arguments",
        f"Argumentos inválidos para {error.tool}: {fields}.",
        errors=error.errors,
    )


async def read_json_object(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """The body as a JSON object, or a 400 `invalid_json`."""
    body = await request.body()
    try:
        raw = orjson.loads(body or b"{}")
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "invalid_json", f"O corpo não é um JSON válido: {exc}") from None
    if not isinstance(raw, dict):
        raise ApiError(400, "invalid_json", "Envie os argumentos como um objeto JSON.")
    return raw


TOOL_ROUTES = [list_tools, call_tool_route, ledger_csv]
