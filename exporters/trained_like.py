"""Seeded random weights that behave like trained ViTs where INT8 numerics care.

Trained checkpoints cannot be downloaded on the build machines, and seeded random weights have
none of the activation outliers that break per-tensor INT8 in trained ViTs. ``random:<preset>+outliers``
adds the three that the literature reports (RepQ-ViT, PTQ4ViT, FQ-ViT):

* LayerNorm outputs with a few channels far above the rest: per LayerNorm, ``LN_CHANNELS`` channels'
  gamma and beta multiplied by 25-60 and the next Linear's input columns divided by the same. This
  is function-preserving: the fp32 model computes exactly what it did.
* heavy-tailed fc2 inputs: per block, ``FC_CHANNELS`` fc1 output channels scaled up by
  ``FC_SCALE`` (weight rows and bias) with fc2's matching input columns scaled down (GELU makes
  this a slightly different function, as in a trained model with such channels).
* sharper attention: in every third block the query projection is scaled by ``SHARPEN`` (peakier
  softmax).
"""

from __future__ import annotations

LN_CHANNELS = 4
LN_SCALE = (25.0, 60.0)
FC_CHANNELS = 4
FC_SCALE = 8.0
SHARPEN = 2.5
SHARPEN_EVERY = 3


def add_activation_outliers(model, seed: int) -> None:
    """Apply the three phenomena to an ``IJepaModel`` / ``IJepaForImageClassification`` in place."""
    import torch

    base = getattr(model, "ijepa", model)
    hidden = base.config.hidden_size
    generator = torch.Generator().manual_seed(seed + 1)  # not the weights' own stream

    def pick(n: int, count: int):
        return torch.randperm(n, generator=generator)[:count]

    with torch.no_grad():
        for index, layer in enumerate(base.layers):
            attention, mlp = layer.attention, layer.mlp
            for norm, readers in (
                (layer.layernorm_before, (attention.q_proj, attention.k_proj, attention.v_proj)),
                (layer.layernorm_after, (mlp.fc1,)),
            ):
                channels = pick(hidden, LN_CHANNELS)
                low, high = LN_SCALE
                factors = low + (high - low) * torch.rand(LN_CHANNELS, generator=generator)
                norm.weight[channels] *= factors
                norm.bias[channels] *= factors
                for linear in readers:
                    linear.weight[:, channels] /= factors
            channels = pick(mlp.fc1.out_features, FC_CHANNELS)
            mlp.fc1.weight[channels] *= FC_SCALE
            mlp.fc1.bias[channels] *= FC_SCALE
            mlp.fc2.weight[:, channels] /= FC_SCALE
            if index % SHARPEN_EVERY == 0:
                attention.q_proj.weight *= SHARPEN
                attention.q_proj.bias *= SHARPEN
