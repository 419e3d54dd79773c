"""One LangSmith trace per chat turn, with personal data masked before anything leaves.

Off unless `LANGSMITH_TRACING=true` (core/settings.py). When on, each turn is one trace: a root
run `esquadra.turn` (inputs: the message; outputs: this turn's reply only) with LangGraph's own
runs inside it (classify, the agent, its model call). The root carries metadata `thread_id`,
`user_id` (a salted hash), `channel`, `agent`, `layer`, `confidence` and tags `agent:<id>`,
`layer:<name>`; LangChain's tracer copies the config's metadata to every run inside.

Masking goes through the SDK's public hook, `Client(anonymizer=...)`, which the client applies to
every run's inputs, outputs, metadata and error before queueing it: strings pass `mask_pii`,
`user_id` values become the hash, internal keys (the checkpoint fence) are dropped. The
checkpoints themselves keep the real user id: only what is sent changes.

The library never traces on its own: `langsmith.configure(enabled=False)` turns off its
environment-driven tracing for the process, and a turn enables it only inside its own context,
with this module's client. An outage never slows a chat: runs are queued and sent by the SDK's
background thread; while its queue is longer than `max_queued` run operations, new turns are
not traced and are counted as dropped (core/trace_health.py), and failed sends are counted too.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
from collections.abc import Callable
from typing import Any

from checkpointing.fenced import FENCE_KEY
from core.pii import mask_pii
from core.settings import Settings
from core.trace_health import record_export_problem

log = logging.getLogger("esquadra.tracing")

ROOT_RUN_NAME = "esquadra.turn"
# Keys of ours that mean nothing outside the process (LangGraph copies `configurable` into every
# run's metadata).
INTERNAL_KEYS = frozenset({FENCE_KEY})
# Run operations (a run's start or end) waiting in the SDK's queue; past this, new turns are not
# traced. A turn makes about 8; the SDK's own queue holds 10,000 before it drops silently.
MAX_QUEUED_OPS = 2_000
# The SDK's HTTP timeouts (connect, read) in ms: its sender thread gives up on a dead endpoint
# quickly and gets back to draining.
TIMEOUT_MS = (2_000, 10_000)


def user_hasher(salt: bytes) -> Callable[[str], str]:
    """A stable pseudonym for a user id: the same in every trace, useless without the salt."""

    def pseudonym(user_id: str) -> str:
        digest = hmac.new(salt, user_id.encode(), hashlib.sha256).hexdigest()
        return "u" + digest[:20]  # the letter keeps it from ever reading as a bare number

    return pseudonym


def trace_scrubber(salt: bytes) -> Callable[[Any], Any]:
    """The anonymizer handed to the LangSmith client (applied to inputs, outputs, metadata and
    the error of every run, as JSON): masked strings, hashed user ids, no internal keys."""
    pseudonym = user_hasher(salt)

    def scrub(value: Any) -> Any:
        if isinstance(value, str):
            return mask_pii(value)
        if isinstance(value, dict):
            clean = {}
            for key, item in value.items():
                if key in INTERNAL_KEYS:
                    continue
                if key == "user_id" and isinstance(item, str):
                    clean[key] = pseudonym(item)
                else:
                    clean[key] = scrub(item)
            return clean
        if isinstance(value, list):
            return [scrub(item) for item in value]
        return value

    return scrub


def trace_salt(settings: Settings, session_secret: str) -> bytes:
    """`ESQUADRA_TRACE_SALT`, or one derived from the session secret (shared by the workers of
    a machine, so a user has one pseudonym across them)."""
    if settings.trace_salt is not None:
        return settings.trace_salt.get_secret_value().encode()
    return hmac.new(session_secret.encode(), b"esquadra trace user ids", hashlib.sha256).digest()


class TurnTracer:
    """Starts a `TurnTrace` per chat turn on one LangSmith client."""

    def __init__(self, client: Any, project: str, max_queued: int = MAX_QUEUED_OPS) -> None:
        self.client = client
        self.project = project
        self.max_queued = max_queued

    def start(
        self, thread_id: str, user_id: str | None, channel: str, message: str
    ) -> TurnTrace | None:
        """The turn's trace, opened (its root posted, its context entered in this task); None
        when the sender is backed up, counted as dropped."""
        queue = self.client.tracing_queue
        if queue is not None and queue.qsize() >= self.max_queued:
            record_export_problem("dropped")
            return None
        return TurnTrace(self, thread_id, user_id, channel, message)

    def close(self, timeout_s: float = 2.0) -> None:
        """Send what is queued (at most `timeout_s`) and stop the SDK's threads. Blocking."""
        self.client.cleanup(timeout=timeout_s)


class TurnTrace:
    """The root run of one turn. Made and finished in the same task: the LangSmith context it
    enters (so LangGraph's runs nest under it) is that task's."""

    def __init__(
        self, tracer: TurnTracer, thread_id: str, user_id: str | None, channel: str, message: str
    ) -> None:
        from langsmith import RunTree
        from langsmith.run_helpers import tracing_context

        self._reply: list[str] = []
        self._root = RunTree(
            name=ROOT_RUN_NAME,
            run_type="chain",
            inputs={"message": message},
            client=tracer.client,
            project_name=tracer.project,
            tags=[f"channel:{channel}"],
            # Raw here, hashed by the client's anonymizer like every run's `user_id`.
            extra={"metadata": {"thread_id": thread_id, "user_id": user_id, "channel": channel}},
        )
        self._root.post()
        self._context = contextlib.ExitStack()
        self._context.enter_context(
            tracing_context(
                parent=self._root, enabled=True, client=tracer.client, project_name=tracer.project
            )
        )

    def see(self, kind: str, data: dict[str, Any]) -> None:
        """Take what the root needs from a chat event (the route, the reply's tokens)."""
        if kind == "token":
            self._reply.append(data["text"])
        elif kind == "route":
            agent, layer = data["agent"], data["layer"]
            self._root.add_metadata(
                {"agent": agent, "layer": layer, "confidence": data["confidence"]}
            )
            self._root.add_tags([f"agent:{agent}", f"layer:{layer}"])

    def finish(self, last: tuple[str, dict[str, Any]] | None) -> None:
        """End the root with this turn's reply (or its error) and leave the turn's context."""
        try:
            if last is not None and last[0] == "done":
                self._root.end(outputs={"reply": "".join(self._reply), "agent": last[1]["agent"]})
            else:
                code = last[1].get("code", "internal_error") if last else "incomplete"
                self._root.end(outputs={"reply": "".join(self._reply)}, error=code)
            self._root.patch()
        finally:
            self._context.close()


def open_tracer(settings: Settings, session_secret: str) -> TurnTracer | None:
    """The process's tracer when `LANGSMITH_TRACING` is on, else None. Either way the library's
    own environment-driven tracing is switched off: nothing is traced but our turns."""
    import langsmith

    langsmith.configure(enabled=False)
    if not settings.langsmith_tracing:
        return None
    api_key = settings.langsmith_api_key
    client = langsmith.Client(
        api_url=settings.langsmith_endpoint,
        api_key=api_key.get_secret_value() if api_key is not None else None,
        anonymizer=trace_scrubber(trace_salt(settings, session_secret)),
        timeout_ms=TIMEOUT_MS,
        tracing_error_callback=_count_failure,
    )
    log.info(
        "tracing to LangSmith at %s, project %s",
        settings.langsmith_endpoint,
        settings.langsmith_project,
    )
    if api_key is None and "smith.langchain.com" in settings.langsmith_endpoint:
        log.warning("LANGSMITH_API_KEY is not set: LangSmith will refuse every trace")
    return TurnTracer(client, settings.langsmith_project)


def _count_failure(error: Exception) -> None:
    # Called from the SDK's sender thread, once per batch it could not deliver (the SDK logs
    # the failure itself, with every run id: one line here would only repeat it).
    record_export_problem("failed")
