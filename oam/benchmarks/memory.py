"""Memory of a process tree as the benchmarks report it: PSS, so pages shared between forks count once.

RSS summed over a parent and its forked workers counts each shared page (the interpreter, its
libraries, the copy-on-write heap from before the fork) once per process. PSS (proportional set
size, ``Pss`` in ``/proc/PID/smaps_rollup``) splits each shared page among the processes mapping
it, so the sum over a tree is the memory the tree holds. Linux keeps no peak PSS
(``VmHWM`` is the peak RSS), so :class:`PeakSampler` samples it::

    with PeakSampler([collector.pid, agent.pid]) as memory:
        ...                                  # the work
    memory.peak.pss_mb, memory.peak.rss_mb   # the highest sums seen
"""
from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import psutil


@dataclass(frozen=True)
class Memory:
    """A tree's memory in MiB: ``pss_mb`` (shared pages split) and ``rss_mb`` (shared pages once per process)."""

    pss_mb: float = 0.0
    rss_mb: float = 0.0


def parse_rollup(text: str) -> Memory:
    """The ``Pss`` and ``Rss`` lines of one ``smaps_rollup`` (in kB) as MiB."""
    fields = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        if name in ("Pss", "Rss") and rest.split():
            fields[name] = int(rest.split()[0]) / 1024
    if "Pss" not in fields or "Rss" not in fields:
        raise ValueError("no Pss and Rss lines in smaps_rollup")
    return Memory(pss_mb=fields["Pss"], rss_mb=fields["Rss"])


def family(pids: Iterable[int]) -> list[int]:
    """The processes and their live descendants (a collector's workers), each once."""
    found: dict[int, None] = {}
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            parent = psutil.Process(pid)
            found[pid] = None
            found.update((child.pid, None) for child in parent.children(recursive=True))
    return list(found)


def process_memory(pid: int) -> Memory:
    """One process's PSS and RSS; 0 when it is gone (or the kernel has no smaps_rollup)."""
    try:
        return parse_rollup(Path(f"/proc/{pid}/smaps_rollup").read_text())
    except (OSError, ValueError):
        return Memory()


def tree_memory(pids: Iterable[int]) -> Memory:
    """PSS and RSS summed over the processes and their descendants."""
    each = [process_memory(pid) for pid in family(pids)]
    return Memory(pss_mb=sum(m.pss_mb for m in each), rss_mb=sum(m.rss_mb for m in each))


def higher(a: Memory, b: Memory) -> Memory:
    """Each figure's maximum of the two."""
    return Memory(pss_mb=max(a.pss_mb, b.pss_mb), rss_mb=max(a.rss_mb, b.rss_mb))


class PeakSampler:
    """Samples :func:`tree_memory` of ``pids`` every ``interval`` seconds in a thread; ``peak`` is the highest."""

    def __init__(self, pids: Iterable[int], interval: float = 0.5) -> None:
        self.pids = list(pids)
        self.interval = interval
        self.peak = Memory()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memory sampler", daemon=True)

    def _run(self) -> None:
        while True:
            self.peak = higher(self.peak, tree_memory(self.pids))
            if self._stopped.wait(self.interval):
                return

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopped.set()
        self._thread.join()
        self.peak = higher(self.peak, tree_memory(self.pids))
