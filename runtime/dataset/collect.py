"""From engine results to committed parts: both engines hand every batch's rows here (embedded
rows with their outputs, error rows with their messages), in any order; a part is written the
moment its last row arrives, so memory holds at most the parts still in flight."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from ijepa_deploy.errors import IJepaDeployError
from ijepa_deploy.runtime.dataset.inputs import Listing
from ijepa_deploy.runtime.dataset.output import DatasetState, OutputDir

# The model output each task writes, and under which column.
TASK_COLUMNS = {"feature-extraction": "embedding", "image-classification": "logits"}


@dataclass
class PartJob:
    """Rows of one part to embed now; ``existing`` is the part's table already on disk
    (``--retry-errors``: the new rows join it)."""

    part: int
    indices: list[int]
    existing: pa.Table | None = None


def plan(out: OutputDir, state: DatasetState, listing: Listing, parts: list[int], retry_errors: bool) -> list[PartJob]:
    """The work left: missing parts (or, with ``retry_errors``, the error rows of finished parts
    that are not in their part file)."""
    if not retry_errors:
        return [PartJob(p, list(state.part_range(p))) for p in parts if p not in state.finished]
    jobs = []
    for part in parts:
        if part not in state.finished:
            continue
        errors = out.read_errors(part)
        if errors is None:
            continue
        table = out.read_part(part)
        done = set(table.column("path").to_pylist())
        index = {listing.keys[i]: i for i in state.part_range(part)}
        redo = sorted(index[k] for k in errors.column("path").to_pylist() if k not in done and k in index)
        if redo:
            jobs.append(PartJob(part, redo, table))
    return jobs


@dataclass
class _Pending:
    job: PartJob
    left: int
    rows: dict[int, np.ndarray] = field(default_factory=dict)
    errors: dict[int, str] = field(default_factory=dict)


class Collector:
    """Receives rows from an engine; commits each part when complete. ``on_rows(n, errors)`` is
    called for every batch (the progress bar)."""

    def __init__(
        self,
        out: OutputDir,
        state: DatasetState,
        listing: Listing,
        jobs: list[PartJob],
        task: str,
        id2label: dict[str, str] | None,
        on_rows: Callable[[int, int], None] | None = None,
    ):
        self.out, self.state, self.listing = out, state, listing
        self.column = TASK_COLUMNS[task]
        self.id2label = id2label if task == "image-classification" else None
        self.on_rows = on_rows
        self.pending = {j.part: _Pending(j, len(j.indices)) for j in jobs}
        self.written: list[int] = []
        self.embedded = 0
        self.failed = 0

    def add(self, ok: np.ndarray, outputs: dict[str, np.ndarray] | None, errors: list[tuple[int, str]]) -> None:
        touched = set()
        for k, index in enumerate(np.asarray(ok).tolist()):
            assert outputs is not None, "embedded rows come with outputs"
            values = outputs[self.column]
            entry = self._entry(index)
            entry.rows[index] = np.array(values[k], dtype=np.float32)  # a copy: the batch array may be reused
            touched.add(entry.job.part)
        for index, message in errors:
            self._entry(index).errors[index] = message
            touched.add(index // self.state.part_size)
        self.embedded += len(ok)
        self.failed += len(errors)
        if self.on_rows is not None:
            self.on_rows(len(ok) + len(errors), len(errors))
        for part in sorted(touched):
            entry = self.pending[part]
            entry.left = len(entry.job.indices) - len(entry.rows) - len(entry.errors)
            if entry.left == 0:
                self._commit(self.pending.pop(part))

    def _entry(self, index: int) -> _Pending:
        entry = self.pending.get(index // self.state.part_size)
        if entry is None:
            raise IJepaDeployError(
                "dataset engine",
                f"returned row {index}, which is not in a part being written",
                "rows of the planned parts only (a bug: please report it)",
            )
        return entry

    @property
    def done(self) -> bool:
        return not self.pending

    def _commit(self, entry: _Pending) -> None:
        keys = self.listing.keys
        rows = sorted(entry.rows)
        table = self._table([keys[i] for i in rows], [entry.rows[i] for i in rows])
        if entry.job.existing is not None:
            table = _in_listing_order(
                pa.concat_tables([entry.job.existing, table]), self.state, self.listing, entry.job.part
            )
        bad = sorted(entry.errors)
        errors = pa.table(
            {
                "path": pa.array([keys[i] for i in bad], pa.string()),
                "error": pa.array([entry.errors[i] for i in bad], pa.string()),
            }
        )
        self.out.commit(self.state, entry.job.part, table, errors)
        self.written.append(entry.job.part)

    def _table(self, paths: list[str], rows: list[np.ndarray]) -> pa.Table:
        width = self.state.width
        flat = np.concatenate(rows).astype(np.float32, copy=False) if rows else np.zeros(0, np.float32)
        columns = {
            "path": pa.array(paths, pa.string()),
            self.column: pa.FixedSizeListArray.from_arrays(pa.array(flat, pa.float32()), width),
        }
        if self.id2label is not None:
            labels = [self.id2label.get(str(int(np.argmax(r))), str(int(np.argmax(r)))) for r in rows]
            columns["label"] = pa.array(labels, pa.string())
        return pa.table(columns)


def _in_listing_order(table: pa.Table, state: DatasetState, listing: Listing, part: int) -> pa.Table:
    index = {listing.keys[i]: i for i in state.part_range(part)}
    order = np.argsort([index[k] for k in table.column("path").to_pylist()], kind="stable")
    return table.take(pa.array(order))
