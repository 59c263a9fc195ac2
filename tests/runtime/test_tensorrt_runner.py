"""TensorRT runner: lazy imports, compatibility checks and plain errors (any host); running engines,
bad inputs and rebuild hints (``gpu``: skipped with the reason where TensorRT or a GPU is missing)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
import types
from dataclasses import replace

import numpy as np
import pytest
from trt_fakes import Err, FakeCudart, FakeEngine, fake_model, fake_runtime_tensorrt

from ijepa_deploy.errors import (
    ArtifactError,
    BackendError,
    BackendUnavailable,
    IJepaDeployError,
    InputError,
    ParityError,
)
from ijepa_deploy.manifest import read_manifest
from ijepa_deploy.records import EngineProfile, EngineRecord
from ijepa_deploy.runtime import tensorrt_host as host
from ijepa_deploy.runtime import tensorrt_runner as tr
from ijepa_deploy.runtime.model import load, open_runner
from manifest_factory import small_manifest


def test_module_imports_without_tensorrt_torch_or_cuda():
    code = (
        "import sys\n"
        "for name in ('tensorrt', 'cuda', 'cuda.bindings', 'torch', 'transformers'):\n"
        "    sys.modules[name] = None  # any import of these now fails\n"
        "from ijepa_deploy.runtime import tensorrt_host, tensorrt_runner\n"
        "from ijepa_deploy.runtime.model import open_runner\n"
        "ok, reason = tensorrt_host.tensorrt_status()\n"
        "assert not ok and reason == 'tensorrt not installed', reason\n"
        "print('ok')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


def test_runtime_package_stays_free_of_torch():
    code = ("import sys\nimport ijepa_deploy.runtime.tensorrt_runner\n"
            "print(sorted(m for m in ('torch', 'transformers', 'tensorrt') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "[]", proc.stdout + proc.stderr


# -- status with stand-in modules -----------------------------------------------------------------
class _Err(int):
    pass


def fake_cudart(err=0, count=1):
    success = _Err(0)
    return types.SimpleNamespace(
        cudaError_t=types.SimpleNamespace(cudaSuccess=success),
        cudaGetDeviceCount=lambda: (_Err(err), count if err == 0 else None),
        cudaGetErrorName=lambda e: (success, b"cudaErrorInsufficientDriver"),
        cudaGetErrorString=lambda e: (success, b"CUDA driver version is insufficient"),
        cudaGetDevice=lambda: (success, 0),
        cudaGetDeviceProperties=lambda d: (success, types.SimpleNamespace(name=b"Fake GPU\0\0", major=8, minor=9)),
    )


def test_status_reasons(monkeypatch):
    def missing():
        raise ModuleNotFoundError("No module named 'tensorrt'", name="tensorrt")

    def broken():
        raise ImportError("libnvonnxparser.so.11: cannot open shared object file")

    monkeypatch.setattr(host, "import_tensorrt", missing)
    assert host.tensorrt_status() == (False, "tensorrt not installed")
    monkeypatch.setattr(host, "import_tensorrt", broken)
    ok, reason = host.tensorrt_status()
    assert not ok and reason.startswith("tensorrt is installed but its libraries cannot be loaded")
    assert "libnvonnxparser.so.11" in reason

    monkeypatch.setattr(host, "import_tensorrt", lambda: types.SimpleNamespace(__version__="11.4.0.106"))
    monkeypatch.setattr(host, "import_cudart", lambda: fake_cudart(err=35))
    ok, reason = host.tensorrt_status()
    assert not ok and reason == ("no CUDA GPU visible (cudaErrorInsufficientDriver: CUDA driver version is "
                                 "insufficient)")
    monkeypatch.setattr(host, "import_cudart", lambda: fake_cudart(count=0))
    assert host.tensorrt_status() == (False, "no CUDA GPU visible (cudaGetDeviceCount returned 0)")
    monkeypatch.setattr(host, "import_cudart", lambda: fake_cudart())
    ok, reason = host.tensorrt_status()
    assert ok and "TensorRT 11.4.0.106" in reason and "Fake GPU (compute capability 8.9)" in reason
    assert host.gpu_info() == {"device": 0, "name": "Fake GPU", "compute_capability": "8.9"}


def test_cuda_call_unpacks_and_raises():
    cudart = fake_cudart()
    assert host.cuda_call(cudart, (_Err(0), 1234), "cudaMalloc") == 1234
    assert host.cuda_call(cudart, (_Err(0),), "cudaFree") is None
    with pytest.raises(BackendError, match=r"cudaMalloc failed \(cudaErrorInsufficientDriver"):
        host.cuda_call(cudart, (_Err(2), None), "cudaMalloc")


# -- compatibility ---------------------------------------------------------------------------------
RECORD = EngineRecord(file="model_fp16.engine", source_graph="fp16", source_sha256="0" * 64, precision="fp16",
                      tensorrt_version="10.13.3.9", gpu_name="NVIDIA A10", compute_capability="8.6",
                      profile=EngineProfile(min=1, opt=8, max=8))


@pytest.mark.parametrize("changes, here, problem", [
    ({}, ("10.13.3.9", "8.6"), None),
    ({}, ("11.4.0.106", "8.6"), "built with TensorRT 10.13.3.9, this host has TensorRT 11.4.0.106"),
    ({}, ("10.13.3.9", "8.9"), "built for NVIDIA A10 (compute capability 8.6), this GPU has compute capability 8.9"),
    ({"version_compatible": True}, ("10.14.1.48", "8.6"), None),
    ({"version_compatible": True}, ("10.8.0.43", "8.6"), "this host has TensorRT 10.8.0.43"),
    ({"hardware_compatibility": "ampere_plus"}, ("10.13.3.9", "9.0"), None),
    ({"hardware_compatibility": "ampere_plus"}, ("10.13.3.9", "7.5"), "compute capability 7.5"),
    ({"hardware_compatibility": "same_compute_capability"}, ("10.13.3.9", "8.9"), "compute capability 8.9"),
])
def test_compatibility_problem(changes, here, problem):
    found = tr.compatibility_problem(replace(RECORD, **changes), *here)
    if problem is None:
        assert found is None
    else:
        assert found and problem in found


def test_rebuild_hint_names_the_command():
    hint = tr.rebuild_hint("artifacts/tiny", "fp16")
    assert "ijepa-build artifacts/tiny --variant fp16" in hint


# -- open_runner without a GPU ------------------------------------------------------------------------
@pytest.fixture
def engine_artifact(tmp_path):
    directory = tmp_path / "art"
    directory.mkdir()
    manifest = small_manifest(directory, graphs=("fp16",), status="passed")
    (directory / "model_fp16.engine").write_bytes(b"plan bytes")
    manifest.record_file(directory, "model_fp16.engine", role="tensorrt-engine")
    manifest.engines["fp16"] = replace(RECORD, source_sha256=manifest.files["model_fp16.onnx"].sha256,
                                       status="passed")
    manifest.write(directory)
    return directory


def test_missing_engine_says_how_to_build_it(engine_artifact):
    with pytest.raises(ArtifactError) as info:
        load(engine_artifact, backend="tensorrt", precision="fp32")
    text = info.value.format()
    assert "artifact has no fp32 TensorRT engine" in text and f"ijepa-build {engine_artifact} --variant fp32" in text


def test_tampered_engine_is_refused_before_tensorrt(engine_artifact):
    (engine_artifact / "model_fp16.engine").write_bytes(b"other bytes")
    with pytest.raises(ArtifactError, match="checksum mismatch"):
        load(engine_artifact, backend="tensorrt", precision="fp16")


def test_tensorrt_backend_without_tensorrt_is_a_plain_error(engine_artifact):
    available, reason = host.tensorrt_status()
    if available:
        pytest.skip(f"this host runs TensorRT ({reason})")
    with pytest.raises(BackendUnavailable) as info:
        load(engine_artifact, backend="tensorrt", precision="fp16")
    assert info.value.problem == reason and "ijepa-deploy[tensorrt]" in info.value.format()


def test_embed_cli_without_tensorrt_exits_1(engine_artifact, tmp_path):
    available, reason = host.tensorrt_status()
    if available:
        pytest.skip(f"this host runs TensorRT ({reason})")
    image = tmp_path / "x.png"
    from PIL import Image

    Image.new("RGB", (40, 40)).save(image)
    proc = subprocess.run([sys.executable, "-c", "from ijepa_deploy.cli.embed import main; main()",
                           str(engine_artifact), str(image), "--backend", "tensorrt", "--precision", "fp16"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and reason in proc.stderr and "Traceback" not in proc.stderr


# -- on a GPU ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def engine_dir(tensorrt_host, tiny_artifact, tmp_path_factory):
    """A copy of the tiny artifact with an fp32 engine, profile 1/2/4."""
    from ijepa_deploy.exporters.tensorrt_build import EngineOptions, build_engines
    from ijepa_deploy.progress import Progress

    target = tmp_path_factory.mktemp("trt-run") / "tiny"
    shutil.copytree(tiny_artifact, target)
    build_engines(target, read_manifest(target), EngineOptions(min_batch=1, opt_batch=2, max_batch=4, opt_level=1),
                  Progress(quiet=True))
    return target


@pytest.mark.gpu
def test_runner_matches_onnxruntime_and_reuses_buffers(engine_dir):
    pixels = np.random.default_rng(0).standard_normal((4, 3, 224, 224)).astype(np.float32)
    manifest = read_manifest(engine_dir)
    with open_runner(engine_dir, manifest, "onnxruntime", "fp32") as ort_runner:
        want = ort_runner.run(pixels)
    with open_runner(engine_dir, manifest, "tensorrt", "fp32") as runner:
        assert (runner.min_batch, runner.max_batch) == (1, 4)
        pointers = {n: b.device for n, b in runner._slots[0].buffers.items()}
        for n in (1, 3, 4, 2):
            got = runner.run(pixels[:n])
            for name in manifest.io.output_names:
                assert got[name].shape == want[name][:n].shape and got[name].dtype == np.float32
                np.testing.assert_allclose(got[name], want[name][:n], atol=2e-3, rtol=1e-3)
        assert {n: b.device for n, b in runner._slots[0].buffers.items()} == pointers
    runner.close()  # twice is fine
    with pytest.raises(IJepaDeployError, match="runner is closed"):
        runner.run(pixels[:1])


@pytest.mark.gpu
def test_bad_inputs_are_plain_errors(engine_dir):
    with open_runner(engine_dir, read_manifest(engine_dir), "tensorrt", "fp32") as runner:
        ok = np.zeros((1, 3, 224, 224), np.float32)
        with pytest.raises(InputError, match="batch size 5 is outside"):
            runner.run(np.zeros((5, 3, 224, 224), np.float32))
        with pytest.raises(InputError, match="dtype is float64"):
            runner.run(ok.astype(np.float64))
        with pytest.raises(InputError, match="axis 2 is 100"):
            runner.run(np.zeros((1, 3, 100, 224), np.float32))
        with pytest.raises(InputError, match="input names"):
            runner.run({"pixels": ok})
        assert runner.run(ok)["embedding"].shape == (1, 192)  # still usable after the errors


@pytest.mark.gpu
def test_deployed_model_chunks_batches_to_the_profile(engine_dir):
    from ijepa_deploy.runtime.photos import bundled_images

    images = bundled_images() * 2  # 8 images, profile max 4
    with load(engine_dir, backend="tensorrt") as model, load(engine_dir) as reference:
        assert model.max_batch == 4
        got, want = model.embed(images), reference.embed(images)
    cos = (got * want).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(want, axis=1)
    assert got.shape == (8, 192) and cos.min() > 0.9999


@pytest.mark.gpu
def test_engine_from_another_tensorrt_or_gpu_says_how_to_rebuild(engine_dir, tmp_path):
    target = tmp_path / "copy"
    shutil.copytree(engine_dir, target)
    manifest_path = target / "ijepa_manifest.json"
    data = json.loads(manifest_path.read_text())
    data["engines"]["fp32"]["tensorrt_version"] = "9.0.1.4"
    manifest_path.write_text(json.dumps(data))
    with pytest.raises(IJepaDeployError) as info:
        load(target, backend="tensorrt")
    assert "built with TensorRT 9.0.1.4" in info.value.problem
    assert f"ijepa-build {target} --variant fp32" in info.value.format()

    data = json.loads(manifest_path.read_text())
    data["engines"]["fp32"]["tensorrt_version"] = json.loads((engine_dir / "ijepa_manifest.json").read_text())[
        "engines"]["fp32"]["tensorrt_version"]
    data["engines"]["fp32"]["compute_capability"] = "1.0"
    manifest_path.write_text(json.dumps(data))
    with pytest.raises(IJepaDeployError, match="compute capability 1.0"):
        load(target, backend="tensorrt")


@pytest.mark.gpu
def test_unreadable_engine_is_a_plain_error(engine_dir, tmp_path):
    target = tmp_path / "copy"
    shutil.copytree(engine_dir, target)
    (target / "model_fp32.engine").write_bytes(b"\0" * 4096)
    manifest = read_manifest(target)
    manifest.record_file(target, "model_fp32.engine", role="tensorrt-engine")
    manifest.write(target)
    with pytest.raises(IJepaDeployError) as info:
        load(target, backend="tensorrt")
    assert "could not deserialize" in info.value.problem and "ijepa-build" in info.value.format()


# -- the runner's logic against stand-ins for TensorRT and cuda-python (any host) ---------------------
def fake_tensorrt(max_batch=4, version="10.13.3.9", plan=b"plan", cudart=None, delay=0.0, model=fake_model):
    return fake_runtime_tensorrt(lambda data: FakeEngine(cudart, model, profile=(1, 2, max_batch), delay=delay)
                                 if data == plan else None, version)


@pytest.fixture
def fake_stack(monkeypatch, engine_artifact):
    cudart = FakeCudart()
    monkeypatch.setattr(host, "import_cudart", lambda: cudart)
    monkeypatch.setattr(host, "import_tensorrt", lambda: fake_tensorrt(cudart=cudart))
    (engine_artifact / "model_fp16.engine").write_bytes(b"plan")
    manifest = read_manifest(engine_artifact)
    manifest.record_file(engine_artifact, "model_fp16.engine", role="tensorrt-engine")
    manifest.write(engine_artifact)
    return cudart, engine_artifact


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


def test_runner_refuses_foreign_engines_with_the_rebuild_command(fake_stack, monkeypatch):
    cudart, directory = fake_stack
    monkeypatch.setattr(host, "import_tensorrt", lambda: fake_tensorrt(version="11.4.0.106", cudart=cudart))
    with pytest.raises(ArtifactError) as info:
        load(directory, backend="tensorrt", precision="fp16")
    assert "built with TensorRT 10.13.3.9, this host has TensorRT 11.4.0.106" in info.value.problem
    assert f"ijepa-build {directory} --variant fp16" in info.value.format()
    assert not cudart.live

    monkeypatch.setattr(host, "import_tensorrt", lambda: fake_tensorrt(plan=b"another plan", cudart=cudart))
    with pytest.raises(ArtifactError) as info:
        load(directory, backend="tensorrt", precision="fp16")
    assert "could not deserialize" in info.value.problem and "ijepa-build" in info.value.format()
    assert not cudart.live


def test_version_compatible_engines_run_host_code_only_when_the_caller_allows(fake_stack, monkeypatch, capsys):
    """A manifest edit must not be enough to make this process run an engine's embedded host code."""
    cudart, directory = fake_stack
    manifest = read_manifest(directory)
    manifest.engines["fp16"].version_compatible = True
    manifest.write(directory)
    created = []
    fake = fake_tensorrt(cudart=cudart)
    runtime_class = fake.Runtime

    class Runtime(runtime_class):
        def __init__(self, logger):
            super().__init__(logger)
            created.append(self)

    fake.Runtime = Runtime
    monkeypatch.setattr(host, "import_tensorrt", lambda: fake)
    with pytest.raises(ArtifactError) as info:
        load(directory, backend="tensorrt", precision="fp16")
    text = info.value.format()
    assert "version-compatible: it embeds host code" in text and "allow_engine_host_code=True" in text
    assert "--allow-engine-host-code" in text and not created and not cudart.live

    with load(directory, backend="tensorrt", precision="fp16", allow_engine_host_code=True) as model:
        assert model.runner.run(np.zeros((1, 3, 32, 32), np.float32))["embedding"].shape == (1, 8)
    assert [r.engine_host_code_allowed for r in created] == [True]

    from ijepa_deploy.cli.embed import main as embed_main

    image = directory / "x.png"
    from PIL import Image

    Image.new("RGB", (32, 32)).save(image)
    with pytest.raises(SystemExit) as exc:
        embed_main([str(directory), str(image), "--backend", "tensorrt", "--precision", "fp16"])
    assert exc.value.code == 1 and "--allow-engine-host-code" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        embed_main([str(directory), str(image), "--backend", "tensorrt", "--precision", "fp16",
                    "--allow-engine-host-code"])
    assert exc.value.code == 0 and created[-1].engine_host_code_allowed is True


# -- concurrent run() calls ------------------------------------------------------------------------
def _hammer(run, batches, threads: int, calls: int) -> list:
    """``threads`` threads each make ``calls`` calls (cycling through ``batches``); returns
    (batch index, outputs) per call, or raises the first exception a thread hit."""
    import concurrent.futures

    def worker(t):
        return [(k, run(batches[k])) for k in ((t + i) % len(batches) for i in range(calls))]

    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        return [item for chunk in pool.map(worker, range(threads)) for item in chunk]


def test_concurrent_runs_match_single_threaded_with_stand_ins(fake_stack, monkeypatch):
    cudart, directory = fake_stack
    monkeypatch.setattr(host, "import_tensorrt", lambda: fake_tensorrt(cudart=cudart, delay=0.002))
    rng = np.random.default_rng(2)
    batches = [rng.standard_normal((n, 3, 32, 32)).astype(np.float32) for n in (1, 3, 4, 2)]
    with load(directory, backend="tensorrt", precision="fp16", max_concurrency=3) as model:
        runner = model.runner
        single = [runner.run(b) for b in batches]
        results = _hammer(runner.run, batches, threads=6, calls=15)
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
        _hammer(lambda b: slot.run(cudart, {"pixel_values": b}, runner.output_names, "x"), batches, threads=4, calls=5)
    assert any("in use by another thread" in v for v in cudart.violations), cudart.violations


def test_max_concurrency_one_is_a_lock(fake_stack, monkeypatch):
    cudart, directory = fake_stack
    monkeypatch.setattr(host, "import_tensorrt", lambda: fake_tensorrt(cudart=cudart, delay=0.001))
    batches = [np.full((n, 3, 32, 32), n, np.float32) for n in (1, 2, 4)]
    with load(directory, backend="tensorrt", precision="fp16", max_concurrency=1) as model:
        results = _hammer(model.runner.run, batches, threads=4, calls=6)
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
        results = _hammer(runner.run, batches, threads=3, calls=4)
        assert len(runner._slots) == 1 and runner.max_concurrency == 1 and len(results) == 12
    assert cudart.violations == []


# -- engines that were not verified ------------------------------------------------------------------
@pytest.mark.parametrize("status, problem", [("failed", "FAILED its parity check"),
                                             (None, "was never checked against eager PyTorch"),
                                             ("unverified", "was never checked")])
def test_runtime_refuses_engines_that_did_not_pass_parity(fake_stack, status, problem):
    cudart, directory = fake_stack
    manifest = read_manifest(directory)
    manifest.engines["fp16"].status = status
    manifest.write(directory)
    with pytest.raises(ParityError) as info:
        load(directory, backend="tensorrt", precision="fp16")
    assert problem in info.value.problem and "model_fp16.engine" in info.value.problem
    assert f"ijepa-build {directory} --variant fp16" in info.value.format()
    assert not cudart.live
    with load(directory, backend="tensorrt", precision="fp16", allow_unverified=True) as model:
        assert model.run(np.zeros((1, 3, 32, 32), np.float32))["embedding"].shape == (1, 8)


@pytest.mark.gpu
def test_concurrent_calls_equal_single_threaded_on_the_gpu(engine_dir):
    from ijepa_deploy.runtime.photos import photo_batch
    from ijepa_deploy.runtime.preprocess import Preprocessor

    manifest = read_manifest(engine_dir)
    pixels, _ = photo_batch(Preprocessor(manifest.preprocessing), 4)
    batches = [pixels[:n] for n in (1, 2, 3, 4)]
    with open_runner(engine_dir, manifest, "tensorrt", "fp32", max_concurrency=4) as runner:
        single = [runner.run(b) for b in batches]
        results = _hammer(runner.run, batches, threads=8, calls=20)
        assert 1 <= len(runner._slots) <= 4
    assert len(results) == 160
    for k, got in results:
        for name in manifest.io.output_names:
            np.testing.assert_array_equal(got[name], single[k][name])
