"""Export: graph shape and ops, spec validation, --image-size, opset, parity failure is a failure."""

from __future__ import annotations

import dataclasses

import numpy as np
import onnx
import pytest

from ijepa_deploy.errors import ArtifactError, InputError, ParityError
from ijepa_deploy.exporters.pipeline import ExportOptions, export_artifact
from ijepa_deploy.exporters.validate import check_graph
from ijepa_deploy.manifest import read_manifest
from ijepa_deploy.progress import Progress
from ijepa_deploy.runtime.acceptance.parity import ParityCheck
from ijepa_deploy.runtime.openvino_runner import openvino_status
from ijepa_deploy.runtime.photos import photo_batch
from ijepa_deploy.runtime.preprocess import Preprocessor
from ijepa_deploy.runtime.runner import Runner
from ijepa_deploy.spec import BATCH, TensorSpec, export_spec


def export(tmp_path, **kw):
    return export_artifact(ExportOptions(output=tmp_path / "a", max_batch=8, **kw), Progress(quiet=True))


def test_tiny_artifact_graph_and_manifest(tiny_artifact):
    m = read_manifest(tiny_artifact)
    graph = onnx.load(str(tiny_artifact / "model.onnx"))
    ops = [n.op_type for n in graph.graph.node]
    layers = m.model.num_hidden_layers
    assert ops.count("LayerNormalization") == 2 * layers + 1  # one op each, never decomposed
    assert ops.count("Softmax") == layers and ops.count("Gelu") == layers
    assert not {"Where", "Expand", "IsNaN", "Resize"} & set(ops)  # no mask, no in-graph resize
    assert graph.graph.input[0].type.tensor_type.shape.dim[0].dim_param == BATCH
    assert m.versions["opset"] == 20 and m.versions["torch"] and m.versions["onnxruntime"]
    assert m.model.weights_random and m.notes
    assert m.preprocessing.image_mean == (0.5, 0.5, 0.5) and m.preprocessing.resample == "bilinear"
    result, *others = m.parity  # others: OpenVINO rows when openvino is installed
    assert all(r.backend == "openvino-cpu" and r.passed for r in others)
    assert result.passed and result.batch_sizes == [1, 2, 5] and len(result.images) == 5
    assert result.outputs["embedding"].min_cosine >= 0.99999
    assert result.outputs["embedding"].max_abs <= 1e-4
    ir = {"model.xml", "model.bin"} if openvino_status()[0] else set()  # OpenVINO's form of the fp32 graph
    assert set(m.files) == {"model.onnx", "reference_outputs.npz", *ir} and len(m.files["model.onnx"].sha256) == 64
    assert m.files["reference_outputs.npz"].role == "reference-outputs"


def test_the_saved_reference_is_eager_on_the_parity_photos(tiny_artifact):
    """reference_outputs.npz: eager fp32 on 24 photos (parity batch first), reproducible pixels."""
    from ijepa_deploy.exporters.reference import TorchRunner, eager_from_manifest
    from ijepa_deploy.runtime.acceptance.reference import ReferenceOutputs

    m = read_manifest(tiny_artifact)
    reference = ReferenceOutputs.load(tiny_artifact / "reference_outputs.npz")
    assert len(reference.names) == 24 and reference.parity_images == 5 and reference.images.dtype == np.uint8
    assert reference.names == m.parity[0].images + reference.names[5:]
    pixels = reference.pixels(Preprocessor(m.preprocessing))  # the export's digests match this host's pixels
    np.testing.assert_array_equal(pixels[:5], photo_batch(Preprocessor(m.preprocessing), 5)[0])
    eager = TorchRunner(eager_from_manifest(m), m.io, 1, 8).run(pixels[:5])
    np.testing.assert_allclose(reference.outputs["embedding"][:5], eager["embedding"], atol=1e-5)
    np.testing.assert_allclose(reference.hidden, eager["last_hidden_state"][:, reference.tokens], atol=1e-5)
    assert len(reference.tokens) == 64 and reference.tokens[0] == 0 and reference.tokens[-1] == 195
    altered = reference.images.copy()
    altered[3, 0, 0, 0] ^= 1
    with pytest.raises(ParityError, match="preprocesses 1 of 24 photos differently"):
        ReferenceOutputs(altered, reference.names, reference.digests, reference.outputs, 5).pixels(
            Preprocessor(m.preprocessing)
        )


def test_classification_artifact(tiny_cls_artifact):
    m = read_manifest(tiny_cls_artifact)
    assert m.io.output_names == ["logits"] and m.io.outputs[0].shape == (BATCH, 10)
    assert m.id2label["0"] == "class_0"
    assert m.parity[0].outputs["logits"].min_cosine >= 0.99999


def test_validation_catches_spec_mismatches(tiny_artifact):
    graph = tiny_artifact / "model.onnx"
    spec = read_manifest(tiny_artifact).io
    check_graph(graph, spec)
    wrong_hidden = export_spec("feature-extraction", hidden_size=100, num_tokens=196, height=224, width=224)
    with pytest.raises(ArtifactError, match="axis 2 is 192"):
        check_graph(graph, wrong_hidden)
    fixed_batch = dataclasses.replace(spec, inputs=(TensorSpec("pixel_values", "float32", (1, 3, 224, 224)),))
    with pytest.raises(ArtifactError, match="axis 0 is dynamic"):
        check_graph(graph, fixed_batch)
    extra = dataclasses.replace(spec, outputs=(*spec.outputs, TensorSpec("logits", "float32", (BATCH, 3))))
    with pytest.raises(ArtifactError, match="graph outputs"):
        check_graph(graph, extra)
    dynamic_tokens = dataclasses.replace(
        spec, outputs=(TensorSpec("last_hidden_state", "float32", (BATCH, "tokens", 192)), spec.outputs[1])
    )
    with pytest.raises(ArtifactError, match="fixed at 196"):
        check_graph(graph, dynamic_tokens)


def test_image_size_interpolates_position_embeddings_once(tmp_path):
    m = export(tmp_path, model="random:tiny", image_size=160)
    assert m.status == "passed"
    assert m.io.inputs[0].shape == (BATCH, 3, 160, 160) and m.io.outputs[0].shape == (BATCH, 100, 192)
    assert m.preprocessing.size == (160, 160)
    assert "interpolated" in m.model.position_embeddings
    assert m.parity[0].outputs["embedding"].min_cosine >= 0.99999
    ops = {n.op_type for n in onnx.load(str(tmp_path / "a" / "model.onnx")).graph.node}
    assert "Resize" not in ops


@pytest.mark.parametrize(
    "kw, problem",
    [
        ({"image_size": 150}, "not a multiple of the patch size 16"),
        ({"opset": 16}, "16 is outside what this export can write"),
        ({"batch_sizes": (1, 9)}, "exceeds --max-batch"),
        ({"task": "segmentation"}, "unknown task"),
    ],
)
def test_bad_options(tmp_path, kw, problem):
    with pytest.raises(InputError) as err:
        export(tmp_path, model="random:tiny", **kw)
    assert problem in err.value.problem


def test_output_dir_is_not_clobbered(tmp_path, tiny_artifact):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "precious.txt").write_text("keep me")
    with pytest.raises(InputError, match="not empty"):
        export(tmp_path, model="random:tiny")
    with pytest.raises(InputError, match="refusing to overwrite"):
        export(tmp_path, model="random:tiny", overwrite=True)
    assert (tmp_path / "a" / "precious.txt").read_text() == "keep me"


class Noisy(Runner):
    backend = "noisy"

    def __init__(self, inner, scale):
        super().__init__(inner.spec, inner.min_batch, inner.max_batch)
        self.inner, self.scale = inner, scale

    def _run(self, feed):
        out = self.inner.run(feed)
        rng = np.random.default_rng(0)
        return {k: v + self.scale * rng.standard_normal(v.shape).astype(v.dtype) for k, v in out.items()}


def test_parity_check_can_fail(tiny_artifact):
    from ijepa_deploy.exporters.engine_parity import reference_parity
    from ijepa_deploy.runtime.model import open_runner

    m = read_manifest(tiny_artifact)
    check = reference_parity(tiny_artifact, m)
    with open_runner(tiny_artifact, m) as ort_runner:
        ok = ParityCheck(check.reference, check.pixels, Noisy(ort_runner, 0.0))("fp32")
        bad = ParityCheck(check.reference, check.pixels, Noisy(ort_runner, 0.3))("fp32")
        tiled = ParityCheck(check.reference, check.pixels, Noisy(ort_runner, 0.0), batch_sizes=(7, 8))("fp32")
    assert ok.passed and ok.images == check.reference.names[:5]
    assert not bad.passed and not bad.outputs["embedding"].passed
    assert tiled.passed and tiled.per_batch["8"]["last_hidden_state"].min_cosine > 0.9999
    assert bad.outputs["embedding"].min_cosine < 0.99999


def test_the_eager_weights_are_freed_once_the_graph_is_written(tmp_path):
    """The export frees eager PyTorch before any graph is checked (ViT-g: 4 GiB). onnxscript's
    rewrite rules kept the last graph they matched, whose initializers wrapped the parameters, so
    they outlived the model; none may survive it."""
    import gc
    import weakref

    from ijepa_deploy.exporters.models import load_model, parse_model_source
    from ijepa_deploy.exporters.onnx_export import OnnxFromModel, spec_for

    loaded = load_model(parse_model_source("random:tiny"), "feature-extraction", seed=0)
    weights = [weakref.ref(p) for p in loaded.model.parameters()]
    OnnxFromModel(loaded, tmp_path, spec_for(loaded, None))()
    loaded.model = None
    gc.collect()
    alive = sum(ref() is not None for ref in weights)
    assert alive == 0, f"{alive} of {len(weights)} parameters outlived the model"
