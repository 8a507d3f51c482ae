"""Pure figures of the soak (``bench/soak.py``): the longest gap in the stored documents, lines lost and
duplicated, and when the faults fall in the run."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Gap:
    """The longest stretch of time with no stored document: ``seconds`` long, from ``start`` (epoch s)."""

    seconds: float
    start: float | None


def longest_gap(buckets: Iterable[tuple[float, int]], bucket_seconds: float = 1.0) -> Gap:
    """The longest run of empty buckets of a date histogram (``(key in epoch ms, doc_count)``, in key order,
    empty buckets included as ``min_doc_count: 0`` gives them); ``Gap(0, None)`` when none is empty."""
    best, best_start = 0, None
    run, run_start = 0, None
    for key, count in buckets:
        if count:
            run = 0
            continue
        if run == 0:
            run_start = key / 1000
        run += 1
        if run > best:
            best, best_start = run, run_start
    return Gap(best * bucket_seconds, best_start)


@dataclass(frozen=True)
class Tally:
    """Lines written (sequence numbers ``0 .. written-1``) against the documents stored for them."""

    written: int
    stored: int        # documents, duplicates included
    distinct: int      # distinct sequence numbers among them
    lost: int          # sequence numbers written, never stored
    duplicated: int    # documents beyond the first of their sequence number
    unexpected: int    # stored sequence numbers that were never written
    first_lost: list[int]


def tally(written: int, counts: dict[int, int], sample: int = 10) -> Tally:
    """Compare ``written`` lines with ``counts`` (sequence number -> documents stored with it)."""
    stored = sum(counts.values())
    lost = [seq for seq in range(written) if counts.get(seq, 0) == 0]
    return Tally(written=written, stored=stored, distinct=sum(1 for c in counts.values() if c > 0),
                 lost=len(lost), duplicated=sum(c - 1 for c in counts.values() if c > 1),
                 unexpected=sum(1 for seq in counts if not 0 <= seq < written), first_lost=lost[:sample])


def fault_times(duration: float, kinds: dict[str, int]) -> list[tuple[float, str]]:
    """When each fault falls: all of them spread evenly over ``duration`` seconds (none at the very start or
    end), the kinds interleaved; ``kinds`` maps a kind to how many times it happens (0 for none)."""
    order: list[tuple[float, str]] = []
    for kind, times in kinds.items():
        order += [((i + 0.5) / times, kind) for i in range(times)]
    order.sort()
    return [(duration * (i + 1) / (len(order) + 1), kind) for i, (_, kind) in enumerate(order)]


def counter_rate(points: list[tuple[float, float]]) -> float:
    """A counter's mean rate per second over its samples when the counter starts again from near 0 each time
    its process is restarted (CPU seconds of a piece): rises are summed, a fall counts the new value as risen
    from 0."""
    if len(points) < 2 or points[-1][0] == points[0][0]:
        return 0.0
    risen = sum(now - before if now >= before else now for (_, before), (_, now) in zip(points, points[1:]))
    return risen / (points[-1][0] - points[0][0])
