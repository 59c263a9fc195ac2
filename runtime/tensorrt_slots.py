"""Per-run GPU state of the TensorRT runner: device buffers with pinned host mirrors (``Buffer``)
and the execution context + stream + buffers one ``run`` has to itself (``Slot``). cuda-python is
passed in as ``cudart``, so this module imports on any host."""

from __future__ import annotations

import ctypes
from typing import TYPE_CHECKING

import numpy as np

from ijepa_deploy.errors import BackendError, InputError
from ijepa_deploy.runtime.tensorrt_host import cuda_call

if TYPE_CHECKING:  # annotations only: the module imports on hosts without TensorRT
    import tensorrt as trt


# -- buffers ----------------------------------------------------------------------------------
class Buffer:
    """One tensor's device memory plus a pinned host mirror, sized for the profile's max shape."""

    def __init__(self, cudart, name: str, dtype: np.dtype, max_shape: tuple[int, ...]):
        self.name = name
        self.dtype = np.dtype(dtype)
        self.max_shape = tuple(int(d) for d in max_shape)
        self.capacity = int(np.prod(self.max_shape, dtype=np.int64)) if self.max_shape else 1
        self.nbytes = max(self.capacity * self.dtype.itemsize, 1)
        self.device = 0
        self.host_ptr = 0
        self.device = int(
            cuda_call(cudart, cudart.cudaMalloc(self.nbytes), f"cudaMalloc {self.nbytes} bytes for {name}")
        )
        self.host_ptr = int(
            cuda_call(cudart, cudart.cudaMallocHost(self.nbytes), f"cudaMallocHost {self.nbytes} bytes for {name}")
        )
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


# -- one run in flight ---------------------------------------------------------------------------
class Slot:
    """What one ``run`` needs to itself: an execution context, a CUDA stream and device + pinned
    host buffers for every tensor (sized for the profile's max shapes, addresses bound once)."""

    def __init__(self, cudart, context: trt.IExecutionContext, dtypes: dict, max_shapes: dict):
        self.context = context
        self.stream = None  # a cudaStream_t once created
        self.buffers: dict[str, Buffer] = {}
        try:
            self.stream = cuda_call(cudart, cudart.cudaStreamCreate(), "cudaStreamCreate")
            for name, dtype in dtypes.items():
                self.buffers[name] = Buffer(cudart, name, dtype, max_shapes[name])
                context.set_tensor_address(name, self.buffers[name].device)
        except BaseException:
            self.free(cudart)
            raise

    def run(self, cudart, feed: dict[str, np.ndarray], output_names: list[str], engine_name: str) -> dict:
        assert self.stream is not None  # set by __init__, which raised otherwise
        context, stream = self.context, int(self.stream)
        h2d = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
        d2h = cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        for name, value in feed.items():
            buf = self.buffers[name]
            if value.dtype != buf.dtype:
                value = value.astype(buf.dtype)
            if not context.set_input_shape(name, tuple(value.shape)):
                raise InputError(
                    f"input {name}",
                    f"shape {list(value.shape)} rejected by the engine",
                    f"a shape within the engine's profile, up to {list(buf.max_shape)}",
                )
            count = value.size
            buf.host[:count] = value.reshape(-1)
            cuda_call(
                cudart,
                cudart.cudaMemcpyAsync(buf.device, buf.host_ptr, count * buf.dtype.itemsize, h2d, stream),
                f"copy {name} to the GPU",
            )
        shapes = {name: tuple(context.get_tensor_shape(name)) for name in output_names}
        if not context.execute_async_v3(stream):
            raise BackendError(
                f"TensorRT engine {engine_name}",
                "execution failed (see TensorRT's log above)",
                "inputs within the engine's profile",
            )
        for name in output_names:
            buf = self.buffers[name]
            count = int(np.prod(shapes[name], dtype=np.int64))
            cuda_call(
                cudart,
                cudart.cudaMemcpyAsync(buf.host_ptr, buf.device, count * buf.dtype.itemsize, d2h, stream),
                f"copy {name} from the GPU",
            )
        cuda_call(cudart, cudart.cudaStreamSynchronize(stream), "cudaStreamSynchronize")
        return {
            name: self.buffers[name].host[: int(np.prod(shapes[name], dtype=np.int64))].reshape(shapes[name])
            for name in output_names
        }

    def free(self, cudart) -> None:
        if self.stream is not None:
            cudart.cudaStreamSynchronize(self.stream)
        self.context = None
        for buf in self.buffers.values():
            buf.free(cudart)
        self.buffers = {}
        if self.stream is not None:
            cudart.cudaStreamDestroy(self.stream)
        self.stream = None
