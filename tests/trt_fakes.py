"""Stand-ins for TensorRT's runtime and cuda-python, shared by the runner and build tests.

Host memory poses as device memory (cudaMalloc hands out ctypes buffers, cudaMemcpyAsync is
memmove) and an engine is any numpy function. They also police concurrency: a device or pinned
buffer written by one thread's stream and touched by another thread before that stream was
synchronized, or an execution context used by two threads at once, is recorded in
``FakeCudart.violations`` (``execute_async_v3`` sleeps ``delay`` seconds so overlaps happen).
"""

from __future__ import annotations

import ctypes
import itertools
import threading
import time
import types

import numpy as np


class Err(int):
    pass


class FakeCudart:
    """Records what was allocated, copied and freed, and every overlapping use (``violations``)."""

    def __init__(self):
        self.live, self.copies, self.freed, self.violations = {}, [], [], []
        self.ok = Err(0)
        self.cudaError_t = types.SimpleNamespace(cudaSuccess=self.ok)
        self.cudaMemcpyKind = types.SimpleNamespace(cudaMemcpyHostToDevice=1, cudaMemcpyDeviceToHost=2)
        self._lock = threading.Lock()
        self._owner: dict[int, int] = {}  # buffer address -> thread whose stream work is pending on it
        self._streams = itertools.count(77)

    # -- ownership: a buffer belongs to one thread from its first async use to that thread's sync --
    def claim(self, addr: int, what: str) -> None:
        me = threading.get_ident()
        with self._lock:
            owner = self._owner.get(addr)
            if owner is not None and owner != me:
                self.violations.append(f"{what}: buffer {addr:#x} in use by another thread's stream")
            self._owner[addr] = me

    def _base(self, addr: int) -> int:
        for base, buf in self.live.items():
            if base <= addr < base + ctypes.sizeof(buf):
                return base
        raise AssertionError(f"address {addr:#x} is not an allocation")

    def _alloc(self, n):
        buf = ctypes.create_string_buffer(n)
        addr = ctypes.addressof(buf)
        with self._lock:
            self.live[addr] = buf
        return self.ok, addr

    def cudaMalloc(self, n):
        return self._alloc(n)

    def cudaMallocHost(self, n):
        return self._alloc(n)

    def cudaFree(self, ptr):
        with self._lock:
            self.freed.append(ptr)
            self.live.pop(ptr)
        return (self.ok,)

    cudaFreeHost = cudaFree

    def cudaMemcpyAsync(self, dst, src, n, kind, stream):
        assert isinstance(dst, int) and isinstance(src, int) and isinstance(stream, int)
        self.claim(self._base(dst), "cudaMemcpyAsync dst")
        self.claim(self._base(src), "cudaMemcpyAsync src")
        with self._lock:
            self.copies.append((kind, n))
        ctypes.memmove(dst, src, n)
        return (self.ok,)

    def cudaStreamCreate(self):
        return self.ok, next(self._streams)

    def cudaStreamSynchronize(self, stream):
        me = threading.get_ident()
        with self._lock:
            for addr in [a for a, owner in self._owner.items() if owner == me]:
                del self._owner[addr]
        return (self.ok,)

    def cudaStreamDestroy(self, stream):
        return (self.ok,)

    def cudaGetDevice(self):
        return self.ok, 0

    def cudaSetDevice(self, device):
        return (self.ok,)

    def cudaGetDeviceProperties(self, device):
        return self.ok, types.SimpleNamespace(name=b"Fake GPU", major=8, minor=6)

    def cudaGetDeviceCount(self):
        return self.ok, 1


def fake_model(pixels: np.ndarray) -> dict:
    """The stand-in network of the 32 px test spec: 4 tokens of 8 features."""
    hidden = pixels.reshape(len(pixels), 4, -1)[:, :, :8].copy()
    return {"last_hidden_state": hidden, "embedding": hidden.mean(axis=1)}


TINY_IO = {"pixel_values": (3, 32, 32), "last_hidden_state": (4, 8), "embedding": (8,)}


class FakeEngine:
    """An engine over ``model`` (float32 numpy in, dict of float32 numpy out). ``io`` maps each tensor
    to its per-image shape, the first entry being the input."""

    def __init__(self, cudart: FakeCudart, model=fake_model, io=None, profile=(1, 2, 4), delay: float = 0.0):
        self.cudart, self.model, self.delay = cudart, model, delay
        self.io = dict(io or TINY_IO)
        self.names = list(self.io)
        self.num_io_tensors = len(self.names)
        self.profile = profile
        self.contexts: list = []

    def get_tensor_name(self, i):
        return self.names[i]

    def get_tensor_mode(self, name):
        return "INPUT" if name == self.names[0] else "OUTPUT"

    def get_tensor_dtype(self, name):
        return "kFLOAT"

    def get_tensor_profile_shape(self, name, profile):
        return [(n, *self.io[name]) for n in self.profile]

    def create_execution_context(self):
        context = FakeContext(self)
        self.contexts.append(context)
        return context


class FakeContext:
    """Two threads inside the context's methods at the same time is a violation (execute holds it
    for ``delay`` seconds, so a racing caller lands inside)."""

    def __init__(self, engine: FakeEngine):
        self.engine, self.batch, self.addresses, self.inside = engine, None, {}, None

    def _enter(self, what: str) -> None:
        me = threading.get_ident()
        if self.inside is not None and self.inside != me:
            self.engine.cudart.violations.append(f"{what}: execution context in use by another thread")
        self.inside = me

    def set_input_shape(self, name, shape):
        self._enter("set_input_shape")
        lo, hi = self.engine.profile[0], self.engine.profile[-1]
        ok = name == self.engine.names[0] and lo <= shape[0] <= hi and tuple(shape[1:]) == self.engine.io[name]
        if ok:
            self.batch = shape[0]
        self.inside = None
        return ok

    def get_tensor_shape(self, name):
        return (self.batch if self.batch else -1, *self.engine.io[name])

    def set_tensor_address(self, name, ptr):
        self.addresses[name] = ptr
        return True

    def execute_async_v3(self, stream):
        self._enter("execute_async_v3")
        cudart, n = self.engine.cudart, self.batch
        first = self.engine.names[0]
        size = n * int(np.prod(self.engine.io[first]))
        cudart.claim(self.addresses[first], "execute input")
        pixels = np.frombuffer((ctypes.c_float * size).from_address(self.addresses[first]), np.float32)
        pixels = pixels.reshape(n, *self.engine.io[first]).copy()
        time.sleep(self.engine.delay)
        for name, value in self.engine.model(pixels).items():
            cudart.claim(self.addresses[name], "execute output")
            value = np.ascontiguousarray(value, np.float32)
            out = np.frombuffer((ctypes.c_float * value.size).from_address(self.addresses[name]), np.float32)
            out[:] = value.reshape(-1)
        self.inside = None
        return True


class FakeILogger:
    """tensorrt.ILogger: the base class our logger subclasses, with TensorRT's severity enum."""

    Severity = types.SimpleNamespace(INTERNAL_ERROR=0, ERROR=1, WARNING=2, INFO=3, VERBOSE=4)

    def __init__(self):
        pass


def fake_runtime_tensorrt(engine_for_plan, version: str = "10.13.3.9"):
    """A ``tensorrt`` module whose Runtime deserializes a plan with ``engine_for_plan(bytes)``
    (None: the plan is not readable, as TensorRT reports a foreign plan)."""

    class Runtime:
        def __init__(self, logger):
            self.logger = logger
            self.engine_host_code_allowed = False

        def deserialize_cuda_engine(self, data):
            engine = engine_for_plan(bytes(data))
            if engine is None:
                self.logger.log(FakeILogger.Severity.ERROR, "Serialization assertion failed: magic tag mismatch")
            return engine

    return types.SimpleNamespace(
        __version__=version,
        Runtime=Runtime,
        ILogger=FakeILogger,
        TensorIOMode=types.SimpleNamespace(INPUT="INPUT", OUTPUT="OUTPUT"),
        nptype=lambda dt: np.float32,
    )
