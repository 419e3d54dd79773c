"""What the squad remembers about a user's business: list the live facts, forget one."""

from __future__ import annotations

import msgspec
from litestar import delete, get
from litestar.datastructures import State
from litestar.params import FromPath

from checkpointing.memory_pipeline import MemoryService
from core.ids import check_id, parse_fact_id
from server.errors import ApiError
from server.schemas import ErrorBody, response_spec


class FactView(msgspec.Struct):
    id: int
    kind: str  # business, name, city, employees, tax_regime, hours, products
    text: str  # a short pt-BR sentence, as given to the agents
    created_at: str  # when the owner said it (ISO 8601, UTC)
    source_thread: str


class MemoryReply(msgspec.Struct):
    user_id: str
    facts: list[FactView]


# server/auth.py: without the key (when one is set), or another user's data from a page session.
_GUARDED = {
    401: response_spec(ErrorBody, description="`unauthorized`: `ESQUADRA_API_KEY` is set."),
    403: response_spec(ErrorBody, description="`forbidden`: another user's data."),
}


def _fact_not_found(fact_id: str) -> ApiError:
    return ApiError(404, "fact_not_found", f"Não encontrei a informação '{fact_id}' deste usuário.")


@get(
    "/v1/users/{user_id:str}/memory",
    summary="Facts the squad remembers about this user's business",
    description="Only current facts: one told later supersedes an older one of the same kind.",
    responses={400: response_spec(ErrorBody, description="`invalid_id`."), **_GUARDED},
    opt={"access": "own_user"},
)
async def list_memory(user_id: FromPath[str], state: State) -> MemoryReply:
    memory: MemoryService = state.memory
    facts = await memory.facts(check_id(user_id, "user_id"))
    return MemoryReply(
        user_id=user_id,
        facts=[
            FactView(
                id=fact.id,
                kind=fact.kind,
                text=fact.text,
                created_at=fact.created_at.isoformat(),
                source_thread=fact.source_thread,
            )
            for fact in facts
        ],
    )


@delete(
    "/v1/users/{user_id:str}/memory/{fact_id:str}",
    summary="Forget one fact",
    status_code=204,
    responses={
        400: response_spec(ErrorBody, description="`invalid_id`."),
        404: response_spec(ErrorBody, description="`fact_not_found`."),
        **_GUARDED,
    },
    opt={"access": "own_user"},
)
async def forget_fact(user_id: FromPath[str], fact_id: FromPath[str], state: State) -> None:
    memory: MemoryService = state.memory
    check_id(user_id, "user_id")
    check_id(fact_id, "fact_id")
    # An id that is not a number within int64 cannot name a fact: the same 404 as an unknown one.
    number = parse_fact_id(fact_id)
    if number is None or not await memory.forget(user_id, number):
        raise _fact_not_found(fact_id)


MEMORY_ROUTES = [list_memory, forget_fact]
