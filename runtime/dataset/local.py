"""The local engine: decode workers feed the inference loop through a bounded window.

Worker processes (or threads) decode and preprocess chunks of ``batch_size`` rows with the
runtime's :class:`Preprocessor`; inference threads (one per OpenVINO stream, else one) run the
model on each chunk in listing order while the workers prepare the next ones (ONNX Runtime and
OpenVINO release the GIL while they compute). At most ``workers + 2`` decoded and ``streams + 1``
inferred chunks are in flight, so memory does not grow with the corpus.
Processes are started with ``spawn``: the job holds engine threads (OpenVINO's TBB pool) that a
forked child must not inherit, and a worker never imports more than numpy and Pillow.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from functools import partial

from ijepa_deploy.runtime.dataset.collect import Collector, PartJob
from ijepa_deploy.runtime.dataset.decode import Chunk, Decoded, decode_chunk, decode_in_worker, init_worker
from ijepa_deploy.runtime.dataset.inputs import Listing
from ijepa_deploy.runtime.model import DeployedModel
from ijepa_deploy.runtime.preprocess import Preprocessor

DECODERS = ("processes", "threads")


def default_workers() -> int:
    """One decode worker per CPU this process may use, at most 8 (each spawned worker holds ~60 MB;
    workers only use CPU while the bounded window has room)."""
    return max(1, min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


def chunks(listing: Listing, jobs: list[PartJob], batch_size: int) -> Iterator[Chunk]:
    """The rows of every job in order, ``batch_size`` at a time (never across two parts)."""
    for job in jobs:
        for start in range(0, len(job.indices), batch_size):
            rows = job.indices[start : start + batch_size]
            yield Chunk(rows, [listing.sources[i] for i in rows], [listing.problems.get(i) for i in rows])


def _executor(model: DeployedModel, workers: int, decode: str) -> tuple[Executor, object]:
    if decode == "threads":
        return ThreadPoolExecutor(workers, thread_name_prefix="ijepa-decode"), partial(
            decode_chunk, Preprocessor(model.manifest.preprocessing)
        )
    pool = ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=init_worker,
        initargs=(model.manifest.preprocessing,),
    )
    return pool, decode_in_worker


def run_local(
    model: DeployedModel,
    listing: Listing,
    jobs: list[PartJob],
    collector: Collector,
    batch_size: int,
    workers: int,
    decode: str = "processes",
) -> None:
    """Decoded chunks go to ``streams`` inference threads (the runner's pool of requests: one,
    unless OpenVINO runs several streams); results are collected in the main thread."""
    pool, work = _executor(model, workers, decode)
    streams = max(1, int(getattr(model.runner, "pool_size", 1)))
    infer = ThreadPoolExecutor(streams, thread_name_prefix="ijepa-infer")
    decoding: deque = deque()
    running: deque = deque()

    def collect_one() -> None:
        decoded, outputs = running.popleft().result()
        collector.add(decoded.ok, outputs, decoded.errors)

    def infer_one() -> None:
        running.append(infer.submit(_infer, model, decoding.popleft().result()))
        if len(running) > streams:
            collect_one()

    try:
        for chunk in chunks(listing, jobs, batch_size):
            decoding.append(pool.submit(work, chunk))  # type: ignore[arg-type]
            if len(decoding) >= workers + 2:
                infer_one()
        while decoding:
            infer_one()
        while running:
            collect_one()
    finally:
        # Ctrl-C or an error: drop the queued chunks; running ones end by themselves (the workers
        # ignore the signal), so no worker is killed in the middle of a file.
        infer.shutdown(wait=True, cancel_futures=True)
        pool.shutdown(wait=True, cancel_futures=True)


def _infer(model: DeployedModel, decoded: Decoded) -> tuple[Decoded, dict | None]:
    return decoded, (model.run(decoded.pixels) if decoded.pixels is not None else None)
