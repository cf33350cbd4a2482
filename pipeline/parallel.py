"""The project's one process-pool loop: ordered results with a bounded number of calls in flight."""
from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, Callable, Iterable, Iterator, TypeVar

T = TypeVar("T")
R = TypeVar("R")


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
    pool = ProcessPoolExecutor(workers)
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
