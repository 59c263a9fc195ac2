"""The output contract of a dataset job, and its resume state.

``OUT_DIR/part-NNNNN.parquet`` holds the good rows of part N (rows N*part_size ... of the listing,
in listing order): ``path`` and ``embedding`` (``fixed_size_list<float32, D>``), or ``logits`` and
``label`` for classification artifacts. ``OUT_DIR/errors-NNNNN.parquet`` holds the rows of part N
that could not be embedded (``path``, ``error``), only when there are some. Both are written under
a temporary name and renamed, the errors file first: a part file exists only when its part is
complete. ``OUT_DIR/_ijepa_dataset.json`` records the artifact (manifest SHA-256), the listing's
digest, the part size and the finished parts; the part files on disk are the truth it is
reconciled with, so jobs that share the directory (``--shard-index``) or die mid-update never
corrupt it. Updates take an advisory lock (``fcntl.flock``) on a file in the directory.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import shutil
import socket
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from ijepa_deploy import interrupts
from ijepa_deploy.errors import InputError
from ijepa_deploy.manifest import write_atomic
from ijepa_deploy.outputs import check_output_dir

STATE_NAME = "_ijepa_dataset.json"
LOCK_NAME = ".ijepa_dataset.lock"
FORMAT = 1
PREVIOUS_PREFIX = ".previous-"  # where --overwrite moves an earlier output until the new one is complete


def part_name(part: int) -> str:
    return f"part-{part:05d}.parquet"


def errors_name(part: int) -> str:
    return f"errors-{part:05d}.parquet"


def _part_number(name: str) -> int | None:
    for prefix in ("part-", "errors-"):
        if name.startswith(prefix) and name.endswith(".parquet") and name[len(prefix) : -8].isdigit():
            return int(name[len(prefix) : -8])
    return None


@dataclass
class PartRecord:
    rows: int  # embedded rows (in part-NNNNN.parquet)
    errors: int  # error rows (in errors-NNNNN.parquet)


@dataclass
class DatasetState:
    """``_ijepa_dataset.json``. Two jobs may share an output only when ``key()`` is equal."""

    manifest_sha256: str
    artifact: str  # the directory as given (informational)
    task: str
    precision: str
    column: str  # embedding or logits
    width: int  # its size D: fixed_size_list<float32, D>
    listing_sha256: str
    rows: int
    part_size: int
    finished: dict[int, PartRecord] = field(default_factory=dict)
    format: int = FORMAT

    @property
    def parts(self) -> int:
        return math.ceil(self.rows / self.part_size)

    def part_range(self, part: int) -> range:
        return range(part * self.part_size, min(self.rows, (part + 1) * self.part_size))

    def differences(self, other: DatasetState) -> list[str]:
        """What makes ``other`` (an existing output) a different job from this one."""
        found = []
        if other.format != self.format:
            found.append(f"format {other.format} (this version writes {self.format})")
        if other.manifest_sha256 != self.manifest_sha256:
            found.append(
                f"another artifact (manifest sha256 {other.manifest_sha256[:12]}..., {other.artifact}; "
                f"this one is {self.manifest_sha256[:12]}...)"
            )
        if other.precision != self.precision:
            found.append(f"precision {other.precision} (this run: {self.precision})")
        if other.listing_sha256 != self.listing_sha256 or other.rows != self.rows:
            found.append(
                f"another listing ({other.rows} images, digest {other.listing_sha256[:12]}...; this one: "
                f"{self.rows} images, {self.listing_sha256[:12]}...)"
            )
        if other.part_size != self.part_size:
            found.append(f"part size {other.part_size} (this run: {self.part_size})")
        return found

    def to_dict(self) -> dict:
        data = asdict(self)
        data["finished"] = {f"{k:05d}": asdict(v) for k, v in sorted(self.finished.items())}
        data["parts"] = self.parts
        return data

    @classmethod
    def from_dict(cls, data: dict) -> DatasetState:
        data = dict(data)
        data.pop("parts", None)
        data["finished"] = {int(k): PartRecord(**v) for k, v in data.get("finished", {}).items()}
        return cls(**data)


class OutputDir:
    """One output directory: its state file, lock, and atomic part commits."""

    def __init__(self, path):
        self.path = check_output_dir(path, "--output")

    @contextlib.contextmanager
    def locked(self):
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.path / LOCK_NAME, "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def read_state(self) -> DatasetState | None:
        path = self.path / STATE_NAME
        if not path.exists():
            return None
        try:
            return DatasetState.from_dict(json.loads(path.read_text()))
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise InputError(
                str(path),
                f"cannot be read as a dataset state ({exc})",
                "the file ijepa-embed-dataset wrote (or --overwrite to start over)",
            ) from None

    def write_state(self, state: DatasetState) -> None:
        write_atomic(self.path / STATE_NAME, json.dumps(state.to_dict(), indent=2) + "\n")

    def open(self, state: DatasetState, overwrite: bool = False, write: bool = True) -> DatasetState:
        """The state this job continues: ``state`` on a new or empty directory, the existing one
        when it describes the same job, refused otherwise unless ``overwrite`` (then the earlier
        output is moved into a hidden directory, removed once the new output is complete).
        ``write=False`` only looks (nothing is created, moved or locked)."""
        if not write:
            return self._opened(state, overwrite, write)
        with self.locked():
            return self._opened(state, overwrite, write)

    def _opened(self, state: DatasetState, overwrite: bool, write: bool) -> DatasetState:
        existing = self.read_state() if self.path.is_dir() else None
        if existing is None:
            names = os.listdir(self.path) if self.path.is_dir() else []
            foreign = sorted(n for n in names if n not in (STATE_NAME, LOCK_NAME))
            if foreign:
                raise InputError(
                    str(self.path),
                    f"is not empty and holds no {STATE_NAME} "
                    f"({', '.join(foreign[:3])}{' ...' if len(foreign) > 3 else ''})",
                    "a new or empty directory, or the output of an earlier ijepa-embed-dataset run",
                )
        else:
            differences = state.differences(existing)
            if not differences:
                existing.artifact = state.artifact
                return self._reconciled(existing)
            if not overwrite:
                raise InputError(
                    str(self.path),
                    "holds the output of another job: " + "; ".join(differences),
                    "the same artifact, precision, inputs and --part-size to resume, "
                    "another --output, or --overwrite to replace it",
                )
            if write:
                self._set_aside()
        if write:
            self.write_state(state)
        return state

    def _set_aside(self) -> Path:
        aside = self.path / f"{PREVIOUS_PREFIX}{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
        aside.mkdir()
        for name in os.listdir(self.path):
            if name == STATE_NAME or _part_number(name) is not None:
                os.replace(self.path / name, aside / name)
        return aside

    def previous_outputs(self) -> list[Path]:
        return sorted(p for p in self.path.iterdir() if p.name.startswith(PREVIOUS_PREFIX))

    def remove_previous_outputs(self) -> list[Path]:
        """Once the new output is complete, the one --overwrite set aside goes."""
        removed = self.previous_outputs()
        for path in removed:
            shutil.rmtree(path)
        return removed

    def _reconciled(self, state: DatasetState) -> DatasetState:
        """The part files on disk are the truth: a part renamed in just before a job died, or by
        a job whose state update another one overwrote, is finished; a recorded part whose file
        was deleted is not."""
        present = {
            n
            for name in os.listdir(self.path)
            if name.startswith("part-") and (n := _part_number(name)) is not None and n < state.parts
        }
        finished = {}
        for part in sorted(present):
            record = state.finished.get(part)
            if record is None:
                errors = self.path / errors_name(part)
                record = PartRecord(
                    pq.read_metadata(self.path / part_name(part)).num_rows,
                    pq.read_metadata(errors).num_rows if errors.exists() else 0,
                )
            finished[part] = record
        state.finished = finished
        return state

    def refresh(self, state: DatasetState) -> DatasetState:
        """Re-read the finished parts (other jobs may have written some)."""
        with self.locked():
            current = self.read_state() or state
            return self._reconciled(current if not state.differences(current) else state)

    def commit(self, state: DatasetState, part: int, table, errors_table) -> None:
        """Write part ``part`` (and its error rows) atomically, then record it as finished.
        ``errors_table`` None or empty: the part has no error rows (an older errors file goes)."""
        tag = f"{socket.gethostname()}-{os.getpid()}.tmp"
        tmp_part = self.path / f".{part_name(part)}.{tag}"
        tmp_errors = self.path / f".{errors_name(part)}.{tag}"
        try:
            pq.write_table(table, tmp_part)
            has_errors = errors_table is not None and errors_table.num_rows > 0
            if has_errors:
                pq.write_table(errors_table, tmp_errors)
            with interrupts.held():  # the renames and the state update happen together or not at all
                if has_errors:
                    os.replace(tmp_errors, self.path / errors_name(part))
                os.replace(tmp_part, self.path / part_name(part))
                if not has_errors:
                    (self.path / errors_name(part)).unlink(missing_ok=True)
                self._record(state, part, PartRecord(table.num_rows, errors_table.num_rows if has_errors else 0))
        finally:
            tmp_part.unlink(missing_ok=True)
            tmp_errors.unlink(missing_ok=True)
        interrupts.check()  # a signal that came during the renames stops the job here

    def _record(self, state: DatasetState, part: int, record: PartRecord) -> None:
        with self.locked():
            current = self.read_state()
            if current is not None and not state.differences(current):
                state.finished.update({k: v for k, v in current.finished.items() if k not in state.finished})
            state.finished[part] = record
            self.write_state(state)

    def read_part(self, part: int):
        return pq.read_table(self.path / part_name(part))

    def read_errors(self, part: int):
        path = self.path / errors_name(part)
        return pq.read_table(path) if path.exists() else None
