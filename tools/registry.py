"""Every tool by name: what `agents.yaml` lists, the API serves and the CLI calls."""

from __future__ import annotations

from typing import Any

from tools.base import ToolEnv, ToolSpec, UnknownTool
from tools.cash import CASH_SUMMARY, RECORD_TRANSACTION
from tools.finance import FINANCE_TOOLS

TOOLS: dict[str, ToolSpec[Any, Any]] = {
    spec.name: spec
    for spec in (
        RECORD_TRANSACTION,
        CASH_SUMMARY,
        *FINANCE_TOOLS,
    )
}


def get_tool(name: str) -> ToolSpec[Any, Any]:
    """The tool called `name`, or `UnknownTool`."""
    try:
        return TOOLS[name]
    except KeyError:
        raise UnknownTool(name) from None


async def call_tool(
    name: str, raw: dict[str, Any], env: ToolEnv, user_id: str | None = None
) -> dict[str, Any]:
    """Validate, run, and give the result as JSON-ready data (money as decimal strings).

    `user_id` (the caller's identity) overrides any in `raw` for user-scoped tools.
    """
    spec = get_tool(name)
    if spec.user_scoped and user_id is not None:
        raw = {**raw, "user_id": user_id}
    result = await spec.call(raw, env)
    return result.model_dump(mode="json")
