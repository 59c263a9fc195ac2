"""ONNX Runtime's profiler, summarised: kernel time per op type and per matmul shape."""

from __future__ import annotations

import json
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np

from ijepa_deploy.benchmarks.backends import OrtBackend

_MATMUL_OPS = {
    "MatMul",
    "Gemm",
    "FusedMatMul",
    "MatMulInteger",
    "DynamicQuantizeMatMul",
    "MatMulIntegerToFloat",
    "QLinearMatMul",
    "FusedGemm",
    "MatMulNBits",
}


def _node_flop(op: str, args: dict) -> float:
    """2*M*K*N for a matmul-like node from the profile's recorded shapes (0 when unknown)."""
    if op not in _MATMUL_OPS:
        return 0.0
    try:
        ins = [list(d.values())[0] for d in args.get("input_type_shape", [])]
        outs = [list(d.values())[0] for d in args.get("output_type_shape", [])]
        k = ins[0][-1]
        return 2.0 * float(np.prod(outs[0])) * k
    except (IndexError, TypeError, AttributeError, KeyError):
        return 0.0


def summarise_profile(trace_path: Path, runs: int) -> dict:
    events = json.loads(Path(trace_path).read_text())
    per_op: dict = defaultdict(lambda: {"total_us": 0.0, "calls": 0, "flop": 0.0, "providers": set()})
    per_shape: dict = defaultdict(lambda: {"total_us": 0.0, "calls": 0, "flop": 0.0})
    run_us = [e["dur"] for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"]
    for e in events:
        if e.get("cat") != "Node" or not str(e.get("name", "")).endswith("_kernel_time"):
            continue
        args = e.get("args", {})
        op = args.get("op_name", "?")
        rec = per_op[op]
        rec["total_us"] += float(e.get("dur", 0))
        rec["calls"] += 1
        flop = _node_flop(op, args)
        rec["flop"] += flop
        if flop:
            sig = " x ".join(str(list(d.values())[0]) for d in args.get("input_type_shape", [])[:2])
            sig += " -> " + " ".join(str(list(d.values())[0]) for d in args.get("output_type_shape", [])[:1])
            srec = per_shape[(op, sig)]
            srec["total_us"] += float(e.get("dur", 0))
            srec["calls"] += 1
            srec["flop"] += flop
        if args.get("provider"):
            rec["providers"].add(args["provider"].replace("ExecutionProvider", ""))
    runs = max(1, len(run_us) or runs)
    kernel_total = sum(r["total_us"] for r in per_op.values()) or 1.0
    shapes = []
    for (op, sig), r in sorted(per_shape.items(), key=lambda kv: -kv[1]["total_us"])[:10]:
        shapes.append(
            {
                "op_type": op,
                "shapes": sig,
                "ms_per_run": r["total_us"] / runs / 1000.0,
                "share": r["total_us"] / kernel_total,
                "nodes_per_run": r["calls"] / runs,
                "gflop_s": r["flop"] / (r["total_us"] / 1e6) / 1e9 if r["total_us"] else None,
            }
        )
    ops = []
    for op, r in sorted(per_op.items(), key=lambda kv: -kv[1]["total_us"]):
        ms_per_run = r["total_us"] / runs / 1000.0
        ops.append(
            {
                "op_type": op,
                "ms_per_run": ms_per_run,
                "share": r["total_us"] / kernel_total,
                "nodes_per_run": r["calls"] / runs,
                "providers": sorted(r["providers"]),
                "gflop_s": (r["flop"] / (r["total_us"] / 1e6) / 1e9) if r["flop"] and r["total_us"] else None,
            }
        )
    return {
        "runs": runs,
        "model_run_ms": float(np.median(run_us)) / 1000.0 if run_us else None,
        "kernel_ms_per_run": kernel_total / runs / 1000.0,
        "op_types": ops,
        "matmul_shapes": shapes,
    }


def profile_ort(backend: OrtBackend, pixels: np.ndarray, batches: list[int], iters: int) -> dict:
    """Per batch: one warm-up and ``iters`` runs of the backend's runner under the profiler."""
    results = {}
    with tempfile.TemporaryDirectory(prefix="ijepa-prof-") as tmp:
        for n in batches:
            runner = backend.open(profile_prefix=str(Path(tmp) / f"{backend.variant}-b{n}"))
            batch = np.ascontiguousarray(pixels[:n])
            for _ in range(iters + 1):  # the warm-up is recorded too: summaries use medians and shares
                runner.run(batch)
            trace = Path(runner.session.end_profiling())
            runner.close()
            results[str(n)] = summarise_profile(trace, iters + 1)
    return results
