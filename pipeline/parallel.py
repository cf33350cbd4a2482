"""The project's one process pool (`process_pool`) and its ordered, bounded map (`ordered_map`).

Workers die with their parent: each watches its parent process id and exits as soon as it changes
(the parent was killed, even by SIGKILL, and the worker was re-parented), so a killed ingest leaves
no worker holding memory behind. A watchdog thread rather than Linux's PR_SET_PDEATHSIG, which fires
when the *thread* that forked the worker ends and works on Linux only."""
from __future__ import annotations

import os
import threading
import time
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, Callable, Iterable, Iterator, TypeVar

T = TypeVar("T")
R = TypeVar("R")

WATCH_INTERVAL = 0.5  # seconds between a worker's looks at its parent


def _watch_parent(parent: int) -> None:
    while True:
        if os.getppid() != parent:
            os._exit(1)  # nothing to clean up: every output is written atomically
        time.sleep(WATCH_INTERVAL)


def _die_with_parent(parent: int) -> None:
    """Worker initializer."""
    threading.Thread(target=_watch_parent, args=(parent,), name="parent-watch", daemon=True).start()


def process_pool(workers: int) -> ProcessPoolExecutor:
    """A process pool whose workers exit when this process dies."""
    return ProcessPoolExecutor(workers, initializer=_die_with_parent, initargs=(os.getpid(),))


def ordered_map(fn: Callable[..., R], items: Iterable[tuple[T, tuple[Any, ...]]], workers: int,
                depth: int) -> Iterator[tuple[T, R]]:
    """Yield `(tag, fn(*args))` for each `(tag, args)` of `items`, in order.

    With `workers` > 1 the calls run in a process pool and at most `depth` are in flight, so a
    lazily produced `items` (a stream of image bytes) never piles up in memory; with 1 they run
    inline. A failure cancels what has not started yet."""
    if workers <= 1:
        for tag, args in items:
            yield tag, fn(*args)
        return
    pool = process_pool(workers)
    in_flight: deque[tuple[T, Future]] = deque()
    try:
        for tag, args in items:
            in_flight.append((tag, pool.submit(fn, *args)))
            if len(in_flight) >= depth:
                done_tag, fut = in_flight.popleft()
                yield done_tag, fut.result()
        while in_flight:
            done_tag, fut = in_flight.popleft()
            yield done_tag, fut.result()
    finally:
        pool.shutdown(cancel_futures=True)
