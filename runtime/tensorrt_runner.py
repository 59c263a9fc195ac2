"""TensorRT backend: run a serialized engine (``model_<variant>.engine``) on an NVIDIA GPU.

TensorRT and cuda-python are imported lazily, so this module imports on any host; constructing a
runner where they (or a GPU) are missing raises :class:`IJepaDeployError` saying which. Works with
TensorRT 10.x and 11.x through the name-based tensor API only (``num_io_tensors``,
``set_input_shape``, ``set_tensor_address``, ``execute_async_v3``). Device and pinned host buffers
are allocated once, for the largest shapes of the engine's optimization profile, and reused.

An engine is tied to the TensorRT version and GPU compute capability it was built with (unless it
was built version- or hardware-compatible). A mismatch is reported with the command that rebuilds
it (``ijepa-build ARTIFACT --variant V``), never as a crash.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np

from ijepa_deploy.errors import IJepaDeployError
from ijepa_deploy.records import EngineRecord
from ijepa_deploy.runtime import tensorrt_host as host
from ijepa_deploy.runtime.runner import Runner
from ijepa_deploy.runtime.tensorrt_host import INSTALL_HINT, cuda_call, version_tuple
from ijepa_deploy.spec import ExportSpec


def rebuild_hint(artifact: Path | str, variant: str) -> str:
    return (f"an engine built on this host: ijepa-build {artifact} --variant {variant} "
            "(add --version-compatible / --hardware-compatibility ampere_plus to share engines across "
            "TensorRT versions / GPU generations)")


def compatibility_problem(record: EngineRecord, tensorrt_version: str, compute_capability: str) -> str | None:
    """Why an engine recorded as ``record`` (a manifest ``engines`` entry) cannot run here, or None.

    Plain engines need the same TensorRT version and compute capability they were built with.
    ``version_compatible`` engines also run on a later TensorRT; ``hardware_compatibility ==
    "ampere_plus"`` engines on any GPU of compute capability >= 8.0.
    """
    built_version = record.tensorrt_version
    built_cc = record.compute_capability
    if built_version != tensorrt_version:
        newer_ok = record.version_compatible and version_tuple(tensorrt_version) > version_tuple(built_version)
        if not newer_ok:
            return (f"engine was built with TensorRT {built_version}, this host has TensorRT {tensorrt_version}"
                    + ("" if record.version_compatible else " (engines are tied to the TensorRT version "
                       "they were built with)"))
    if built_cc != compute_capability:
        here = version_tuple(compute_capability)
        if not (record.hardware_compatibility == "ampere_plus" and here >= (8, 0)):
            gpu = record.gpu_name or "another GPU"
            return (f"engine was built for {gpu} (compute capability {built_cc}), this GPU has compute "
                    f"capability {compute_capability}")
    return None


def make_logger(trt, stream=None):
    """A TensorRT logger that keeps error messages (to put into IJepaDeployError) and prints
    warnings and errors to stderr, as ``trt.Logger(WARNING)`` would."""
    import sys

    severity = trt.ILogger.Severity
    errors_at = (severity.INTERNAL_ERROR, severity.ERROR)

    class _CollectingLogger(trt.ILogger):  # type: ignore[name-defined]  # a class of the module passed in
        def __init__(self):
            trt.ILogger.__init__(self)
            self.errors: list[str] = []
            self.warnings: list[str] = []

        def log(self, level, msg):
            if level in errors_at:
                self.errors.append(str(msg))
            elif level == severity.WARNING:
                self.warnings.append(str(msg))
            else:
                return
            print(f"[tensorrt] {'error' if level in errors_at else 'warning'}: {msg}",
                  file=stream or sys.stderr, flush=True)

    return _CollectingLogger()


# -- buffers ----------------------------------------------------------------------------------
class _Buffer:
    """One tensor's device memory plus a pinned host mirror, sized for the profile's max shape."""

    def __init__(self, cudart, name: str, dtype: np.dtype, max_shape: tuple[int, ...]):
        self.name = name
        self.dtype = np.dtype(dtype)
        self.max_shape = tuple(int(d) for d in max_shape)
        self.capacity = int(np.prod(self.max_shape, dtype=np.int64)) if self.max_shape else 1
        self.nbytes = max(self.capacity * self.dtype.itemsize, 1)
        self.device = 0
        self.host_ptr = 0
        self.device = int(cuda_call(cudart, cudart.cudaMalloc(self.nbytes),
                                    f"cudaMalloc {self.nbytes} bytes for {name}"))
        self.host_ptr = int(cuda_call(cudart, cudart.cudaMallocHost(self.nbytes),
                                      f"cudaMallocHost {self.nbytes} bytes for {name}"))
        raw = (ctypes.c_byte * self.nbytes).from_address(self.host_ptr)
        host = np.frombuffer(raw, dtype=np.uint8)  # type: ignore[call-overload]  # numpy's stubs omit ctypes buffers
        self.host = host[: self.capacity * self.dtype.itemsize].view(self.dtype)

    def free(self, cudart) -> None:
        self.host = None
        if self.device:
            cudart.cudaFree(self.device)
            self.device = 0
        if self.host_ptr:
            cudart.cudaFreeHost(self.host_ptr)
            self.host_ptr = 0


# -- the runner -------------------------------------------------------------------------------
class TensorRTRunner(Runner):
    backend = "tensorrt"

    def __init__(self, engine_path: Path, spec: ExportSpec, record: EngineRecord | None = None, *,
                 variant: str | None = None, artifact: Path | None = None, device: int | None = None,
                 allow_engine_host_code: bool = False):
        engine_path = Path(engine_path)
        self.engine_path = engine_path
        self.variant = variant or (record.source_graph if record else "fp32")
        self.artifact = Path(artifact) if artifact is not None else engine_path.parent
        self._cudart = None
        self._stream = None
        self._buffers: dict[str, _Buffer] = {}
        self.engine = self.context = self._runtime = None
        if record is not None and record.version_compatible and not allow_engine_host_code:
            # A version-compatible plan embeds TensorRT's lean runtime as host code that runs in this
            # process. Whoever can write the artifact must not decide that alone: TensorRT refuses
            # such engines by default, and so do we unless the caller opts in.
            raise IJepaDeployError(str(engine_path), "engine is version-compatible: it embeds host code (TensorRT's "
                                   "lean runtime) that would run in this process",
                                   "an explicit opt-in if you trust whoever built it: load(..., "
                                   "allow_engine_host_code=True) or --allow-engine-host-code; or rebuild it "
                                   f"without --version-compatible on this host (ijepa-build {self.artifact} "
                                   f"--variant {self.variant})")
        self.allow_engine_host_code = bool(allow_engine_host_code)
        available, reason = host.tensorrt_status()
        if not available:
            raise IJepaDeployError(f"TensorRT engine {engine_path.name}", reason, INSTALL_HINT)
        trt = host.import_tensorrt()
        cudart = self._cudart = host.import_cudart()
        if device is not None:
            cuda_call(cudart, cudart.cudaSetDevice(int(device)), f"cudaSetDevice({device})")
        gpu = host.gpu_info(device)
        hint = rebuild_hint(self.artifact, self.variant)
        problem = (compatibility_problem(record, str(trt.__version__), gpu["compute_capability"])
                   if record is not None else None)
        if problem:
            raise IJepaDeployError(str(engine_path), problem, hint)
        if not engine_path.is_file():
            raise IJepaDeployError(str(engine_path), "engine file is missing", hint)
        try:
            self._load(trt, cudart, spec, record, hint)
        except BaseException:
            self.close()
            raise

    def _load(self, trt, cudart, spec: ExportSpec, record: EngineRecord | None, hint: str) -> None:
        logger = self._logger = make_logger(trt)
        runtime = self._runtime = trt.Runtime(logger)
        if record is not None and record.version_compatible and self.allow_engine_host_code:
            runtime.engine_host_code_allowed = True  # the caller opted in (see __init__)
        engine = runtime.deserialize_cuda_engine(self.engine_path.read_bytes())
        if engine is None:
            detail = "; ".join(logger.errors[-3:]) or "no detail from TensorRT"
            raise IJepaDeployError(str(self.engine_path), "TensorRT could not deserialize the engine (built "
                                   f"by another TensorRT version or for another GPU?): {detail}", hint)
        self.engine = engine
        inputs: list[str] = []
        outputs: list[str] = []
        dtypes: dict[str, np.dtype] = {}
        for i in range(engine.num_io_tensors):
            name = engine.get_tensor_name(i)
            mode = engine.get_tensor_mode(name)
            dtypes[name] = np.dtype(trt.nptype(engine.get_tensor_dtype(name)))
            (inputs if mode == trt.TensorIOMode.INPUT else outputs).append(name)
        if sorted(inputs) != sorted(spec.input_names) or any(n not in outputs for n in spec.output_names):
            raise IJepaDeployError(str(self.engine_path), f"engine tensors are inputs {inputs}, outputs {outputs}",
                                   f"inputs {spec.input_names} and outputs {spec.output_names} as in the "
                                   f"manifest ({hint})")
        for tspec in spec.inputs:
            if dtypes[tspec.name] != np.dtype(tspec.dtype):
                raise IJepaDeployError(str(self.engine_path), f"engine input {tspec.name} is {dtypes[tspec.name]}",
                                       f"{tspec.dtype} as in the manifest ({hint})")
        min_batch, max_batch, max_shapes = 1, None, {}
        for name in inputs:
            lo, _opt, hi = engine.get_tensor_profile_shape(name, 0)
            lo, hi = tuple(lo), tuple(hi)
            min_batch = max(min_batch, int(lo[0]))
            max_batch = int(hi[0]) if max_batch is None else min(max_batch, int(hi[0]))
            max_shapes[name] = hi
        super().__init__(spec, min_batch, max_batch if max_batch is not None else min_batch)
        context = engine.create_execution_context()
        if context is None:
            raise IJepaDeployError(str(self.engine_path), "TensorRT could not create an execution context "
                                   "(out of GPU memory?)", "enough free GPU memory for the engine")
        self.context = context
        for name in inputs:
            if not context.set_input_shape(name, max_shapes[name]):
                raise IJepaDeployError(str(self.engine_path), f"engine rejects its own max shape {max_shapes[name]} "
                                       f"for {name}", hint)
        for name in outputs:
            max_shapes[name] = tuple(context.get_tensor_shape(name))
            if any(d < 0 for d in max_shapes[name]):
                raise IJepaDeployError(str(self.engine_path), f"output {name} has unresolved shape "
                                       f"{max_shapes[name]}", "outputs whose shape follows from the input shape")
        self._stream = cuda_call(cudart, cudart.cudaStreamCreate(), "cudaStreamCreate")
        for name in inputs + outputs:
            self._buffers[name] = _Buffer(cudart, name, dtypes[name], max_shapes[name])
        self._inputs, self._outputs = inputs, outputs
        self.output_names = [n for n in spec.output_names]
        self.dtypes = dtypes

    def _run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self.context is None:
            raise IJepaDeployError(f"TensorRT engine {self.engine_path.name}", "runner is closed",
                                   "an open runner (load the artifact again)")
        cudart, context = self._cudart, self.context
        stream = int(self._stream)
        h2d = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
        d2h = cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        for name in self._inputs:
            value = feed[name]
            buf = self._buffers[name]
            if value.dtype != buf.dtype:
                value = value.astype(buf.dtype)
            if not context.set_input_shape(name, tuple(value.shape)):
                raise IJepaDeployError(f"input {name}", f"shape {list(value.shape)} rejected by the engine",
                                       f"a shape within the engine's profile, up to {list(buf.max_shape)}")
            count = value.size
            buf.host[:count] = value.reshape(-1)
            cuda_call(cudart, cudart.cudaMemcpyAsync(buf.device, buf.host_ptr, count * buf.dtype.itemsize, h2d, stream),
                      f"copy {name} to the GPU")
        shapes = {}
        for name in self._outputs:
            shapes[name] = tuple(context.get_tensor_shape(name))
        for name, buf in self._buffers.items():
            context.set_tensor_address(name, buf.device)
        if not context.execute_async_v3(stream):
            raise IJepaDeployError(f"TensorRT engine {self.engine_path.name}", "execution failed (see TensorRT's "
                                   "log above)", "inputs within the engine's profile")
        for name in self.output_names:
            buf = self._buffers[name]
            count = int(np.prod(shapes[name], dtype=np.int64))
            cuda_call(cudart, cudart.cudaMemcpyAsync(buf.host_ptr, buf.device, count * buf.dtype.itemsize, d2h, stream),
                      f"copy {name} from the GPU")
        cuda_call(cudart, cudart.cudaStreamSynchronize(stream), "cudaStreamSynchronize")
        out = {}
        for name in self.output_names:
            buf = self._buffers[name]
            count = int(np.prod(shapes[name], dtype=np.int64))
            out[name] = buf.host[:count].reshape(shapes[name]).astype(self.spec.output(name).dtype, copy=True)
        return out

    def close(self) -> None:
        cudart = self._cudart
        if cudart is not None and self._stream is not None:
            cudart.cudaStreamSynchronize(self._stream)
        self.context = None
        self.engine = None
        self._runtime = None
        if cudart is not None:
            for buf in self._buffers.values():
                buf.free(cudart)
            if self._stream is not None:
                cudart.cudaStreamDestroy(self._stream)
        self._buffers = {}
        self._stream = None
