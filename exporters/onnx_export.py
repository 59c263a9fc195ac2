"""HF I-JEPA model -> ONNX, with the I/O declared by :mod:`ijepa_deploy.spec`.

The graph is traced from :class:`ExportModule`, which runs the HF model's own submodules
(patch embedding, layers, final LayerNorm, classifier) with eager attention and no attention
mask, so each block exports as MatMul -> Softmax -> MatMul plus one LayerNormalization op
(opset >= 17) and nothing else. Exporting at another resolution interpolates the position
embeddings once here (what ``interpolate_pos_encoding=True`` does on every eager call).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from ijepa_deploy.errors import BackendError
from ijepa_deploy.exporters.models import LoadedModel
from ijepa_deploy.exporters.precision.onnx_files import EXTERNAL_DATA_THRESHOLD
from ijepa_deploy.spec import BATCH, ExportSpec, export_spec

MIN_OPSET = 17
DEFAULT_OPSET = 20  # Gelu is one op from 20; LayerNormalization from 17


def _torch():
    import torch

    return torch


def export_module(loaded: LoadedModel, image_size: int | None = None):
    """The traceable module for ``loaded`` at ``image_size`` (default: the checkpoint's; the
    export checks it first: export_checks.check_image_size)."""
    torch = _torch()
    nn = torch.nn
    model = loaded.model
    base = model if loaded.task == "feature-extraction" else model.ijepa
    native = loaded.info["image_size"]
    size = image_size or native
    patch = base.config.patch_size
    with torch.no_grad():
        if size == native:
            pos = base.embeddings.position_embeddings.detach()
        else:
            tokens = (size // patch) ** 2
            probe = torch.zeros(1, tokens, base.config.hidden_size)
            pos = base.embeddings.interpolate_pos_encoding(probe, size, size).detach().contiguous()

    class ExportModule(nn.Module):
        def __init__(self):
            super().__init__()
            self.patch_embeddings = base.embeddings.patch_embeddings
            self.position_embeddings = nn.Parameter(pos, requires_grad=False)
            self.layers = base.layers
            self.layernorm = base.layernorm
            self.classifier = getattr(model, "classifier", None) if loaded.task == "image-classification" else None

        def forward(self, pixel_values):
            hidden = self.patch_embeddings(pixel_values) + self.position_embeddings
            for layer in self.layers:
                hidden = layer(hidden, None)
            hidden = self.layernorm(hidden)
            pooled = hidden.mean(dim=1)
            if self.classifier is not None:
                return self.classifier(pooled)
            return hidden, pooled

    return ExportModule().eval()


def spec_for(loaded: LoadedModel, image_size: int | None = None) -> ExportSpec:
    size = image_size or loaded.info["image_size"]
    tokens = (size // loaded.info["patch_size"]) ** 2
    return export_spec(
        loaded.task,
        hidden_size=loaded.info["hidden_size"],
        num_tokens=tokens,
        height=size,
        width=size,
        num_labels=loaded.num_labels,
    )


@contextlib.contextmanager
def attention_implementation(model, name: str):
    previous = model.config._attn_implementation
    model.set_attn_implementation(name)
    try:
        yield
    finally:
        model.set_attn_implementation(previous)


@contextlib.contextmanager
def quiet_exporter():
    """The dynamo exporter logs torchvision registration misses and deprecation warnings that
    say nothing about this model; keep the user's terminal for our progress lines."""
    import logging
    import warnings

    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            yield
    finally:
        logger.setLevel(level)


def _forget_exported_graph() -> None:
    """onnxscript 0.7's rewrite rules (module-level objects) keep the last graph they matched, and
    its initializers wrap the torch parameters, so the eager weights outlived the model: 4.1 GiB on
    ViT-g on top of every later step. Drop those references (private state: the export tests check
    that the weights are freed, so an onnxscript that changes it is caught)."""
    import gc

    from onnxscript.rewriter._matcher import SimplePatternMatcher

    for matcher in (o for o in gc.get_objects() if isinstance(o, SimplePatternMatcher)):
        matcher._graph = None
        matcher._current_node = None
        matcher._match = None
    gc.collect()


@dataclass
class OnnxFromModel:
    """Loader: trace ``loaded`` to ``<output_dir>/<name>`` and return the written file paths
    (the .onnx first, then its external data file if the weights exceed 1.8 GB). ``opset`` is
    checked by the export first (export_checks.check_opset)."""

    loaded: LoadedModel
    output_dir: Path
    spec: ExportSpec
    opset: int = DEFAULT_OPSET
    image_size: int | None = None
    max_batch: int = 64
    name: str = "model.onnx"

    def __call__(self) -> list[Path]:
        torch = _torch()
        module = export_module(self.loaded, self.image_size)
        _, channels, height, width = self.spec.inputs[0].shape
        dummy = torch.zeros(2, channels, height, width)
        # the spec's dynamic axes, as torch.export dims (the batch one bounded by the artifact's range)
        dims = {BATCH: torch.export.Dim(BATCH, min=1, max=max(self.max_batch, 2))}
        axes = self.spec.dynamic_axes
        dynamic_shapes = tuple(
            {axis: dims.setdefault(name, torch.export.Dim(name)) for axis, name in axes.get(t.name, {}).items()}
            for t in self.spec.inputs
        )
        path = Path(self.output_dir) / self.name
        path.parent.mkdir(parents=True, exist_ok=True)
        param_bytes = sum(p.numel() * p.element_size() for p in module.parameters())
        external = param_bytes > EXTERNAL_DATA_THRESHOLD
        with attention_implementation(self.loaded.model, "eager"), torch.no_grad(), quiet_exporter():
            program = torch.onnx.export(
                module,
                (dummy,),
                dynamo=True,
                input_names=self.spec.input_names,
                output_names=self.spec.output_names,
                dynamic_shapes=dynamic_shapes,
                opset_version=self.opset,
                optimize=True,
                verbose=False,
            )
        program.save(str(path), external_data=external)
        del program
        _forget_exported_graph()
        files = [path]
        data = path.with_name(path.name + ".data")
        if external:
            if not data.is_file():
                raise BackendError(str(path), "exporter wrote no external data file", f"{data.name} beside the graph")
            files.append(data)
        return files
