"""Neighbour agreement: does a reduced-precision graph retrieve the same images as eager fp32?

Cosine/max-abs parity says each vector is close to its reference; retrieval cares whether the
*ranking* between images survives. For N images (the saved reference photos: the parity photos
plus deterministic variants) both sides embed all N; for every image the k nearest others by
cosine are taken in each space and overlap@k = |ref top-k  intersect  candidate top-k| / k,
averaged over images. Near-duplicate variants (a photo and its mirror) make the ranking
sensitive, which is the point.

Reported in the parity result under ``retrieval`` and gated by ``OVERLAP_THRESHOLDS``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ijepa_deploy.errors import InputError
from ijepa_deploy.records import RetrievalResult
from ijepa_deploy.runtime.runner import Runner

DEFAULT_K = 5
DEFAULT_IMAGES = 24
# Mean overlap@k below these fails the precision check. Measured on the random presets (see
# tests/exporters/test_precision_graphs.py): fp16 1.0, int8 >= 0.9. Random-weight models embed every photo
# in nearly the same direction, the hardest case for ranking; trained checkpoints separate better.
OVERLAP_THRESHOLDS = {"fp32": 0.99, "fp16": 0.9, "bf16": 0.9, "int8": 0.7}


def run_chunked(runner: Runner, pixels: np.ndarray, output: str) -> np.ndarray:
    step = max(1, int(runner.max_batch))
    return np.concatenate([runner.run(pixels[i : i + step])[output] for i in range(0, len(pixels), step)])


def _top_k(vectors: np.ndarray, k: int) -> np.ndarray:
    v = vectors.reshape(len(vectors), -1).astype(np.float64)
    v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-300)
    sim = v @ v.T
    np.fill_diagonal(sim, -np.inf)
    # stable sort so ties (identical images) break the same way on both sides
    return np.argsort(-sim, axis=1, kind="stable")[:, :k]


def neighbour_overlap(reference: np.ndarray, candidate: np.ndarray, k: int = DEFAULT_K) -> dict:
    """Mean/min overlap@k and top-1 agreement of candidate vs reference nearest neighbours."""
    n = len(reference)
    if n != len(candidate):
        raise InputError(
            "neighbour check", f"{n} reference vs {len(candidate)} candidate vectors", "the same images on both sides"
        )
    if n <= k:
        raise InputError("neighbour check", f"{n} images for k={k}", f"more than k={k} images")
    ref, got = _top_k(reference, k), _top_k(candidate, k)
    overlaps = np.array([len(set(a) & set(b)) / k for a, b in zip(ref, got)])
    return {
        "k": k,
        "images": n,
        "mean_overlap": float(overlaps.mean()),
        "min_overlap": float(overlaps.min()),
        "top1_agreement": float(np.mean(ref[:, 0] == got[:, 0])),
    }


@dataclass
class RetrievalCheck:
    """The candidate embeds ``pixels``; its neighbours are compared with those of ``reference_vectors``
    (eager fp32's vectors for the same photos)."""

    pixels: np.ndarray
    names: list[str]
    output: str
    k: int
    reference_vectors: np.ndarray

    def __call__(self, candidate: Runner, precision: str) -> RetrievalResult:
        got = run_chunked(candidate, self.pixels, self.output)
        overlap = neighbour_overlap(self.reference_vectors, got, self.k)
        threshold = OVERLAP_THRESHOLDS.get(precision, 0.7)
        finite = bool(np.isfinite(got).all())
        return RetrievalResult(
            **overlap,
            output=self.output,
            threshold=threshold,
            passed=bool(finite and overlap["mean_overlap"] >= threshold),
            image_names=list(self.names),
        )
