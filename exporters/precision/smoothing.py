"""SmoothQuant-style equivalent transform for INT8: trained ViTs put a few LayerNorm output channels
far above the rest, and one per-tensor activation scale then leaves the other channels a handful
of int8 steps. For each block LayerNorm and the weight GEMMs reading it (LN -> q, k, v and
LN -> fc1), channel j of the LN output is divided by s_j and row j of the weights multiplied by
s_j, folded into the LN's gamma/beta and the weights, so the graph computes the same function and
keeps plain per-tensor activation Q/DQ on GEMM inputs (what TensorRT compiles).

    s_j = max|X_j|^alpha / max|W_j|^(1 - alpha)

alpha (the migration strength) is chosen per LayerNorm on the calibration images by measured
error: the int8-simulated output of the group's GEMMs (per-tensor symmetric activations,
per-channel symmetric weights, as the Q/DQ graph quantizes them) against the float output, over a
seeded sample of calibration tokens; "no smoothing" is a candidate too, so a group is only
rescaled when that lowers its error.

ONNX Runtime's ``quantize_static(extra_options={"SmoothQuant": True})`` needs neural-compressor 2.x
and inserts per-channel ``Mul`` nodes instead of folding them into the LayerNorm; NNCF's
SmoothQuant places Q/DQ before the attention reshapes. Neither keeps the graph's rules, so the
fold is done here (README, "INT8").
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ijepa_deploy.exporters.precision import onnx_files
from ijepa_deploy.exporters.precision.calibration import scratch_path
from ijepa_deploy.exporters.precision.gemms import SmoothingGroup, find_gemms, load_structure, smoothing_groups
from ijepa_deploy.exporters.precision.onnx_files import _onnx, clear_graph, graph_bytes, quiet_ort_logs, written
from ijepa_deploy.memory import peak_rss_gib

ALPHAS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
SAMPLE_TOKENS = 512  # calibration tokens per LayerNorm on which each alpha's error is measured
QMAX = 127.0  # symmetric int8, as onnxruntime.quantization computes scales for signed symmetric ranges
SCALE_LIMITS = (1e-5, 1e5)


def quantize_sym(x: np.ndarray, absmax: np.ndarray | float) -> np.ndarray:
    """Symmetric int8 quantize-dequantize with the scale absmax / 127 (per tensor or per column)."""
    scale = np.maximum(np.asarray(absmax, dtype=np.float64), 1e-30) / QMAX
    return (np.clip(np.round(x / scale), -QMAX, QMAX) * scale).astype(np.float32)


def group_error(sample: np.ndarray, act_absmax: float, weights: list[np.ndarray]) -> float:
    """Relative squared error of the int8 GEMMs ``sample @ W`` (activations per tensor at
    ``act_absmax``, weights per output channel) against float, summed over the group's weights."""
    xq = quantize_sym(sample, act_absmax)
    num = den = 0.0
    for w in weights:
        ref = sample @ w
        got = xq @ quantize_sym(w, np.abs(w).max(axis=0))
        num += float(np.square(got - ref, dtype=np.float64).sum())
        den += float(np.square(ref, dtype=np.float64).sum())
    return num / den if den > 0 else 0.0


def smoothing_scales(act_absmax: np.ndarray, weights: list[np.ndarray], alpha: float) -> np.ndarray:
    w_absmax = np.max([np.abs(w).max(axis=1) for w in weights], axis=0)
    live = (act_absmax > 0) & (w_absmax > 0)
    s = np.ones_like(act_absmax, dtype=np.float64)
    s[live] = act_absmax[live] ** alpha / w_absmax[live] ** (1 - alpha)
    return np.clip(s, *SCALE_LIMITS)


@dataclass
class GroupChoice:
    group: str
    alpha: float | None  # None: not rescaled (no alpha beat the unsmoothed error)
    error_before: float
    error_after: float
    scales: np.ndarray = field(repr=False, default=None)  # type: ignore[assignment]

    def to_dict(self) -> dict:
        return {
            "group": self.group,
            "alpha": self.alpha,
            "error_before": float(f"{self.error_before:.4g}"),
            "error_after": float(f"{self.error_after:.4g}"),
        }


def choose_alpha(
    label: str,
    act_absmax: np.ndarray,
    sample: np.ndarray,
    weights: list[np.ndarray],
    alphas: tuple[float, ...] = ALPHAS,
) -> GroupChoice:
    """The alpha with the lowest measured group error, or no rescale when none beats it."""
    before = group_error(sample, float(act_absmax.max()), weights)
    best = GroupChoice(label, None, before, before, np.ones_like(act_absmax))
    for alpha in alphas:
        s = smoothing_scales(act_absmax, weights, alpha)
        error = group_error(
            sample / s.astype(np.float32),
            float((act_absmax / s).max()),
            [w * s[:, None].astype(np.float32) for w in weights],
        )
        if error < best.error_after:
            best = GroupChoice(label, alpha, before, error, s)
    return best


class _StatsSession:
    """The fp32 graph with each group's LayerNorm output exposed, in ONNX Runtime (the temporary
    graph at ``path``, see calibration.scratch_path)."""

    def __init__(self, source: Path, path: Path, outputs: list[str], threads: int | None):
        import onnxruntime as ort

        onnx = _onnx()
        model = load_structure(source)
        have = {o.name for o in model.graph.output}
        for name in outputs:
            if name not in have:
                model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
        self.path = path
        clear_graph(self.path)
        onnx.save_model(model, str(self.path))
        del model
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = int(threads)
        with quiet_ort_logs():
            self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        self.outputs = outputs

    def __call__(self, feed: dict) -> list[np.ndarray]:
        return self.session.run(self.outputs, feed)

    def close(self) -> None:
        self.session = None
        clear_graph(self.path)


def collect_stats(
    source: Path,
    workdir: Path,
    groups: list[SmoothingGroup],
    reader,
    tokens: int = SAMPLE_TOKENS,
    seed: int = 0,
    threads: int | None = None,
    progress=None,
) -> dict[str, tuple]:
    """Per group: (per-channel max |x| over every calibration token, a seeded sample of ``tokens``
    token rows). One pass over ``reader``; memory holds one batch of LN outputs at a time."""
    rng = np.random.default_rng(seed)
    session = _StatsSession(
        Path(source), scratch_path(source, workdir, "stats.onnx"), [g.output for g in groups], threads
    )
    absmax = {g.output: None for g in groups}
    samples: dict[str, list] = {g.output: [] for g in groups}
    per_image = max(1, -(-tokens // max(1, reader.count)))
    try:
        reader.rewind()
        for i, batch in enumerate(reader, 1):
            for name, value in zip(session.outputs, session(batch)):
                flat = value.reshape(-1, value.shape[-1]) if value.ndim == 3 else value.reshape(len(value), -1)
                peak = np.abs(value).reshape(-1, value.shape[-1]).max(axis=0).astype(np.float64)
                absmax[name] = peak if absmax[name] is None else np.maximum(absmax[name], peak)
                rows_per_image = len(flat) // len(value)
                picks = [
                    k * rows_per_image + rng.choice(rows_per_image, min(per_image, rows_per_image), replace=False)
                    for k in range(len(value))
                ]
                samples[name].append(flat[np.concatenate(picks)].astype(np.float32))
            if progress and (i == len(reader) or i % 8 == 0):
                progress(f"channel statistics {reader.images_served}/{reader.count} images")
    finally:
        session.close()
    return {name: (absmax[name], np.concatenate(samples[name])[:tokens]) for name in absmax}


def _weight(model, name: str, base_dir: Path) -> np.ndarray:
    from onnx import numpy_helper

    init = next(i for i in model.graph.initializer if i.name == name)
    return numpy_helper.to_array(init, base_dir=str(base_dir)).astype(np.float32)


def fold(model, group: SmoothingGroup, scales: np.ndarray, base_dir: Path) -> None:
    """Rewrite ``model`` (structure loaded, weights external or inline) so the LayerNorm of
    ``group`` outputs x / s and its GEMMs read s-scaled weight rows. Every changed tensor becomes
    a new initializer read only by this group (the exporter shares identical constants, e.g.
    every LayerNorm's all-ones gamma), so nothing else changes; the ones left unread stay until
    :func:`drop_unused_initializers`."""
    from onnx import numpy_helper

    s = scales.astype(np.float32)
    by_name = {n.name: n for n in model.graph.node}
    norm = by_name[group.norm]
    for slot, name in ((1, group.gamma), (2, group.beta)):
        new = numpy_helper.from_array(_weight(model, name, base_dir) / s, f"{name}.smoothed.{group.norm}")
        model.graph.initializer.append(new)
        norm.input[slot] = new.name
    for gemm in group.gemms:
        node = by_name[gemm.node]
        new = numpy_helper.from_array(
            _weight(model, gemm.weight, base_dir) * s[:, None], f"{gemm.weight}.smoothed.{gemm.node}"
        )
        model.graph.initializer.append(new)
        node.input[1] = new.name


def drop_unused_initializers(model) -> None:
    """Delete the initializers no node reads, in place. Rebuilding the list instead (clear, then
    extend) copies every tensor into the protobuf arena, which frees nothing until the model dies:
    once per folded group that was 9.7 GiB on ViT-B/16."""
    used = {name for n in model.graph.node for name in n.input}
    for index in reversed([i for i, init in enumerate(model.graph.initializer) if init.name not in used]):
        del model.graph.initializer[index]


@dataclass
class Smoothing:
    """The smoothed fp32 graph (a scratch graph, cleaned up with the calibration workdir) and what
    was chosen, for the manifest."""

    graph: Path
    record: dict


@dataclass
class SmoothedFromOnnx:
    """Loader: the fp32 graph -> the same function with outlier channels moved into the weights,
    alpha chosen per LayerNorm on the calibration images (``reader``). Returns a :class:`Smoothing`."""

    source: Path
    reader: object
    tokens: int
    workdir: Path
    seed: int = 0
    threads: int | None = None
    verbose: bool = False

    def __call__(self) -> Smoothing:
        import sys

        say = (lambda s: print(f"[smooth] {s}", file=sys.stderr, flush=True)) if self.verbose else None
        start = time.perf_counter()
        source = Path(self.source)
        model = load_structure(source)
        groups = smoothing_groups(model, find_gemms(model, self.tokens))
        stats = collect_stats(
            source, self.workdir, groups, self.reader, seed=self.seed, threads=self.threads, progress=say
        )
        choices = []
        for group in groups:
            absmax, sample = stats[group.output]
            weights = [_weight(model, g.weight, source.parent) for g in group.gemms]
            choice = choose_alpha(group.label, absmax, sample, weights)
            if choice.alpha is not None:
                fold(model, group, choice.scales, source.parent)
            choices.append(choice)
            del weights
        drop_unused_initializers(model)
        out = scratch_path(source, self.workdir, "smoothed.onnx")
        clear_graph(out)
        external = graph_bytes(source) > onnx_files.EXTERNAL_DATA_THRESHOLD
        if external:  # only the changed tensors go to the new data file; the rest stay in the source's
            _onnx().save_model(
                model,
                str(out),
                save_as_external_data=True,
                all_tensors_to_one_file=True,
                location=out.name + ".data",
                size_threshold=1024,
                convert_attribute=False,
            )
        else:
            _onnx().save_model(model, str(out))
        smoothed = sum(c.alpha is not None for c in choices)
        record = {
            "method": "SmoothQuant equivalent transform, folded into LayerNorm gamma/beta and the next weights",
            "alphas_tried": list(ALPHAS),
            "sample_tokens": int(len(next(iter(stats.values()))[1])),
            "images": self.reader.images_served,
            "groups_smoothed": smoothed,
            "groups": len(choices),
            "choices": [c.to_dict() for c in choices],
            "seconds": round(time.perf_counter() - start, 2),
            "peak_rss_gib": round(peak_rss_gib(), 2),
        }
        if say:
            say(f"{smoothed} of {len(choices)} LayerNorm groups rescaled")
        return Smoothing(graph=written(out)[0], record=record)
