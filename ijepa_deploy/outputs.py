"""Output paths checked before long work starts.

A benchmark or export that runs for an hour and then cannot write its result has lost the hour,
so every CLI checks its output paths first. The checks create nothing and remove nothing: they
look at the path and its nearest existing ancestor (which must be a writable directory, so the
missing parents can be created later).
"""

from __future__ import annotations

import os
from pathlib import Path

from ijepa_deploy.errors import InputError


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists() or candidate.is_symlink():
            return candidate
    return Path(".")


def _check_creatable(path: Path, subject: str, what: str) -> None:
    """``path`` does not exist: its nearest existing ancestor must be a writable directory."""
    anchor = _nearest_existing(path.parent if path.parent != path else path)
    if not anchor.is_dir():
        raise InputError(
            subject, f"cannot create {path}: {anchor} is not a directory", f"a {what} path whose parent is a directory"
        )
    if not os.access(anchor, os.W_OK | os.X_OK):
        raise InputError(
            subject,
            f"cannot create {path}: no write permission in {anchor}",
            f"a {what} path in a directory you can write to",
        )


def check_output_file(path, subject: str) -> Path:
    """``path`` can be written as a file: a new path whose parents can be created, or an existing
    regular file we may replace. Never a directory."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise InputError(subject, f"{path} is a directory", "a file path")
    if path.exists():
        if not path.is_file():
            raise InputError(subject, f"{path} exists and is not a regular file", "a file path")
        if not os.access(path, os.W_OK) or not os.access(path.parent, os.W_OK | os.X_OK):
            raise InputError(
                subject, f"{path} exists and cannot be replaced (permission denied)", "a file path you can write to"
            )
        return path
    _check_creatable(path, subject, "file")
    return path


def check_output_dir(path, subject: str) -> Path:
    """``path`` can hold output files: an existing writable directory, or a new path whose parents
    can be created. Never an existing file."""
    path = Path(path).expanduser()
    if path.exists() or path.is_symlink():
        if not path.is_dir():
            raise InputError(
                subject,
                f"{path} exists and is not a directory",
                "a directory path (a new one, or an existing directory)",
            )
        if not os.access(path, os.W_OK | os.X_OK):
            raise InputError(subject, f"cannot write into {path} (permission denied)", "a directory you can write to")
        return path
    _check_creatable(path, subject, "directory")
    return path
