"""TensorRT backend: run a serialized engine (``model_<variant>.engine``) on an NVIDIA GPU.

TensorRT and cuda-python are imported lazily, so this module imports on any host; constructing a
runner where they (or a GPU) are missing raises :class:`IJepaDeployError` saying which. Works with
TensorRT 10.x and 11.x through the name-based tensor API only (``num_io_tensors``,
``set_input_shape``, ``set_tensor_address``, ``execute_async_v3``). Device and pinned host buffers
are allocated once, for the largest shapes of the engine's optimization profile, and reused.
Concurrent ``run`` calls are safe: each gets its own execution context, stream and buffers from a
small pool (see ``DEFAULT_MAX_CONCURRENCY``).

An engine is tied to the TensorRT version and GPU compute capability it was built with (unless it
was built version- or hardware-compatible). A mismatch is reported with the command that rebuilds
it (``ijepa-build ARTIFACT --variant V``), never as a crash.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ijepa_deploy.errors import ArtifactError, BackendError, BackendUnavailable, IJepaDeployError, InputError
from ijepa_deploy.manifest import Manifest, verify_files
from ijepa_deploy.manifest_schema import resolve_inside
from ijepa_deploy.records import EngineRecord
from ijepa_deploy.runtime import tensorrt_host as host
from ijepa_deploy.runtime.runner import Runner, RunnerOptions
from ijepa_deploy.runtime.tensorrt_compat import compatibility_problem, host_code_problem, rebuild_hint
from ijepa_deploy.runtime.tensorrt_host import INSTALL_HINT, cuda_call
from ijepa_deploy.runtime.tensorrt_logging import make_logger
from ijepa_deploy.runtime.tensorrt_slots import Slot
from ijepa_deploy.spec import ExportSpec

if TYPE_CHECKING:  # annotations only: the module imports on hosts without TensorRT
    import tensorrt as trt

# -- the runner -------------------------------------------------------------------------------
# Concurrent run() calls (every service has them) each get a slot of their own, created on demand
# up to max_concurrency; callers beyond that wait for a free one. Not one lock around a single
# context: that serialises whole requests, while contexts of one engine share its weights (each
# costs its activation memory and buffers only) and two requests in flight overlap one's copies
# with the other's kernels. 2 by default: enough for that overlap; more contexts on one GPU mostly
# add memory. A slot that cannot be created (GPU memory) caps the pool at what exists.
DEFAULT_MAX_CONCURRENCY = 2


def _io_tensors(trt, engine: trt.ICudaEngine) -> tuple[list[str], list[str], dict[str, np.dtype]]:
    """The engine's input names, output names and every tensor's numpy dtype."""
    inputs: list[str] = []
    outputs: list[str] = []
    dtypes: dict[str, np.dtype] = {}
    for i in range(engine.num_io_tensors):
        name = engine.get_tensor_name(i)
        mode = engine.get_tensor_mode(name)
        dtypes[name] = np.dtype(trt.nptype(engine.get_tensor_dtype(name)))
        (inputs if mode == trt.TensorIOMode.INPUT else outputs).append(name)
    return inputs, outputs, dtypes


def _profile_bounds(engine: trt.ICudaEngine, inputs: list[str]) -> tuple[int, int, dict]:
    """The batch sizes every input of optimization profile 0 admits (min, max) and each input's max
    shape."""
    min_batch, max_batch, max_shapes = 1, None, {}
    for name in inputs:
        lo, _opt, hi = engine.get_tensor_profile_shape(name, 0)
        lo, hi = tuple(lo), tuple(hi)
        min_batch = max(min_batch, int(lo[0]))
        max_batch = int(hi[0]) if max_batch is None else min(max_batch, int(hi[0]))
        max_shapes[name] = hi
    return min_batch, max_batch if max_batch is not None else min_batch, max_shapes


class TensorRTRunner(Runner):
    backend = name = "tensorrt"
    options_used = frozenset({"max_concurrency", "device"})

    def __init__(
        self,
        engine_path: Path,
        spec: ExportSpec,
        record: EngineRecord | None = None,
        *,
        variant: str | None = None,
        artifact: Path | None = None,
        device: int | None = None,
        allow_engine_host_code: bool = False,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    ):
        engine_path = Path(engine_path)
        self.engine_path = engine_path
        self.variant = variant or (record.source_graph if record else "fp32")
        self.artifact = Path(artifact) if artifact is not None else engine_path.parent
        if int(max_concurrency) < 1:
            raise InputError("max_concurrency", f"{max_concurrency}", "at least 1 (execution contexts)")
        self.max_concurrency = int(max_concurrency)
        self._cudart = None
        self._slots: list[Slot] = []
        self._idle: list[Slot] = []
        self._pool = threading.Condition()
        self.engine = self._runtime = None
        refusal = host_code_problem(record, engine_path, self.artifact, self.variant)
        if refusal and not allow_engine_host_code:
            raise refusal
        self.allow_engine_host_code = bool(allow_engine_host_code)
        available, reason = host.tensorrt_status()
        if not available:
            raise BackendUnavailable(f"TensorRT engine {engine_path.name}", reason, INSTALL_HINT)
        trt = host.import_tensorrt()
        cudart = self._cudart = host.import_cudart()
        self.device = device
        if device is not None:
            cuda_call(cudart, cudart.cudaSetDevice(int(device)), f"cudaSetDevice({device})")
        gpu = host.gpu_info(device)
        hint = rebuild_hint(self.artifact, self.variant)
        problem = (
            compatibility_problem(record, str(trt.__version__), gpu["compute_capability"])
            if record is not None
            else None
        )
        if problem:
            raise ArtifactError(str(engine_path), problem, hint)
        if not engine_path.is_file():
            raise ArtifactError(str(engine_path), "engine file is missing", hint)
        try:
            self._load(trt, cudart, spec, record, hint)
        except BaseException:
            self.close()
            raise

    @classmethod
    def _from_artifact(
        cls,
        directory: Path,
        manifest: Manifest,
        variant: str,
        options: RunnerOptions,
        *,
        precision: str,
        verify: bool,
        allow_unverified: bool,
    ) -> TensorRTRunner:
        if variant not in manifest.engines:
            raise ArtifactError(
                str(directory),
                f"artifact has no {variant} TensorRT engine",
                f"one of {sorted(manifest.engines)} (build it on this GPU host: "
                f"ijepa-build {directory} --variant {variant})",
            )
        engine = manifest.engines[variant]
        if verify:
            verify_files(directory, manifest, [engine.file])
        return cls(
            resolve_inside(directory, engine.file),
            manifest.io,
            engine,
            variant=variant,
            artifact=directory,
            device=options.device,
            allow_engine_host_code=options.allow_engine_host_code,
            max_concurrency=DEFAULT_MAX_CONCURRENCY if options.max_concurrency is None else options.max_concurrency,
        )

    def _load(self, trt, cudart, spec: ExportSpec, record: EngineRecord | None, hint: str) -> None:
        self._deserialize(trt, record, hint)
        assert self.engine is not None  # _deserialize raised otherwise
        inputs, outputs, dtypes = _io_tensors(trt, self.engine)
        self._check_io(spec, inputs, outputs, dtypes, hint)
        min_batch, max_batch, max_shapes = _profile_bounds(self.engine, inputs)
        super().__init__(spec, min_batch, max_batch)
        context = self._new_context()
        self._bind_max_shapes(context, inputs, outputs, max_shapes, hint)
        self._inputs, self._outputs = inputs, outputs
        self.output_names: list[str] = [n for n in spec.output_names]
        self.dtypes = dtypes
        self._max_shapes = max_shapes
        slot = Slot(cudart, context, dtypes, max_shapes)  # the first slot now: its errors surface at load
        self._slots.append(slot)
        self._idle.append(slot)

    def _deserialize(self, trt, record: EngineRecord | None, hint: str) -> None:
        """Reads the plan into ``self.engine``; TensorRT's logged errors say why it could not."""
        logger = self._logger = make_logger(trt)
        runtime = self._runtime = trt.Runtime(logger)
        if record is not None and record.version_compatible and self.allow_engine_host_code:
            runtime.engine_host_code_allowed = True  # the caller opted in (see __init__)
        engine = runtime.deserialize_cuda_engine(self.engine_path.read_bytes())
        if engine is None:
            detail = "; ".join(logger.errors[-3:]) or "no detail from TensorRT"
            raise ArtifactError(
                str(self.engine_path),
                "TensorRT could not deserialize the engine (built "
                f"by another TensorRT version or for another GPU?): {detail}",
                hint,
            )
        self.engine = engine

    def _check_io(self, spec: ExportSpec, inputs: list[str], outputs: list[str], dtypes: dict, hint: str) -> None:
        """The engine's tensors must be the manifest's: same input names and dtypes, every output."""
        if sorted(inputs) != sorted(spec.input_names) or any(n not in outputs for n in spec.output_names):
            raise ArtifactError(
                str(self.engine_path),
                f"engine tensors are inputs {inputs}, outputs {outputs}",
                f"inputs {spec.input_names} and outputs {spec.output_names} as in the manifest ({hint})",
            )
        for tspec in spec.inputs:
            if dtypes[tspec.name] != np.dtype(tspec.dtype):
                raise ArtifactError(
                    str(self.engine_path),
                    f"engine input {tspec.name} is {dtypes[tspec.name]}",
                    f"{tspec.dtype} as in the manifest ({hint})",
                )

    def _bind_max_shapes(
        self, context: trt.IExecutionContext, inputs: list[str], outputs: list[str], max_shapes: dict, hint: str
    ) -> None:
        """Sets every input of ``context`` to its max shape and adds the output shapes that follow to
        ``max_shapes`` (what the buffers are sized for)."""
        for name in inputs:
            if not context.set_input_shape(name, max_shapes[name]):
                raise ArtifactError(
                    str(self.engine_path), f"engine rejects its own max shape {max_shapes[name]} for {name}", hint
                )
        for name in outputs:
            max_shapes[name] = tuple(context.get_tensor_shape(name))
            if any(d < 0 for d in max_shapes[name]):
                raise ArtifactError(
                    str(self.engine_path),
                    f"output {name} has unresolved shape {max_shapes[name]}",
                    "outputs whose shape follows from the input shape",
                )

    def _new_context(self):
        assert self.engine is not None  # _load sets it before any context is made
        context = self.engine.create_execution_context()
        if context is None:
            raise BackendError(
                str(self.engine_path),
                "TensorRT could not create an execution context (out of GPU memory?)",
                "enough free GPU memory for the engine",
            )
        return context

    def _acquire(self) -> Slot:
        with self._pool:
            while True:
                if self.engine is None:
                    raise IJepaDeployError(
                        f"TensorRT engine {self.engine_path.name}",
                        "runner is closed",
                        "an open runner (load the artifact again)",
                    )
                if self._idle:
                    return self._idle.pop()
                if len(self._slots) < self.max_concurrency:
                    try:
                        if self.device is not None:  # contexts and streams belong to this thread's device
                            cuda_call(self._cudart, self._cudart.cudaSetDevice(int(self.device)), "cudaSetDevice")
                        slot = Slot(self._cudart, self._new_context(), self.dtypes, self._max_shapes)
                    except BackendError:
                        self.max_concurrency = len(self._slots)  # what fits in GPU memory; wait for one
                        continue
                    self._slots.append(slot)
                    return slot
                self._pool.wait()

    def _release(self, slot: Slot) -> None:
        with self._pool:
            self._idle.append(slot)
            self._pool.notify()

    def _run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        slot = self._acquire()
        try:
            out = slot.run(self._cudart, feed, self.output_names, self.engine_path.name)
            # copy out of the pinned buffers before the slot goes back to the pool
            return {name: value.astype(self.spec.output(name).dtype, copy=True) for name, value in out.items()}
        finally:
            self._release(slot)

    def close(self) -> None:
        """Waits for runs in flight, then frees every slot. Idempotent."""
        with self._pool:
            self.engine = None  # new runs are refused from here on
            while len(self._idle) < len(self._slots):
                self._pool.wait()
            slots, self._slots, self._idle = self._slots, [], []
            self._pool.notify_all()
        if self._cudart is not None:
            for slot in slots:
                slot.free(self._cudart)
        self._runtime = None
