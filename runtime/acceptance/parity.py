"""Numerical parity of a candidate runner (ONNX Runtime, OpenVINO, TensorRT) against eager PyTorch's outputs.

Both run the same preprocessed real photos. The reference runs once on the largest batch; the
candidate runs at every requested batch size (so batch-dependent kernels are covered) and each
output is compared per image: cosine similarity of the flattened output and max/mean absolute
error. Thresholds are per precision and per output; any miss fails the whole check.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ijepa_deploy.errors import IJepaDeployError
from ijepa_deploy.records import BatchStats, OutputParity, ParityResult
from ijepa_deploy.runtime.runner import Runner

# (minimum cosine, maximum absolute error or None = reported, not gated)
THRESHOLDS: dict[str, dict[str, tuple[float, float | None]]] = {
    "fp32": {"embedding": (0.99999, 1e-3), "logits": (0.99999, 1e-3), "last_hidden_state": (0.9999, 1e-2)},
    "fp16": {"embedding": (0.999, 5e-2), "logits": (0.999, 5e-2), "last_hidden_state": (0.99, None)},
    "int8": {"embedding": (0.99, None), "logits": (0.99, None), "last_hidden_state": (0.95, None)},
    # OpenVINO's bf16 inference mode on the fp32 graph (8-bit mantissa activations, f32 accumulation).
    "bf16": {"embedding": (0.9999, None), "logits": (0.9999, None), "last_hidden_state": (0.999, None)},
}
DEFAULT_BATCH_SIZES = (1, 2, 5)


def compare_outputs(ref: np.ndarray, got: np.ndarray) -> dict:
    """Per-image cosine of the flattened outputs (min and mean over the batch) and abs error."""
    ref64 = ref.reshape(len(ref), -1).astype(np.float64)
    got64 = got.reshape(len(got), -1).astype(np.float64)
    denom = np.linalg.norm(ref64, axis=1) * np.linalg.norm(got64, axis=1)
    cos = np.where(denom > 0, (ref64 * got64).sum(axis=1) / np.maximum(denom, 1e-300), 0.0)
    diff = np.abs(ref64 - got64)
    finite = bool(np.isfinite(got64).all())
    return {
        "min_cosine": float(cos.min()) if finite else float("nan"),
        "mean_cosine": float(cos.mean()) if finite else float("nan"),
        "max_abs": float(diff.max()) if finite else float("inf"),
        "mean_abs": float(diff.mean()) if finite else float("inf"),
        "finite": finite,
    }


@dataclass
class ParityCheck:
    """Compare ``candidate`` against ``reference`` on ``pixels`` at ``batch_sizes``."""

    reference: Runner
    candidate: Runner
    precision: str = "fp32"
    batch_sizes: tuple[int, ...] = DEFAULT_BATCH_SIZES
    reference_outputs: dict | None = None

    def __call__(self, pixels: np.ndarray, image_names: list[str], graph: str, progress=None) -> ParityResult:
        if max(self.batch_sizes) > len(pixels):
            raise IJepaDeployError("parity", f"batch size {max(self.batch_sizes)} but {len(pixels)} images",
                                   "at least as many images as the largest batch")
        thresholds = THRESHOLDS[self.precision]
        if self.reference_outputs is None:
            self.reference_outputs = self.reference.run(pixels[: max(self.batch_sizes)])
        ref = self.reference_outputs
        per_batch: dict[str, dict[str, BatchStats]] = {}
        worst: dict[str, dict] = {}
        for n in self.batch_sizes:
            if progress:
                progress(f"{self.candidate.backend} {graph} batch {n}")
            got = self.candidate.run(pixels[:n])
            per_batch[str(n)] = {}
            for name in ref:
                stats = compare_outputs(ref[name][:n], got[name])
                per_batch[str(n)][name] = BatchStats(min_cosine=stats["min_cosine"], max_abs=stats["max_abs"])
                w = worst.setdefault(name, dict(stats))
                w["min_cosine"] = min(w["min_cosine"], stats["min_cosine"]) if stats["finite"] else float("nan")
                w["max_abs"] = max(w["max_abs"], stats["max_abs"])
                w["finite"] = w["finite"] and stats["finite"]
        outputs = {}
        for name, stats in worst.items():
            min_cos, max_abs = thresholds.get(name, (0.99, None))
            ok = stats["finite"] and stats["min_cosine"] >= min_cos and (max_abs is None or stats["max_abs"] <= max_abs)
            outputs[name] = OutputParity(min_cosine=stats["min_cosine"], max_abs=stats["max_abs"],
                                         mean_abs=stats["mean_abs"], cosine_threshold=min_cos,
                                         max_abs_threshold=max_abs, passed=bool(ok))
        return ParityResult(
            graph=graph, precision=self.precision, backend=self.candidate.backend,
            reference=self.reference.backend, images=list(image_names[: max(self.batch_sizes)]),
            batch_sizes=list(self.batch_sizes), outputs=outputs, per_batch=per_batch,
            passed=all(o.passed for o in outputs.values()),
        )
