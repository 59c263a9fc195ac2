"""Memory of this process and its children, in GiB: the one place that reads RSS figures."""

from __future__ import annotations

import gc
import os
import resource
from pathlib import Path


def peak_rss_gib() -> float:
    """This process's own peak resident set size so far.

    ``VmHWM`` (Linux) belongs to the address space ``exec`` created; ``ru_maxrss`` is carried over
    fork and exec, so in a spawned child it starts at the parent's peak. ``ru_maxrss`` (KiB on
    Linux) is the fallback where ``/proc`` is missing."""
    hwm = _proc_gib("/proc/self/status", "VmHWM:")
    return hwm if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def current_rss_gib() -> float:
    """This process's resident set size now (0.0 where ``/proc`` is missing)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1024**3
    except (OSError, ValueError, IndexError):
        return 0.0


def rss_split_gib() -> tuple[float | None, float | None]:
    """This process's resident memory now as (anonymous, file-backed) GiB (``RssAnon``, ``RssFile``):
    a memory-mapped model counts as file pages, which the kernel may drop and reread and every process
    mapping the same file shares; anonymous pages are this process's alone. None where unknown."""
    return _proc_gib("/proc/self/status", "RssAnon:"), _proc_gib("/proc/self/status", "RssFile:")


def available_memory_gib() -> float | None:
    """Memory the kernel can hand out without swapping (``MemAvailable``); None where unknown."""
    return _proc_gib("/proc/meminfo", "MemAvailable:")


def _proc_gib(path: str, key: str) -> float | None:
    """A ``key: N kB`` line of a /proc file, in GiB; None where the file or line is missing."""
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1]) / 1024**2
    except (OSError, ValueError, IndexError):  # no /proc (not Linux) or an unexpected line: unknown
        return None
    return None


def peak_rss_with_children_gib() -> float:
    """The larger of this process's peak and the largest peak of any child it has waited for."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2
    return max(peak_rss_gib(), children)


def release_memory() -> None:
    """Give freed heap pages back to the OS (glibc keeps them otherwise)."""
    import ctypes

    gc.collect()
    try:
        trim = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc: its allocator returns memory its own way
        return
    trim(0)
