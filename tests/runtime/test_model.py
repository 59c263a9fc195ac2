"""The friendly API: load(), embed(), classify(); artifacts that were tampered with are refused."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from ijepa_deploy.errors import ArtifactError, InputError, ParityError
from ijepa_deploy.manifest import MANIFEST_NAME
from ijepa_deploy.runtime import load
from ijepa_deploy.runtime.photos import bundled_images


def test_embed_accepts_paths_pil_arrays_and_chunks_batches(tiny_artifact):
    paths = bundled_images()
    with load(tiny_artifact) as model:
        assert model.max_batch == 8
        from_paths = model.embed([str(p) for p in paths])
        assert from_paths.shape == (len(paths), 192) and from_paths.dtype == np.float32
        pil = [Image.open(p) for p in paths]
        np.testing.assert_array_equal(model.embed(pil), from_paths)
        np.testing.assert_array_equal(model.embed([np.array(i.convert("RGB")) for i in pil]), from_paths)
        many = model.embed([paths[0]] * 11)  # more than max_batch: run in chunks
        assert many.shape == (11, 192)
        np.testing.assert_allclose(many, np.repeat(from_paths[:1], 11, axis=0), atol=1e-5)
        with pytest.raises(InputError, match="task is feature-extraction"):
            model.classify(paths)


def test_classify_returns_the_top_softmax_labels(tiny_cls_artifact):
    with load(tiny_cls_artifact) as model:
        top = model.classify(bundled_images(), top_k=3)
        logits = model.run(model.preprocess(bundled_images()))["logits"].astype(np.float64)
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        labels = model.manifest.id2label
        assert labels is not None and len(top) == len(bundled_images())
        for row, p in zip(top, probs):
            best = np.argsort(-p)[:3]
            assert [label for label, _ in row] == [labels[str(i)] for i in best]
            np.testing.assert_allclose([prob for _, prob in row], p[best], rtol=1e-12)
        with pytest.raises(InputError, match="task is image-classification"):
            model.embed(bundled_images())


@pytest.fixture
def artifact_copy(tiny_artifact, tmp_path):
    target = tmp_path / "copy"
    shutil.copytree(tiny_artifact, target)
    return target


def test_corrupted_graph_is_refused(artifact_copy):
    graph = artifact_copy / "model.onnx"
    data = bytearray(graph.read_bytes())
    data[len(data) // 2] ^= 0xFF
    graph.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="checksum mismatch"):
        load(artifact_copy)


def test_missing_files_and_manifest(artifact_copy, tmp_path):
    (artifact_copy / "model.onnx").unlink()
    with pytest.raises(ArtifactError, match="artifact file is missing"):
        load(artifact_copy)
    with pytest.raises(ArtifactError, match="does not exist"):
        load(tmp_path / "nowhere")
    (artifact_copy / MANIFEST_NAME).unlink()
    with pytest.raises(ArtifactError, match="no ijepa_manifest.json"):
        load(artifact_copy)


def test_bad_manifest_and_failed_status(artifact_copy):
    path = artifact_copy / MANIFEST_NAME
    data = json.loads(path.read_text())
    data["status"] = "failed"
    path.write_text(json.dumps(data))
    with pytest.raises(ParityError, match="parity check did not pass"):
        load(artifact_copy)
    assert load(artifact_copy, allow_unverified=True).embed(bundled_images()[:1]).shape == (1, 192)
    data["schema_version"] = 99
    path.write_text(json.dumps(data))
    with pytest.raises(ArtifactError, match="schema_version"):
        load(artifact_copy)
    path.write_text("{not json")
    with pytest.raises(ArtifactError, match="not valid JSON"):
        load(artifact_copy)


def test_missing_precision_is_explained(tiny_artifact):
    with pytest.raises(ArtifactError, match="no bf9 graph"):
        load(tiny_artifact, precision="bf9")


def _partial_copy(source, tmp_path, failed: str):
    """``source`` with graph ``failed`` marked as having failed its parity check (rows and verdict)."""
    from ijepa_deploy.manifest import read_manifest

    art = tmp_path / "partial"
    shutil.copytree(source, art)
    manifest = read_manifest(art)
    for row in manifest.parity:
        if row.graph == failed:
            row.passed = False
    assert manifest.settle_status() == "partial"
    manifest.write(art)
    return art


def test_a_graph_that_failed_is_refused_and_the_rest_stay_usable(tiny_precision_artifact, tmp_path):
    from ijepa_deploy.manifest import read_manifest
    from ijepa_deploy.runtime.model import check_verified, usable_graphs

    art = _partial_copy(tiny_precision_artifact, tmp_path, "int8-cpu")
    manifest = read_manifest(art)
    assert manifest.graphs["int8-cpu"].status == "failed" and manifest.graphs["fp16"].status == "passed"
    assert usable_graphs(manifest) == ["fp32", "fp16", "int8"]
    with load(art) as fp32, load(art, precision="fp16") as fp16:
        assert fp32.embed(bundled_images()[:1]).shape == (1, 192) and fp16.backend == "onnxruntime-cpu"
    with pytest.raises(ParityError) as err:  # ONNX Runtime on CPU serves int8 from the int8-cpu graph
        load(art, precision="int8", providers=["CPUExecutionProvider"])
    assert "graph model_int8_cpu.onnx (int8-cpu) FAILED its parity check" in err.value.problem
    assert "usable in this artifact: fp32, fp16, int8" in err.value.expected
    with load(art, precision="int8", providers=["CPUExecutionProvider"], allow_unverified=True) as model:
        assert model.runner.backend == "onnxruntime-cpu"
    problems = check_verified(
        art, manifest, "onnxruntime", "int8", providers=["CPUExecutionProvider"], allow_unverified=True
    )
    assert len(problems) == 1 and "int8-cpu" in problems[0]
    assert check_verified(art, manifest, "onnxruntime", "int8", variant="int8") == []  # Triton's graph passed


def test_auto_skips_an_openvino_graph_that_failed(tiny_precision_artifact, tmp_path):
    from ijepa_deploy.manifest import read_manifest
    from ijepa_deploy.runtime.model import choose_backend
    from ijepa_deploy.runtime.openvino_runner import openvino_status

    if not openvino_status()[0]:
        pytest.skip("needs openvino")
    manifest = read_manifest(_partial_copy(tiny_precision_artifact, tmp_path, "int8"))
    backend, why = choose_backend(manifest, "int8")
    assert backend == "onnxruntime" and "OpenVINO: the int8 graph did not pass its parity check" in why
    assert choose_backend(manifest, "fp32")[0] == "openvino"


def test_a_failed_fp32_graph_fails_the_whole_artifact(tiny_precision_artifact, tmp_path):
    from ijepa_deploy.manifest import read_manifest

    art = tmp_path / "failed"
    shutil.copytree(tiny_precision_artifact, art)
    manifest = read_manifest(art)
    manifest.parity[0].passed = False
    assert manifest.settle_status() == "failed"
    manifest.write(art)
    with pytest.raises(ParityError, match="artifact status is 'failed'"):
        load(art, precision="fp16")
