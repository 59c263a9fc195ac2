"""Which rows a run has, in order, and the batch sizes it sweeps."""

from __future__ import annotations

from pathlib import Path

from ijepa_deploy.benchmarks.backends import OpenVinoBackend, OrtBackend, TensorRTBackend, TorchBackend
from ijepa_deploy.benchmarks.options import COMPILE, ORT_PROVIDERS, STATUS_UNAVAILABLE, BenchOptions
from ijepa_deploy.errors import InputError
from ijepa_deploy.manifest import Manifest
from ijepa_deploy.runtime.model import bf16_problem, engine_problem, graph_problem
from ijepa_deploy.runtime.openvino_runner import cpu_supports_bf16, openvino_status


def batch_sweep(opts: BenchOptions, manifest: Manifest) -> list[int]:
    limit = manifest.batch.max
    lowest = manifest.batch.min
    if opts.max_batch > limit:
        raise InputError(
            "--max-batch", f"{opts.max_batch} exceeds the artifact's batch max {limit}", f"at most {limit}"
        )
    if opts.batch_sizes:
        sizes = sorted(set(int(b) for b in opts.batch_sizes))
        bad = [b for b in sizes if not lowest <= b <= limit]
        if bad:
            raise InputError(
                "--batch-sizes",
                f"{bad} outside the artifact's range {lowest}..{limit}",
                f"sizes within {lowest}..{limit}",
            )
        return sizes
    sizes, b = [], 1
    while b <= opts.max_batch:
        if b >= lowest:
            sizes.append(b)
        b *= 2
    return sizes or [lowest]


def plan_backends(directory: Path, manifest: Manifest, opts: BenchOptions, holder: dict) -> list:
    """The rows, in order: each a Backend or an unavailable record (dict)."""
    rows: list = [TorchBackend(manifest, holder, compiled=False)]
    if opts.skip_compile:
        rows.append(_unavailable(COMPILE, "fp32", "skipped (--skip-compile)", "fp32"))
    else:
        rows.append(TorchBackend(manifest, holder, compiled=True))
    return (
        rows
        + _ort_rows(directory, manifest, opts)
        + _openvino_rows(directory, manifest, opts)
        + _tensorrt_rows(directory, manifest, opts)
    )


def _unavailable(backend: str, variant: str, reason: str, precision: str = "*") -> dict:
    return {
        "backend": backend,
        "variant": variant,
        "precision": precision,
        "status": STATUS_UNAVAILABLE,
        "reason": reason,
    }


def _ort_rows(directory: Path, manifest: Manifest, opts: BenchOptions) -> list:
    try:
        import onnxruntime as ort

        available = ort.get_available_providers()
    except ImportError as exc:
        available, ort_error = [], str(exc)
    else:
        ort_error = None
    variants = list(manifest.graphs)
    if opts.graphs:
        missing = [g for g in opts.graphs if g not in manifest.graphs]
        if missing:
            raise InputError("--graphs", f"{missing} not in the artifact", f"some of {sorted(manifest.graphs)}")
        variants = [g for g in variants if g in opts.graphs]
    rows: list = []
    for key in opts.providers:
        provider = ORT_PROVIDERS[key]
        if ort_error or provider not in available:
            reason = (
                f"onnxruntime not importable ({ort_error})"
                if ort_error
                else f"this onnxruntime build has no {provider} (available: {', '.join(available)}; "
                + ("install onnxruntime-gpu on a CUDA host)" if key != "cpu" else "?)")
            )
            rows.append(_unavailable(f"onnxruntime-{key}", "*", reason))
            continue
        for variant in variants:
            rows.append(
                _gated(
                    directory,
                    manifest,
                    opts,
                    f"onnxruntime-{key}",
                    variant,
                    lambda v=variant, k=key: OrtBackend(directory, manifest, v, k, opts),
                )
            )
    return rows


def _gated(directory: Path, manifest: Manifest, opts: BenchOptions, backend: str, variant: str, make):
    """A graph that did not pass its parity check is benchmarked only with --allow-unverified (its
    row then says so): load()'s own gate decides, as for engines and the artifact."""
    problem = (
        bf16_problem(directory, manifest, how_to_allow="--allow-unverified")
        if variant == "bf16"
        else graph_problem(directory, manifest, variant, how_to_allow="--allow-unverified")
    )
    if problem and not opts.allow_unverified:
        return _unavailable(backend, variant, f"{problem.problem} (--allow-unverified to benchmark it anyway)")
    row = make()
    row.unverified = problem.problem if problem else None
    return row


def _openvino_rows(directory: Path, manifest: Manifest, opts: BenchOptions) -> list:
    """Every graph on OpenVINO CPU, plus its bf16 mode of the fp32 graph (a row either way: CPUs
    without native bf16 get an unavailable row saying so)."""
    available, why = openvino_status()
    if not available:
        return [_unavailable("openvino-cpu", "*", f"{why} (pip install 'ijepa-deploy[openvino]')")]
    variants = [g for g in manifest.graphs if not opts.graphs or g in opts.graphs]
    rows: list = [
        _gated(
            directory,
            manifest,
            opts,
            "openvino-cpu",
            v,
            lambda v=v: OpenVinoBackend(directory, manifest, v, opts.resolved_threads()),
        )
        for v in variants
    ]
    if "fp32" in variants:
        if cpu_supports_bf16():
            rows.append(
                _gated(
                    directory,
                    manifest,
                    opts,
                    "openvino-cpu",
                    "bf16",
                    lambda: OpenVinoBackend(directory, manifest, "bf16", opts.resolved_threads()),
                )
            )
        else:
            rows.append(_unavailable("openvino-cpu", "bf16", "this CPU has no native bf16 (AVX512_BF16 / AMX)", "bf16"))
    return rows


def _tensorrt_rows(directory: Path, manifest: Manifest, opts: BenchOptions) -> list:
    """One row per engine. An engine that did not pass its parity check is benchmarked only with
    --allow-unverified (its row then says so), as the artifact is: load()'s own gate decides."""
    # lazy: late-bound, tests substitute tensorrt_host.tensorrt_status
    from ijepa_deploy.runtime.tensorrt_host import tensorrt_status

    available, why = tensorrt_status()
    if not manifest.engines:
        reason = "the artifact has no TensorRT engines (manifest.engines is empty)"
        return [_unavailable("tensorrt", "*", reason + ("" if available else f"; {why}"))]
    rows: list = []
    for variant, engine in manifest.engines.items():
        problem = engine_problem(directory, engine, variant, how_to_allow="--allow-unverified")
        if problem and not opts.allow_unverified:
            rows.append(
                _unavailable(
                    "tensorrt",
                    variant,
                    f"{problem.problem} (--allow-unverified to benchmark it anyway)",
                    engine.precision,
                )
            )
        elif not available:
            rows.append(_unavailable("tensorrt", variant, why, engine.precision))
        else:
            rows.append(TensorRTBackend(directory, manifest, variant, unverified=problem.problem if problem else None))
    return rows
