"""Process-wide garbage-collector policy for the sink process (`hookstream sink` sets it once).

Each consumed record leaves a row tuple (and a list for attachment types) alive until its batch
is written, so with CPython's default threshold (a young collection every 700 allocations) the
collector keeps re-walking every batch and the whole heap the process built at start: a third of
the sink's time in bench/sink. Freezing the start-up heap and collecting young objects every
50,000 allocations keeps memory bounded (a batch is at most a few hundred thousand objects)
and made both the sink and the bare loader ~15-20% faster there. bench/sink applies it to every
path it measures, so the ratios stay like for like.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 50_000


def tune_gc() -> None:
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
