"""One place that turns every exception into `{code, message}` JSON with a 4xx/5xx status."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from core.ids import InvalidId

log = logging.getLogger("esquadra.server")


class ApiError(HTTPException):
    """An error with a stable machine-readable code and a pt-BR message for the user."""

    def __init__(self, status_code: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(status_code=status_code, detail=message, extra=extra or None)
        self.code = code


_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"code": code, "message": message, **extra}


def exception_to_response(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Map any exception to JSON; never a traceback to the client."""
    if isinstance(exc, ApiError):
        body = error_body(exc.code, str(exc.detail), **(exc.extra or {}))  # type: ignore[arg-type]
        return Response(body, status_code=exc.status_code, headers=exc.headers)
    if isinstance(exc, InvalidId):  # from the handlers or ChatService.prepare
        return Response(error_body("invalid_id", exc.message), status_code=400)
    if isinstance(exc, ValidationException):
        code = "invalid_id" if _first_key(exc) in ID_FIELDS else "invalid_request"
        return Response(
            error_body(code, _validation_message(exc), errors=exc.extra or []), status_code=400
        )
    if isinstance(exc, NotFoundException):
        return Response(error_body("not_found", "Rota não encontrada."), status_code=404)
    if isinstance(exc, HTTPException) and str(exc.detail).startswith("JSON is malformed"):
        return Response(
            error_body("invalid_json", f"O corpo da requisição não é um JSON válido: {exc.detail}"),
            status_code=400,
        )
    if isinstance(exc, HTTPException) and exc.status_code < 500:
        code = _CODES.get(exc.status_code, "bad_request")
        return Response(error_body(code, str(exc.detail)), status_code=exc.status_code)
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return Response(
        error_body("internal_error", "Erro interno. Já registramos o problema."),
        status_code=HTTP_500_INTERNAL_SERVER_ERROR,
    )


# Body and path fields that hold ids: a type or length error on them is an `invalid_id` too.
ID_FIELDS = frozenset({"thread_id", "user_id", "sender_id", "fact_id"})


def _first_key(exc: ValidationException) -> str | None:
    errors = exc.extra if isinstance(exc.extra, list) else []
    return errors[0].get("key") if errors and isinstance(errors[0], dict) else None


def _validation_message(exc: ValidationException) -> str:
    errors = exc.extra if isinstance(exc.extra, list) else []
    if not errors:
        return str(exc.detail) or "Requisição inválida."
    first = errors[0]
    key = first.get("key") if isinstance(first, dict) else None
    detail = first.get("message") if isinstance(first, dict) else str(first)
    return f"Campo '{key}' inválido: {detail}" if key else f"Requisição inválida: {detail}"
