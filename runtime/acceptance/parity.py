"""Numerical parity of a candidate runner (ONNX Runtime, OpenVINO, TensorRT) against eager
PyTorch's saved outputs (:mod:`.reference`), on any host.

The candidate runs the reference photos at every requested batch size (so batch-dependent kernels
are covered) and each output is compared per image: cosine similarity of the flattened output and
max/mean absolute error. Thresholds are per precision and per output; any miss fails the check.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ijepa_deploy.manifest import Manifest
from ijepa_deploy.records import BatchStats, EngineProfile, OutputParity, ParityResult
from ijepa_deploy.runtime.acceptance.reference import ReferenceOutputs, tile
from ijepa_deploy.runtime.acceptance.retrieval import DEFAULT_K, RetrievalCheck
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
    """Compare ``candidate`` with the saved ``reference`` at every batch size: a batch of n runs the
    reference photos (``pixels``, preprocessed on this host) cycled to n rows, so every row has a
    reference whatever the batch; ``last_hidden_state`` is compared on the rows and tokens the
    reference keeps. ``thresholds``: (min cosine, max abs) per output, default THRESHOLDS[precision]."""

    reference: ReferenceOutputs
    pixels: np.ndarray
    candidate: Runner
    precision: str = "fp32"
    batch_sizes: tuple[int, ...] = DEFAULT_BATCH_SIZES
    thresholds: dict[str, tuple[float, float | None]] | None = None

    def __call__(self, graph: str, progress=None) -> ParityResult:
        thresholds = {**THRESHOLDS[self.precision], **(self.thresholds or {})}
        per_batch: dict[str, dict[str, BatchStats]] = {}
        worst: dict[str, dict] = {}
        for n in self.batch_sizes:
            if progress:
                progress(f"{self.candidate.backend} {graph} batch {n}")
            got = self.candidate.run(tile(self.pixels, n))
            per_batch[str(n)] = {}
            for name, (rows, expected) in self.reference.expected(n).items():
                stats = compare_outputs(expected, self.reference.view(name, got[name][rows]))
                per_batch[str(n)][name] = BatchStats(min_cosine=stats["min_cosine"], max_abs=stats["max_abs"])
                w = worst.setdefault(name, dict(stats))
                w["min_cosine"] = min(w["min_cosine"], stats["min_cosine"]) if stats["finite"] else float("nan")
                w["max_abs"] = max(w["max_abs"], stats["max_abs"])
                w["mean_abs"] = max(w["mean_abs"], stats["mean_abs"])
                w["finite"] = w["finite"] and stats["finite"]
        outputs = {}
        for name, stats in worst.items():
            min_cos, max_abs = thresholds.get(name, (0.99, None))
            ok = stats["finite"] and stats["min_cosine"] >= min_cos and (max_abs is None or stats["max_abs"] <= max_abs)
            outputs[name] = OutputParity(
                min_cosine=stats["min_cosine"],
                max_abs=stats["max_abs"],
                mean_abs=stats["mean_abs"],
                cosine_threshold=min_cos,
                max_abs_threshold=max_abs,
                passed=bool(ok),
            )
        distinct = min(max(self.batch_sizes), len(self.reference.names))
        return ParityResult(
            graph=graph,
            precision=self.precision,
            backend=self.candidate.backend,
            reference=self.reference.reference,
            images=list(self.reference.names[:distinct]),
            batch_sizes=list(self.batch_sizes),
            outputs=outputs,
            per_batch=per_batch,
            passed=all(o.passed for o in outputs.values()),
        )


@dataclass
class ReferenceParity:
    """Everything a graph or engine is checked on, one call per candidate: the per-output parity at
    each batch size and (``neighbours``) the overlap of each photo's nearest neighbours."""

    reference: ReferenceOutputs
    pixels: np.ndarray
    k: int = DEFAULT_K

    def __call__(
        self,
        candidate: Runner,
        graph: str,
        precision: str,
        batch_sizes: tuple[int, ...],
        *,
        thresholds: dict | None = None,
        neighbours: bool = True,
        engine: str | None = None,
        progress=None,
    ) -> ParityResult:
        say = progress or (lambda _: None)
        result = ParityCheck(self.reference, self.pixels, candidate, precision, tuple(batch_sizes), thresholds)(
            graph, progress
        )
        if neighbours:
            [output] = self.reference.outputs
            say(f"neighbour overlap@{self.k} over {len(self.pixels)} images")
            check = RetrievalCheck(self.pixels, self.reference.names, output, self.k, self.reference.outputs[output])
            result.add_retrieval(check(candidate, precision))
        result.engine = engine
        return result


def export_thresholds(manifest: Manifest, graph: str, precision: str) -> dict | None:
    """The thresholds the export checked ``graph`` at ``precision`` with (INT8's are its target
    cosine): engines built from that graph and checks on other hosts are held to the same."""
    row = next((r for r in manifest.parity if r.graph == graph and r.precision == precision and r.engine is None), None)
    return {name: (o.cosine_threshold, o.max_abs_threshold) for name, o in row.outputs.items()} if row else None


def profile_batch_sizes(profile: EngineProfile) -> tuple[int, ...]:
    """min, opt, max of an engine profile and an odd size strictly between min and max (the one
    nearest their midpoint that is not already listed), ascending."""
    lo, opt, hi = profile.min, profile.opt, profile.max
    sizes = {lo, opt, hi}
    middle = (lo + hi) // 2
    odd = [n for n in range(lo + 1, hi) if n % 2 and n not in sizes]
    if odd:
        sizes.add(min(odd, key=lambda n: (abs(n - middle), n)))
    return tuple(sorted(sizes))
