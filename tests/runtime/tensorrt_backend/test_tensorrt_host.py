"""TensorRT on this host: the runtime imports without TensorRT, torch or CUDA, says plainly why
TensorRT is unusable (status reasons, CUDA call errors), and a TensorRT backend asked for on such a
host is a plain error, in the API and in ``ijepa-embed``."""

from __future__ import annotations

import subprocess
import sys
import types

import pytest
from trt_fakes import Err

from ijepa_deploy.errors import BackendError, BackendUnavailable
from ijepa_deploy.runtime import tensorrt_host as host
from ijepa_deploy.runtime.model import load


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
    code = (
        "import sys\nimport ijepa_deploy.runtime.tensorrt_runner\n"
        "print(sorted(m for m in ('torch', 'transformers', 'tensorrt') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "[]", proc.stdout + proc.stderr


def fake_cudart(err=0, count=1):
    success = Err(0)
    return types.SimpleNamespace(
        cudaError_t=types.SimpleNamespace(cudaSuccess=success),
        cudaGetDeviceCount=lambda: (Err(err), count if err == 0 else None),
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
    assert not ok and reason == (
        "no CUDA GPU visible (cudaErrorInsufficientDriver: CUDA driver version is insufficient)"
    )
    monkeypatch.setattr(host, "import_cudart", lambda: fake_cudart(count=0))
    assert host.tensorrt_status() == (False, "no CUDA GPU visible (cudaGetDeviceCount returned 0)")
    monkeypatch.setattr(host, "import_cudart", lambda: fake_cudart())
    ok, reason = host.tensorrt_status()
    assert ok and "TensorRT 11.4.0.106" in reason and "Fake GPU (compute capability 8.9)" in reason
    assert host.gpu_info() == {"device": 0, "name": "Fake GPU", "compute_capability": "8.9"}


def test_cuda_call_unpacks_and_raises():
    cudart = fake_cudart()
    assert host.cuda_call(cudart, (Err(0), 1234), "cudaMalloc") == 1234
    assert host.cuda_call(cudart, (Err(0),), "cudaFree") is None
    with pytest.raises(BackendError, match=r"cudaMalloc failed \(cudaErrorInsufficientDriver"):
        host.cuda_call(cudart, (Err(2), None), "cudaMalloc")


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
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from ijepa_deploy.cli.embed import main; main()",
            str(engine_artifact),
            str(image),
            "--backend",
            "tensorrt",
            "--precision",
            "fp16",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1 and reason in proc.stderr and "Traceback" not in proc.stderr
