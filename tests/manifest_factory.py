"""Small valid manifests for tests that need an artifact's shape but not an export (importable
from any test: pytest puts tests/ on sys.path for its conftest)."""

from __future__ import annotations

from pathlib import Path

from ijepa_deploy.contract import PreprocessConfig
from ijepa_deploy.manifest import Manifest
from ijepa_deploy.records import BatchRange, GraphRecord, ModelInfo
from ijepa_deploy.spec import export_spec

SIZE = 32


def model_info(task: str = "feature-extraction") -> ModelInfo:
    return ModelInfo(source="random:tiny", kind="preset", revision=None, weights="test", weights_random=True,
                     model_type="ijepa",
                     class_name="IJepaModel" if task == "feature-extraction" else "IJepaForImageClassification",
                     hidden_size=8, num_hidden_layers=1, num_attention_heads=1, intermediate_size=16,
                     patch_size=16, image_size=SIZE, layer_norm_eps=1e-6, parameters=100,
                     export_image_size=SIZE, position_embeddings="native")


def small_manifest(directory: Path | None = None, *, task: str = "feature-extraction", max_batch: int = 8,
                   graphs: tuple[str, ...] = ("fp32",), status: str = "exporting") -> Manifest:
    """A manifest with ``graphs`` (precision from the variant name). With ``directory``, each graph
    gets a small stand-in file recorded with its checksum; without, the files are not listed, so
    the manifest serves in-memory checks but cannot be written."""
    labels = 3 if task == "image-classification" else None
    spec = export_spec(task, hidden_size=8, num_tokens=4, height=SIZE, width=SIZE, num_labels=labels)
    manifest = Manifest(model=model_info(task), task=task, io=spec, preprocessing=PreprocessConfig(SIZE, SIZE),
                        batch=BatchRange(1, max_batch), status=status,
                        id2label={str(i): f"label{i}" for i in range(labels)} if labels else None)
    for variant in graphs:
        name = f"model_{variant}.onnx"
        if directory is not None:
            (Path(directory) / name).write_bytes(f"graph {variant}".encode())
            manifest.record_file(directory, name, role="onnx-graph")
        manifest.graphs[variant] = GraphRecord(file=name, precision=variant.split("-")[0], targets=["onnxruntime"],
                                               opset=20, nodes=1, ops={"Identity": 1})
    return manifest
