"""End to end: C++ OpenVINO vs the Python runtime's OpenVINO backend (the same graph) on the same images."""

from __future__ import annotations

import numpy as np
import pytest
from cpp_helpers import ASSETS

IMAGES = sorted(ASSETS.glob("*.jpg"))


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a.astype(np.float64), b.astype(np.float64)
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def _cpp(cpp_build, artifact, precision, out, images=IMAGES):
    # int8 on OpenVINO is refused on CPUs without VNNI / AMX (test_cpp_gates): opt in, as Python does below
    extra = ["--allow-unverified"] if precision == "int8" else []
    info = cpp_build.json("run", artifact, "openvino", precision, out, *images, *extra)
    return info, np.fromfile(out, dtype=np.float32).reshape(info["shape"])


def _python(artifact, precision):
    """Python's OpenVINO backend: the graph and engine the C++ runtime runs."""
    from ijepa_deploy.runtime import load

    return load(artifact, backend="openvino", precision=precision, allow_unverified=precision == "int8")


@pytest.mark.parametrize("precision, threshold", [("fp32", 0.99999), ("int8", 0.99999)])
def test_embed_matches_python(cpp_build, tiny_precision_artifact, tmp_path, precision, threshold):
    info, got = _cpp(cpp_build, tiny_precision_artifact, precision, tmp_path / "e.bin")
    with _python(tiny_precision_artifact, precision) as model:
        expected = model.embed(IMAGES)
    assert info["variant"] == precision  # int8: the S8S8 graph Python's OpenVINO backend runs
    cos = _cosines(got, expected)
    print(
        f"embed {precision} ({info['variant']}): min cosine {cos.min():.7f}, max abs {np.abs(got - expected).max():.2e}"
    )
    assert got.shape == expected.shape
    assert cos.min() >= threshold, cos


@pytest.mark.parametrize("precision, threshold", [("fp32", 0.99999), ("int8", 0.99999)])
def test_classify_matches_python(cpp_build, tiny_cls_int8_artifact, tmp_path, precision, threshold):
    info, got = _cpp(cpp_build, tiny_cls_int8_artifact, precision, tmp_path / "l.bin")
    with _python(tiny_cls_int8_artifact, precision) as model:
        logits = model.run(model.preprocess(IMAGES))["logits"]
        full = model.classify(IMAGES, top_k=logits.shape[1])
    cos = _cosines(got, logits)
    print(f"logits {precision}: min cosine {cos.min():.7f}, max abs {np.abs(got - logits).max():.2e}")
    assert cos.min() >= threshold, cos
    # Each C++ top-k probability agrees with Python's for that label; the label sets agree except
    # for labels tied with Python's k-th probability to within the engines' difference.
    gap = 1e-5 if precision == "fp32" else 2e-3
    for cpp_top, py_all in zip(info["top_k"], full):
        probs = dict(py_all)
        for label, prob in cpp_top:
            assert abs(prob - probs[label]) <= gap, (cpp_top, py_all[:5])
        kth = py_all[len(cpp_top) - 1][1]
        for label in {lab for lab, _ in cpp_top} ^ {lab for lab, _ in py_all[: len(cpp_top)]}:
            assert abs(probs[label] - kth) <= 2 * gap, (cpp_top, py_all[:5])
        if precision == "fp32":
            assert [lab for lab, _ in cpp_top] == [lab for lab, _ in py_all[: len(cpp_top)]]


def test_more_images_than_max_batch_are_chunked(cpp_build, tiny_artifact, tmp_path):
    """19 images with max batch 8: three chunks, the same vectors as one image at a time."""
    from ijepa_deploy.runtime import load

    images = (IMAGES * 5)[:19]
    info, got = _cpp(cpp_build, tiny_artifact, "fp32", tmp_path / "e.bin", images)
    assert info["max_batch"] == 8 and info["shape"][0] == 19
    with load(tiny_artifact) as model:
        expected = model.embed(images)
    assert _cosines(got, expected).min() >= 0.99999
