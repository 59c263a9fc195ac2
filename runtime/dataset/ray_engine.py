"""The Ray Data engine (``--engine ray``): read -> preprocess (CPU tasks) -> embed (an actor pool)
-> the same Parquet contract, written by the driver through the same :class:`Collector`.

Each actor opens the artifact with ``load()`` once (its gates and checksums included) and runs the
same runners as the local engine; preprocessing is the same :func:`decode_chunk`. Rows stream in
listing order (``preserve_order``), so the driver commits each part as soon as its last row is
back and holds only parts in flight. Image paths must be readable from every node (a shared file
system), and the driver writes OUT_DIR. Ray is imported only here: it is an optional extra and
takes seconds to import.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from ijepa_deploy.contract import PreprocessConfig
from ijepa_deploy.errors import ERROR_TYPES, BackendError, BackendUnavailable, IJepaDeployError, first_line
from ijepa_deploy.manifest import read_manifest
from ijepa_deploy.runtime.dataset.collect import TASK_COLUMNS, Collector, PartJob
from ijepa_deploy.runtime.dataset.decode import Chunk, decode_chunk
from ijepa_deploy.runtime.dataset.inputs import Listing
from ijepa_deploy.runtime.model import check_verified, load
from ijepa_deploy.runtime.preprocess import Preprocessor
from ijepa_deploy.runtime.runner import RunnerOptions

INSTALL_HINT = "pip install 'ijepa-deploy[ray]'"
DECODE_CPUS = 0.5


def preprocess_batch(batch: dict[str, np.ndarray], config: PreprocessConfig) -> dict[str, np.ndarray]:
    """A Ray task: rows -> pixels (zeros for error rows) and the error message ('' when fine)."""
    indices = [int(i) for i in batch["index"]]
    chunk = Chunk(indices, [str(s) or None for s in batch["source"]], [str(p) or None for p in batch["problem"]])
    decoded = decode_chunk(Preprocessor(config), chunk)
    pixels = np.zeros((len(indices), 3, config.height, config.width), np.float32)
    position = {index: k for k, index in enumerate(indices)}
    if decoded.pixels is not None:
        pixels[[position[i] for i in decoded.ok.tolist()]] = decoded.pixels
    errors = [""] * len(indices)
    for index, message in decoded.errors:
        errors[position[index]] = message
    return {"index": np.asarray(indices, np.int64), "pixels": pixels, "error": np.asarray(errors, object)}


class Embedder:
    """A Ray actor: one loaded model, called with preprocessed batches."""

    def __init__(self, artifact: str, backend: str, precision: str, threads: int | None):
        options = RunnerOptions(threads=threads or None)
        self.model = load(artifact, backend=backend, precision=precision, options=options)
        self.column = TASK_COLUMNS[self.model.task]

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        ok = np.asarray([e == "" for e in batch["error"]], bool)
        width = next(t.shape[-1] for t in self.model.manifest.io.outputs if t.name == self.column)
        values = np.zeros((len(ok), width), np.float32)
        if ok.any():
            values[ok] = self.model.run(np.ascontiguousarray(batch["pixels"][ok]))[self.column]
        return {"index": batch["index"], "values": values, "error": batch["error"]}


class RayEngine:
    def __init__(self, opts):
        try:
            import ray
            import ray.data  # noqa: F401
        except ImportError as exc:
            raise BackendUnavailable("--engine ray", f"ray cannot be imported ({exc})", INSTALL_HINT) from None
        self.ray: Any = ray  # typed loosely: Ray's own annotations are narrower than its documented uses
        self.opts = opts
        self.manifest = read_manifest(opts.artifact)
        # The gates, here before anything is shipped: an unverified graph is refused on the driver.
        check_verified(Path(opts.artifact), self.manifest, opts.backend, opts.precision)
        self.started = False
        if not ray.is_initialized():
            local = not (opts.ray_address or os.environ.get("RAY_ADDRESS"))
            try:
                self.ray.init(
                    address=opts.ray_address,
                    logging_level="WARNING",
                    log_to_driver=False,
                    include_dashboard=False if local else None,
                )
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise BackendUnavailable(
                    f"--ray-address {opts.ray_address or os.environ.get('RAY_ADDRESS', '')}",
                    f"cannot connect to Ray ({first_line(exc)})",
                    "a running cluster's address (ray start --head prints it)",
                ) from None
            self.started = True
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True  # parts complete one after the other
        context.enable_progress_bars = False  # the job has its own bar
        logging.getLogger("ray.data").setLevel(logging.WARNING)  # its per-dataset INFO lines

    def describe(self) -> str:
        cpus = self.ray.cluster_resources().get("CPU", 0)
        return (
            f"ray engine: {self.opts.ray_actors} embedding actor(s), {self.opts.gpus_per_actor:g} GPU each, "
            f"backend {self.opts.backend}, cluster with {cpus:g} CPUs"
        )

    def run(self, listing: Listing, jobs: list[PartJob], collector: Collector, batch: int) -> None:
        rows = [
            {"index": i, "source": listing.sources[i] or "", "problem": listing.problems.get(i, "")}
            for job in jobs
            for i in job.indices
        ]
        opts = self.opts
        ds: Any = self.ray.data.from_items(rows)
        # Half a CPU per decode task: decoding takes milliseconds per image and shares the cores with
        # the actors; unequal resources also keep Ray from fusing decode into the actor, which
        # would serialise decoding and inference.
        ds = ds.map_batches(
            preprocess_batch,
            fn_kwargs={"config": self.manifest.preprocessing},
            batch_size=batch,
            batch_format="numpy",
            num_cpus=DECODE_CPUS,
        )
        ds = ds.map_batches(
            Embedder,
            fn_constructor_kwargs={
                "artifact": str(Path(opts.artifact).resolve()),
                "backend": opts.backend,
                "precision": opts.precision,
                "threads": opts.threads,
            },
            batch_size=batch,
            batch_format="numpy",
            compute=self.ray.data.ActorPoolStrategy(size=opts.ray_actors),
            num_gpus=opts.gpus_per_actor or None,
            num_cpus=1,
        )
        try:
            for out in ds.iter_batches(batch_size=None, batch_format="numpy"):
                failed = np.asarray([e != "" for e in out["error"]], bool)
                errors = [(int(i), str(e)) for i, e in zip(out["index"][failed], out["error"][failed])]
                collector.add(out["index"][~failed], {collector.column: out["values"][~failed]}, errors)
        except self.ray.exceptions.RayError as exc:
            raise _user_error(exc) from None

    def close(self) -> None:
        if self.started:
            self.ray.shutdown()


def _user_error(exc: BaseException) -> BaseException:
    """The IJepaDeployError an actor or task raised (a bad artifact on a node), else a one-line error.
    A task's error is its ``cause``; an actor that died in ``__init__`` keeps only the text."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, IJepaDeployError):
            return seen
        seen = getattr(seen, "cause", None) or seen.__cause__
    text = str(exc)
    # the last "ijepa_deploy.errors.<type>: " line of the traceback text, rebuilt as that type
    at, marker, cls = max(
        (text.rfind(f"{cls.__module__}.{name}: "), f"{cls.__module__}.{name}: ", cls)
        for name, cls in ERROR_TYPES.items()
    )
    if at >= 0:
        line = text[at + len(marker) :].splitlines()[0]
        subject, _, rest = line.partition(" | ")
        problem, _, expected = rest.partition(". Note: expected ")
        return cls(subject, problem, expected or None)
    return BackendError(
        "ray engine",
        f"a Ray task or actor failed ({type(exc).__name__}: {first_line(exc)})",
        "a cluster whose nodes can load the artifact and read the images (the package installed on every node)",
    )
