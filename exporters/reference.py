"""Eager PyTorch, the reference: the HF model exactly as a user runs it (default SDPA attention,
``interpolate_pos_encoding=True`` when the artifact's resolution differs), and the saved reference
outputs computed with it once per export (:class:`ReferenceFromModel`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ijepa_deploy.contract import PreprocessConfig
from ijepa_deploy.exporters.models import LoadedModel, load_model, parse_model_source
from ijepa_deploy.manifest import Manifest
from ijepa_deploy.runtime.acceptance.reference import HIDDEN, ReferenceOutputs, hidden_tokens, pixel_digest
from ijepa_deploy.runtime.photos import photo_arrays
from ijepa_deploy.runtime.preprocess import Preprocessor
from ijepa_deploy.runtime.runner import Runner
from ijepa_deploy.spec import ExportSpec, primary_output


class TorchRunner(Runner):
    backend = "torch-eager"

    def __init__(self, loaded: LoadedModel, spec: ExportSpec, min_batch: int = 1, max_batch: int = 64):
        super().__init__(spec, min_batch, max_batch)
        self.loaded = loaded
        height = spec.inputs[0].shape[2]
        self.interpolate = height != loaded.info["image_size"]

    def _run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import torch

        pixels = torch.from_numpy(feed["pixel_values"])
        with torch.inference_mode():
            out = self.loaded.model(pixel_values=pixels, interpolate_pos_encoding=self.interpolate)
        if self.loaded.task == "feature-extraction":
            hidden = out.last_hidden_state
            return {"last_hidden_state": hidden.numpy(), "embedding": hidden.mean(dim=1).numpy()}
        return {"logits": out.logits.numpy()}


def eager_from_manifest(manifest: Manifest) -> LoadedModel:
    """The eager model an artifact was exported from: its recorded source (hub id at the recorded
    revision, local directory, or seeded preset with the recorded seed), with the default SDPA
    attention a user gets from ``from_pretrained``."""
    info = manifest.model
    source = parse_model_source(info.source, info.revision)
    return load_model(source, manifest.task, seed=info.seed or 0)


REFERENCE_CHUNK = 8  # eager batches: bounds the reference's activation memory


@dataclass
class ReferenceFromModel:
    """Loader: eager fp32's outputs on ``count`` photos (``paths``, default the bundled ones) ->
    :class:`ReferenceOutputs`, the first ``parity_images`` with their last_hidden_state summary."""

    loaded: LoadedModel
    spec: ExportSpec
    preprocess: PreprocessConfig
    count: int
    parity_images: int
    paths: list[Path] | None = None

    def __call__(self) -> ReferenceOutputs:
        preprocess = Preprocessor(self.preprocess)
        images, names = photo_arrays(preprocess, max(self.count, self.parity_images), self.paths)
        pixels = preprocess(list(images))
        runner = TorchRunner(self.loaded, self.spec, 1, REFERENCE_CHUNK)
        primary = primary_output(self.loaded.task)
        pooled, hidden = [], []
        tokens = hidden_tokens(self.spec.outputs[0].shape[1]) if self.loaded.task == "feature-extraction" else None
        for start in range(0, len(pixels), REFERENCE_CHUNK):
            out = runner.run(pixels[start : start + REFERENCE_CHUNK])
            pooled.append(out[primary])
            if tokens is not None and start < self.parity_images:
                hidden.append(out[HIDDEN][:, tokens])
        return ReferenceOutputs(
            images=images,
            names=names,
            digests=[pixel_digest(p) for p in pixels],
            outputs={primary: np.concatenate(pooled)},
            parity_images=self.parity_images,
            hidden=np.concatenate(hidden)[: self.parity_images] if hidden else None,
            tokens=tokens,
            reference=runner.backend,
        )
