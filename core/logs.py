"""Structured logs: one JSON object per line, personal data masked, request and thread ids.

Every process that serves (each `esquadra serve` worker, `esquadra worker`) installs the same
configuration, `logging_config(level)`: uvicorn applies it itself in every worker it spawns
(`uvicorn.Config(log_config=...)`), so `--workers 2` logs exactly like one worker, uvicorn's own
access and error lines included. The request and thread ids come from context variables that the
HTTP middleware and the chat turn set, so a log call needs no extra arguments to carry them.
"""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from core.pii import mask_pii

__all__ = ["REQUEST_ID", "THREAD_ID", "JsonFormatter", "logging_config"]

# Set by the HTTP layer for the whole request (and copied into the tasks it starts).
REQUEST_ID: ContextVar[str | None] = ContextVar("esquadra_request_id", default=None)
# Set by the chat turn while it runs.
THREAD_ID: ContextVar[str | None] = ContextVar("esquadra_thread_id", default=None)


class JsonFormatter(logging.Formatter):
    """`{timestamp, level, logger, pid, message, request_id, thread_id[, exception]}`, one line.

    Masking happens here, the one place every record passes before it is written: a CPF in a
    message, an exception text or an id never reaches the stream.
    """

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,  # which worker, under `--workers N`
            "message": mask_pii(record.getMessage()),
            "request_id": _masked(REQUEST_ID.get()),
            "thread_id": _masked(THREAD_ID.get()),
        }
        if record.name == "uvicorn.access" and isinstance(record.args, tuple):
            # uvicorn's access line: (client, method, path, http version, status).
            if len(record.args) == 5:
                line.update(method=record.args[1], path=mask_pii(str(record.args[2])))
                line["status"] = record.args[4]
        if record.exc_info:
            line["exception"] = mask_pii(self.formatException(record.exc_info))
        elif record.exc_text:
            line["exception"] = mask_pii(record.exc_text)
        if record.stack_info:
            line["stack"] = mask_pii(self.formatStack(record.stack_info))
        return json.dumps(line, ensure_ascii=False, default=str)


def _masked(value: str | None) -> str | None:
    # Ids come from callers (X-Request-Id, a thread id an integration chose): a phone number
    # used as an id is still a phone number.
    return mask_pii(value) if value else value


def logging_config(level: str = "info") -> dict[str, Any]:
    """A `logging.config.dictConfig` dict: JSON lines on stderr for us, uvicorn and libraries."""
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": level, "handlers": ["stderr"]},
        # uvicorn's own loggers: no handlers of their own, so their lines reach the root's.
        "loggers": {
            name: {"level": level, "handlers": [], "propagate": True}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        },
    }
