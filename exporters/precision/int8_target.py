"""INT8 that meets a cosine target on held-out photos: quantize every GEMM; measure each GEMM's
sensitivity (:mod:`.sensitivity`); when the all-INT8 graph misses the target, keep the most
sensitive GEMMs in higher precision until it holds, and say what that cost.

Each search trial builds both CPU-verifiable forms, the TensorRT placement on an fp32 base (S8S8,
what ``quantize_static`` writes) and the ONNX Runtime CPU form (U8S8), and measures them with ONNX
Runtime on the held-out photos against eager fp32; the lower cosine counts. It aims a little inside
the target (``HEADROOM`` of the error budget) so the graphs that ship (the fp16-based TensorRT graph,
the CPU graph, OpenVINO) still pass their own parity check at the target. How many GEMMs to keep is predicted
from the sensitivities (errors of separately quantized GEMMs roughly add up), checked by quantizing
and measuring, corrected from the measurement, then narrowed by bisection; at most ``MAX_TRIALS``
graphs are built.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ijepa_deploy.errors import ParityError
from ijepa_deploy.exporters.precision.calibration import Calibration
from ijepa_deploy.exporters.precision.gemms import Gemm, find_gemms, int8_flop_share, load_structure
from ijepa_deploy.exporters.precision.int8 import quantize_s8s8, quantize_u8s8
from ijepa_deploy.exporters.precision.onnx_files import clear_graph
from ijepa_deploy.exporters.precision.sensitivity import _session, measure_sensitivity, min_cosine
from ijepa_deploy.memory import peak_rss_gib

DEFAULT_TARGET_COSINE = 0.999
HEADROOM = 0.8  # the search aims at 80 % of the error budget (1 - target)
MAX_TRIALS = 8
# Held-out photos the per-GEMM sensitivity runs on: it costs about half a forward pass per photo and
# GEMM (ViT-g has 322 GEMMs); the target itself is checked on all the held-out photos.
DEFAULT_SENSITIVITY_IMAGES = 2


@dataclass
class Int8Plan:
    """What the search decided: the GEMM nodes kept in higher precision, and the record for the manifest."""

    kept: tuple[str, ...]
    record: dict = field(default_factory=dict)
    worst: list[str] = field(default_factory=list)  # the ten most sensitive GEMMs, printable


def keep_count(deficits: list[float], scale: float, budget: float, at_least: int = 0) -> int:
    """Fewest of the most sensitive GEMMs to keep so the rest's predicted error fits ``budget``:
    ``deficits`` sorted worst first, predicted error = ``scale`` x their sum."""
    tail = np.cumsum(deficits[::-1])[::-1].tolist() + [0.0]  # tail[k]: sum of deficits[k:]
    for k in range(at_least, len(tail)):
        if scale * tail[k] <= budget:
            return k
    return len(deficits)


@dataclass
class Int8Search:
    """Loader-style callable (runs in a child process for big graphs): returns an :class:`Int8Plan`."""

    graph: Path  # the (smoothed) fp32 graph the INT8 graphs are quantized from
    calibration: Calibration
    pixels: np.ndarray  # held-out photos, preprocessed
    names: list[str]
    reference: np.ndarray  # eager fp32's ``output`` on them
    output: str
    tokens: int
    target: float = DEFAULT_TARGET_COSINE
    sensitivity_images: int = DEFAULT_SENSITIVITY_IMAGES
    threads: int | None = None
    verbose: bool = False
    trials: list = field(default_factory=list)

    def _say(self, text: str) -> None:
        if self.verbose:
            import sys

            print(f"[int8 target] {text}", file=sys.stderr, flush=True)

    def _measure(self, exclude: tuple[str, ...], tag: str) -> float:
        """Both CPU-verified forms with ``exclude`` kept: the TensorRT placement (S8S8) and the
        ONNX Runtime CPU form (U8S8); the lower cosine counts."""
        found = {}
        for form, quantize in (("s8s8", quantize_s8s8), ("u8s8", quantize_u8s8)):
            path = Path(self.calibration.cache).parent / f"search-{tag}-{form}.onnx"
            quantize(self.calibration, path, exclude, external=True)
            try:
                session = _session(path, self.threads)
                got = session.run([self.output], {"pixel_values": self.pixels})[0]
                del session
            finally:
                clear_graph(path)
            found[form] = round(min_cosine(self.reference, got), 7)
        cos = min(found.values())
        self.trials.append({"kept": len(exclude), "min_cosine": cos, **found})
        self._say(f"{len(exclude)} GEMMs kept in higher precision: min cosine {cos:.6f} ({found})")
        return cos

    def __call__(self) -> Int8Plan:
        start = time.perf_counter()
        gemms = find_gemms(load_structure(self.graph), self.tokens)
        goal = 1 - HEADROOM * (1 - self.target)
        all_path = Path(self.calibration.cache).parent / "search-all.onnx"
        quantize_s8s8(self.calibration, all_path, (), external=True)
        try:
            count = max(1, min(self.sensitivity_images, len(self.pixels)))
            sensitivity, info = measure_sensitivity(
                self.graph,
                all_path,
                all_path.parent,
                gemms,
                self.pixels[:count],
                self.reference[:count],
                self.output,
                self.threads,
                progress=self._say,
            )
        finally:
            clear_graph(all_path)
        order = sorted(sensitivity, key=lambda r: r.min_cosine)
        kept = self._search([r.gemm for r in order], [max(0.0, 1 - r.min_cosine) for r in order], goal)
        kept_set = set(kept)
        record = {
            "target_cosine": self.target,
            "search_goal": round(goal, 7),
            "output": self.output,
            "held_out_images": list(self.names),
            "trials": list(self.trials),
            "kept": [g.label for g in gemms if g.node in kept_set],
            "kept_nodes": list(kept),
            "int8_gemms": len(gemms) - len(kept),
            "gemms": len(gemms),
            "int8_flop_share": round(int8_flop_share(gemms, kept_set), 4),
            "sensitivity": [r.to_dict() for r in sensitivity],
            "sensitivity_run": info,
            "seconds": round(time.perf_counter() - start, 2),
            "peak_rss_gib": round(peak_rss_gib(), 2),
        }
        worst = [f"{r.gemm.label:<18} {r.min_cosine:.6f}" for r in order[:10]]
        return Int8Plan(kept=tuple(kept), record=record, worst=worst)

    def _search(self, order: list[Gemm], deficits: list[float], goal: float) -> list[str]:
        """The nodes to keep: none if the all-INT8 graphs meet ``goal``, else the fewest of the most
        sensitive found within MAX_TRIALS quantize-and-measure rounds. Each measurement re-fits the
        scale between summed sensitivities and measured error; the next count is predicted from it,
        kept between the largest count known to miss and the smallest known to meet."""
        nodes = [g.node for g in order]
        cos = self._measure((), "k0")
        if cos >= goal:
            return []
        budget, low, high, k = 1 - goal, 0, None, 0
        while len(self.trials) < MAX_TRIALS:
            rest = sum(deficits[k:])
            scale = (1 - cos) / rest if rest > 0 else 1.0
            predicted = keep_count(deficits, scale, budget, at_least=low + 1)
            if high is None:  # grow at least by a quarter: a scale fitted on a miss can stay optimistic
                k = max(predicted, low + max(1, low // 4))
            elif predicted >= high:  # the fit says the smallest count that met is the fewest: check one less
                k = high - 1
            else:
                k = predicted if low < predicted else (low + high) // 2
            if k >= len(nodes) or (high is not None and k in (low, high)):
                break
            cos = self._measure(tuple(nodes[:k]), f"k{k}")
            if cos >= goal:
                high = k
            else:
                low = k
            if high is not None and high - low <= max(1, high // 10):
                break
        if high is None:
            tried = ", ".join(f"{t['kept']} kept: {t['min_cosine']:.6f}" for t in self.trials)
            raise ParityError(
                "--int8-target-cosine",
                f"no INT8 placement reached {self.target} (min cosine on the held-out photos, {tried})",
                "a lower --int8-target-cosine, calibration images from your domain (--calib-dir), or the fp16 graph",
            )
        return nodes[:high]
