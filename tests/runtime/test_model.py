"""The friendly API: load(), embed(), classify(); artifacts that were tampered with are refused."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from ijepa_deploy.errors import IJepaDeployError
from ijepa_deploy.exporters.parity import bundled_images
from ijepa_deploy.manifest import MANIFEST_NAME
from ijepa_deploy.runtime import load


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
        with pytest.raises(IJepaDeployError, match="task is feature-extraction"):
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
        with pytest.raises(IJepaDeployError, match="task is image-classification"):
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
    with pytest.raises(IJepaDeployError, match="checksum mismatch"):
        load(artifact_copy)


def test_missing_files_and_manifest(artifact_copy, tmp_path):
    (artifact_copy / "model.onnx").unlink()
    with pytest.raises(IJepaDeployError, match="artifact file is missing"):
        load(artifact_copy)
    with pytest.raises(IJepaDeployError, match="does not exist"):
        load(tmp_path / "nowhere")
    (artifact_copy / MANIFEST_NAME).unlink()
    with pytest.raises(IJepaDeployError, match="no ijepa_manifest.json"):
        load(artifact_copy)


def test_bad_manifest_and_failed_status(artifact_copy):
    path = artifact_copy / MANIFEST_NAME
    data = json.loads(path.read_text())
    data["status"] = "failed"
    path.write_text(json.dumps(data))
    with pytest.raises(IJepaDeployError, match="parity check did not pass"):
        load(artifact_copy)
    assert load(artifact_copy, allow_unverified=True).embed(bundled_images()[:1]).shape == (1, 192)
    data["schema_version"] = 99
    path.write_text(json.dumps(data))
    with pytest.raises(IJepaDeployError, match="schema_version"):
        load(artifact_copy)
    path.write_text("{not json")
    with pytest.raises(IJepaDeployError, match="not valid JSON"):
        load(artifact_copy)


def test_missing_precision_is_explained(tiny_artifact):
    with pytest.raises(IJepaDeployError, match="no bf9 graph"):
        load(tiny_artifact, precision="bf9")
