"""The test tree must not shadow a library the package imports by its top-level name: pytest puts
test directories on ``sys.path``, so a directory ``tests/runtime/tensorrt`` made ``import tensorrt``
succeed (as an empty namespace package) in the test process, and ``tensorrt_status()`` there said
"cuda-python not installed" where a fresh interpreter says "tensorrt not installed"."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
# Imported by top-level name somewhere in the package, most of them optional (probed at run time).
LIBRARIES = {
    "tensorrt",
    "cuda",
    "openvino",
    "onnxruntime",
    "onnx",
    "onnxscript",
    "nncf",
    "ray",
    "pyarrow",
    "pytriton",
    "tritonclient",
    "torch",
    "transformers",
    "safetensors",
    "numpy",
    "PIL",
    "skimage",
    "tqdm",
}


def test_no_test_directory_or_module_is_named_like_a_library():
    shadows = sorted(
        str(p.relative_to(TESTS))
        for p in TESTS.rglob("*")
        if "__pycache__" not in p.parts
        and (p.is_dir() and p.name in LIBRARIES or p.suffix == ".py" and p.stem in LIBRARIES)
    )
    assert shadows == []
