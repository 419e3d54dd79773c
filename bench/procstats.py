"""CPU and memory of a server's whole process tree (uvicorn supervisor + workers), via psutil;
and how fast and how shared this machine is (a reference loop, CPU stolen by other guests)."""

from __future__ import annotations

import asyncio
import contextlib
import time

import psutil


def _tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def tree_cpu_s(pids: list[int]) -> float:
    """User + system CPU seconds of every live process in the trees rooted at `pids`."""
    total = 0.0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            for proc in _tree(pid):
                with contextlib.suppress(psutil.Error):
                    times = proc.cpu_times()
                    total += times.user + times.system
    return total


def tree_rss_bytes(pids: list[int]) -> int:
    """Resident memory summed over the trees rooted at `pids`."""
    total = 0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            for proc in _tree(pid):
                with contextlib.suppress(psutil.Error):
                    total += proc.memory_info().rss
    return total


def postgres_pids() -> list[int]:
    """The postmaster(s) on this machine: their trees are the database's backends."""
    pids = []
    for proc in psutil.process_iter(["name", "ppid"]):
        with contextlib.suppress(psutil.Error):
            parent = proc.info["ppid"]
            if proc.info["name"] in {"postgres", "postmaster"} and (
                parent <= 1 or psutil.Process(parent).name() not in {"postgres", "postmaster"}
            ):
                pids.append(proc.pid)
    return pids


def redis_pids() -> list[int]:
    """The redis-server processes on this machine (sessions, locks, streams)."""
    pids = []
    for proc in psutil.process_iter(["name"]):
        with contextlib.suppress(psutil.Error):
            if proc.info["name"] == "redis-server":
                pids.append(proc.pid)
    return pids


def listening_pids(port: int) -> list[int]:
    """Roots of the process trees listening on `port` (for `--target-url`), if visible.

    uvicorn workers inherit the supervisor's socket, so every worker shows up as listening;
    keeping only the topmost ones avoids counting a worker's CPU twice.
    """
    pids: set[int] = set()
    with contextlib.suppress(psutil.Error, PermissionError):
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
                if conn.pid is not None:
                    pids.add(conn.pid)
    roots = []
    for pid in sorted(pids):
        with contextlib.suppress(psutil.Error):
            if not any(parent.pid in pids for parent in psutil.Process(pid).parents()):
                roots.append(pid)
    return roots


class TreeSampler:
    """Samples a process tree's CPU and RSS: before, periodically (for the peak) and after."""

    def __init__(self, pids: list[int], interval_s: float = 1.0) -> None:
        self.pids = pids
        self.interval_s = interval_s
        self.peak_rss = 0
        self._cpu_start = 0.0
        self._cpu_end = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Take the CPU baseline and begin sampling RSS in the running loop."""
        self._cpu_start = tree_cpu_s(self.pids)
        self.peak_rss = tree_rss_bytes(self.pids)
        self._task = asyncio.get_running_loop().create_task(self._sample())

    async def _sample(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            # psutil reads /proc: cheap, but off the loop so it never delays a turn's timing.
            rss = await asyncio.to_thread(tree_rss_bytes, self.pids)
            self.peak_rss = max(self.peak_rss, rss)

    async def stop(self) -> None:
        """Stop sampling and take the final CPU reading."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.peak_rss = max(self.peak_rss, tree_rss_bytes(self.pids))
        self._cpu_end = tree_cpu_s(self.pids)

    @property
    def cpu_s(self) -> float:
        """CPU seconds the trees spent between `start` and `stop`."""
        return max(0.0, self._cpu_end - self._cpu_start)


def reference_loop_ms(repeats: int = 3) -> float:
    """Milliseconds for a fixed pure-Python loop, best of `repeats`: this machine's speed, so
    runs on different machines of the same kind can be compared (the floor's and the squad's
    CPU per reply scale with it, not always by the same factor)."""
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        sum(i * i for i in range(1_000_000))
        best = min(best, time.process_time() - started)
    return round(best * 1000, 1)


def steal_ticks() -> int | None:
    """The CPU time the hypervisor gave to other guests (`steal` in /proc/stat), in ticks."""
    try:
        with open("/proc/stat") as stat:
            fields = stat.readline().split()
    except OSError:
        return None
    return int(fields[8]) if len(fields) > 8 and fields[0] == "cpu" else None
