"""The FLOP model: arithmetic cost of one image through an I-JEPA ViT."""

from __future__ import annotations


def model_flops(model_info: dict, task: str, num_labels: int | None = None) -> dict:
    """FLOP per image of an I-JEPA ViT (2 FLOP per multiply-accumulate; matmuls only).

    N tokens (no CLS token in I-JEPA), D hidden, L layers, I MLP width, P patch, C = 3 channels:
      patch embedding (a PxP stride-P conv)   N * D * C * P^2
      per layer: Q, K, V, O projections        4 * N * D^2
                 Q K^T and softmax(.) V        2 * N^2 * D
                 MLP (two matmuls)             2 * N * D * I
      classifier (classification only)         D * labels
    LayerNorm, GELU, softmax, bias and residual adds are O(N*D) and left out (< 0.5 %).
    ViT-H/14 at 224 px: 333.2 GFLOP; ViT-g/16: 404.8 GFLOP.
    """
    d = int(model_info["hidden_size"])
    layers = int(model_info["num_hidden_layers"])
    inter = int(model_info["intermediate_size"])
    patch = int(model_info["patch_size"])
    size = int(model_info.get("export_image_size") or model_info["image_size"])
    n = (size // patch) ** 2
    macs = {
        "patch_embedding": n * d * 3 * patch * patch,
        "qkvo_projections": layers * 4 * n * d * d,
        "attention_matmuls": layers * 2 * n * n * d,
        "mlp": layers * 2 * n * d * inter,
        "classifier": d * int(num_labels or 0) if task == "image-classification" else 0,
    }
    total = 2 * sum(macs.values())
    return {
        "gflop_per_image": total / 1e9,
        "tokens": n,
        "breakdown_gflop": {k: 2 * v / 1e9 for k, v in macs.items()},
        "formula": "2 * [N*D*3*P^2 + L*(4*N*D^2 + 2*N^2*D + 2*N*D*I) + D*labels]",
    }
