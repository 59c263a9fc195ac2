"""``ijepa-bench --cpp``: the C++ runtime (``ijepa::Model``, OpenVINO) against the Python runtime
(``runtime.load``) on the same graph, the same image files and the same thread count, in paired
rounds in one run.

The C++ side is one long-lived ``ijepa_bench_driver`` process (benchmarks/cpp/bench_driver.cpp)
that times each call itself and answers over a pipe, so the harness can alternate Python and C++
call by call (``paired.paired_ratios``); the pipe's round trip is measured and reported. Both
sides load with checksum verification. The Python side runs OpenVINO when the Python runtime has
that backend and it is installed (the same engine), otherwise ONNX Runtime CPU, and the report
says which."""

from __future__ import annotations

import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from ijepa_deploy.benchmarks.cpp_build import BENCH_DRIVER, release_build
from ijepa_deploy.benchmarks.end_to_end import bench_images
from ijepa_deploy.benchmarks.options import BenchOptions
from ijepa_deploy.benchmarks.paired import SelfTimed, paired_ratios
from ijepa_deploy.benchmarks.targets import target_batches
from ijepa_deploy.errors import BackendError, InputError
from ijepa_deploy.manifest import Manifest
from ijepa_deploy.progress import Progress
from ijepa_deploy.runtime import RunnerOptions, load
from ijepa_deploy.runtime import model as runtime_model

CPP_BACKEND = "openvino"
PRE_ROUNDS_MIN = 5  # preprocessing calls are milliseconds: more rounds cost nothing
PINGS = 20


def python_backend() -> tuple[str, str]:
    """(backend, note): OpenVINO when the Python runtime has it and it imports, else ONNX Runtime."""
    if "openvino" in runtime_model.BACKENDS:
        try:
            import openvino  # noqa: F401
        except ImportError as exc:
            why = f"openvino is not importable ({exc})"
        else:
            return "openvino", "same engine on both sides (OpenVINO CPU, f32 inference precision)"
    else:
        why = "this Python runtime has no OpenVINO backend"
    return "onnxruntime", (
        f"{why}: the Python side runs ONNX Runtime CPU while C++ runs OpenVINO, so the "
        "end-to-end ratio mixes language and engine; the preprocessing ratio does not"
    )


def check_cpp_precision(manifest: Manifest, variant: str) -> None:
    if variant not in manifest.graphs:
        raise InputError(
            "--cpp-precision", f"graph {variant!r} is not in the artifact", f"one of {sorted(manifest.graphs)}"
        )


def driver_path(opts: BenchOptions) -> Path:
    """``--cpp-driver`` if given, else the shared release build (built or found up to date)."""
    if opts.cpp_driver:
        path = Path(opts.cpp_driver)
        if not path.is_file():
            raise InputError("--cpp-driver", f"{path} is not a file", "the ijepa_bench_driver executable")
        return path
    return release_build() / BENCH_DRIVER


class CppDriver:
    """The running ``ijepa_bench_driver``: ``ask("embed 8")`` -> its JSON answer."""

    def __init__(self, exe: Path, directory: Path, variant: str, threads: int, paths: list[Path]):
        self.proc = subprocess.Popen(
            [str(exe), str(directory), variant, str(threads), *map(str, paths)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self.ready = self._answer("start")

    def _answer(self, what: str) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(timeout=30)
            raise BackendError(
                "ijepa_bench_driver",
                f"exited {self.proc.returncode} during {what!r}: {self.proc.stderr.read()[-1000:]}",
                "a running C++ driver",
            )
        answer = json.loads(line)
        if "error" in answer:
            raise BackendError("ijepa_bench_driver", f"{what!r}: {answer['error']}", "a successful call")
        return answer

    def ask(self, command: str) -> dict:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self._answer(command)

    def timed(self, command: str) -> SelfTimed:
        """Run a timed command; its duration as the driver measured it."""
        return SelfTimed(self.ask(command)["ms"] / 1000)

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            stream.close()


def _pair_record(batch: int, pair) -> dict:
    py_ms = statistics.median(pair.reference_s) * 1000
    cpp_ms = statistics.median(pair.candidate_s) * 1000
    return {
        "batch": batch,
        "python_ms": py_ms,
        "cpp_ms": cpp_ms,
        "python_ms_per_image": py_ms / batch,
        "cpp_ms_per_image": cpp_ms / batch,
        "python_img_s": 1000 * batch / py_ms,
        "cpp_img_s": 1000 * batch / cpp_ms,
        "cpp_over_python": pair.ratio,
        "round_ratios": pair.round_ratios,
        "python_ms_rounds": [t * 1000 for t in pair.reference_s],
        "cpp_ms_rounds": [t * 1000 for t in pair.candidate_s],
    }


def _parity(model, driver: CppDriver, paths: list[Path], task: str) -> dict:
    pixels = model.preprocess([str(p) for p in paths])
    name = "logits" if task == "image-classification" else "embedding"
    ours = model.run(pixels)[name].astype(np.float64)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cpp.f32"
        shape = driver.ask(f"output {len(paths)} {out}")["shape"]
        theirs = np.fromfile(out, dtype=np.float32).reshape(shape).astype(np.float64)
    cos = (ours * theirs).sum(1) / (np.linalg.norm(ours, axis=1) * np.linalg.norm(theirs, axis=1))
    return {
        "output": name,
        "images": len(paths),
        "min_cosine": float(cos.min()),
        "max_abs": float(np.abs(ours - theirs).max()),
    }


def _pipe_roundtrip_ms(driver: CppDriver) -> float:
    """Median time of a no-op request: what the pipe adds to a round trip (C++ times itself)."""
    pings = []
    for _ in range(PINGS):
        t0 = time.perf_counter()
        driver.ask("ping")
        pings.append(time.perf_counter() - t0)
    return statistics.median(pings) * 1000


def measure_cpp(
    directory: Path, manifest: Manifest, batches: list[int], opts: BenchOptions, progress: Progress
) -> dict:
    """Paired rounds Python vs C++ end to end at the target batches (1 and 8) and preprocessing at
    the largest, plus parity of the outputs and load times."""
    variant = opts.cpp_precision
    check_cpp_precision(manifest, variant)
    threads = opts.resolved_threads()
    py_backend, note = python_backend()
    sizes = target_batches(batches)
    paths = bench_images(max(sizes))
    exe = driver_path(opts)
    rounds = max(1, opts.cpp_rounds)
    model, py_load = _load_python(directory, py_backend, variant, threads)
    driver = None
    try:
        driver = CppDriver(exe, directory, variant, threads, paths)
        files = [str(p) for p in paths]
        result = {
            "what": "image files -> embeddings (classification: top-5) in one call: decode + preprocess + "
            "infer; C++ ijepa::Model (OpenVINO) vs Python runtime.load, same graph, files, threads",
            "python_backend": py_backend,
            "cpp_backend": CPP_BACKEND,
            "same_engine": py_backend == CPP_BACKEND,
            "note": note,
            "graph": variant,
            "cpp_variant": driver.ready["variant"],
            "threads": threads,
            "images": [p.name for p in paths],
            "driver": str(exe),
            "rounds": rounds,
            "method": "per round: Python once, then C++ once (0.1 s apart); ratio = median over rounds "
            "of C++ / Python of the same round; C++ times itself (the pipe round trip is "
            "not in its time)",
            "load_seconds": {"python": py_load, "cpp": driver.ready["load_ms"] / 1000},
            "pipe_roundtrip_ms": _pipe_roundtrip_ms(driver),
        }
        result["end_to_end"] = _end_to_end_rounds(
            model, manifest.task, driver, files, sizes, rounds, py_backend, progress
        )
        result["preprocessing"] = _preprocessing_rounds(model, driver, files, max(sizes), rounds, progress)
        result["parity"] = _parity(model, driver, paths, manifest.task)
        return result
    finally:
        if driver is not None:
            driver.close()
        model.close()


def _load_python(directory: Path, py_backend: str, variant: str, threads: int):
    """The Python runtime's model on the CPU with the benchmark's threads, and its load time in seconds."""
    options = (
        RunnerOptions(threads=threads)
        if py_backend == "openvino"
        else RunnerOptions(intra_op_threads=threads, providers=["CPUExecutionProvider"])
    )
    t0 = time.perf_counter()
    model = load(directory, backend=py_backend, precision=variant, options=options)
    py_load = time.perf_counter() - t0
    return model, py_load


def _end_to_end_rounds(
    model, task: str, driver: CppDriver, files: list[str], sizes, rounds: int, py_backend: str, progress: Progress
) -> dict:
    """Paired Python vs C++ rounds of files -> outputs at each batch size."""
    py_call = model.classify if task == "image-classification" else model.embed
    end_to_end: dict = {}
    for n in sizes:
        cpp = {"cpp": lambda n=n: driver.timed(f"embed {n}")}
        pair = paired_ratios(lambda n=n: py_call(files[:n]), cpp, rounds)["cpp"]
        r = end_to_end[str(n)] = _pair_record(n, pair)
        progress.say(
            f"[cpp] end to end batch {n}: C++ {r['cpp_ms_per_image']:.1f} ms/image, Python "
            f"{r['python_ms_per_image']:.1f} ms/image ({py_backend}): C++/Python "
            f"{r['cpp_over_python']:.3f} (rounds {', '.join(f'{x:.3f}' for x in r['round_ratios'])})"
        )
    return end_to_end


def _preprocessing_rounds(model, driver: CppDriver, files: list[str], n: int, rounds: int, progress: Progress) -> dict:
    """Paired Python vs C++ rounds of preprocessing ``n`` files."""
    pre = _pair_record(
        n,
        paired_ratios(
            lambda: model.preprocess(files[:n]),
            {"cpp": lambda: driver.timed(f"preprocess {n}")},
            max(rounds, PRE_ROUNDS_MIN),
        )["cpp"],
    )
    record = {
        "what": "image files -> float32 NCHW tensor, one thread each side "
        "(Python: runtime.Preprocessor, Pillow + numpy)",
        **pre,
    }
    progress.say(
        f"[cpp] preprocessing {n} files: C++ {pre['cpp_img_s']:.1f} img/s, Python {pre['python_img_s']:.1f} img/s"
    )
    return record
