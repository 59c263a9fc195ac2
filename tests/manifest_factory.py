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
    return ModelInfo(
        source="random:tiny",
        kind="preset",
        revision=None,
        weights="test",
        weights_random=True,
        model_type="ijepa",
        class_name="IJepaModel" if task == "feature-extraction" else "IJepaForImageClassification",
        hidden_size=8,
        num_hidden_layers=1,
        num_attention_heads=1,
        intermediate_size=16,
        patch_size=16,
        image_size=SIZE,
        layer_norm_eps=1e-6,
        parameters=100,
        export_image_size=SIZE,
        position_embeddings="native",
    )


def small_manifest(
    directory: Path | None = None,
    *,
    task: str = "feature-extraction",
    max_batch: int = 8,
    graphs: tuple[str, ...] = ("fp32",),
    status: str = "exporting",
) -> Manifest:
    """A manifest with ``graphs`` (precision from the variant name). With ``directory``, each graph
    gets a small stand-in file recorded with its checksum; without, the files are not listed, so
    the manifest serves in-memory checks but cannot be written."""
    labels = 3 if task == "image-classification" else None
    spec = export_spec(task, hidden_size=8, num_tokens=4, height=SIZE, width=SIZE, num_labels=labels)
    manifest = Manifest(
        model=model_info(task),
        task=task,
        io=spec,
        preprocessing=PreprocessConfig(SIZE, SIZE),
        batch=BatchRange(1, max_batch),
        status=status,
        id2label={str(i): f"label{i}" for i in range(labels)} if labels else None,
    )
    for variant in graphs:
        name = f"model_{variant}.onnx"
        if directory is not None:
            (Path(directory) / name).write_bytes(f"graph {variant}".encode())
            manifest.record_file(directory, name, role="onnx-graph")
        manifest.graphs[variant] = GraphRecord(
            file=name, precision=variant.split("-")[0], targets=["onnxruntime"], opset=20, nodes=1, ops={"Identity": 1}
        )
    return manifest


def engine_artifact(directory: Path, *, plan: bytes = b"plan", **engine: object) -> Path:
    """An artifact directory with an fp16 graph and an fp16 TensorRT engine file holding ``plan``
    (the stand-in TensorRT of tests/trt_fakes.py deserializes it), status "passed" unless
    ``engine`` says otherwise; ``engine`` overrides fields of the engine record."""
    from ijepa_deploy.records import EngineProfile, EngineRecord

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    manifest = small_manifest(directory, graphs=("fp16",), status="passed")
    (directory / "model_fp16.engine").write_bytes(plan)
    manifest.record_file(directory, "model_fp16.engine", role="tensorrt-engine")
    fields = {
        "file": "model_fp16.engine",
        "source_graph": "fp16",
        "precision": "fp16",
        "source_sha256": manifest.files["model_fp16.onnx"].sha256,
        "tensorrt_version": "10.13.3.9",
        "gpu_name": "NVIDIA A10",
        "compute_capability": "8.6",
        "profile": EngineProfile(min=1, opt=2, max=4),
        "status": "passed",
        **engine,
    }
    manifest.engines["fp16"] = EngineRecord(**fields)  # type: ignore[arg-type]
    manifest.write(directory)
    return directory


def stand_in_reference(manifest: Manifest, model, count: int = 24, parity_images: int = 5):
    """A :class:`ReferenceParity` whose saved outputs come from ``model`` (numpy pixels -> dict of
    outputs) on the bundled photos: eager PyTorch's place for stand-in engines."""
    from ijepa_deploy.runtime.acceptance.parity import ReferenceParity
    from ijepa_deploy.runtime.acceptance.reference import ReferenceOutputs, hidden_tokens, pixel_digest
    from ijepa_deploy.runtime.photos import photo_arrays
    from ijepa_deploy.runtime.preprocess import Preprocessor
    from ijepa_deploy.spec import primary_output

    preprocess = Preprocessor(manifest.preprocessing)
    images, names = photo_arrays(preprocess, count)
    pixels = preprocess(list(images))
    out = model(pixels)
    primary = primary_output(manifest.task)
    hidden = out.get("last_hidden_state")
    tokens = hidden_tokens(hidden.shape[1]) if hidden is not None else None
    reference = ReferenceOutputs(
        images=images,
        names=names,
        digests=[pixel_digest(p) for p in pixels],
        outputs={primary: out[primary]},
        parity_images=parity_images,
        hidden=hidden[:parity_images, tokens] if hidden is not None else None,
        tokens=tokens,
    )
    return ReferenceParity(reference, pixels)
