"""An ordered map on host threads, reading ahead only so far: for host work (dlib, PIL, numpy)
that releases the GIL, overlapped with itself or with the device."""

from __future__ import annotations

import collections
import concurrent.futures
from typing import Callable, Iterable, Iterator, TypeVar

Item, Result = TypeVar("Item"), TypeVar("Result")


def ordered_map(function: Callable[[Item], Result], items: Iterable[Item], threads: int, ahead: int
                ) -> Iterator[Result]:
    """function(item) for each item, in order, on `threads` threads, with at most `ahead` items
    started beyond the one being returned (a lazy reader of items stays lazy)."""
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        pending: collections.deque = collections.deque()
        for item in items:
            pending.append(pool.submit(function, item))
            if len(pending) > ahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
