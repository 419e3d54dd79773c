"""Fact tools: verified facts put in the agent's prompt (and, offline, in its reply).

They read the message and answer or stay silent; tools with typed arguments that the model can
call, that write data or that integrations call are in `tools/` (the cash book moved there).
"""

from __future__ import annotations

from collections.abc import Iterable

from nodes.tools._base import Tool, ToolContext, ToolResult
from nodes.tools.calendar import seasonal_dates
from nodes.tools.labor import intern_hours, thirteenth_salary

__all__ = ["TOOLS", "Tool", "ToolContext", "ToolResult", "run_tools"]

TOOLS: dict[str, Tool] = {
    "thirteenth_salary": thirteenth_salary,
    "intern_hours": intern_hours,
    "seasonal_dates": seasonal_dates,
}


def run_tools(names: Iterable[str], message: str, ctx: ToolContext) -> list[ToolResult]:
    """Run the named tools in order and keep the ones that had something to say.

    An unknown name raises KeyError: a typo in an agent's tool list should fail loudly at
    the first message, not silently leave the agent without its facts.
    """
    results = []
    for name in names:
        if name not in TOOLS:
            raise KeyError(f"unknown tool {name!r}; known: {', '.join(TOOLS)}")
        if (result := TOOLS[name](message, ctx)) is not None:
            results.append(result)
    return results
