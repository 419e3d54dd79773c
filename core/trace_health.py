"""How trace export is doing: counts of trace runs dropped or failed to send, per process.

The tracing setup records here; the alert evaluator and `/metrics` read from here, so neither
needs to know how traces leave the process.
"""

from __future__ import annotations

import threading

_lock = threading.Lock()
_counts = {"dropped": 0, "failed": 0}


def record_export_problem(kind: str, runs: int = 1) -> None:
    """Count `runs` trace runs that did not reach the receiver (`kind`: dropped or failed)."""
    with _lock:
        _counts[kind] = _counts.get(kind, 0) + runs


def export_problems() -> dict[str, int]:
    """Runs dropped (queue full) and failed (receiver error) since the process started."""
    with _lock:
        return dict(_counts)
