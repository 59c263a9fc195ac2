"""ijepa_embed --output FILE.npy (issue 20 item 6): the full [N, D] float32 vectors (classification:
the logits) in NumPy's .npy format 1.0, equal to Python's OpenVINO vectors, written atomically;
the JSON lines stay."""

from __future__ import annotations

import io
import json
import subprocess

import numpy as np
import pytest
from cpp_helpers import ASSETS

IMAGES = [str(p) for p in sorted(ASSETS.glob("*.jpg"))]


def _embed(cpp_build, *args):
    program = cpp_build.directory / "ijepa_runtime" / "examples" / "ijepa_embed"
    return subprocess.run([str(program), *map(str, args)], capture_output=True, text=True, timeout=300)


def _python(artifact, precision):
    from ijepa_deploy.runtime import load

    return load(artifact, backend="openvino", precision=precision, allow_unverified=precision == "int8")


def _cosines(a, b):
    a, b = a.astype(np.float64), b.astype(np.float64)
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_output_npy_equals_python_vectors(cpp_build, tiny_precision_artifact, tmp_path, precision):
    out = tmp_path / "vectors.npy"
    extra = ["--allow-unverified"] if precision == "int8" else []
    proc = _embed(cpp_build, tiny_precision_artifact, *IMAGES, "--precision", precision, "--output", out, *extra)
    assert proc.returncode == 0, proc.stderr
    assert len([json.loads(line) for line in proc.stdout.splitlines()]) == len(IMAGES)  # the JSON lines stay
    got = np.load(out)
    with _python(tiny_precision_artifact, precision) as model:
        expected = model.embed(IMAGES)
    assert got.dtype == np.float32 and got.shape == expected.shape
    cos = _cosines(got, expected)
    print(
        f"--output {precision}: min cosine vs Python OpenVINO {cos.min():.8f}, max abs {np.abs(got - expected).max():.2e}"
    )
    assert cos.min() >= 0.99999, cos
    # byte for byte what np.save writes for the same array (format 1.0 header, C order)
    buffer = io.BytesIO()
    np.save(buffer, got)
    assert out.read_bytes() == buffer.getvalue()
    assert [p.name for p in tmp_path.iterdir()] == ["vectors.npy"]  # no temporary file left behind


def test_output_npy_holds_logits_for_classification(cpp_build, tiny_cls_artifact, tmp_path):
    out = tmp_path / "logits.npy"
    proc = _embed(cpp_build, tiny_cls_artifact, *IMAGES[:3], "--output", out)
    assert proc.returncode == 0, proc.stderr
    with _python(tiny_cls_artifact, "fp32") as model:
        expected = model.run(model.preprocess(IMAGES[:3]))["logits"]
    assert _cosines(np.load(out), expected).min() >= 0.99999


def test_output_is_atomic_and_checked_first(cpp_build, tiny_artifact, tmp_path):
    out = tmp_path / "vectors.npy"
    out.write_bytes(b"previous run")
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    proc = _embed(cpp_build, tiny_artifact, IMAGES[0], bad, "--output", out)
    assert proc.returncode == 1 and "not an image" in proc.stderr
    assert out.read_bytes() == b"previous run"  # a failed run leaves the old file whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.jpg", "vectors.npy"]
    proc = _embed(cpp_build, tiny_artifact, IMAGES[0], "--output", tmp_path)
    assert proc.returncode == 1 and proc.stderr.startswith(f"--output | {tmp_path} is a directory. Note: expected")
    proc = _embed(cpp_build, tiny_artifact, IMAGES[0], "--output", tmp_path / "missing" / "v.npy")
    assert proc.returncode == 1 and "does not exist" in proc.stderr
    proc = _embed(cpp_build, tiny_artifact, IMAGES[0], "--output", out)
    assert proc.returncode == 0 and np.load(out).shape == (1, 192)
