"""Side measurements: preprocessing (file -> tensor) and end to end (files -> embeddings through
``ijepa_deploy.runtime.load``, checksum verification included in its load time)."""

from __future__ import annotations

import time
from pathlib import Path

from ijepa_deploy.benchmarks.options import BenchOptions
from ijepa_deploy.benchmarks.timing import latency_stats, time_fn
from ijepa_deploy.manifest import Manifest
from ijepa_deploy.progress import Progress
from ijepa_deploy.runtime import Preprocessor, load
from ijepa_deploy.runtime.photos import bundled_images


def bench_images(count: int) -> list[Path]:
    paths = bundled_images()
    return [paths[i % len(paths)] for i in range(count)]


def measure_preprocessing(manifest: Manifest, batch_sizes: list[int], opts: BenchOptions) -> dict:
    from PIL import Image

    pre = Preprocessor(manifest.preprocessing)
    files = bench_images(4)
    per_file = {}
    for path in files:
        times, _, _ = time_fn(lambda p=path: pre.one(p), warmup=1, min_iters=10, min_seconds=0.3, max_iters=200)
        with Image.open(path) as im:
            size = list(im.size)
        per_file[path.name] = {"source_size": size, **latency_stats(times, 1)}
    batches = {}
    for n in sorted({1, max(batch_sizes)}):
        paths = bench_images(n)
        times, _, _ = time_fn(lambda paths=paths: pre(paths), warmup=1, min_iters=5, min_seconds=0.3, max_iters=100)
        batches[str(n)] = latency_stats(times, n)
    return {
        "what": "file -> float32 NCHW tensor (Pillow decode + resize, numpy rescale/normalise), "
        "ijepa_deploy.runtime.Preprocessor, one thread",
        "per_file": per_file,
        "per_batch": batches,
    }


def measure_end_to_end(
    directory: Path, manifest: Manifest, variant: str, batch_sizes: list[int], opts: BenchOptions, progress: Progress
) -> dict:
    threads = opts.resolved_threads()
    t0 = time.perf_counter()
    model = load(directory, precision=variant, intra_op_threads=threads, providers=["CPUExecutionProvider"])
    load_seconds = time.perf_counter() - t0
    result = {
        "what": "image files -> pooled embeddings (or logits) with ijepa_deploy.runtime.load "
        "(checksums verified at load) on ONNX Runtime CPU",
        "graph": variant,
        "load_seconds": load_seconds,
        "per_batch": {},
    }
    with model:
        for n in sorted({1, max(batch_sizes)}):
            paths = [str(p) for p in bench_images(n)]
            call = (
                (lambda paths=paths: model.embed(paths))
                if manifest.task == "feature-extraction"
                else (lambda paths=paths: model.classify(paths))
            )
            times, _, _ = time_fn(
                call,
                warmup=1 if opts.warmup else 0,
                min_iters=max(2, opts.min_iters // 2),
                min_seconds=opts.min_seconds / 2,
                max_iters=opts.max_iters,
            )
            result["per_batch"][str(n)] = latency_stats(times, n)
            progress.say(f"[end-to-end] {variant} batch {n}: p50 {result['per_batch'][str(n)]['p50_ms']:.1f} ms")
    return result
