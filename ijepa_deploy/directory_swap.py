"""Replacing a directory with a complete new one without ever losing the old one: used by
``ijepa-export --overwrite`` (exporters/output_slot.py) and ``ijepa-triton-repo --overwrite``.

The new directory is made beside the target (same filesystem, so renames are atomic) and swapped
in with one ``renameat2(RENAME_EXCHANGE)`` on Linux: the target path holds the old directory or the
new one at every instant, never neither. Where that call is missing (other kernels, some
filesystems) it falls back to two renames (old -> a free backup name, new -> target); only a hard
kill between the two renames can then leave the target missing, with the old directory complete
under the backup name. Nothing is removed here: the caller removes the old directory once the
swap is done.
"""

from __future__ import annotations

import ctypes
import errno
import os
from pathlib import Path

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2 RENAME_EXCHANGE). False where unsupported."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(code, f"renameat2({a}, {b}, RENAME_EXCHANGE): {os.strerror(code)}")


def free_name(parent: Path, stem: str) -> Path:
    """``parent/stem``, or ``stem-2``, ``stem-3``, ... : a name nothing has (never someone's files)."""
    candidate = parent / stem
    n = 1
    while candidate.exists() or candidate.is_symlink():
        n += 1
        candidate = parent / f"{stem}-{n}"
    return candidate


def swap_in(new: Path, target: Path) -> Path:
    """Put the complete directory ``new`` at the existing ``target``; returns where the old target
    is now, for the caller to remove."""
    if exchange(new, target):
        return new
    old = free_name(target.parent, f".{target.name}.replaced-{os.getpid()}")
    os.rename(target, old)
    os.rename(new, target)
    return old
