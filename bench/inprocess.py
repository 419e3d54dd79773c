"""CPU per reply of the squad's chat path in one process, without HTTP: where the time goes.

Drives `ChatService.stream` directly with the bench conversations against the stub LLM (its own
process), a fixed number of turns in flight, and reports the process's CPU per reply. Used to
measure each optimisation before and after (docs/performance.md)::

    python -m bench.inprocess --turns 300 --concurrency 20 --checkpointer postgres
    python -m bench.inprocess --profile out.html     # pyinstrument, if installed
    python -m bench.inprocess --no-fast-path         # the models on the OpenAI SDK alone
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.conversations import pick_conversation
from bench.targets import PG_ADMIN_URL, STUB_ARGS, ServerProcess, free_port

REPO_ROOT = Path(__file__).resolve().parent.parent


def _messages(turns: int, seed: int, mention: bool) -> list[tuple[str, str]]:
    """(thread id, message) pairs, conversation turns in order, unique per virtual user."""
    rng = random.Random(seed)
    out: list[tuple[str, str]] = []
    user = 0
    while len(out) < turns:
        conversation, texts = pick_conversation(rng)
        user += 1
        for text in texts:
            prefix = f"@{conversation.agent} " if mention else ""
            out.append((f"inproc-{seed}-{user}", prefix + text))
    return out[:turns]


@contextlib.asynccontextmanager
async def _chat_service(args: argparse.Namespace, env: dict[str, str], db_url: str | None):  # type: ignore[no-untyped-def]
    """The app's own ChatService (gate, identity, memory, sessions), or the bare graph."""
    url = "memory" if args.checkpointer == "memory" else db_url
    if args.bare:
        from checkpointing import open_stores
        from core.settings import Settings
        from graphs.compiler import build_squad
        from graphs.loader import load_spec
        from server.chat import ChatService

        loaded = load_spec(REPO_ROOT / "agents.yaml")
        squad = await asyncio.to_thread(
            build_squad,
            loaded,
            env,
            cache_dir=REPO_ROOT / ".esquadra" / "cache",
            fast_path=args.fast_path,
        )
        store_settings = Settings(database_url=url, data_dir=Path(tempfile.mkdtemp()))
        async with open_stores(store_settings) as stores:
            yield ChatService(squad, squad.builder.compile(checkpointer=stores.checkpointer))
            await squad.aclose()
        return
    from core.settings import Settings
    from server.app import create_app

    settings = Settings(
        database_url=url,
        redis_url=args.redis_url,
        data_dir=Path(tempfile.mkdtemp()),
        cache_dir=REPO_ROOT / ".esquadra" / "cache",
        **({} if args.fast_path else {"model_fast_path": False}),
    )
    app = create_app(settings, environ=env)
    async with _lifespan(app):
        yield app.state.chat


@contextlib.asynccontextmanager
async def _lifespan(app: Any):  # type: ignore[no-untyped-def]
    """Run the ASGI lifespan on this event loop (Litestar's test client uses its own thread)."""
    inbox: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    task = asyncio.create_task(
        app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, inbox.get, outbox.put)
    )
    await inbox.put({"type": "lifespan.startup"})
    started = await outbox.get()
    if started["type"] != "lifespan.startup.complete":
        raise RuntimeError(f"app did not start: {started}")
    try:
        yield
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        await outbox.get()
        await task


async def _drive(args: argparse.Namespace, stub_url: str, db_url: str | None) -> dict[str, Any]:
    from server.chat import ChatTurn

    env = {**os.environ, "OPENAI_BASE_URL": stub_url, "OPENAI_API_KEY": "bench"}
    async with _chat_service(args, env, db_url) as chat:
        _check_fast_path(chat.squad, args.fast_path)
        work = _messages(args.turns + args.warmup, args.seed, args.mention)
        # Turns of one thread run in order; threads run concurrently.
        by_thread: dict[str, list[str]] = {}
        for thread, text in work:
            by_thread.setdefault(thread, []).append(text)
        errors = 0
        done = 0

        async def run_thread(thread: str, texts: list[str]) -> None:
            nonlocal errors, done
            for text in texts:
                async with gate:
                    last = ""
                    turn = await chat.prepare(
                        ChatTurn(message=text, thread_id=thread, user_id=thread, channel="web")
                    )
                    async for kind, _ in chat.stream(turn):
                        last = kind
                    errors += last != "done"
                    done += 1

        gate = asyncio.Semaphore(args.concurrency)
        threads = list(by_thread.items())
        warm = [t for t in threads[:5]]
        await asyncio.gather(*(run_thread(t, x) for t, x in warm))
        rest = threads[5:]
        profiler = _start_profiler(args.profile)
        print(f"measuring pid={os.getpid()}", file=sys.stderr, flush=True)
        cpu0, wall0, done0 = time.process_time(), time.perf_counter(), done
        await asyncio.gather(*(run_thread(t, x) for t, x in rest))
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        _stop_profiler(profiler, args.profile)
        replies = done - done0
    return {
        "replies": replies,
        "errors": errors,
        "cpu_ms_per_reply": round(cpu * 1000 / max(replies, 1), 2),
        "replies_per_s": round(replies / wall, 1),
        "checkpointer": args.checkpointer,
        "mention": args.mention,
        "bare": args.bare,
        "redis": bool(args.redis_url),
        "fast_path": args.fast_path,
    }


def _check_fast_path(squad: Any, wanted: bool) -> None:
    """Fail rather than measure the wrong mode (the app must pass its setting to the squad)."""
    from llm.models import SquadChatOpenAI

    models = [r.model for r in squad.runtimes.values() if r.model is not None]
    if any(isinstance(m, SquadChatOpenAI) != wanted for m in models):
        raise SystemExit(f"the squad's models do not have fast_path={wanted}")


def _start_profiler(path: str | None) -> Any:
    if not path:
        return None
    from pyinstrument import Profiler

    profiler = Profiler(async_mode="disabled", interval=0.0005)
    profiler.start()
    return profiler


def _stop_profiler(profiler: Any, path: str | None) -> None:
    if profiler is None or not path:
        return
    profiler.stop()
    Path(path).write_text(
        profiler.output_html()
        if path.endswith(".html")
        else profiler.output_text(unicode=False, show_all=False)
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.inprocess", description=__doc__)
    parser.add_argument("--turns", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--checkpointer", choices=("memory", "postgres"), default="postgres")
    parser.add_argument("--mention", action="store_true", help="address every message (@leo…)")
    parser.add_argument("--profile", help="write a pyinstrument profile (.html or .txt)")
    parser.add_argument("--uvloop", action="store_true")
    parser.add_argument("--bare", action="store_true", help="graph only: no gate, identity, memory")
    parser.add_argument("--redis-url", default=None, help="e.g. redis://127.0.0.1:6379/0")
    parser.add_argument(
        "--no-fast-path",
        dest="fast_path",
        action="store_false",
        help="models on the OpenAI SDK alone (ESQUADRA_MODEL_FAST_PATH=0)",
    )
    args = parser.parse_args(argv)

    port = free_port()
    stub = ServerProcess(
        "stub",
        [sys.executable, "-m", "fakes.stub_llm", "--port", str(port), *STUB_ARGS],
        f"http://127.0.0.1:{port}",
        "/_stub/config",
    ).start()
    db_url = None
    with contextlib.ExitStack() as stack:
        stack.callback(stub.stop)
        if args.checkpointer == "postgres":
            db_url = stack.enter_context(_scratch_database())
        runner = asyncio.run
        if args.uvloop:
            import uvloop

            runner = uvloop.run
        result = runner(_drive(args, stub.url + "/v1", db_url))
    print(result)
    return 0 if result["errors"] == 0 else 1


@contextlib.contextmanager
def _scratch_database():  # type: ignore[no-untyped-def]
    import psycopg

    name = f"esquadra_inproc_{os.getpid()}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    raise SystemExit(main())
