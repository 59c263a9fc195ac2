"""Model presets: the architectures of the I-JEPA checkpoint families, as data.

``random:<preset>`` exports an offline model with seeded random weights in these shapes (values
from the checkpoints' config.json). Kept in the core, free of torch, so ``ijepa-export --help``
can list them; loading lives in :mod:`ijepa_deploy.exporters.models`.
"""

from __future__ import annotations

from dataclasses import dataclass

RANDOM_PREFIX = "random:"
# random:<preset>+outliers: the same seeded weights with trained-like activation outliers
# (exporters/trained_like.py), for checking INT8 where the numerics of trained models matter.
OUTLIERS_SUFFIX = "+outliers"


def split_preset(name: str) -> tuple[str, bool]:
    """``"vits16+outliers"`` -> ``("vits16", True)``."""
    if name.endswith(OUTLIERS_SUFFIX):
        return name[: -len(OUTLIERS_SUFFIX)], True
    return name, False


@dataclass(frozen=True)
class Preset:
    """Architecture of a checkpoint family (values from the checkpoints' config.json)."""

    name: str
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    patch_size: int
    image_size: int
    mirrors: tuple[str, ...] = ()
    num_labels: int = 1000

    def config_kwargs(self) -> dict:
        return dict(
            hidden_size=self.hidden_size,
            num_hidden_layers=self.num_hidden_layers,
            num_attention_heads=self.num_attention_heads,
            intermediate_size=self.intermediate_size,
            patch_size=self.patch_size,
            image_size=self.image_size,
            hidden_act="gelu",
            layer_norm_eps=1e-6,
            qkv_bias=True,
            num_channels=3,
        )

    @property
    def num_tokens(self) -> int:
        return (self.image_size // self.patch_size) ** 2


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        # Small models for tests and the offline demo: the same architecture, fewer/smaller layers.
        Preset("tiny", 192, 4, 3, 768, 16, 224, num_labels=10),
        Preset("vits16", 384, 12, 6, 1536, 16, 224),
        Preset("vitb16", 768, 12, 12, 3072, 16, 224),
        # Checkpoint-sized presets.
        Preset("vith14", 1280, 32, 16, 5120, 14, 224, ("facebook/ijepa_vith14_1k", "facebook/ijepa_vith14_22k")),
        Preset("vith16-448", 1280, 32, 16, 5120, 16, 448, ("facebook/ijepa_vith16_1k",)),
        Preset("vitg16", 1408, 40, 16, 6144, 16, 224, ("facebook/ijepa_vitg16_22k",)),
    )
}
