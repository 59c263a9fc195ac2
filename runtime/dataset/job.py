"""One dataset job: list the inputs, check the output, plan the missing parts, run an engine.

Everything a user can get wrong (inputs, output directory, artifact, options, an output from
another job) is checked before the model is loaded; a finished output is a no-op that does not
load the model at all.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ijepa_deploy.errors import InputError
from ijepa_deploy.manifest import MANIFEST_NAME, Manifest, read_manifest, sha256_file
from ijepa_deploy.runtime.dataset.collect import TASK_COLUMNS, Collector, plan
from ijepa_deploy.runtime.dataset.inputs import Listing, list_inputs, shard_parts
from ijepa_deploy.runtime.dataset.local import DECODERS, default_workers, run_local
from ijepa_deploy.runtime.dataset.output import DatasetState, OutputDir
from ijepa_deploy.runtime.dataset.ray_engine import RayEngine  # imports ray itself only when a job asks for it
from ijepa_deploy.runtime.model import choose_backend, load
from ijepa_deploy.runtime.runner import RunnerOptions

ENGINES = ("local", "ray")
DEFAULT_PART_SIZE = 5000
DEFAULT_BATCH = 32


@dataclass
class DatasetOptions:
    artifact: Path
    inputs: list[str]
    output: Path
    path_column: str = "path"
    backend: str = "auto"
    precision: str = "fp32"
    threads: int | None = None
    batch_size: int | None = None  # default: min(32, the artifact's max batch)
    part_size: int = DEFAULT_PART_SIZE
    workers: int | None = None  # decode workers (local engine); default: CPUs, at most 8
    decode: str = "processes"
    shard_index: int = 0
    num_shards: int = 1
    overwrite: bool = False
    retry_errors: bool = False
    engine: str = "local"
    ray_address: str | None = None
    ray_actors: int = 1
    gpus_per_actor: float = 0.0
    openvino_hint: str = "THROUGHPUT"  # several streams, each with a batch in flight (benchmarks/README)
    progress: bool = True


@dataclass
class Summary:
    output: Path
    parts: int  # in the whole output
    shard_parts: int  # this job's share
    finished_before: int  # of this job's share
    finished_after: int = 0
    written: list[int] = field(default_factory=list)
    embedded: int = 0
    failed: int = 0
    skipped: str = "none"
    seconds: float = 0.0
    backend: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def images_per_second(self) -> float:
        return (self.embedded + self.failed) / self.seconds if self.seconds else 0.0

    def lines(self) -> list[str]:
        text = [
            f"{self.output}: {self.finished_after}/{self.shard_parts} parts of this job finished "
            f"({self.finished_before} before this run, {len(self.written)} written by it; {self.parts} parts "
            "in the output)",
            f"images embedded {self.embedded}, error rows {self.failed}, skipped inputs: {self.skipped}",
        ]
        if self.written:
            text.append(f"{self.seconds:.1f} s, {self.images_per_second:.1f} img/s, {self.backend}")
        return text + self.notes


def _check_options(opts: DatasetOptions, max_batch: int) -> int:
    if opts.engine not in ENGINES:
        raise InputError("--engine", f"unknown engine {opts.engine!r}", f"one of {ENGINES}")
    if opts.decode not in DECODERS:
        raise InputError("--decode", f"unknown decoder kind {opts.decode!r}", f"one of {DECODERS}")
    for name, value in (
        ("--part-size", opts.part_size),
        ("--workers", opts.workers),
        ("--threads", opts.threads),
        ("--batch-size", opts.batch_size),
        ("--ray-actors", opts.ray_actors),
    ):
        if value is not None and value < 1:
            raise InputError(name, f"{value}", "a positive number")
    batch = opts.batch_size or min(DEFAULT_BATCH, max_batch)
    if batch > max_batch:
        raise InputError(
            "--batch-size",
            f"{batch} is over the artifact's max batch {max_batch}",
            f"at most {max_batch} (or re-export with a larger --max-batch)",
        )
    return batch


def new_state(opts: DatasetOptions, listing: Listing) -> tuple[DatasetState, Manifest]:
    manifest = read_manifest(opts.artifact)
    column = TASK_COLUMNS[manifest.task]
    width = next(t.shape[-1] for t in manifest.io.outputs if t.name == column)
    state = DatasetState(
        sha256_file(Path(opts.artifact) / MANIFEST_NAME),
        str(opts.artifact),
        manifest.task,
        opts.precision,
        column,
        int(width),
        listing.digest(),
        len(listing),
        opts.part_size,
    )
    return state, manifest


def embed_dataset(opts: DatasetOptions, say=None) -> Summary:
    """Run one job (see the module docstring); ``say`` gets the start-up lines (default stderr)."""
    say = say or (lambda text: print(text, file=sys.stderr, flush=True))
    out = OutputDir(opts.output)
    listing = list_inputs(opts.inputs, opts.path_column)
    state, manifest = new_state(opts, listing)
    batch = _check_options(opts, manifest.batch.max)
    parts = shard_parts(state.parts, opts.shard_index, opts.num_shards)
    preview = out.open(state, opts.overwrite, write=False)
    summary = Summary(
        out.path, state.parts, len(parts), sum(p in preview.finished for p in parts), skipped=listing.skipped_text()
    )
    if not plan(out, preview, listing, parts, opts.retry_errors):
        summary.finished_after = summary.finished_before
        summary.notes += _leftovers(out, preview, parts, opts.retry_errors)
        return summary
    engine = _open_engine(opts)
    summary.backend = engine.describe()
    try:
        say(
            f"{len(listing)} images in {state.parts} parts of {state.part_size}; this job: {len(parts)} parts; "
            f"{summary.backend}"
        )
        state = out.open(state, opts.overwrite)
        jobs = plan(out, state, listing, parts, opts.retry_errors)
        summary.finished_before = sum(p in state.finished for p in parts)
        start = time.perf_counter()
        with _progress(sum(len(j.indices) for j in jobs), opts.progress) as bar:
            collector = Collector(out, state, listing, jobs, manifest.task, manifest.id2label, bar)
            engine.run(listing, jobs, collector, batch)
        summary.seconds = time.perf_counter() - start
    finally:
        engine.close()
    summary.written, summary.embedded, summary.failed = collector.written, collector.embedded, collector.failed
    state = out.refresh(state)
    summary.finished_after = sum(p in state.finished for p in parts)
    summary.notes += _leftovers(out, state, parts, opts.retry_errors)
    return summary


def _leftovers(out: OutputDir, state: DatasetState, parts: list[int], retry_errors: bool) -> list[str]:
    notes = []
    missing = [p for p in parts if p not in state.finished]
    if retry_errors and missing:
        notes.append(f"{len(missing)} parts of this job are not written yet: run without --retry-errors")
    if len(state.finished) == state.parts:
        errors = sum(r.errors for r in state.finished.values())
        notes.append(
            f"output complete: {sum(r.rows for r in state.finished.values())} rows, {errors} error rows"
            + (" (errors-*.parquet; --retry-errors re-embeds them)" if errors else "")
        )
        removed = out.remove_previous_outputs()
        if removed:
            notes.append(f"removed the earlier output --overwrite had set aside ({', '.join(p.name for p in removed)})")
    return notes


class _LocalEngine:
    def __init__(self, opts: DatasetOptions):
        backend = opts.backend
        if backend == "auto":
            backend = choose_backend(read_manifest(opts.artifact), opts.precision)[0]
        options = RunnerOptions(
            threads=opts.threads or None,  # the hint is OpenVINO's; others refuse it
            performance_hint=opts.openvino_hint if backend == "openvino" else None,
        )
        self.model = load(opts.artifact, backend=opts.backend, precision=opts.precision, options=options)
        self.workers = opts.workers or default_workers()
        self.decode = opts.decode

    def describe(self) -> str:
        ran = getattr(self.model.runner, "inference_precision", None)
        streams = getattr(self.model.runner, "pool_size", 1)
        return (
            f"local engine: {self.workers} decode {self.decode}, backend {self.model.backend}"
            f"{f' ({ran}, {streams} stream(s))' if ran else ''}: {self.model.choice}"
        )

    def run(self, listing, jobs, collector, batch: int) -> None:
        run_local(self.model, listing, jobs, collector, batch, self.workers, self.decode)

    def close(self) -> None:
        self.model.close()


def _open_engine(opts: DatasetOptions):
    if opts.engine == "ray":
        return RayEngine(opts)
    return _LocalEngine(opts)


class _progress:
    """A tqdm bar (images/s, ETA, error rows) called as ``bar(rows, errors)``."""

    def __init__(self, total: int, enabled: bool):
        from tqdm import tqdm

        self.bar = tqdm(
            total=total, unit="img", desc="embedding", disable=not enabled, file=sys.stderr, dynamic_ncols=True
        )
        self.errors = 0

    def __call__(self, rows: int, errors: int) -> None:
        if errors:
            self.errors += errors
            self.bar.set_postfix(errors=self.errors, refresh=False)
        self.bar.update(rows)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.bar.close()
