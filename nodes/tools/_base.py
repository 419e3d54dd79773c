"""The contract every deterministic tool follows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class ToolContext:
    """What a tool may read besides the message: today's date."""

    today: date


@dataclass(frozen=True)
class ToolResult:
    """A verified fact in pt-BR."""

    tool: str
    text: str


# A tool returns None when the message is not for it.
Tool = Callable[[str, ToolContext], ToolResult | None]
