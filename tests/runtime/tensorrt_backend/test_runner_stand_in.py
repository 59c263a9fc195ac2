"""The TensorRT runner's logic against stand-ins for TensorRT and cuda-python (any host): buffers
allocated once and reused, batches chunked to the profile, and concurrent ``run()`` calls served by
a pool of execution contexts that never share one."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from trt_fakes import Err, fake_model
from trt_runner_helpers import fake_tensorrt, hammer

from ijepa_deploy.errors import IJepaDeployError, InputError
from ijepa_deploy.runtime import tensorrt_host as host
from ijepa_deploy.runtime.model import load


def test_runner_logic_with_stand_ins(fake_stack):
    cudart, directory = fake_stack
    pixels = np.random.default_rng(1).standard_normal((4, 3, 32, 32)).astype(np.float32)
    with load(directory, backend="tensorrt", precision="fp16") as model:
        runner = model.runner
        assert (runner.min_batch, runner.max_batch) == (1, 4)
        allocated = dict(cudart.live)
        assert len(allocated) == 6  # device + pinned host buffer per tensor, once
        for n in (1, 4, 2):
            got = runner.run(pixels[:n])
            want = fake_model(pixels[:n])
            for name in ("last_hidden_state", "embedding"):
                assert got[name].shape == want[name].shape
                np.testing.assert_array_equal(got[name], want[name])
        assert set(cudart.live) == set(allocated)  # reused, not reallocated
        # copies move only the bytes of the current batch
        assert (1, 2 * 3 * 32 * 32 * 4) in cudart.copies and (2, 2 * 8 * 4) in cudart.copies
        with pytest.raises(InputError, match="batch size 5 is outside"):
            runner.run(np.zeros((5, 3, 32, 32), np.float32))
        got = model.run(np.concatenate([pixels, pixels[:2]]))  # 6 rows -> chunks of 4 + 2
        np.testing.assert_array_equal(got["embedding"], fake_model(np.concatenate([pixels, pixels[:2]]))["embedding"])
    assert not cudart.live and len(cudart.freed) == 6
    runner.close()  # idempotent
    with pytest.raises(IJepaDeployError, match="runner is closed"):
        runner.run(pixels[:1])


def test_concurrent_runs_match_single_threaded_with_stand_ins(fake_stack, monkeypatch):
    cudart, directory = fake_stack
    monkeypatch.setattr(host, "import_tensorrt", lambda: fake_tensorrt(cudart=cudart, delay=0.002))
    rng = np.random.default_rng(2)
    batches = [rng.standard_normal((n, 3, 32, 32)).astype(np.float32) for n in (1, 3, 4, 2)]
    with load(directory, backend="tensorrt", precision="fp16", max_concurrency=3) as model:
        runner = model.runner
        single = [runner.run(b) for b in batches]
        results = hammer(runner.run, batches, threads=6, calls=15)
        assert 2 <= len(runner._slots) <= 3  # the pool grew under load, never past its limit
        assert len(cudart.live) == 6 * len(runner._slots)
    assert cudart.violations == []
    assert len(results) == 90
    for k, got in results:
        for name in ("last_hidden_state", "embedding"):
            np.testing.assert_array_equal(got[name], single[k][name])
    assert not cudart.live  # close freed every slot


def test_the_stand_in_detects_overlapping_use(fake_stack, monkeypatch):
    """Without the pool (every thread on the same context and buffers) the stand-in sees the race:
    so the test above could fail."""
    cudart, directory = fake_stack
    monkeypatch.setattr(host, "import_tensorrt", lambda: fake_tensorrt(cudart=cudart, delay=0.002))
    batches = [np.full((n, 3, 32, 32), n, np.float32) for n in (1, 2, 3, 4)]
    with load(directory, backend="tensorrt", precision="fp16") as model:
        runner = model.runner
        slot = runner._slots[0]
        hammer(lambda b: slot.run(cudart, {"pixel_values": b}, runner.output_names, "x"), batches, threads=4, calls=5)
    assert any("in use by another thread" in v for v in cudart.violations), cudart.violations


def test_max_concurrency_one_is_a_lock(fake_stack, monkeypatch):
    cudart, directory = fake_stack
    monkeypatch.setattr(host, "import_tensorrt", lambda: fake_tensorrt(cudart=cudart, delay=0.001))
    batches = [np.full((n, 3, 32, 32), n, np.float32) for n in (1, 2, 4)]
    with load(directory, backend="tensorrt", precision="fp16", max_concurrency=1) as model:
        results = hammer(model.runner.run, batches, threads=4, calls=6)
        assert len(model.runner._slots) == 1
    assert cudart.violations == [] and len(results) == 24
    for k, got in results:
        np.testing.assert_array_equal(got["embedding"], fake_model(batches[k])["embedding"])
    with pytest.raises(InputError, match="max_concurrency"):
        load(directory, backend="tensorrt", precision="fp16", max_concurrency=0)


def test_pool_stops_growing_when_the_gpu_is_full(fake_stack, monkeypatch):
    cudart, directory = fake_stack
    monkeypatch.setattr(host, "import_tensorrt", lambda: fake_tensorrt(cudart=cudart, delay=0.002))
    with load(directory, backend="tensorrt", precision="fp16", max_concurrency=4) as model:
        runner = model.runner

        def out_of_memory(n, _real=cudart.cudaMalloc):
            return Err(2), None  # cudaErrorMemoryAllocation for every allocation after the first slot

        monkeypatch.setattr(cudart, "cudaMalloc", out_of_memory)
        batches = [np.full((2, 3, 32, 32), 1, np.float32)]
        # Hold the only slot so the next caller must try to grow the pool (whatever the scheduler does).
        held = runner._acquire()
        waiter = threading.Thread(target=runner.run, args=(batches[0],))
        waiter.start()
        deadline = time.monotonic() + 10
        while runner.max_concurrency != 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        runner._release(held)
        waiter.join(10)
        assert not waiter.is_alive() and runner.max_concurrency == 1
        results = hammer(runner.run, batches, threads=3, calls=4)
        assert len(runner._slots) == 1 and runner.max_concurrency == 1 and len(results) == 12
    assert cudart.violations == []
