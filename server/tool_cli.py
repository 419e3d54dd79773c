"""`esquadra tool NAME --args '{...}'`: call a tool from the shell, on the configured stores."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any


def add_tool_parser(commands: Any) -> None:
    """Register `esquadra tool` on the CLI's subcommands."""
    tool = commands.add_parser(
        "tool",
        help="call a tool with JSON arguments and print its JSON result",
        description="Exit 1 with the field when an argument is wrong. Tools that write use "
        "the configured database (DATABASE_URL; the embedded SQLite file by default).",
    )
    tool.add_argument("name", nargs="?", help="the tool's name (see --list)")
    tool.add_argument("--args", default="{}", help="the arguments as a JSON object")
    tool.add_argument("--list", action="store_true", help="list the tools and exit")
    tool.set_defaults(run=run_tool)


def run_tool(args: argparse.Namespace) -> int:
    from tools.registry import TOOLS

    if args.list or not args.name:
        for spec in TOOLS.values():
            print(f"{spec.name:20} {spec.description}")
        return 0 if args.list else 2
    if args.name not in TOOLS:
        print(
            f"esquadra tool: unknown tool {args.name!r}; known: {', '.join(TOOLS)}", file=sys.stderr
        )
        return 1
    try:
        raw = json.loads(args.args)
    except json.JSONDecodeError as exc:
        print(f"esquadra tool: --args is not JSON: {exc}", file=sys.stderr)
        return 1
    if not isinstance(raw, dict):
        print("esquadra tool: --args must be a JSON object", file=sys.stderr)
        return 1
    from tools.base import ToolArgsError

    try:
        result = asyncio.run(_call(args.name, raw, TOOLS[args.name].user_scoped))
    except ToolArgsError as error:
        for item in error.errors:
            print(
                f"esquadra tool: {args.name}: {item['field']}: {item['message']}", file=sys.stderr
            )
        return 1
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0


async def _call(name: str, raw: dict[str, Any], needs_store: bool) -> dict[str, Any]:
    from tools.base import ToolEnv
    from tools.registry import call_tool

    source = {"type": "cli"}
    if not needs_store:  # pure tools: no database to open
        return await call_tool(name, raw, ToolEnv(source=source))
    from checkpointing import open_stores
    from checkpointing.business import BusinessProfiles
    from checkpointing.ledger import LedgerStore
    from core.settings import Settings

    # Validate before opening anything: a wrong field should not wait for a database.
    from tools.registry import get_tool

    get_tool(name).validate(raw)
    async with open_stores(Settings.from_env()) as stores:
        env = ToolEnv(
            ledger=LedgerStore(stores.db), profiles=BusinessProfiles(stores.db), source=source
        )
        return await call_tool(name, raw, env)
