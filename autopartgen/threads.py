"""How many CPU threads torch uses, set once when a command starts (``--threads``), and a map over
that many threads for per-part work outside torch.

Why not torch's default (one intra-op thread per core): the models are small, so a matrix product is
split into slices that each take microseconds, and every thread waits for the slowest. When another
process is busy on one of the cores, the slice that lands there waits a whole scheduler time slice
(milliseconds), so a small matmul gets up to 100x slower and a mesh -> parts run about 3x slower on a
shared 2-core machine. Half the cores leaves room for one busy neighbour: measured with
``autopartgen bench --contention`` (docs/performance.md).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

logger = logging.getLogger(__name__)

_interop_set = False

T = TypeVar("T")
R = TypeVar("R")


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS, Windows
        return os.cpu_count() or 1


def default_thread_count() -> int:
    """Intra-op threads when ``--threads`` is not given: half the available CPUs, at least one."""
    return max(1, available_cpus() // 2)


def configure_threads(threads: int | None = None) -> int:
    """Set torch's intra-op threads (``threads`` or :func:`default_thread_count`) and its inter-op threads.

    The inter-op pool (used by torch for parallel independent operators, which our models do not
    have) gets the same count; torch allows setting it only once per process and before any parallel
    work, so later calls leave it as it is. Returns the intra-op thread count set.
    """
    import torch

    global _interop_set
    count = threads if threads is not None else default_thread_count()
    torch.set_num_threads(count)
    if not _interop_set:
        try:
            torch.set_num_interop_threads(count)
        except RuntimeError:  # already set, or parallel work already ran in this process
            logger.debug("inter-op threads already fixed at %d", torch.get_num_interop_threads())
        _interop_set = True
    logger.debug("torch threads: %d intra-op, %d inter-op", torch.get_num_threads(), torch.get_num_interop_threads())
    return count


def add_threads_argument(parser) -> None:
    """The ``--threads N`` flag (generate, serve, eval, bench)."""
    from autopartgen.arguments import positive_int

    parser.add_argument("--threads", type=positive_int, default=None,
                        help=f"torch CPU threads (default: half the available CPUs, here {default_thread_count()}; "
                             "more threads slow down when other processes share the cores)")


def map_in_threads(function: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """``[function(item) for item in items]``, run on as many threads as torch may use (``--threads``).

    For independent per-part work on large arrays (numpy, trimesh, fast-simplification release the GIL
    in their heavy loops): the results come back in the order of ``items``, so the outcome is the same
    as the plain loop's, only sooner. One thread (or one item) runs the plain loop.
    """
    import torch

    items = list(items)
    workers = min(len(items), torch.get_num_threads())
    if workers <= 1:
        return [function(item) for item in items]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(function, items))
