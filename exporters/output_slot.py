"""Where an export writes, and how it replaces an existing artifact without losing it.

``--overwrite`` never touches the old artifact while the new one is being made: the export goes
into a new directory beside the target and only an export that passed replaces the target (the
swap: ijepa_deploy.directory_swap). A failed or interrupted export is kept under
``<name>.failed-<time>`` (one that had written nothing is removed). Only a hard kill (SIGKILL, OOM
killer, power loss) can leave the hidden working directory behind; the next export to the same
target names those (stale_work_dirs) instead of leaving gigabytes out of sight. Creating the
working directory, the swap with the removal of the old artifact, and moving a failed export
aside each run with SIGINT/SIGTERM deferred (ijepa_deploy.interrupts), so a signal never leaves
one of them half done.
"""

from __future__ import annotations

import datetime as _dt
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

from ijepa_deploy import interrupts
from ijepa_deploy.directory_swap import free_name, swap_in
from ijepa_deploy.errors import InputError
from ijepa_deploy.manifest import MANIFEST_NAME
from ijepa_deploy.outputs import check_output_dir


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    return True


def stale_work_dirs(target: Path) -> list[Path]:
    """Hidden working directories of earlier exports to ``target`` whose process is gone (killed
    before it could set them aside). Reported, not removed: they may hold the only copy of hours
    of work, and a pid on a shared filesystem may belong to another host."""
    target = Path(target).expanduser()
    if target.is_symlink():
        target = target.resolve()
    prefix = f".{target.name}.exporting-"
    stale = []
    for path in sorted(target.parent.glob(f"{prefix}*")) if target.parent.is_dir() else []:
        pid = path.name[len(prefix) :].split("-", 1)[0]
        if path.is_dir() and pid.isdigit() and not _process_alive(int(pid)):
            stale.append(path)
    return stale


@dataclass
class OutputSlot:
    """``work`` is where the export writes; it is ``target`` itself unless an artifact is being
    replaced, then a hidden sibling directory."""

    target: Path
    work: Path
    published: bool = False

    @property
    def replacing(self) -> bool:
        return self.work != self.target

    @classmethod
    def open(cls, target: Path, overwrite: bool) -> OutputSlot:
        target = Path(target).expanduser()
        check_output_dir(target, "--output")
        if target.is_symlink():
            target = target.resolve()  # replace what the link points at; the link stays
        if target.is_dir() and any(target.iterdir()):
            if not overwrite:
                raise InputError(
                    str(target),
                    "output directory is not empty",
                    "an empty or new directory, or --overwrite to replace it",
                )
            if not (target / MANIFEST_NAME).is_file():
                raise InputError(
                    str(target),
                    f"refusing to overwrite a directory that holds no {MANIFEST_NAME}",
                    "an artifact directory or a new path",
                )
            work = target.parent / f".{target.name}.exporting-{os.getpid()}-{secrets.token_hex(3)}"
            return cls(target, work)  # made by create(), where the caller can clean it up
        target.mkdir(parents=True, exist_ok=True)
        return cls(target, target)

    def create(self) -> None:
        """Make the working directory (the caller sets the slot aside on any failure after this)."""
        with interrupts.held():
            self.work.mkdir(exist_ok=not self.replacing)  # mode from the umask, as the target's would be

    def publish(self) -> None:
        """Put the finished export at ``target`` and remove the artifact it replaced. A signal that
        came before (even one library code swallowed) stops it here, before the swap."""
        if not self.replacing or self.published:
            return
        with interrupts.held():
            interrupts.check()
            old = swap_in(self.work, self.target)
            self.published = True
            shutil.rmtree(old)

    def keep_failed(self) -> Path | None:
        """Move a failed or interrupted export out of the way, to a name for the message. None when
        nothing is kept: the export wrote to the target itself (nothing was replaced; its status
        says what happened), or it had written nothing yet (its empty directory is removed)."""
        if not self.replacing or self.published:
            return None
        with interrupts.held():
            if not self.work.exists():
                return None
            if not any(self.work.iterdir()):
                self.work.rmdir()
                return None
            stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
            kept = free_name(self.target.parent, f"{self.target.name}.failed-{stamp}")
            os.rename(self.work, kept)
        return kept

    def set_aside(self) -> str:
        """Keep (or remove) a stopped export; returns what happened, for the message."""
        try:
            return self.outcome(self.keep_failed())
        except KeyboardInterrupt:
            # The first signal landed before keep_failed held them (the export had stopped for another
            # reason); every later one is only recorded (interrupts: one raise per run), so this is safe.
            return self.outcome(self.keep_failed())

    def outcome(self, kept: Path | None) -> str:
        """What a stopped export left, for the message: ``kept`` is keep_failed()'s answer."""
        if kept is not None:
            return f"{self.target} is untouched; the unfinished export is kept at {kept}"
        if self.replacing:
            return f"{self.target} is untouched; the unfinished export had written nothing and was removed"
        return f"the unfinished export is left in {self.target} (its manifest says how far it got)"
