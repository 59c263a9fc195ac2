"""The fp32 GEMM peak a run's roofline is measured against, taken on the same threads."""

from __future__ import annotations

import functools

import numpy as np

from ijepa_deploy.benchmarks.timing import repeat
from ijepa_deploy.runtime.onnxruntime_runner import session_options


def gemm_peak(size: int, threads: int, model_shape: tuple[int, int, int] | None = None,
              reps: int = 3, seconds: float = 3.0) -> dict:
    """fp32 GEMM throughput measured now, on the same threads: torch.matmul size^2, ONNX Runtime
    MatMul size^2 and (``model_shape`` = M, K, N) ONNX Runtime at the model's MLP shape. Each runs
    at least ``reps`` times and ``seconds``; its figure is the fastest call (the least disturbed by
    other processes). The peak is the best of them: what a perfect fp32 engine could reach here."""
    results: dict = {}
    flop = 2.0 * size ** 3
    try:
        import torch

        torch.set_num_threads(threads)
        a = torch.randn(size, size)
        b = torch.randn(size, size)
        torch.matmul(a, b)
        times = repeat(functools.partial(torch.matmul, a, b), reps, seconds)
        results["torch_matmul"] = {"shape": [size, size, size], "gflop_s": flop / min(times) / 1e9,
                                   "median_gflop_s": flop / float(np.median(times)) / 1e9}
        del a, b
    except Exception as exc:  # torch absent: the ORT figures still stand
        results["torch_matmul"] = {"error": str(exc)}
    shapes = [("ort_matmul", (size, size, size))]
    if model_shape:
        shapes.append(("ort_matmul_model_mlp", tuple(int(v) for v in model_shape)))
    for name, (m, k, n) in shapes:
        try:
            results[name] = _ort_matmul(m, k, n, threads, reps, seconds)
        except Exception as exc:
            results[name] = {"error": str(exc)}
    return {**_best(results), "threads": threads, "measurements": results}


def _best(measurements: dict) -> dict:
    best = max((r["gflop_s"] for r in measurements.values() if "gflop_s" in r), default=None)
    source = next((k for k, r in measurements.items() if r.get("gflop_s") == best), None)
    return {"peak_gflop_s": best, "peak_source": source}


def merge_peaks(first: dict, second: dict) -> dict:
    """One peak from two measurements (start and end of a run): the best of each kind."""
    merged = {"threads": first["threads"], "measurements": {}, "runs": [first, second]}
    for name in first["measurements"]:
        candidates = [m["measurements"].get(name, {}) for m in (first, second)]
        good = [c for c in candidates if "gflop_s" in c]
        merged["measurements"][name] = max(good, key=lambda c: c["gflop_s"]) if good else candidates[0]
    return {**_best(merged["measurements"]), **merged}


def _ort_matmul(m: int, k: int, n: int, threads: int, reps: int, seconds: float) -> dict:
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.standard_normal((k, n), dtype=np.float32), "W")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["A", "W"], ["Y"])], "gemm",
        [helper.make_tensor_value_info("A", TensorProto.FLOAT, [m, k])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [m, n])], initializer=[weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # readable by any ORT >= 1.10, whatever IR version this onnx writes by default
    options = session_options(intra_op_threads=threads)
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    a = rng.standard_normal((m, k), dtype=np.float32)
    session.run(None, {"A": a})
    times = repeat(lambda: session.run(None, {"A": a}), reps, seconds)
    flop = 2.0 * m * k * n
    return {"shape": [m, k, n], "gflop_s": flop / min(times) / 1e9,
            "median_gflop_s": flop / float(np.median(times)) / 1e9}
