"""The GEMM peaks a run's roofline is measured against (fp32, int8 and, on CPUs with native bf16,
bf16), taken on the same threads."""

from __future__ import annotations

import functools

import numpy as np

from ijepa_deploy.benchmarks.timing import repeat
from ijepa_deploy.runtime.onnxruntime_runner import session_options
from ijepa_deploy.runtime.openvino_runner import cpu_supports_bf16, openvino_status


def gemm_peak(
    size: int, threads: int, model_shape: tuple[int, int, int] | None = None, reps: int = 3, seconds: float = 3.0
) -> dict:
    """fp32 GEMM throughput measured now, on the same threads: torch.matmul size^2, ONNX Runtime
    MatMul size^2 and (``model_shape`` = M, K, N) ONNX Runtime at the model's MLP shape. Each runs
    at least ``reps`` times and ``seconds``; its figure is the fastest call (the least disturbed by
    other processes). The peak is the best of them: what a perfect fp32 engine could reach here."""
    results: dict = {}
    try:
        results["torch_matmul"] = _torch_matmul(size, threads, reps, seconds)
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
    return {
        **_best(results),
        "threads": threads,
        "measurements": results,
        "int8": int8_gemm_peak(size, threads, reps, seconds),
        "bf16": bf16_gemm_peak(size, threads, reps, seconds),
    }


def bf16_gemm_peak(size: int, threads: int, reps: int = 3, seconds: float = 3.0) -> dict:
    """bf16 GEMM throughput (AVX512_BF16 / AMX), GFLOP/s: torch.matmul on bfloat16 tensors and
    OpenVINO's fp32 MatMul under the bf16 inference hint (what the bf16 rows run). Skipped, with
    the reason, on CPUs without native bf16, where the bf16 rows do not run either."""
    if not openvino_status()[0] or not cpu_supports_bf16():
        return {
            "peak_gflop_s": None,
            "peak_source": None,
            "skipped": "no native bf16 on this CPU (or openvino not installed)",
            "measurements": {},
        }
    results: dict = {}
    for name, fn in (("torch_matmul_bf16", _torch_matmul_bf16), ("openvino_matmul_bf16", _openvino_matmul_bf16)):
        try:
            results[name] = fn(size, threads, reps, seconds)
        except Exception as exc:  # one library's figure missing: the other stands
            results[name] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
    return {**_best(results), "measurements": results}


def _torch_matmul(size: int, threads: int, reps: int, seconds: float, dtype: str = "float32") -> dict:
    import torch

    torch.set_num_threads(threads)
    a = torch.randn(size, size, dtype=getattr(torch, dtype))
    b = torch.randn(size, size, dtype=getattr(torch, dtype))
    torch.matmul(a, b)
    return _gflop([size, size, size], repeat(functools.partial(torch.matmul, a, b), reps, seconds))


def _torch_matmul_bf16(size: int, threads: int, reps: int, seconds: float) -> dict:
    return _torch_matmul(size, threads, reps, seconds, "bfloat16")


def _openvino_matmul_bf16(size: int, threads: int, reps: int, seconds: float) -> dict:
    return _gflop(
        [size, size, size], _openvino_times(_fp32_matmul_model(size, size, size), "bf16", size, threads, reps, seconds)
    )


def _openvino_times(onnx_model, hint: str, size: int, threads: int, reps: int, seconds: float) -> list[float]:
    """Seconds per call of an in-memory ONNX model with one size x size float input ``A`` on
    OpenVINO's CPU plugin under inference precision ``hint``."""
    import openvino as ov

    core = ov.Core()
    model = core.read_model(onnx_model.SerializeToString(), ov.Tensor(np.empty(0, np.uint8)))
    compiled = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": hint, "INFERENCE_NUM_THREADS": threads})
    request = compiled.create_infer_request()
    a = np.random.default_rng(1).standard_normal((size, size), dtype=np.float32)
    request.infer({"A": a})
    return repeat(lambda: request.infer({"A": a}), reps, seconds)


def _gflop(shape: list[int], times: list[float]) -> dict:
    flop = 2.0 * shape[0] * shape[1] * shape[2]
    return {"shape": shape, "gflop_s": flop / min(times) / 1e9, "median_gflop_s": flop / float(np.median(times)) / 1e9}


def int8_gemm_peak(size: int, threads: int, reps: int = 3, seconds: float = 3.0) -> dict:
    """INT8 GEMM throughput (VNNI / AMX where the CPU has them), size^3 multiply-adds counted as 2
    ops each: ONNX Runtime ``MatMulInteger`` (U8S8) and OpenVINO running a Q/DQ MatMul (its int8
    kernel, as for the int8 graphs). The roofline INT8 rows are judged against."""
    results: dict = {}
    for name, fn in (("ort_matmul_integer_u8s8", _ort_matmul_integer), ("openvino_qdq_matmul", _openvino_qdq_matmul)):
        try:
            results[name] = fn(size, threads, reps, seconds)
        except Exception as exc:  # a library missing (openvino is optional): the other figure stands
            results[name] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
    best = max((r["gop_s"] for r in results.values() if "gop_s" in r), default=None)
    source = next((k for k, r in results.items() if r.get("gop_s") == best), None)
    return {"peak_gop_s": best, "peak_source": source, "measurements": results}


def _int8_model(size: int, qdq: bool):
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.integers(-127, 128, (size, size), dtype=np.int8), "W")
    if not qdq:
        nodes = [helper.make_node("MatMulInteger", ["A", "W"], ["Y"])]
        io = (TensorProto.UINT8, TensorProto.INT32)
        inits = [w]
    else:  # float in/out; A quantized U8, W symmetric S8, as the int8 graphs do around every MatMul
        scale = numpy_helper.from_array(np.array(0.02, np.float32), "s")
        zp_a = numpy_helper.from_array(np.array(128, np.uint8), "za")
        zp_w = numpy_helper.from_array(np.array(0, np.int8), "zw")
        nodes = [
            helper.make_node("QuantizeLinear", ["A", "s", "za"], ["Aq"]),
            helper.make_node("DequantizeLinear", ["Aq", "s", "za"], ["Ad"]),
            helper.make_node("DequantizeLinear", ["W", "s", "zw"], ["Wd"]),
            helper.make_node("MatMul", ["Ad", "Wd"], ["Y"]),
        ]
        io = (TensorProto.FLOAT, TensorProto.FLOAT)
        inits = [w, scale, zp_a, zp_w]
    graph = helper.make_graph(
        nodes,
        "gemm_int8",
        [helper.make_tensor_value_info("A", io[0], [size, size])],
        [helper.make_tensor_value_info("Y", io[1], [size, size])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def _gop(size: int, times: list[float]) -> dict:
    ops = 2.0 * size**3
    return {
        "shape": [size, size, size],
        "gop_s": ops / min(times) / 1e9,
        "median_gop_s": ops / float(np.median(times)) / 1e9,
    }


def _ort_matmul_integer(size: int, threads: int, reps: int, seconds: float) -> dict:
    import onnxruntime as ort

    options = session_options(intra_op_threads=threads)
    session = ort.InferenceSession(
        _int8_model(size, qdq=False).SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    a = np.random.default_rng(1).integers(0, 256, (size, size), dtype=np.uint8)
    session.run(None, {"A": a})
    return _gop(size, repeat(lambda: session.run(None, {"A": a}), reps, seconds))


def _openvino_qdq_matmul(size: int, threads: int, reps: int, seconds: float) -> dict:
    return _gop(size, _openvino_times(_int8_model(size, qdq=True), "f32", size, threads, reps, seconds))


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
    for kind, key in (("int8", "peak_gop_s"), ("bf16", "peak_gflop_s")):
        found = [m[kind] for m in (first, second) if (m.get(kind) or {}).get(key)]
        merged[kind] = max(found, key=lambda m: m[key]) if found else first.get(kind, {})
    return {**_best(merged["measurements"]), **merged}


def _fp32_matmul_model(m: int, k: int, n: int):
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.random.default_rng(0).standard_normal((k, n), dtype=np.float32), "W")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["A", "W"], ["Y"])],
        "gemm",
        [helper.make_tensor_value_info("A", TensorProto.FLOAT, [m, k])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [m, n])],
        initializer=[weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # readable by any ORT >= 1.10, whatever IR version this onnx writes by default
    return model


def _ort_matmul(m: int, k: int, n: int, threads: int, reps: int, seconds: float) -> dict:
    import onnxruntime as ort

    options = session_options(intra_op_threads=threads)
    session = ort.InferenceSession(
        _fp32_matmul_model(m, k, n).SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    a = np.random.default_rng(1).standard_normal((m, k), dtype=np.float32)
    session.run(None, {"A": a})
    return _gflop([m, k, n], repeat(lambda: session.run(None, {"A": a}), reps, seconds))
