"""`FencedSaver` is composition over LangGraph's public saver interface, and its Postgres fence
holds under concurrency (a takeover waits for an in-flight write; a small pool does not lock up).

The stale-holder tests (memory, Postgres, the whole Redis chain) are in tests/test_locks.py."""

from __future__ import annotations

import ast
import asyncio
import inspect
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import store_settings
from langgraph.checkpoint.base import BaseCheckpointSaver, empty_checkpoint
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from checkpointing import open_stores
from checkpointing.fenced import FENCE_KEY, FencedSaver, FenceRejected, LocalFences, PostgresFences
from checkpointing.migrations import migrate
from checkpointing.sql import PostgresDatabase, postgres_pool
from graphs.schema import Sessions
from server.gate import open_gate

ROOT = Path(__file__).resolve().parent.parent
CONCRETE_SAVERS = (InMemorySaver, AsyncPostgresSaver, PostgresSaver, AsyncSqliteSaver, SqliteSaver)


def _public_members(cls: type) -> dict[str, Any]:
    return {name: value for name, value in inspect.getmembers(cls) if not name.startswith("_")}


def _is_dunder(name: str) -> bool:
    return name.startswith("__") and name.endswith("__")


def test_fenced_saver_is_not_a_subclass_of_any_concrete_saver() -> None:
    for saver in CONCRETE_SAVERS:
        assert not issubclass(FencedSaver, saver), saver
    # Nothing between us and the public base class.
    assert FencedSaver.__mro__[1:] == BaseCheckpointSaver.__mro__


async def test_no_attribute_of_ours_shadows_a_private_member_of_the_inner_saver(
    tmp_path: Path,
) -> None:
    async with open_stores(store_settings(None, tmp_path)) as stores:
        for inner in (InMemorySaver(), stores.checkpointer):
            fenced = FencedSaver(inner, LocalFences())
            ours = {n for n in set(vars(FencedSaver)) | set(vars(fenced)) if not _is_dunder(n)}
            assert not {n for n in ours if n.startswith("_")}, "FencedSaver has private members"
            private = {n for n in dir(inner) if n.startswith("_") and not _is_dunder(n)}
            for saver in CONCRETE_SAVERS:
                private |= {n for n in dir(saver) if n.startswith("_") and not _is_dunder(n)}
            assert not ours & private, ours & private


def test_fence_and_retention_modules_touch_no_private_library_member() -> None:
    """No `x._name` on anything but `self`, no import of a `_`-prefixed library module."""
    for module in (
        "checkpointing/fenced.py",
        "checkpointing/retention.py",
        "checkpointing/langgraph_tables.py",
    ):
        path = ROOT / module
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
                owner = node.value
                assert _is_dunder(node.attr) or (
                    isinstance(owner, ast.Name) and owner.id == "self"
                ), f"{module}:{node.lineno}: private member {node.attr}"
            if isinstance(node, ast.ImportFrom) and node.module and node.module != "__future__":
                assert not any(part.startswith("_") for part in node.module.split(".")), (
                    f"{module}:{node.lineno}: imports private module {node.module}"
                )


def test_every_public_method_of_the_base_saver_is_passed_on() -> None:
    """A method LangGraph adds to `BaseCheckpointSaver` would otherwise fall through to the
    base class's default (usually NotImplementedError, or a slow generic walk)."""
    missing = sorted(set(_public_members(BaseCheckpointSaver)) - set(vars(FencedSaver)) - {"serde"})
    assert not missing, f"FencedSaver does not pass on {missing} (checkpointing/fenced.py)"


class _Spy(BaseCheckpointSaver):
    """Records which public method was called (the public base class is the extension point)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []


def _recording(name: str, base: Callable[..., Any]) -> Callable[..., Any]:
    if inspect.isasyncgenfunction(base):

        async def agen(self: _Spy, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
            self.calls.append(name)
            yield "item"

        return agen
    if inspect.iscoroutinefunction(base):

        async def coro(self: _Spy, *args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            return "result"

        return coro

    def sync(self: _Spy, *args: Any, **kwargs: Any) -> Any:
        self.calls.append(name)
        if name == "with_allowlist":
            return _Spy()
        return iter(["item"]) if name == "list" else "result"

    return sync


for _name, _member in _public_members(BaseCheckpointSaver).items():
    if inspect.isfunction(_member):
        setattr(_Spy, _name, _recording(_name, _member))


def _arguments(method: Callable[..., Any]) -> list[Any]:
    args: list[Any] = []
    for param in inspect.signature(method).parameters.values():
        if param.name == "self" or param.default is not inspect.Parameter.empty:
            continue
        if param.kind is inspect.Parameter.KEYWORD_ONLY:
            continue
        args.append({"configurable": {"thread_id": "t"}} if param.name == "config" else None)
    return args


def _keywords(method: Callable[..., Any]) -> dict[str, Any]:
    return {
        p.name: {"configurable": {"thread_id": "t"}} if p.name == "config" else ["c"]
        for p in inspect.signature(method).parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is inspect.Parameter.empty
    }


async def test_each_public_method_reaches_the_inner_saver() -> None:
    for name, member in _public_members(BaseCheckpointSaver).items():
        if not inspect.isfunction(member):
            continue
        spy = _Spy()
        bound = getattr(FencedSaver(spy, LocalFences()), name)
        result = bound(*_arguments(member), **_keywords(member))
        if inspect.isasyncgen(result):
            result = [item async for item in result]
        elif inspect.isawaitable(result):
            result = await result
        elif name == "list":
            result = list(result)
        assert spy.calls == [name], f"{name}: inner saw {spy.calls}"


def test_sync_writes_with_a_fence_are_refused_not_left_unfenced() -> None:
    fenced = FencedSaver(InMemorySaver(), LocalFences())
    config = {"configurable": {"thread_id": "t", "checkpoint_ns": "", FENCE_KEY: 1}}
    with pytest.raises(TypeError, match="async"):
        fenced.put(config, empty_checkpoint(), {}, {})  # type: ignore[arg-type]


def test_with_allowlist_keeps_the_fence() -> None:
    fenced = FencedSaver(InMemorySaver(), LocalFences())
    allowed = fenced.with_allowlist({("my_module", "MyType")})
    assert isinstance(allowed, FencedSaver) and allowed.fences is fenced.fences


# --------------------------------------------------------------------------- Postgres


async def test_a_takeover_waits_for_the_write_in_flight_then_refuses_the_old_holder(
    postgres_url: str, tmp_path: Path
) -> None:
    async with open_stores(store_settings(postgres_url, tmp_path)) as stores:
        fences = PostgresFences(stores.db)  # type: ignore[arg-type]
        old = await fences.advance("inflight", 1)
        async with fences.hold("inflight", old):  # the old holder's write is running
            takeover = asyncio.create_task(fences.advance("inflight", old + 1))
            await asyncio.sleep(0.3)
            assert not takeover.done()
        new = await asyncio.wait_for(takeover, 5)
        assert new > old
        with pytest.raises(FenceRejected):
            async with fences.hold("inflight", old):
                pass
        async with fences.hold("inflight", new):
            pass


async def test_a_write_waiting_for_the_lock_reads_the_token_an_advance_committed_meanwhile(
    postgres_url: str, tmp_path: Path
) -> None:
    """The hold's token read comes after its lock in one statement (a VOLATILE function): it
    must see a takeover committed while it waited, not the token of when the call began."""
    async with open_stores(store_settings(postgres_url, tmp_path)) as stores:
        fences = PostgresFences(stores.db)  # type: ignore[arg-type]
        old = await fences.advance("waiting", 1)
        async with stores.db.transaction() as takeover:  # type: ignore[union-attr]
            # An advance caught half-way: the exclusive lock held, the new token written.
            await takeover.execute(
                "SELECT pg_advisory_xact_lock(hashtext('esquadra_fence'), hashtext(%s))",
                ("waiting",),
            )
            await takeover.execute(
                "UPDATE thread_fences SET token = token + 1 WHERE thread_id = %s", ("waiting",)
            )

            async def old_write() -> None:
                async with fences.hold("waiting", old):
                    pass

            write = asyncio.create_task(old_write())
            await asyncio.sleep(0.3)
            assert not write.done()  # waiting for the lock
        with pytest.raises(FenceRejected):
            await asyncio.wait_for(write, 5)


async def test_concurrent_fenced_writes_do_not_exhaust_a_small_pool(
    postgres_url: str, tmp_path: Path
) -> None:
    """Each fenced write holds a connection while the saver's write needs one more: with a
    pool of 3 and 12 writes at once, the bound (pool − 1) keeps one for the saver."""
    async with postgres_pool(postgres_url, max_size=3) as pool:
        db = PostgresDatabase(pool)
        await migrate(db)
        saver = AsyncPostgresSaver(pool)
        await saver.setup()
        fences = PostgresFences(db)
        assert fences.max_holders == 2
        fenced = FencedSaver(saver, fences)

        async def write(n: int) -> None:
            thread = f"pool-{n}"
            token = await fences.advance(thread, 1)
            config = {"configurable": {"thread_id": thread, "checkpoint_ns": "", FENCE_KEY: token}}
            await fenced.aput(config, empty_checkpoint(), {}, {})  # type: ignore[arg-type]

        await asyncio.wait_for(asyncio.gather(*(write(n) for n in range(12))), 20)
        for n in range(12):
            assert await saver.aget_tuple({"configurable": {"thread_id": f"pool-{n}"}})


async def test_open_gate_fences_a_postgres_checkpointer(postgres_url: str, tmp_path: Path) -> None:
    async with open_stores(store_settings(postgres_url, tmp_path)) as stores:
        gate, fenced = await open_gate(Sessions(), stores)
        try:
            assert isinstance(fenced, FencedSaver) and fenced.inner is stores.checkpointer
            assert isinstance(gate.fences, PostgresFences) and fenced.fences is gate.fences
        finally:
            await gate.aclose()
