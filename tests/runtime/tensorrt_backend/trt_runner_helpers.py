"""Helpers of the TensorRT runner tests: the engine record the test artifacts carry, a stand-in
TensorRT whose engines run a numpy model, and many threads calling a runner at once."""

from __future__ import annotations

from trt_fakes import FakeEngine, fake_model, fake_runtime_tensorrt

from ijepa_deploy.records import EngineProfile, EngineRecord

RECORD = EngineRecord(
    file="model_fp16.engine",
    source_graph="fp16",
    source_sha256="0" * 64,
    precision="fp16",
    tensorrt_version="10.13.3.9",
    gpu_name="NVIDIA A10",
    compute_capability="8.6",
    profile=EngineProfile(min=1, opt=8, max=8),
)


def fake_tensorrt(max_batch=4, version="10.13.3.9", plan=b"plan", cudart=None, delay=0.0, model=fake_model):
    return fake_runtime_tensorrt(
        lambda data: FakeEngine(cudart, model, profile=(1, 2, max_batch), delay=delay) if data == plan else None,
        version,
    )


def hammer(run, batches, threads: int, calls: int) -> list:
    """``threads`` threads each make ``calls`` calls (cycling through ``batches``); returns
    (batch index, outputs) per call, or raises the first exception a thread hit."""
    import concurrent.futures

    def worker(t):
        return [(k, run(batches[k])) for k in ((t + i) % len(batches) for i in range(calls))]

    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        return [item for chunk in pool.map(worker, range(threads)) for item in chunk]
