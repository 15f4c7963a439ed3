"""The process's garbage-collector policy, set once by the command line.

Parsing fact files, evaluating rules and the SSH fan-out allocate containers by
the million, nearly none of them cyclic garbage; with the default thresholds
the cyclic collector re-scans every live fact tree of a big fleet over and over
while they are made. Reference counting frees everything as usual. Library
code (kaudit.* below cli) leaves the collector alone: a program that embeds
kaudit keeps its own policy.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 50_000     # allocations between young-generation collections (default 700)


def apply() -> None:
    """Rare young collections, and what exists at start-up (modules, the rule
    packs' code objects) frozen out of every collection. Cycles (paramiko's
    transports make some) are still collected, only far less often."""
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
