"""``ijepa-bench``'s engine: every backend of an artifact, timed on the same inputs in one run.

Rows: eager PyTorch (the HF model rebuilt from the manifest, default SDPA attention) as the
reference, ``torch.compile`` of it, ONNX Runtime for every graph in ``manifest.graphs`` on every
execution provider (CPU always; CUDA / TensorRT EPs when the build has them) and the TensorRT
engines in ``manifest.engines``. A backend that cannot run here is still a row, with the reason.

Each (backend, batch) point is warmed up, then timed until both a minimum number of iterations and
a minimum wall time are reached; beside its p50/p90/p99 latency and throughput it carries its
parity against eager on the same pixels (cosine, max abs) and its roofline numbers (GFLOP/s from
:func:`model_flops`, as a fraction of a GEMM peak measured in the same run).

Separately: preprocessing (file -> tensor), end-to-end (file -> embedding through
``ijepa_deploy.runtime.load``), load time and peak RSS per backend (a subprocess per backend, so
one backend's memory is not hidden in another's), machine information and, with ``profile``, an
ONNX Runtime profile summarised per op type. :mod:`ijepa_deploy.exporters.bench_report` turns
the result into JSON, Markdown and plots.
"""

from __future__ import annotations

import datetime as _dt
import gc
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import numpy as np

from ijepa_deploy import __version__
from ijepa_deploy.errors import IJepaDeployError
from ijepa_deploy.manifest import Manifest, read_manifest
from ijepa_deploy.progress import Progress, peak_rss_gib
from ijepa_deploy.spec import primary_output

STATUS_OK = "ok"
STATUS_UNAVAILABLE = "unavailable"
STATUS_FAILED = "failed"

EAGER = "torch-eager"
COMPILE = "torch-compile"
ORT_PROVIDERS = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}
OPT_LEVELS = ("disable", "basic", "extended", "all")


@dataclass
class BenchOptions:
    artifact: Path
    output: Path | None = None
    batch_sizes: tuple[int, ...] | None = None  # default: 1, 2, 4, ... up to max_batch
    max_batch: int = 8
    threads: int | None = None  # default: the cores this process may use
    warmup: int = 1
    min_iters: int = 3
    min_seconds: float = 5.0
    max_iters: int = 200
    skip_compile: bool = False
    graphs: tuple[str, ...] | None = None  # restrict manifest.graphs (default all)
    providers: tuple[str, ...] = ("cpu", "cuda", "tensorrt")
    profile: bool = False
    profile_batches: tuple[int, ...] = (1,)
    profile_iters: int = 3
    memory_probe: bool = True
    end_to_end: bool = True
    gemm_size: int = 4096
    ort_opt_level: str = "all"
    ort_mem_arena: bool = True
    ort_config: dict = field(default_factory=dict)  # session config entries, key -> value
    max_backend_seconds: float | None = None  # per row: larger batches are skipped once spent
    paired_rounds: int = 3  # A/B rounds eager vs target graphs at the target batches (0: off)
    command: str = ""
    quiet: bool = False

    def resolved_threads(self) -> int:
        if self.threads:
            return int(self.threads)
        try:
            return len(os.sched_getaffinity(0))
        except AttributeError:  # not Linux
            return os.cpu_count() or 1


# -- model arithmetic ------------------------------------------------------------------------------

def model_flops(model_info: dict, task: str, num_labels: int | None = None) -> dict:
    """FLOP per image of an I-JEPA ViT (2 FLOP per multiply-accumulate; matmuls only).

    N tokens (no CLS token in I-JEPA), D hidden, L layers, I MLP width, P patch, C = 3 channels:
      patch embedding (a PxP stride-P conv)   N * D * C * P^2
      per layer: Q, K, V, O projections        4 * N * D^2
                 Q K^T and softmax(.) V        2 * N^2 * D
                 MLP (two matmuls)             2 * N * D * I
      classifier (classification only)         D * labels
    LayerNorm, GELU, softmax, bias and residual adds are O(N*D) and left out (< 0.5 %).
    ViT-H/14 at 224 px: 333.2 GFLOP; ViT-g/16: 404.8 GFLOP.
    """
    d = int(model_info["hidden_size"])
    layers = int(model_info["num_hidden_layers"])
    inter = int(model_info["intermediate_size"])
    patch = int(model_info["patch_size"])
    size = int(model_info.get("export_image_size") or model_info["image_size"])
    n = (size // patch) ** 2
    macs = {
        "patch_embedding": n * d * 3 * patch * patch,
        "qkvo_projections": layers * 4 * n * d * d,
        "attention_matmuls": layers * 2 * n * n * d,
        "mlp": layers * 2 * n * d * inter,
        "classifier": d * int(num_labels or 0) if task == "image-classification" else 0,
    }
    total = 2 * sum(macs.values())
    return {
        "gflop_per_image": total / 1e9,
        "tokens": n,
        "breakdown_gflop": {k: 2 * v / 1e9 for k, v in macs.items()},
        "formula": "2 * [N*D*3*P^2 + L*(4*N*D^2 + 2*N^2*D + 2*N*D*I) + D*labels]",
    }


# -- timing ----------------------------------------------------------------------------------------

def time_fn(fn, *, warmup: int, min_iters: int, min_seconds: float, max_iters: int):
    """Run ``fn`` ``warmup`` times, then until ``min_iters`` runs AND ``min_seconds`` have passed
    (or ``max_iters``). Returns (latencies in seconds, the last output, first-call seconds)."""
    first = None
    out = None
    for i in range(max(0, warmup)):
        t0 = time.perf_counter()
        out = fn()
        if i == 0:
            first = time.perf_counter() - t0
    times: list[float] = []
    start = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
        if first is None:
            first = times[0]
        if len(times) >= max_iters:
            break
        if len(times) >= min_iters and time.perf_counter() - start >= min_seconds:
            break
    return times, out, first


def latency_stats(times: list[float], batch: int) -> dict:
    arr = np.asarray(times, dtype=np.float64) * 1000.0
    p50 = float(np.percentile(arr, 50))
    return {
        "iterations": int(arr.size),
        "p50_ms": p50,
        "p90_ms": float(np.percentile(arr, 90)),
        "p99_ms": float(np.percentile(arr, 99)),
        "mean_ms": float(arr.mean()),
        "min_ms": float(arr.min()),
        "max_ms": float(arr.max()),
        "throughput_img_s": batch / (p50 / 1000.0) if p50 > 0 else float("inf"),
    }


def compare(ref: np.ndarray, got: np.ndarray) -> dict:
    """Per-image cosine (min over the batch) and max abs error of ``got`` against ``ref``."""
    from ijepa_deploy.exporters.parity import compare_outputs

    if np.shape(ref) != np.shape(got):
        return {"min_cosine": None, "max_abs": None, "finite": False,
                "note": f"shape {list(np.shape(got))} vs eager {list(np.shape(ref))}"}
    stats = compare_outputs(np.asarray(ref), np.asarray(got))
    if not stats["finite"]:
        return {"min_cosine": None, "max_abs": None, "finite": False, "note": "non-finite outputs"}
    return {"min_cosine": stats["min_cosine"], "max_abs": stats["max_abs"], "finite": True}


# -- machine ---------------------------------------------------------------------------------------

_INTERESTING_FLAGS = ("avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512dq",
                      "avx512_vnni", "avx_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_int8",
                      "amx_bf16", "sve", "asimd")


def _dist_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def machine_info() -> dict:
    cpu: dict = {"model": platform.processor() or platform.machine(), "flags": []}
    try:
        text = Path("/proc/cpuinfo").read_text()
        fields: dict = {}
        for line in text.splitlines():
            if ":" in line:
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
        cpu["model"] = fields.get("model name", cpu["model"])
        cpu["family"] = fields.get("cpu family")
        cpu["model_number"] = fields.get("model")
        flags = set(fields.get("flags", fields.get("Features", "")).split())
        cpu["flags"] = [f for f in _INTERESTING_FLAGS if f in flags]
        cpu["hypervisor"] = "hypervisor" in flags
    except OSError:
        pass
    try:
        import psutil

        cpu["physical_cores"] = psutil.cpu_count(logical=False)
        memory_gib = round(psutil.virtual_memory().total / 2 ** 30, 1)
    except ImportError:
        memory_gib = None
    cpu["logical_cores"] = os.cpu_count()
    try:
        cpu["usable_cores"] = len(os.sched_getaffinity(0))
    except AttributeError:
        cpu["usable_cores"] = os.cpu_count()
    gpu: dict = {"present": False}
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            out = subprocess.run([smi, "--query-gpu=name,driver_version,memory.total,compute_cap",
                                  "--format=csv,noheader"], capture_output=True, text=True, timeout=20)
            rows = [r.strip() for r in out.stdout.splitlines() if r.strip()]
            gpu = {"present": bool(rows), "devices": rows, "query": "nvidia-smi"}
            if not rows:
                gpu["reason"] = (out.stderr.strip().splitlines() or ["nvidia-smi listed no GPU"])[0]
        except (OSError, subprocess.SubprocessError) as exc:
            gpu = {"present": False, "reason": f"nvidia-smi failed ({exc})"}
    else:
        gpu["reason"] = "no nvidia-smi on PATH (no NVIDIA driver)"
    libs = {"python": platform.python_version(), "ijepa_deploy": __version__}
    for dist in ("torch", "onnxruntime", "onnxruntime-gpu", "onnx", "transformers", "numpy", "pillow",
                 "matplotlib", "tensorrt", "cuda-python"):
        version = _dist_version(dist)
        if version is not None or dist in ("torch", "onnxruntime", "tensorrt"):
            libs[dist] = version
    extra: dict = {}
    try:
        import onnxruntime as ort

        extra["onnxruntime_providers"] = ort.get_available_providers()
    except ImportError:
        pass
    try:
        import torch

        extra["torch_mkldnn"] = bool(torch.backends.mkldnn.is_available())
        extra["torch_mkl"] = bool(torch.backends.mkl.is_available())
        extra["torch_cuda"] = bool(torch.cuda.is_available())
        extra["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    except Exception:  # torch absent or an old build without one of these
        pass
    return {"cpu": cpu, "memory_gib": memory_gib, "gpu": gpu, "os": platform.platform(),
            "libraries": libs, "loadavg_start": _loadavg(), **extra}


def _loadavg() -> list | None:
    """1/5/15-minute load averages: other work on a shared machine skews timings; this records it."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


# -- GEMM peak -------------------------------------------------------------------------------------

def _repeat(fn, reps: int, seconds: float) -> list[float]:
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < reps or (time.perf_counter() - start < seconds and len(times) < 1000):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


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
        times = _repeat(lambda: torch.matmul(a, b), reps, seconds)
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
    best = max((r["gflop_s"] for r in results.values() if "gflop_s" in r), default=None)
    source = next((k for k, r in results.items() if r.get("gflop_s") == best), None)
    return {"peak_gflop_s": best, "peak_source": source, "threads": threads, "measurements": results}


def merge_peaks(first: dict, second: dict) -> dict:
    """One peak from two measurements (start and end of a run): the best of each kind."""
    merged = {"threads": first["threads"], "measurements": {}, "runs": [first, second]}
    for name in first["measurements"]:
        candidates = [m["measurements"].get(name, {}) for m in (first, second)]
        good = [c for c in candidates if "gflop_s" in c]
        merged["measurements"][name] = max(good, key=lambda c: c["gflop_s"]) if good else candidates[0]
    best = max((r["gflop_s"] for r in merged["measurements"].values() if "gflop_s" in r), default=None)
    merged["peak_gflop_s"] = best
    merged["peak_source"] = next((k for k, r in merged["measurements"].items() if r.get("gflop_s") == best), None)
    return merged


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
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    a = rng.standard_normal((m, k), dtype=np.float32)
    session.run(None, {"A": a})
    times = _repeat(lambda: session.run(None, {"A": a}), reps, seconds)
    flop = 2.0 * m * k * n
    return {"shape": [m, k, n], "gflop_s": flop / min(times) / 1e9,
            "median_gflop_s": flop / float(np.median(times)) / 1e9}


# -- backends --------------------------------------------------------------------------------------

class Unavailable(Exception):
    """A backend that cannot run on this machine; the message is the reason shown in the report."""


class Backend:
    """One row of the report: ``load`` returns a callable pixels -> {output name: array}."""

    name = "base"
    variant = "fp32"
    precision = "fp32"

    @property
    def label(self) -> str:
        return f"{self.name} {self.variant}"

    def details(self) -> dict:
        return {}

    def load(self):
        raise NotImplementedError

    def close(self) -> None:
        pass


def _load_torch_model(manifest: Manifest):
    from ijepa_deploy.exporters.models import load_model, parse_model_source

    info = manifest.model.to_dict()
    source = parse_model_source(info["source"], info.get("revision"))
    # from_pretrained of the recorded source (hub / local) or the seeded preset: default SDPA attention
    return load_model(source, manifest.task, seed=int(info.get("seed") or 0))


class TorchBackend(Backend):
    def __init__(self, manifest: Manifest, loaded_holder: dict, compiled: bool):
        self.manifest = manifest
        self.holder = loaded_holder  # shared: eager and compile use the same weights
        self.compiled = compiled
        self.name = COMPILE if compiled else EAGER
        self.fn = None

    def details(self) -> dict:
        d = {"attention": "sdpa (transformers default)", "dtype": "float32", "grad": "inference_mode"}
        if self.compiled:
            d["compile"] = "torch.compile(model) default mode, inductor; compile time = first calls"
        return d

    def load(self):
        import torch

        if "loaded" not in self.holder:
            self.holder["loaded"] = _load_torch_model(self.manifest)
        loaded = self.holder["loaded"]
        model = loaded.model
        interpolate = self.manifest.io.inputs[0].shape[2] != loaded.info["image_size"]
        if self.compiled:
            try:
                model = torch.compile(model)
            except Exception as exc:
                raise Unavailable(f"torch.compile failed: {type(exc).__name__}: {exc}") from None
        task = self.manifest.task

        def run(pixels: np.ndarray) -> dict:
            with torch.inference_mode():
                out = model(pixel_values=torch.from_numpy(pixels), interpolate_pos_encoding=interpolate)
            if task == "feature-extraction":
                hidden = out.last_hidden_state
                return {"last_hidden_state": hidden.numpy(), "embedding": hidden.mean(dim=1).numpy()}
            return {"logits": out.logits.numpy()}

        return run


def ort_session_options(threads: int, opt_level: str = "all", mem_arena: bool = True,
                        config: dict | None = None, profile_prefix: str | None = None):
    import onnxruntime as ort

    levels = {
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }
    if opt_level not in levels:
        raise IJepaDeployError("--ort-opt-level", f"unknown level {opt_level!r}", f"one of {OPT_LEVELS}")
    options = ort.SessionOptions()
    options.graph_optimization_level = levels[opt_level]
    options.intra_op_num_threads = int(threads)
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.enable_cpu_mem_arena = bool(mem_arena)
    options.log_severity_level = 3
    for key, value in (config or {}).items():
        options.add_session_config_entry(str(key), str(value))
    if profile_prefix:
        options.enable_profiling = True
        options.profile_file_prefix = profile_prefix
    return options


class OrtBackend(Backend):
    def __init__(self, directory: Path, manifest: Manifest, variant: str, provider: str, opts: BenchOptions):
        self.directory = directory
        self.manifest = manifest
        self.variant = variant
        self.provider_key = provider
        self.provider = ORT_PROVIDERS[provider]
        self.name = f"onnxruntime-{provider}"
        self.opts = opts
        self.session = None
        entry = manifest.graphs[variant].to_dict() if variant in manifest.graphs else {}
        self.precision = entry.get("precision", variant)
        self.graph = directory / entry.get("file", "")

    def details(self) -> dict:
        o = self.opts
        entry = self.manifest.graphs[self.variant].to_dict() if self.variant in self.manifest.graphs else {}
        return {"graph": entry.get("file"), "provider": self.provider,
                "session": {"graph_optimization_level": o.ort_opt_level, "intra_op_num_threads":
                            o.resolved_threads(), "inter_op_num_threads": 1, "execution_mode": "sequential",
                            "enable_cpu_mem_arena": o.ort_mem_arena, "config_entries": dict(o.ort_config)},
                "graph_record": {k: v for k, v in entry.items() if k not in ("ops", "file", "data_files")}}

    def providers(self) -> list:
        if self.provider_key == "cpu":
            return ["CPUExecutionProvider"]
        from ijepa_deploy.runtime.onnxruntime_runner import default_providers

        chain = [p for p in default_providers(self.directory / ".trt-cache")
                 if (p[0] if isinstance(p, tuple) else p) in (self.provider, "CPUExecutionProvider")]
        return chain

    def make_session(self, profile_prefix: str | None = None):
        import onnxruntime as ort

        if not self.graph.is_file():
            raise Unavailable(f"graph file {self.graph.name} is missing from the artifact")
        o = self.opts
        options = ort_session_options(o.resolved_threads(), o.ort_opt_level, o.ort_mem_arena,
                                      o.ort_config, profile_prefix)
        try:
            return ort.InferenceSession(str(self.graph), options, providers=self.providers())
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise Unavailable(f"ONNX Runtime cannot load {self.graph.name}: {first[:300]}") from None

    def load(self):
        self.session = session = self.make_session()
        return ort_run_fn(session, self.manifest)

    def close(self) -> None:
        self.session = None


def ort_run_fn(session, manifest: Manifest):
    inputs = session.get_inputs()
    name = inputs[0].name
    dtype = np.float16 if inputs[0].type == "tensor(float16)" else np.float32
    wanted = [n for n in manifest.io.output_names if n in {o.name for o in session.get_outputs()}]

    def run(pixels: np.ndarray) -> dict:
        outs = session.run(wanted, {name: pixels.astype(dtype, copy=False)})
        return {k: np.asarray(v, dtype=np.float32) for k, v in zip(wanted, outs)}

    return run


class TensorRTBackend(Backend):
    name = "tensorrt"

    def __init__(self, directory: Path, manifest: Manifest, variant: str):
        self.directory = directory
        self.manifest = manifest
        self.variant = variant
        entry = manifest.engines[variant].to_dict() if variant in manifest.engines else {}
        self.precision = entry.get("precision", variant)
        self.runner = None

    def details(self) -> dict:
        entry = self.manifest.engines[self.variant].to_dict() if self.variant in self.manifest.engines else {}
        return {"engine": entry.get("file"), "record": {k: v for k, v in entry.items() if k != "file"}}

    def load(self):
        from ijepa_deploy.runtime import model as runtime_model

        try:
            self.runner = runtime_model.open_runner(self.directory, self.manifest, backend="tensorrt",
                                                    precision=self.variant)
        except Exception as exc:
            raise Unavailable(f"{type(exc).__name__}: {exc}"[:400]) from None
        runner = self.runner
        return lambda pixels: {k: np.asarray(v, dtype=np.float32) for k, v in runner.run(pixels).items()}

    def close(self) -> None:
        if self.runner is not None:
            self.runner.close()
        self.runner = None


def tensorrt_status(machine: dict) -> str | None:
    """None when TensorRT could run here, else why not."""
    reasons = []
    try:
        import tensorrt  # noqa: F401
    except Exception as exc:
        reasons.append(f"tensorrt not importable ({type(exc).__name__}: {str(exc)[:120]})")
    if not machine.get("gpu", {}).get("present"):
        reasons.append("no NVIDIA GPU (" + machine.get("gpu", {}).get("reason", "none found") + ")")
    return "; ".join(reasons) or None


# -- inputs and side measurements -----------------------------------------------------------------

def bench_images(count: int) -> list[Path]:
    from ijepa_deploy.exporters.parity import bundled_images

    paths = bundled_images()
    return [paths[i % len(paths)] for i in range(count)]


def measure_preprocessing(manifest: Manifest, batch_sizes: list[int], opts: BenchOptions) -> dict:
    from ijepa_deploy.runtime import Preprocessor

    pre = Preprocessor(manifest.preprocessing)
    files = bench_images(4)
    per_file = {}
    for path in files:
        times, _, _ = time_fn(lambda p=path: pre.one(p), warmup=1, min_iters=10, min_seconds=0.3, max_iters=200)
        from PIL import Image

        with Image.open(path) as im:
            size = list(im.size)
        per_file[path.name] = {"source_size": size, **latency_stats(times, 1)}
    batches = {}
    for n in sorted({1, max(batch_sizes)}):
        paths = bench_images(n)
        times, _, _ = time_fn(lambda: pre(paths), warmup=1, min_iters=5, min_seconds=0.3, max_iters=100)
        batches[str(n)] = latency_stats(times, n)
    return {"what": "file -> float32 NCHW tensor (Pillow decode + resize, numpy rescale/normalise), "
                    "ijepa_deploy.runtime.Preprocessor, one thread",
            "per_file": per_file, "per_batch": batches}


def measure_end_to_end(directory: Path, manifest: Manifest, variant: str, batch_sizes: list[int],
                       opts: BenchOptions, progress: Progress) -> dict:
    from ijepa_deploy.runtime import load

    threads = opts.resolved_threads()
    t0 = time.perf_counter()
    try:
        model = load(directory, precision=variant, intra_op_threads=threads,
                     providers=["CPUExecutionProvider"])
    except TypeError:  # an older runtime without these options
        model = load(directory, precision=variant)
    load_seconds = time.perf_counter() - t0
    result = {"what": "image files -> pooled embeddings (or logits) with ijepa_deploy.runtime.load "
                      "(checksums verified at load) on ONNX Runtime CPU",
              "graph": variant, "load_seconds": load_seconds, "per_batch": {}}
    with model:
        for n in sorted({1, max(batch_sizes)}):
            paths = [str(p) for p in bench_images(n)]
            call = (lambda: model.embed(paths)) if manifest.task == "feature-extraction" else \
                (lambda: model.classify(paths))
            times, _, _ = time_fn(call, warmup=1 if opts.warmup else 0, min_iters=max(2, opts.min_iters // 2),
                                  min_seconds=opts.min_seconds / 2, max_iters=opts.max_iters)
            result["per_batch"][str(n)] = latency_stats(times, n)
            progress.say(f"[end-to-end] {variant} batch {n}: p50 {result['per_batch'][str(n)]['p50_ms']:.1f} ms")
    return result


# -- memory probe (one subprocess per backend) ----------------------------------------------------

def _probe_main(argv: list[str]) -> int:
    """Child process: load one backend, run one batch-1 inference, print JSON with timings and RSS."""
    job = json.loads(argv[0])
    import resource

    def rss_gib() -> float:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 30

    directory = Path(job["artifact"])
    manifest = read_manifest(directory)
    opts = BenchOptions(artifact=directory, threads=job["threads"], ort_opt_level=job["opt_level"],
                        ort_mem_arena=job["mem_arena"], ort_config=job["ort_config"])
    if job["kind"] == "torch":
        import torch

        torch.set_num_threads(job["threads"])
        backend: Backend = TorchBackend(manifest, {}, compiled=False)
    elif job["kind"] == "ort":
        import onnxruntime  # noqa: F401  (imported before the baseline: library pages are not the model)

        backend = OrtBackend(directory, manifest, job["variant"], job["provider"], opts)
    else:
        backend = TensorRTBackend(directory, manifest, job["variant"])
    baseline = rss_gib()
    t0 = time.perf_counter()
    try:
        fn = backend.load()
    except Unavailable as exc:
        print(json.dumps({"error": str(exc)}))
        return 0
    load_seconds = time.perf_counter() - t0
    after_load = rss_gib()
    pixels = np.zeros(tuple([1] + list(manifest.io.inputs[0].shape[1:])), dtype=np.float32)
    t0 = time.perf_counter()
    fn(pixels)
    first_run = time.perf_counter() - t0
    peak = _vm_hwm_gib()
    if peak is None:  # not Linux: ru_maxrss (on Linux it can carry the parent's peak over fork)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
    print(json.dumps({"baseline_rss_gib": baseline, "after_load_rss_gib": after_load, "peak_rss_gib": peak,
                      "load_seconds": load_seconds, "first_run_batch1_seconds": first_run}))
    return 0


def _vm_hwm_gib() -> float | None:
    """This process's own peak RSS (VmHWM belongs to the address space exec created; ru_maxrss of a
    forked child starts from the parent's peak, so every probe would report the benchmark's)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2 ** 20
    except (OSError, ValueError, IndexError):
        pass
    return None


def probe_memory(job: dict, timeout: float = 900) -> dict:
    cmd = [sys.executable, "-c",
           "import sys; from ijepa_deploy.exporters.benchmark import _probe_main; "
           "sys.exit(_probe_main(sys.argv[1:]))", json.dumps(job)]
    env = dict(os.environ, OMP_NUM_THREADS=str(job["threads"]))
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"probe timed out after {timeout:.0f} s"}
    lines = [l for l in out.stdout.splitlines() if l.startswith("{")]
    if out.returncode != 0 or not lines:
        tail = (out.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"probe exited {out.returncode}: {tail[:300]}"}
    return json.loads(lines[-1])


# -- ORT profiling ---------------------------------------------------------------------------------

_MATMUL_OPS = {"MatMul", "Gemm", "FusedMatMul", "MatMulInteger", "DynamicQuantizeMatMul",
               "MatMulIntegerToFloat", "QLinearMatMul", "FusedGemm", "MatMulNBits"}


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
        shapes.append({"op_type": op, "shapes": sig, "ms_per_run": r["total_us"] / runs / 1000.0,
                       "share": r["total_us"] / kernel_total, "nodes_per_run": r["calls"] / runs,
                       "gflop_s": r["flop"] / (r["total_us"] / 1e6) / 1e9 if r["total_us"] else None})
    ops = []
    for op, r in sorted(per_op.items(), key=lambda kv: -kv[1]["total_us"]):
        ms_per_run = r["total_us"] / runs / 1000.0
        ops.append({"op_type": op, "ms_per_run": ms_per_run, "share": r["total_us"] / kernel_total,
                    "nodes_per_run": r["calls"] / runs, "providers": sorted(r["providers"]),
                    "gflop_s": (r["flop"] / (r["total_us"] / 1e6) / 1e9) if r["flop"] and r["total_us"] else None})
    return {"runs": runs, "model_run_ms": float(np.median(run_us)) / 1000.0 if run_us else None,
            "kernel_ms_per_run": kernel_total / runs / 1000.0, "op_types": ops, "matmul_shapes": shapes}


def profile_ort(backend: OrtBackend, pixels: np.ndarray, batches: list[int], iters: int,
                out_dir: Path) -> dict:
    results = {}
    with tempfile.TemporaryDirectory(prefix="ijepa-prof-") as tmp:
        for n in batches:
            session = backend.make_session(profile_prefix=str(Path(tmp) / f"{backend.variant}-b{n}"))
            run = ort_run_fn(session, backend.manifest)
            run(pixels[:n])  # warm-up (recorded too; summarise by median model_run and per-run share)
            for _ in range(iters):
                run(pixels[:n])
            trace = Path(session.end_profiling())
            del session, run
            summary = summarise_profile(trace, iters + 1)
            results[str(n)] = summary
    return results


# -- the run ---------------------------------------------------------------------------------------

def batch_sweep(opts: BenchOptions, manifest: Manifest) -> list[int]:
    limit = manifest.batch.max
    lowest = manifest.batch.min
    if opts.max_batch > limit:
        raise IJepaDeployError("--max-batch", f"{opts.max_batch} exceeds the artifact's batch max {limit}",
                               f"at most {limit}")
    if opts.batch_sizes:
        sizes = sorted(set(int(b) for b in opts.batch_sizes))
        bad = [b for b in sizes if not lowest <= b <= limit]
        if bad:
            raise IJepaDeployError("--batch-sizes", f"{bad} outside the artifact's range {lowest}..{limit}",
                                   f"sizes within {lowest}..{limit}")
        return sizes
    sizes, b = [], 1
    while b <= opts.max_batch:
        if b >= lowest:
            sizes.append(b)
        b *= 2
    return sizes or [lowest]


def plan_backends(directory: Path, manifest: Manifest, opts: BenchOptions, machine: dict,
                  holder: dict) -> list:
    """The rows, in order: each a Backend or an unavailable record (dict)."""
    rows: list = [TorchBackend(manifest, holder, compiled=False)]
    if opts.skip_compile:
        rows.append({"backend": COMPILE, "variant": "fp32", "precision": "fp32", "status": STATUS_UNAVAILABLE,
                     "reason": "skipped (--skip-compile)"})
    else:
        rows.append(TorchBackend(manifest, holder, compiled=True))
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
            raise IJepaDeployError("--graphs", f"{missing} not in the artifact",
                                   f"some of {sorted(manifest.graphs)}")
        variants = [g for g in variants if g in opts.graphs]
    for key in opts.providers:
        provider = ORT_PROVIDERS[key]
        if ort_error or provider not in available:
            reason = (f"onnxruntime not importable ({ort_error})" if ort_error else
                      f"this onnxruntime build has no {provider} (available: {', '.join(available)}; "
                      + ("install onnxruntime-gpu on a CUDA host)" if key != "cpu" else "?)"))
            rows.append({"backend": f"onnxruntime-{key}", "variant": "*", "precision": "*",
                         "status": STATUS_UNAVAILABLE, "reason": reason})
            continue
        for variant in variants:
            rows.append(OrtBackend(directory, manifest, variant, key, opts))
    trt_reason = tensorrt_status(machine)
    if manifest.engines:
        for variant in manifest.engines:
            if trt_reason:
                rows.append({"backend": "tensorrt", "variant": variant,
                             "precision": manifest.engines[variant].precision, "status": STATUS_UNAVAILABLE,
                             "reason": trt_reason})
            else:
                rows.append(TensorRTBackend(directory, manifest, variant))
    else:
        reason = "the artifact has no TensorRT engines (manifest.engines is empty)"
        if trt_reason:
            reason += "; " + trt_reason
        rows.append({"backend": "tensorrt", "variant": "*", "precision": "*", "status": STATUS_UNAVAILABLE,
                     "reason": reason})
    return rows


def target_batches(sweep: list[int], wanted=(1, 8)) -> list[int]:
    """The batches targets are judged at: each wanted size, or the largest swept size below it."""
    chosen = []
    for b in wanted:
        below = [x for x in sweep if x <= b]
        if below and max(below) not in chosen:
            chosen.append(max(below))
    return chosen


# ONNX Runtime's intra-op threads spin after a run (session.intra_op.allow_spinning=1, the default)
# and torch's OpenMP threads after a parallel region: a call started right after the other library's
# call shares the cores with those spinners (tiny eager: 23 ms alone, 117 ms right after an ORT run;
# 25 ms after a 50 ms pause). Paired rounds leave this gap between calls.
PAIR_GAP_S = 0.1


def paired_rounds(plan: list, rows: list[dict], holder: dict, pixels: np.ndarray, sweep: list[int],
                  opts: BenchOptions, progress: Progress) -> dict:
    """Eager and each target graph (ONNX Runtime CPU fp32 and INT8 graphs, and torch.compile when it
    ran) run alternately, one call each per round, at the target batches. Contention from other processes then hits both sides of
    a ratio alike; the ratio reported is the median of the per-round ratios."""
    eager = next((b for b in plan if isinstance(b, TorchBackend) and not b.compiled), None)
    if eager is None or "loaded" not in holder:
        return {}
    ok = {(r["backend"], r["variant"]) for r in rows if r["status"] == STATUS_OK}
    targets = [b for b in plan if isinstance(b, OrtBackend) and b.provider_key == "cpu"
               and ("onnxruntime-cpu", b.variant) in ok and (b.variant == "fp32" or "int8" in b.variant)]
    if not targets:
        return {}
    int8 = [b for b in targets if "int8" in b.variant]
    if any("cpu" in b.variant for b in int8):  # the CPU target is judged on the graph made for CPUs
        targets = [b for b in targets if b.variant == "fp32" or "cpu" in b.variant]
    eager_fn = eager.load()
    fns = {f"onnxruntime-cpu {b.variant}": ort_run_fn(b.make_session(), b.manifest) for b in targets}
    compiled = next((b for b in plan if isinstance(b, TorchBackend) and b.compiled), None)
    if compiled is not None and (COMPILE, "fp32") in ok:
        # the peer users try first: its sweep row can land in a busy minute like any other
        fns[f"{COMPILE} fp32"] = compiled.load()  # recompiles on the first call (inductor's cache helps)
    result: dict = {"rounds": opts.paired_rounds, "method": "per round: eager once, then each candidate "
                    f"once, {PAIR_GAP_S:g} s apart; ratio = median over rounds of candidate / eager of the same "
                    "round", "ratios": {}}
    for n in target_batches(sweep):
        batch = np.ascontiguousarray(pixels[:n])
        eager_fn(batch)
        for fn in fns.values():
            fn(batch)
        e_times: list[float] = []
        c_times: dict = {k: [] for k in fns}
        for _ in range(opts.paired_rounds):
            time.sleep(PAIR_GAP_S)
            t0 = time.perf_counter()
            eager_fn(batch)
            e_times.append(time.perf_counter() - t0)
            for key, fn in fns.items():
                time.sleep(PAIR_GAP_S)
                t0 = time.perf_counter()
                fn(batch)
                c_times[key].append(time.perf_counter() - t0)
        for key in fns:
            ratios = [c / e for c, e in zip(c_times[key], e_times)]
            result["ratios"].setdefault(key, {})[str(n)] = {
                "ratio": float(np.median(ratios)), "round_ratios": ratios,
                "eager_ms": [1000 * t for t in e_times], "candidate_ms": [1000 * t for t in c_times[key]]}
            progress.say(f"[paired] {key} batch {n}: {float(np.median(ratios)):.3f} x eager "
                         f"(rounds {', '.join(f'{r:.3f}' for r in ratios)})")
    fns.clear()
    gc.collect()
    return result


def run_benchmark(opts: BenchOptions, progress: Progress | None = None) -> dict:
    """Run everything; return the report dict (see bench_report.SCHEMA_VERSION)."""
    from ijepa_deploy.exporters.parity import photo_batch
    from ijepa_deploy.runtime import Preprocessor

    progress = progress or Progress(quiet=opts.quiet)
    started = time.perf_counter()
    directory = Path(opts.artifact)
    manifest = read_manifest(directory)
    sweep = batch_sweep(opts, manifest)
    threads = opts.resolved_threads()
    primary = primary_output(manifest.task)

    import torch

    torch.set_num_threads(threads)
    with progress.step("machine", "CPU, GPU, library versions"):
        machine = machine_info()
    flops = model_flops(manifest.model.to_dict(), manifest.task,
                        manifest.io.outputs[0].shape[1] if manifest.task == "image-classification" else None)
    d = manifest.model.hidden_size
    mlp_shape = (max(sweep) * flops["tokens"], d, manifest.model.intermediate_size)
    with progress.step("gemm-peak", f"fp32 GEMM {opts.gemm_size}^2 (torch, ONNX Runtime) and MLP shape "
                       f"{mlp_shape} on {threads} threads"):
        peak = gemm_peak(opts.gemm_size, threads, mlp_shape)
    peak_gflops = peak["peak_gflop_s"]
    progress.say(f"[gemm-peak] peak {peak_gflops:.1f} GFLOP/s ({peak['peak_source']})" if peak_gflops else
                 "[gemm-peak] no GEMM measurement")

    pixels, image_names = photo_batch(Preprocessor(manifest.preprocessing), max(sweep))
    holder: dict = {}
    plan = plan_backends(directory, manifest, opts, machine, holder)
    rows: list[dict] = []
    eager_out: dict[int, dict] = {}
    eager_p50: dict[int, float] = {}
    profiles: dict = {}

    for i, item in enumerate(plan, 1):
        if isinstance(item, dict):
            progress.say(f"[{i}/{len(plan)}] {item['backend']} {item['variant']}: unavailable ({item['reason']})")
            rows.append({**item, "details": {}, "points": []})
            continue
        backend: Backend = item
        row = {"backend": backend.name, "variant": backend.variant, "precision": backend.precision,
               "status": STATUS_OK, "reason": None, "details": backend.details(), "points": []}
        rows.append(row)
        with progress.step(f"{i}/{len(plan)} {backend.label}", "load"):
            rss_before = _rss_gib()
            t0 = time.perf_counter()
            try:
                fn = backend.load()
            except Unavailable as exc:
                row.update(status=STATUS_UNAVAILABLE, reason=str(exc))
                progress.say(f"[{backend.label}] unavailable: {exc}")
                continue
            except Exception as exc:
                row.update(status=STATUS_FAILED, reason=f"{type(exc).__name__}: {exc}"[:400])
                progress.say(f"[{backend.label}] FAILED to load: {row['reason']}")
                continue
            row["load_seconds"] = time.perf_counter() - t0
            row["rss_after_load_delta_gib"] = _rss_gib() - rss_before
        first_calls = {}
        row_start = time.perf_counter()
        try:
            for n in sweep:
                spent = time.perf_counter() - row_start
                if opts.max_backend_seconds and row["points"] and spent > opts.max_backend_seconds:
                    row.setdefault("skipped_batches", []).append(n)
                    row["skip_reason"] = (f"over the per-backend budget ({spent:.0f} s > "
                                          f"--max-backend-seconds {opts.max_backend_seconds:g})")
                    progress.say(f"[{backend.label}] batch {n} skipped: {row['skip_reason']}")
                    continue
                batch = np.ascontiguousarray(pixels[:n])
                with progress.step(f"{backend.label} batch {n}", f"warm-up {opts.warmup}, >= {opts.min_iters} "
                                   f"iterations and >= {opts.min_seconds:g} s"):
                    stall0, wall0 = cpu_stall_us(), time.perf_counter()
                    times, out, first = time_fn(lambda: fn(batch), warmup=opts.warmup, min_iters=opts.min_iters,
                                                min_seconds=opts.min_seconds, max_iters=opts.max_iters)
                    stall1, wall1 = cpu_stall_us(), time.perf_counter()
                first_calls[str(n)] = first
                point = {"batch": n, **latency_stats(times, n)}
                point["cpu_stall_fraction"] = ((stall1 - stall0) / 1e6 / (wall1 - wall0)
                                               if stall0 is not None and stall1 is not None else None)
                gflop = flops["gflop_per_image"] * n
                point["gflop_s"] = gflop / (point["p50_ms"] / 1000.0)
                point["peak_fraction"] = point["gflop_s"] / peak_gflops if peak_gflops else None
                if backend.name == EAGER:
                    eager_out[n] = out
                    eager_p50[n] = point["p50_ms"]
                point["latency_vs_eager"] = point["p50_ms"] / eager_p50[n] if n in eager_p50 else None
                if n in eager_out:
                    point["parity"] = {name: compare(eager_out[n][name], out[name])
                                       for name in eager_out[n] if name in out}
                else:
                    point["parity"] = {}
                row["points"].append(point)
                par = point["parity"].get(primary, {})
                cos = par.get("min_cosine")
                progress.say(f"[{backend.label}] batch {n}: p50 {point['p50_ms']:.1f} ms "
                             f"({point['iterations']} it), {point['throughput_img_s']:.2f} img/s, "
                             f"{point['gflop_s']:.0f} GFLOP/s"
                             + (f", {point['latency_vs_eager']:.2f}x eager" if point["latency_vs_eager"] else "")
                             + (f", cos {cos:.6f}" if cos is not None else ""))
        except Exception as exc:
            row.update(status=STATUS_FAILED, reason=f"{type(exc).__name__}: {exc}"[:400])
            progress.say(f"[{backend.label}] FAILED: {row['reason']}")
        if backend.name == COMPILE and first_calls:
            steady = {p["batch"]: p["p50_ms"] / 1000.0 for p in row["points"]}
            row["compile_seconds"] = sum(max(0.0, first_calls[str(b)] - steady.get(b, 0.0)) for b in steady)
            row["first_call_seconds"] = first_calls
        backend.close()
        del fn
        if backend.name == COMPILE:
            torch._dynamo.reset()
        if (isinstance(backend, TorchBackend) and not opts.paired_rounds
                and not any(isinstance(b, TorchBackend) for b in plan[i:])):
            holder.clear()  # the torch weights are not needed by the remaining rows
        gc.collect()
        if opts.profile and isinstance(backend, OrtBackend) and row["status"] == STATUS_OK:
            with progress.step(f"profile {backend.label}", f"ORT profiler, batches {list(opts.profile_batches)}"):
                try:
                    profiles[f"{backend.name} {backend.variant}"] = profile_ort(
                        backend, pixels, [b for b in opts.profile_batches if b <= max(sweep)] or [1],
                        opts.profile_iters, Path(opts.output or "."))
                except Exception as exc:
                    profiles[f"{backend.name} {backend.variant}"] = {"error": f"{type(exc).__name__}: {exc}"}
            gc.collect()
    paired = {}
    if opts.paired_rounds and eager_p50:
        with progress.step("paired", f"{opts.paired_rounds} alternating rounds eager vs target graphs"):
            try:
                paired = paired_rounds(plan, rows, holder, pixels, sweep, opts, progress)
            except Exception as exc:
                paired = {"error": f"{type(exc).__name__}: {exc}"[:400]}
    holder.clear()
    gc.collect()
    with progress.step("gemm-peak", "again after the backends (the peak is the best of both measurements)"):
        peak_end = gemm_peak(opts.gemm_size, threads, mlp_shape)
    peak = merge_peaks(peak, peak_end)
    if peak["peak_gflop_s"] and peak["peak_gflop_s"] != peak_gflops:
        peak_gflops = peak["peak_gflop_s"]
        for row in rows:  # re-base every point on the final peak
            for point in row["points"]:
                point["peak_fraction"] = point["gflop_s"] / peak_gflops

    extras: dict = {}
    with progress.step("preprocessing", "file -> tensor"):
        extras["preprocessing"] = measure_preprocessing(manifest, sweep, opts)
    if opts.end_to_end:
        e2e_variant = "fp32" if "fp32" in manifest.graphs else next(iter(manifest.graphs), None)
        if e2e_variant:
            with progress.step("end-to-end", f"runtime.load + embed, graph {e2e_variant}"):
                try:
                    extras["end_to_end"] = measure_end_to_end(directory, manifest, e2e_variant, sweep, opts,
                                                              progress)
                except Exception as exc:
                    extras["end_to_end"] = {"error": f"{type(exc).__name__}: {exc}"[:400]}
    memory: dict = {}
    if opts.memory_probe:
        jobs = []
        for row in rows:
            if row["status"] != STATUS_OK or row["backend"] == COMPILE:
                continue
            job = {"artifact": str(directory.resolve()), "threads": threads, "opt_level": opts.ort_opt_level,
                   "mem_arena": opts.ort_mem_arena, "ort_config": opts.ort_config, "variant": row["variant"]}
            if row["backend"] == EAGER:
                job["kind"] = "torch"
            elif row["backend"].startswith("onnxruntime-"):
                job.update(kind="ort", provider=row["backend"].split("-", 1)[1])
            else:
                job["kind"] = "tensorrt"
            jobs.append((row, job))
        for row, job in jobs:
            key = f"{row['backend']} {row['variant']}"
            with progress.step(f"memory {key}", "subprocess: load + one batch-1 run"):
                memory[key] = probe_memory(job)
                row["memory"] = memory[key]
    created = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    return {
        "created": created,
        "command": opts.command,
        "wall_seconds": time.perf_counter() - started,
        "artifact": {
            "path": str(directory), "model": manifest.model.source,
            "weights": manifest.model.weights, "task": manifest.task,
            "input": manifest.io.inputs[0].to_dict(), "batch": manifest.batch.to_dict(),
            "graphs": sorted(manifest.graphs), "engines": sorted(manifest.engines),
            "parameters": manifest.model.parameters, "created": manifest.created,
            "architecture": {k: manifest.model.to_dict().get(k) for k in ("hidden_size", "num_hidden_layers",
                             "num_attention_heads", "intermediate_size", "patch_size", "export_image_size")},
        },
        "machine": machine,
        "settings": {
            "threads": threads, "thread_settings": "torch.set_num_threads and ORT intra_op_num_threads "
            "(inter_op 1, sequential)", "batch_sizes": sweep, "warmup": opts.warmup,
            "min_iterations": opts.min_iters, "min_seconds": opts.min_seconds, "max_iterations": opts.max_iters,
            "inputs": image_names, "primary_output": primary, "reference": EAGER,
            "ort_graph_optimization_level": opts.ort_opt_level, "ort_mem_arena": opts.ort_mem_arena,
            "ort_config": dict(opts.ort_config), "profile": opts.profile,
        },
        "flops": flops,
        "gemm_peak": peak,
        "rows": rows,
        "preprocessing": extras.get("preprocessing"),
        "end_to_end": extras.get("end_to_end"),
        "loadavg_end": _loadavg(),
        "memory": {"per_backend": memory, "process_peak_rss_gib": peak_rss_gib(),
                   "note": "per backend: a fresh subprocess loads it and runs one batch-1 inference "
                           "(peak_rss_gib is that child's peak); process_peak_rss_gib is this benchmark "
                           "process (all backends, sequentially)"},
        "profiles": profiles,
        "paired": paired,
    }


def cpu_stall_us() -> float | None:
    """Linux PSI: total microseconds some runnable task waited for a CPU. Its growth over a timed
    point divided by the point's wall time is how contended the machine was while it ran."""
    try:
        with open("/proc/pressure/cpu") as fh:
            first = fh.readline().split()
        return float(dict(kv.split("=") for kv in first[1:])["total"])
    except (OSError, KeyError, ValueError, IndexError):
        return None


def _rss_gib() -> float:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 30
    except OSError:
        return 0.0
