"""What this host has for TensorRT: the bindings, cuda-python, a CUDA GPU and its compute
capability. Imported lazily so this module imports on any host; nothing here raises when
something is missing (``tensorrt_status`` says what)."""

from __future__ import annotations

import re

from ijepa_deploy.errors import BackendError

INSTALL_HINT = "a host with an NVIDIA GPU, TensorRT >= 10.8 and cuda-python (pip install 'ijepa-deploy[tensorrt]')"


def import_tensorrt():
    import tensorrt as trt

    return trt


def import_cudart():
    try:
        from cuda.bindings import runtime as cudart  # cuda-python >= 12.6.2 (the only layout in 13.x)
    except ImportError:
        from cuda import cudart  # cuda-python 12.6.0 and older: same functions, older module path
    return cudart


def _cuda_error_text(cudart, err) -> str:
    try:
        name = cudart.cudaGetErrorName(err)[1].decode()
        text = cudart.cudaGetErrorString(err)[1].decode()
        return f"{name}: {text}"
    except Exception:  # an unknown code or an older binding: the enum's own repr is enough
        return str(err)


def cuda_call(cudart, result, what: str):
    """Unpack a cuda-python ``(err, value...)`` tuple; raise IJepaDeployError on an error."""
    err, *values = result if isinstance(result, tuple) else (result,)
    if err != cudart.cudaError_t.cudaSuccess:
        raise BackendError(
            "cuda",
            f"{what} failed ({_cuda_error_text(cudart, err)})",
            "a working NVIDIA driver and a free GPU with enough memory",
        )
    if not values:
        return None
    return values[0] if len(values) == 1 else tuple(values)


def tensorrt_status() -> tuple[bool, str]:
    """``(True, "TensorRT 11.4.0, 1 GPU: ...")`` or ``(False, plain reason)``. Never raises."""
    try:
        trt = import_tensorrt()
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] in ("tensorrt", "tensorrt_bindings"):
            return False, "tensorrt not installed"
        return False, f"tensorrt is installed but cannot be imported ({exc})"
    except Exception as exc:  # ImportError/OSError from missing libnvinfer / libnvonnxparser
        return False, f"tensorrt is installed but its libraries cannot be loaded ({exc})"
    try:
        cudart = import_cudart()
    except Exception as exc:
        return False, f"cuda-python not installed (cuda.bindings.runtime: {exc})"
    try:
        err, count = cudart.cudaGetDeviceCount()
    except Exception as exc:
        return False, f"no CUDA GPU visible (cudaGetDeviceCount raised {exc})"
    if err != cudart.cudaError_t.cudaSuccess:
        return False, f"no CUDA GPU visible ({_cuda_error_text(cudart, err)})"
    if not count:
        return False, "no CUDA GPU visible (cudaGetDeviceCount returned 0)"
    try:
        gpu = gpu_info()
    except BackendError as exc:
        return False, f"no usable CUDA GPU ({exc.problem})"
    return True, (
        f"TensorRT {getattr(trt, '__version__', '?')}, {count} GPU(s), device {gpu['device']}: "
        f"{gpu['name']} (compute capability {gpu['compute_capability']})"
    )


def gpu_info(device: int | None = None) -> dict:
    """Name and compute capability of the current (or given) CUDA device."""
    cudart = import_cudart()
    if device is None:
        device = cuda_call(cudart, cudart.cudaGetDevice(), "cudaGetDevice")
    prop = cuda_call(cudart, cudart.cudaGetDeviceProperties(device), "cudaGetDeviceProperties")
    name = prop.name
    if isinstance(name, (bytes, bytearray)):
        name = bytes(name).split(b"\0", 1)[0].decode(errors="replace")
    return {"device": int(device), "name": str(name).strip(), "compute_capability": f"{prop.major}.{prop.minor}"}


def tensorrt_major(version: str | None) -> int | None:
    match = re.match(r"(\d+)\.", str(version or ""))
    return int(match.group(1)) if match else None


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", str(version))[:4])
