"""CI API check for cuda-python: the runner's memory and stream calls exist in the cuda-bindings
releases we support (downloaded like the TensorRT wheels; see trt_api_checker.py)."""

from __future__ import annotations

import os

import pytest
from trt_api_checker import CUDART_CHECKED, ROOT, cudart_uses, load_surface_module


def test_cuda_python_runtime_calls_exist():
    mod = load_surface_module()
    try:
        dumps = [mod.cuda_surface(v) for v in mod.CUDA_RELEASES.values()]
    except mod.SurfaceError as exc:
        message = f"cannot obtain cuda-bindings from PyPI: {exc}"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI=1)")
        pytest.skip(message)
    uses = [
        (name, line, chain) for name in CUDART_CHECKED for line, chain in cudart_uses((ROOT / name).read_text(), name)
    ]
    names = {c[0] for _, _, c in uses}
    assert {
        "cudaMalloc",
        "cudaMallocHost",
        "cudaMemcpyAsync",
        "cudaStreamCreate",
        "cudaGetDeviceCount",
        "cudaGetDeviceProperties",
        "cudaFree",
        "cudaFreeHost",
    } <= names, names
    problems = []
    for dump in dumps:
        for name, line, chain in uses:
            if chain[0] not in dump["module"]:
                problems.append(f"{name}:{line}: cudart.{chain[0]} missing in cuda-bindings {dump['version']}")
            elif len(chain) > 1 and chain[1] not in dump["classes"].get(chain[0], []):
                problems.append(
                    f"{name}:{line}: cudart.{'.'.join(chain[:2])} missing in cuda-bindings {dump['version']}"
                )
    assert not problems, "\n".join(problems)
    bad = cudart_uses("cudart.cudaMallocAsyncBogus(1)\nself._cudart.cudaMemcpyKind.cudaMemcpyHostToNowhere\n", "bad.py")
    assert [c for _, c in bad] == [("cudaMallocAsyncBogus",), ("cudaMemcpyKind", "cudaMemcpyHostToNowhere")]
    assert all(c[-1] not in dumps[0]["module"] and c[-1] not in dumps[0]["classes"].get(c[0], []) for _, c in bad)
