"""`esquadra chat`: an interactive terminal session on the same graph and stores as the server."""

from __future__ import annotations

import asyncio
import sys

from checkpointing import open_stores
from checkpointing.business import BusinessProfiles
from checkpointing.ledger import LedgerStore
from core.settings import Settings
from graphs.compiler import build_squad_for
from graphs.loader import load_spec
from server.chat import ChatService, ChatTurn, new_thread_id

_EXIT_WORDS = {"sair", "exit", "quit", ":q"}


async def run_terminal_chat(
    settings: Settings, *, thread_id: str | None, user_id: str | None
) -> int:
    """Stream a reply, with the agent's name, to each line read; empty input or 'sair' ends."""
    squad = build_squad_for(load_spec(settings.config_path), settings)
    names = {agent.id: agent.name for agent in squad.loaded.spec.agents}
    thread = thread_id or new_thread_id()
    async with open_stores(settings) as stores:
        service = ChatService(
            squad,
            squad.builder.compile(checkpointer=stores.checkpointer),
            ledger=LedgerStore(stores.db),
            profiles=BusinessProfiles(stores.db),
        )
        print(f"Esquadra — conversa {thread}. Digite 'sair' para terminar.")
        while True:
            try:
                line = await asyncio.to_thread(input, "você › ")
            except EOFError:
                break
            message = line.strip()
            if not message or message.lower() in _EXIT_WORDS:
                break
            turn = ChatTurn(message=message, thread_id=thread, user_id=user_id, channel="cli")
            async for kind, data in service.stream(turn):
                if kind == "route":
                    sys.stdout.write(f"{names.get(data['agent'], data['agent'])} › ")
                elif kind == "token":
                    sys.stdout.write(data["text"])
                elif kind == "error":
                    sys.stdout.write(f"\n[erro: {data['message']}]")
                elif kind == "done" and data["offline"]:
                    sys.stdout.write("\n(modo offline)")
                sys.stdout.flush()
            print()
    await squad.aclose()
    print(f"Até mais! Para continuar: esquadra chat --thread {thread}")
    return 0
