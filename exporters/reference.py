"""Eager PyTorch reference runner: the HF model exactly as a user runs it (default SDPA
attention, ``interpolate_pos_encoding=True`` when the artifact's resolution differs)."""

from __future__ import annotations

import numpy as np

from ijepa_deploy.exporters.models import LoadedModel, load_model, parse_model_source
from ijepa_deploy.manifest import Manifest
from ijepa_deploy.runtime.runner import Runner
from ijepa_deploy.spec import ExportSpec


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
