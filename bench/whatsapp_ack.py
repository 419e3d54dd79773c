"""How fast the WhatsApp webhook acknowledges while the model takes seconds per reply.

    python -m bench.whatsapp_ack                      # embedded SQLite file, 200 posts
    python -m bench.whatsapp_ack --database-url postgresql://postgres@127.0.0.1:5432/x \\
        --redis-url redis://127.0.0.1:6379/0 --posts 200 --rate 50 --model-latency-ms 2000

The real app under uvicorn (one worker, in a thread of this process) with the webhook on; the
stub LLM takes `--model-latency-ms` before its first token and a local fake Graph API takes the
replies. `--posts` signed deliveries, each a text from a different number, are sent open-loop at
`--rate` per second (Meta does not wait for one ack before the next delivery). Prints the ack
latency (p50/p95/p99/max, ms), then how long until every reply reached the fake Graph API.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
import uvicorn

from core.settings import Settings
from fakes.graph_api import run_fake_graph_api
from fakes.serving import bind, serve_in_thread
from fakes.stub_llm import run_stub_llm
from server.app import create_app
from server.channels.whatsapp.signature import sign

SECRET = "bench-app-secret"
MESSAGE = "Registre receita de R$ 1.500 da venda de hoje"


def _delivery(n: int) -> bytes:
    wa_id = f"55119{n:08d}"
    message = {
        "from": wa_id,
        "id": f"wamid.bench.{uuid.uuid4().hex}",
        "timestamp": str(int(time.time())),
        "type": "text",
        "text": {"body": MESSAGE},
    }
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
        "contacts": [{"profile": {"name": f"Dono {n}"}, "wa_id": wa_id}],
        "messages": [message],
    }
    body = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"value": value, "field": "messages"}]}],
    }
    return json.dumps(body).encode()


async def _post_all(url: str, posts: int, rate: float) -> list[float]:
    bodies = [_delivery(n) for n in range(posts)]
    acks: list[float] = []

    async def one(client: httpx.AsyncClient, body: bytes) -> None:
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(SECRET, body)}
        started = time.perf_counter()
        response = await client.post(f"{url}/webhooks/whatsapp", content=body, headers=headers)
        acks.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()

    limits = httpx.Limits(max_connections=posts, max_keepalive_connections=posts)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        await one(client, _delivery(10**7))  # warm: first request, connection set-up
        acks.clear()
        tasks = []
        start = time.perf_counter()
        for n, body in enumerate(bodies):
            delay = start + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(client, body)))
        await asyncio.gather(*tasks)
    return acks


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.whatsapp_ack", description=__doc__)
    parser.add_argument("--posts", type=int, default=200)
    parser.add_argument("--rate", type=float, default=50.0, help="deliveries per second")
    parser.add_argument("--model-latency-ms", type=float, default=2000.0)
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    parser.add_argument("--redis-url", default=None)
    args = parser.parse_args(argv)

    with (
        tempfile.TemporaryDirectory() as tmp,
        run_stub_llm(first_token_ms=args.model_latency_ms) as llm,
        run_fake_graph_api() as graph,
    ):
        settings = Settings(
            database_url=args.database_url,
            redis_url=args.redis_url,
            data_dir=Path(tmp),
            whatsapp_verify_token="bench",
            whatsapp_app_secret=SECRET,
            whatsapp_access_token="bench",
            graph_api_base_url=graph.url,
        )
        env = {"OPENAI_API_KEY": "bench", "OPENAI_BASE_URL": llm.url, "ESQUADRA_MODEL": "stub"}
        sock = bind()
        port = sock.getsockname()[1]
        config = uvicorn.Config(
            create_app(settings, environ=env),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="on",
        )
        with serve_in_thread(config, sock, "esquadra", start_timeout_s=120, stop_timeout_s=30):
            acks = asyncio.run(_post_all(f"http://127.0.0.1:{port}", args.posts, args.rate))
            acked = time.perf_counter()
            deadline = acked + 300
            while len(graph.texts()) < args.posts and time.perf_counter() < deadline:
                time.sleep(0.05)
            replies_s = time.perf_counter() - acked
    print(
        f"{args.posts} webhooks at {args.rate:g}/s, model {args.model_latency_ms:g} ms to first "
        f"token, store {settings.backend}, redis {'on' if args.redis_url else 'off'}"
    )
    print(
        f"ack ms: p50 {statistics.median(acks):.1f}  p95 {_pct(acks, 0.95):.1f}  "
        f"p99 {_pct(acks, 0.99):.1f}  max {max(acks):.1f}"
    )
    print(f"replies sent: {len(graph.texts())}/{args.posts}, last {replies_s:.1f} s after the acks")
    # Each post comes from its own number: more than one text to a number is a reply split in
    # parts (over 4,096 characters) or a message answered twice.
    per_number = Counter(r.body["to"] for r in graph.sent() if r.body.get("type") == "text")
    several = {to: n for to, n in per_number.items() if n > 1}
    print(f"numbers with more than one text: {len(several)} {sorted(several.values())}")
    for to in list(several)[:3]:
        print(to, [len(r.body["text"]["body"]) for r in graph.sent() if r.body["to"] == to])


if __name__ == "__main__":
    main()
