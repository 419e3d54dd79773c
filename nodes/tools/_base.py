"""The contract every deterministic tool follows."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any


@dataclass(frozen=True)
class ToolContext:
    """What a tool may read besides the message: today's date and the thread's ledger."""

    today: date
    ledger: Sequence[dict[str, Any]] = ()


@dataclass(frozen=True)
class ToolResult:
    """A verified fact in pt-BR, plus ledger entries the thread should record."""

    tool: str
    text: str
    ledger_entries: list[dict[str, Any]] = field(default_factory=list)


# A tool returns None when the message is not for it.
Tool = Callable[[str, ToolContext], ToolResult | None]
