"""The `user_facts` store on the real Postgres and on SQLite: idempotent, superseding, ranked."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from conftest import store_settings

from checkpointing import open_stores
from checkpointing.memory_pipeline import open_fact_store
from checkpointing.memory_store import MAX_EMBEDDING_BACKLOG, FactEmbedder, FactStore, rank
from checkpointing.migrations import FACT_DIM
from core.embeddings import DIM, EMBEDDING_THREAD
from core.facts import Fact

T0 = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)


class CountingEmbedder(FactEmbedder):
    """The real E5 embedder, noting how often and on which thread it ran."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self.threads: set[str] = set()

    def _embed(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        self.threads.add(threading.current_thread().name)
        return super()._embed(texts)


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[FactStore]:
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    async with open_stores(store_settings(url, tmp_path)) as stores:
        yield await open_fact_store(stores, CountingEmbedder())


def user() -> str:
    return f"u-{uuid.uuid4().hex[:8]}"


async def add(
    store: FactStore, user_id: str, facts: Sequence[Fact], when: datetime, key: str
) -> int:
    vectors = await store.embedder.embed([fact.text for fact in facts])
    return await store.add(user_id, "thread-1", key, when, facts, vectors)


async def test_same_message_twice_stores_one_row(store: FactStore) -> None:
    owner = user()
    facts = [
        Fact("business", "Tem uma padaria em Campinas"),
        Fact("employees", "Tem 5 funcionários"),
    ]
    assert await add(store, owner, facts, T0, "msg-1") == 2
    assert await add(store, owner, facts, T0, "msg-1") == 0
    live = await store.live(owner)
    assert [(f.kind, f.text) for f in live] == [(f.kind, f.text) for f in facts]
    assert all(f.source_thread == "thread-1" and f.created_at == T0 for f in live)


async def test_a_newer_fact_of_the_same_kind_supersedes_the_older(store: FactStore) -> None:
    owner = user()
    await add(store, owner, [Fact("employees", "Tem 5 funcionários")], T0, "msg-1")
    await add(store, owner, [Fact("business", "Tem uma padaria")], T0, "msg-2")
    await add(store, owner, [Fact("employees", "Tem 6 funcionários")], T0 + timedelta(1), "msg-3")
    assert [f.text for f in await store.live(owner)] == ["Tem uma padaria", "Tem 6 funcionários"]


async def test_a_late_redelivery_does_not_override_what_was_said_after(store: FactStore) -> None:
    owner = user()
    await add(store, owner, [Fact("employees", "Tem 6 funcionários")], T0 + timedelta(1), "new")
    assert await add(store, owner, [Fact("employees", "Tem 5 funcionários")], T0, "old") == 1
    assert [f.text for f in await store.live(owner)] == ["Tem 6 funcionários"]


async def test_recall_returns_every_fact_without_embedding_when_few(store: FactStore) -> None:
    owner = user()
    facts = [Fact("business", "Tem uma barbearia"), Fact("tax_regime", "Regime tributário: MEI")]
    await add(store, owner, facts, T0, "msg-1")
    embedder = store.embedder
    assert isinstance(embedder, CountingEmbedder)
    before = embedder.calls
    recalled = await store.recall(owner, "quanto pago de DAS?", limit=2)
    assert [f.text for f in recalled] == [f.text for f in facts]
    assert embedder.calls == before  # no query embedding in the common case
    assert await store.recall(owner, "oi", limit=0) == []
    assert await store.recall(user(), "oi", limit=8) == []


KINDS_AND_TEXTS = [
    ("business", "Tem uma padaria em Campinas"),
    ("employees", "Tem 5 funcionários"),
    ("tax_regime", "Regime tributário: Simples Nacional, anexo I"),
    ("hours", "Horário: das 6h às 20h, de segunda a sábado"),
    ("products", "Principais produtos: pão francês, bolo e salgado"),
    ("name", "Nome do negócio: Pão Quente"),
    ("city", "Fica em Campinas/SP"),
]


async def test_recall_ranks_by_similarity_when_there_are_more_facts_than_the_limit(
    store: FactStore,
) -> None:
    owner = user()
    for i, (kind, text) in enumerate(KINDS_AND_TEXTS):
        await add(store, owner, [Fact(kind, text)], T0 + timedelta(minutes=i), f"m{i}")
    embedder = store.embedder
    assert isinstance(embedder, CountingEmbedder)

    taxes = await store.recall(owner, "quanto de imposto eu pago no simples nacional?", 2)
    assert taxes[0].kind == "tax_regime"
    staff = await store.recall(owner, "posso dar férias para meus funcionários?", 2)
    assert staff[0].kind == "employees"
    where = await store.recall(owner, "onde fica a loja?", 1)
    assert [f.kind for f in where] == ["city"]
    # The same order as ranking every vector here by cosine similarity.
    query = (await embedder.embed(["quanto de imposto eu pago no simples nacional?"]))[0]
    vectors = await embedder.embed([text for _, text in KINDS_AND_TEXTS])
    expected = [KINDS_AND_TEXTS[i][1] for i in rank(vectors, list(range(7)), query, 2)]
    assert [f.text for f in taxes] == expected
    assert embedder.threads == {
        name for name in embedder.threads if name.startswith("esquadra-embed")
    }


async def test_recall_under_embedding_backlog_gives_the_newest_facts_without_waiting(
    store: FactStore,
) -> None:
    owner = user()
    for i, (kind, text) in enumerate(KINDS_AND_TEXTS):
        await add(store, owner, [Fact(kind, text)], T0 + timedelta(minutes=i), f"m{i}")
    release = threading.Event()
    blockers = [EMBEDDING_THREAD.submit(release.wait, 10) for _ in range(6)]
    try:
        assert store.embedder.backlog() > MAX_EMBEDDING_BACKLOG
        recalled = await asyncio.wait_for(store.recall(owner, "imposto do simples?", 2), 1)
        assert [f.text for f in recalled] == [text for _, text in KINDS_AND_TEXTS[-2:]]
    finally:
        release.set()
        for blocker in blockers:
            blocker.result()


async def test_delete_forgets_only_that_users_fact(store: FactStore) -> None:
    owner, other = user(), user()
    await add(store, owner, [Fact("business", "Tem uma padaria")], T0, "m1")
    await add(store, other, [Fact("business", "Tem uma loja")], T0, "m1")
    fact = (await store.live(owner))[0]
    assert not await store.delete(other, fact.id)
    assert await store.delete(owner, fact.id)
    assert not await store.delete(owner, fact.id)
    assert await store.live(owner) == []
    assert [f.text for f in await store.live(other)] == ["Tem uma loja"]


async def test_merging_users_moves_facts_and_keeps_the_latest_per_kind(
    store: FactStore,
) -> None:
    whatsapp, web = user(), user()
    await add(store, whatsapp, [Fact("business", "Tem uma padaria")], T0, "w1")
    await add(store, whatsapp, [Fact("employees", "Tem 6 funcionários")], T0 + timedelta(2), "w2")
    await add(store, web, [Fact("employees", "Tem 5 funcionários")], T0 + timedelta(1), "b1")
    assert await store.merge_user(whatsapp, web) == 2
    assert await store.merge_user(web, web) == 0
    assert await store.live(whatsapp) == []
    assert [f.text for f in await store.live(web)] == ["Tem uma padaria", "Tem 6 funcionários"]


async def test_sqlite_file_survives_a_reopen(tmp_path: Path) -> None:
    owner = user()
    async with open_stores(store_settings(None, tmp_path)) as stores:
        first = await open_fact_store(stores)
        await add(first, owner, [Fact("city", "Fica em Campinas")], T0, "m1")
    async with open_stores(store_settings(None, tmp_path)) as stores:
        second = await open_fact_store(stores)
        assert [f.text for f in await second.live(owner)] == ["Fica em Campinas"]


def test_the_migration_sizes_vectors_like_the_embedder() -> None:
    assert FACT_DIM == DIM


def test_rank_orders_by_cosine_then_id() -> None:
    vectors = np.array([[1, 0], [0, 1], [1, 1], [1, 0]], dtype=np.float32)
    assert rank(vectors, [10, 11, 12, 13], np.array([1, 0.1], dtype=np.float32), 4) == [0, 3, 2, 1]


async def test_pgvector_and_numpy_rank_the_same(postgres_url: str, tmp_path: Path) -> None:
    """Both ranking paths agree; needs the `vector` extension on this Postgres."""
    async with open_stores(store_settings(postgres_url, tmp_path)) as stores:
        store = await open_fact_store(stores)
        if store.vectors != "pgvector":
            pytest.skip("pgvector is not installed on this PostgreSQL (numpy path is tested)")
        owner = user()
        for i, (kind, text) in enumerate(KINDS_AND_TEXTS):
            await add(store, owner, [Fact(kind, text)], T0 + timedelta(minutes=i), f"m{i}")
        for question in (
            "quanto de imposto eu pago?",
            "preciso contratar mais gente",
            "ideia de post pro pão de queijo",
            "onde fica a loja",
        ):
            query = (await store.embedder.embed([question]))[0]
            in_sql = await store.ranked_in_sql(owner, query, 7)
            in_numpy = await store.ranked_in_numpy(owner, query, 7)
            assert [f.id for f in in_sql] == [f.id for f in in_numpy], question


async def test_postgres_without_pgvector_stores_bytea(postgres_url: str, tmp_path: Path) -> None:
    async with open_stores(store_settings(postgres_url, tmp_path)) as stores:
        store = await open_fact_store(stores)
        if store.vectors == "pgvector":
            pytest.skip("pgvector is installed here: the bytea path is the one without it")
        owner = user()
        await add(store, owner, [Fact("city", "Fica em Campinas")], T0, "m1")
        assert [f.text for f in await store.recall(owner, "onde?", 1)] == ["Fica em Campinas"]
