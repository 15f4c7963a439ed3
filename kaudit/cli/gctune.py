"""Keeping Python's cyclic garbage collector out of the hot paths.

Parsing, evaluation and the SSH fan-out allocate containers by the million;
the collector would re-scan every live fact tree of a big fleet over and over
while they are made, although almost none of it can be cyclic garbage.
Reference counting still frees everything as usual.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def no_cyclic_gc() -> Iterator[None]:
    """No cyclic collection inside the block (for code that makes no cycles)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@contextmanager
def rare_cyclic_gc(threshold: int = 20000) -> Iterator[None]:
    """Young-generation collections every `threshold` allocations instead of 700,
    with what exists on entry frozen (never re-scanned) until the block ends: for
    code that does make some cyclic garbage (paramiko's transports), so it is
    still collected, only far less often."""
    old = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(max(threshold, old[0]), *old[1:])
    try:
        yield
    finally:
        gc.set_threshold(*old)
        gc.unfreeze()
