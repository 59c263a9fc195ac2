"""``ijepa-bench``'s orchestration: machine, GEMM peak, every row over the sweep, paired rounds,
side measurements and the memory probes, assembled into the report dict (see report_schema)."""

from __future__ import annotations

import datetime as _dt
import gc
import time
from pathlib import Path

from ijepa_deploy.benchmarks.backends import Backend, OrtBackend, TorchBackend
from ijepa_deploy.benchmarks.cpp_build import CppBuildFailed
from ijepa_deploy.benchmarks.cpp_rows import check_cpp_precision, driver_path, measure_cpp
from ijepa_deploy.benchmarks.end_to_end import measure_end_to_end, measure_preprocessing
from ijepa_deploy.benchmarks.flops import model_flops
from ijepa_deploy.benchmarks.gemm_peak import gemm_peak, merge_peaks
from ijepa_deploy.benchmarks.machine import STALL_LIMIT, loadavg, machine_info
from ijepa_deploy.benchmarks.memory_probe import probe_jobs, probe_memory
from ijepa_deploy.benchmarks.options import COMPILE, EAGER, STATUS_OK, BenchOptions
from ijepa_deploy.benchmarks.ort_profile import profile_ort
from ijepa_deploy.benchmarks.paired import paired_rounds
from ijepa_deploy.benchmarks.plan import batch_sweep, plan_backends
from ijepa_deploy.benchmarks.serving import measure_serving
from ijepa_deploy.benchmarks.sweep import Sweep, load_row, measure_row, new_row
from ijepa_deploy.errors import BackendUnavailable
from ijepa_deploy.manifest import Manifest, read_manifest
from ijepa_deploy.memory import peak_rss_gib
from ijepa_deploy.progress import Progress
from ijepa_deploy.runtime import Preprocessor
from ijepa_deploy.runtime.photos import photo_batch
from ijepa_deploy.runtime.serving.server import import_pytriton
from ijepa_deploy.spec import primary_output


def run_benchmark(opts: BenchOptions, progress: Progress | None = None) -> dict:
    """Run everything; return the report dict (see report_schema.SCHEMA_VERSION)."""
    progress = progress or Progress(quiet=opts.quiet)
    started = time.perf_counter()
    directory = Path(opts.artifact)
    manifest = read_manifest(directory)
    batches = batch_sweep(opts, manifest)
    threads = opts.resolved_threads()
    check_opt_in(opts, manifest, progress)  # --cpp / --serve fail here, before any timing

    import torch

    torch.set_num_threads(threads)
    with progress.step("machine", "CPU, GPU, library versions"):
        machine = machine_info()
    flops = model_flops(
        manifest.model.to_dict(),
        manifest.task,
        manifest.io.outputs[0].shape[1] if manifest.task == "image-classification" else None,
    )
    mlp_shape = (max(batches) * flops["tokens"], manifest.model.hidden_size, manifest.model.intermediate_size)
    peak = _first_gemm_peak(opts, threads, mlp_shape, progress)
    pixels, image_names = photo_batch(Preprocessor(manifest.preprocessing), max(batches))
    sweep = Sweep(
        pixels, batches, flops["gflop_per_image"], peak["peak_gflop_s"], primary_output(manifest.task), opts, progress
    )
    holder: dict = {}
    plan = plan_backends(directory, manifest, opts, holder)
    rows, profiles = run_rows(plan, sweep, holder)
    paired = _paired(plan, rows, holder, pixels, batches, sweep, opts, progress)
    holder.clear()
    gc.collect()
    with progress.step("gemm-peak", "again after the backends (the peak is the best of both measurements)"):
        peak = merge_peaks(peak, gemm_peak(opts.gemm_size, threads, mlp_shape))
    place_on_rooflines(rows, peak)
    report = {
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": opts.command,
        "artifact": artifact_summary(directory, manifest),
        "machine": machine,
        "settings": settings(opts, threads, batches, image_names, sweep.primary),
        "flops": flops,
        "gemm_peak": peak,
        "rows": rows,
        **side_measurements(directory, manifest, batches, opts, progress),
        **opt_in_measurements(directory, manifest, batches, opts, progress),
        "memory": memory_probes(rows, directory, opts, progress),
        "profiles": profiles,
        "paired": paired,
    }
    report["wall_seconds"] = time.perf_counter() - started
    report["loadavg_end"] = loadavg()
    return report


def _first_gemm_peak(opts: BenchOptions, threads: int, mlp_shape: tuple[int, int, int], progress: Progress) -> dict:
    """The GEMM peaks measured before the backends load (measured again after them, see merge_peaks)."""
    with progress.step(
        "gemm-peak",
        f"fp32 GEMM {opts.gemm_size}^2 (torch, ONNX Runtime), int8 GEMM (ORT, "
        f"OpenVINO) and MLP shape {mlp_shape} on {threads} threads",
    ):
        peak = gemm_peak(opts.gemm_size, threads, mlp_shape)
    progress.say(
        f"[gemm-peak] peak {peak['peak_gflop_s']:.1f} GFLOP/s ({peak['peak_source']})"
        if peak["peak_gflop_s"]
        else "[gemm-peak] no GEMM measurement"
    )
    return peak


def _paired(
    plan: list,
    rows: list[dict],
    holder: dict,
    pixels,
    batches: list[int],
    sweep: Sweep,
    opts: BenchOptions,
    progress: Progress,
) -> dict:
    """The paired A/B rounds eager vs the target graphs, or their error: the sweep's rows stand without them."""
    paired: dict = {}
    if opts.paired_rounds and sweep.eager_p50:
        with progress.step("paired", f"{opts.paired_rounds} alternating rounds eager vs target graphs"):
            try:
                paired = paired_rounds(plan, rows, holder, pixels, batches, opts, progress)
            except Exception as exc:  # the sweep's rows stand without the paired ratios
                paired = {"error": f"{type(exc).__name__}: {exc}"[:400]}
    return paired


def place_on_rooflines(rows: list[dict], peak: dict) -> None:
    """Every point's ``peak_fraction`` against the final peak of its precision's kind: int8 and
    bf16 rows against their own GEMM peak where one was measured, every other row the fp32 peak."""
    roofs = {"int8": (peak.get("int8") or {}).get("peak_gop_s"), "bf16": (peak.get("bf16") or {}).get("peak_gflop_s")}
    for row in rows:
        kind = row["precision"] if roofs.get(row["precision"]) else "fp32"
        roof = roofs[kind] if kind != "fp32" else peak["peak_gflop_s"]
        for point in row["points"]:
            point["peak_fraction"] = point["gflop_s"] / roof if roof else None
            point["peak_kind"] = kind


def run_rows(plan: list, sweep: Sweep, holder: dict) -> tuple[list[dict], dict]:
    """Every planned row in order (eager first: the others' parity and ratios refer to it)."""
    import torch

    opts, progress = sweep.opts, sweep.progress
    rows: list[dict] = []
    profiles: dict = {}
    for i, item in enumerate(plan, 1):
        if isinstance(item, dict):
            progress.say(f"[{i}/{len(plan)}] {item['backend']} {item['variant']}: unavailable ({item['reason']})")
            rows.append({**item, "details": {}, "points": []})
            continue
        backend: Backend = item
        row = new_row(backend)
        rows.append(row)
        with progress.step(f"{i}/{len(plan)} {backend.label}", "load"):
            fn = load_row(backend, row, progress)
        if fn is None:
            continue
        measure_row(backend, fn, row, sweep)
        backend.close()
        del fn
        if backend.name == COMPILE:
            torch._dynamo.reset()
        if (
            isinstance(backend, TorchBackend)
            and not opts.paired_rounds
            and not any(isinstance(b, TorchBackend) for b in plan[i:])
        ):
            holder.clear()  # the torch weights are not needed by the remaining rows
        gc.collect()
        if opts.profile and isinstance(backend, OrtBackend) and row["status"] == STATUS_OK:
            profiles[backend.label] = profile_row(backend, sweep)
    return rows, profiles


def profile_row(backend: OrtBackend, sweep: Sweep) -> dict:
    opts = sweep.opts
    with sweep.progress.step(f"profile {backend.label}", f"ORT profiler, batches {list(opts.profile_batches)}"):
        try:
            return profile_ort(
                backend,
                sweep.pixels,
                [b for b in opts.profile_batches if b <= max(sweep.batches)] or [1],
                opts.profile_iters,
            )
        except Exception as exc:  # the profile is optional: record why it is missing
            return {"error": f"{type(exc).__name__}: {exc}"}
        finally:
            gc.collect()


def side_measurements(
    directory: Path, manifest: Manifest, batches: list[int], opts: BenchOptions, progress: Progress
) -> dict:
    out: dict = {"end_to_end": None}
    with progress.step("preprocessing", "file -> tensor"):
        out["preprocessing"] = measure_preprocessing(manifest, batches, opts)
    variant = "fp32" if "fp32" in manifest.graphs else next(iter(manifest.graphs), None)
    if opts.end_to_end and variant:
        with progress.step("end-to-end", f"runtime.load + embed, graph {variant}"):
            try:
                out["end_to_end"] = measure_end_to_end(directory, manifest, variant, batches, opts, progress)
            except Exception as exc:  # recorded in the report; the timed rows stand
                out["end_to_end"] = {"error": f"{type(exc).__name__}: {exc}"[:400]}
    return out


def check_opt_in(opts: BenchOptions, manifest: Manifest, progress: Progress) -> None:
    """What --cpp and --serve need, checked (and the C++ driver built) before the long work."""
    if opts.cpp:
        check_cpp_precision(manifest, opts.cpp_precision)
        with progress.step("cpp-build", "C++ runtime + ijepa_bench_driver (cmake/ninja, incremental)"):
            try:
                opts.cpp_driver = driver_path(opts)
            except CppBuildFailed as exc:
                raise BackendUnavailable(
                    "--cpp",
                    f"the C++ driver could not be built: {exc}",
                    "the system packages and the 'cpp' extra named in the README (or --cpp-driver PATH)",
                ) from None
    if opts.serve:
        import_pytriton()


def opt_in_measurements(
    directory: Path, manifest: Manifest, batches: list[int], opts: BenchOptions, progress: Progress
) -> dict:
    """--cpp (C++ vs Python runtime) and --serve (served vs direct): None when not asked for,
    ``{"error": ...}`` when they failed (the rest of the report stands)."""
    out: dict = {"cpp": None, "serving": None}
    if opts.cpp:
        with progress.step(
            "cpp", f"C++ vs Python runtime, {opts.cpp_rounds} paired rounds, graph {opts.cpp_precision}"
        ):
            try:
                out["cpp"] = measure_cpp(directory, manifest, batches, opts, progress)
            except Exception as exc:  # recorded in the report; the timed rows stand
                out["cpp"] = {"error": f"{type(exc).__name__}: {exc}"[:600]}
    if opts.serve:
        with progress.step(
            "serve", f"served vs direct, clients {list(opts.serve_clients)}, {opts.serve_rounds} interleaved rounds"
        ):
            try:
                out["serving"] = measure_serving(directory, opts, progress)
            except Exception as exc:  # recorded in the report; the timed rows stand
                out["serving"] = {"error": f"{type(exc).__name__}: {exc}"[:600]}
    return out


def memory_probes(rows: list[dict], directory: Path, opts: BenchOptions, progress: Progress) -> dict:
    per_backend: dict = {}
    if opts.memory_probe:
        for row, job in probe_jobs(rows, directory, opts):
            key = f"{row['backend']} {row['variant']}"
            with progress.step(f"memory {key}", "fresh process: load + one batch-1 run"):
                per_backend[key] = row["memory"] = probe_memory(job)
    return {
        "per_backend": per_backend,
        "process_peak_rss_gib": peak_rss_gib(),
        "note": "per backend: a fresh process loads it and runs one batch-1 inference "
        "(peak_rss_gib is that process's own peak); process_peak_rss_gib is this benchmark "
        "process (all backends, sequentially)",
    }


def artifact_summary(directory: Path, manifest: Manifest) -> dict:
    model = manifest.model.to_dict()
    return {
        "path": str(directory),
        "model": model["source"],
        "weights": model["weights"],
        "task": manifest.task,
        "input": manifest.io.inputs[0].to_dict(),
        "batch": manifest.batch.to_dict(),
        "graphs": sorted(manifest.graphs),
        "engines": sorted(manifest.engines),
        "parameters": model.get("parameters"),
        "created": manifest.created,
        "architecture": {
            k: model.get(k)
            for k in (
                "hidden_size",
                "num_hidden_layers",
                "num_attention_heads",
                "intermediate_size",
                "patch_size",
                "export_image_size",
            )
        },
    }


def settings(opts: BenchOptions, threads: int, batches: list[int], image_names: list[str], primary: str) -> dict:
    return {
        "threads": threads,
        "thread_settings": "torch.set_num_threads and ORT intra_op_num_threads (sequential execution)",
        "batch_sizes": batches,
        "warmup": opts.warmup,
        "min_iterations": opts.min_iters,
        "min_seconds": opts.min_seconds,
        "max_iterations": opts.max_iters,
        "inputs": image_names,
        "primary_output": primary,
        "reference": EAGER,
        "ort_graph_optimization_level": opts.ort_opt_level,
        "ort_mem_arena": opts.ort_mem_arena,
        "ort_config": dict(opts.ort_config),
        "profile": opts.profile,
        "stall_limit": STALL_LIMIT,
    }
