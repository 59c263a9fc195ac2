"""Per-GEMM INT8 sensitivity: the embedding (or logits) cosine against eager fp32 when only that
GEMM is INT8, on held-out photos (not calibration images).

Doing that with one full graph per GEMM would cost a whole forward pass and a whole session per
GEMM (hundreds for ViT-g). The graph is a chain, so :class:`GraphChain` cuts the fp32 graph at the
block boundaries (the inputs of each block's first LayerNorm) into small ONNX Runtime sessions:
prefix (patch embedding), one per block, head. The held-out photos run through the chain once and
every boundary activation is kept; a GEMM in block b is then measured by running only block b with
that GEMM's Q/DQ (copied from the all-INT8 graph, so scales and int8 weights are exactly the ones
that ship) and the fp32 blocks after it. Every part reads its weights from the fp32 graph's own
files; nothing is copied.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ijepa_deploy.errors import ArtifactError, ParityError
from ijepa_deploy.exporters.precision.calibration import scratch_path
from ijepa_deploy.exporters.precision.gemms import Gemm, load_structure
from ijepa_deploy.exporters.precision.onnx_files import _onnx, clear_graph, quiet_ort_logs


def min_cosine(reference: np.ndarray, candidate: np.ndarray) -> float:
    """Smallest per-image cosine of the flattened outputs (NaN anywhere: 0)."""
    a = reference.reshape(len(reference), -1).astype(np.float64)
    b = candidate.reshape(len(candidate), -1).astype(np.float64)
    if not np.isfinite(b).all():
        return 0.0
    denom = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return float(np.min(np.where(denom > 0, (a * b).sum(axis=1) / np.maximum(denom, 1e-300), 0.0)))


def _session(path: Path, threads: int | None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: the parts' warnings say nothing to a user
    # Many small sessions run one after another: threads that spin after their run would compete
    # with the next session's (measured: 30x slower on a ViT-S chain).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if threads:
        options.intra_op_num_threads = int(threads)
    with quiet_ort_logs():
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


@dataclass
class _Part:
    name: str
    model: object  # onnx.ModelProto, structure (weights stay in the graph's files)
    inputs: list[str]
    outputs: list[str]
    session: object = None


class GraphChain:
    """The fp32 ``graph`` as prefix -> blocks -> head sessions (see the module docstring). Each part is
    written as a scratch graph (calibration.scratch_path) only until ONNX Runtime has read it."""

    def __init__(self, graph: Path, workdir: Path, threads: int | None = None):
        onnx = _onnx()
        self.graph, self.workdir, self.threads = Path(graph), Path(workdir), threads
        model = load_structure(self.graph)
        norms = [n for n in model.graph.node if n.op_type == "LayerNormalization"]
        blocks = len(norms) // 2
        cuts = [norms[2 * b].input[0] for b in range(blocks)] + [norms[-1].input[0]]
        names = ["prefix"] + [f"block{b}" for b in range(blocks)] + ["head"]
        ends = [[i.name for i in model.graph.input], *[[c] for c in cuts], [o.name for o in model.graph.output]]
        extractor = onnx.utils.Extractor(model)
        self.parts = [
            _Part(name, extractor.extract_model(ends[i], ends[i + 1]), ends[i], ends[i + 1])
            for i, name in enumerate(names)
        ]
        self.files: list[Path] = []
        for part in self.parts:
            part.session = self._open(part.model, part.name)

    def _open(self, model, name: str):
        path = scratch_path(self.graph, self.workdir, f"part-{name}.onnx")
        clear_graph(path)
        _onnx().save_model(model, str(path))
        self.files.append(path)
        try:
            return _session(path, self.threads)
        finally:
            path.unlink(missing_ok=True)  # ONNX Runtime has read it

    def part_of(self, gemm: Gemm) -> int:
        if gemm.role == "patch":
            return 0
        return len(self.parts) - 1 if gemm.block is None else gemm.block + 1

    def boundaries(self, pixels: np.ndarray) -> list[dict]:
        """The input feed of every part for ``pixels`` (fp32 all the way); the last entry is the
        head's outputs."""
        feeds = [{self.parts[0].inputs[0]: pixels}]
        for part in self.parts:
            values = part.session.run(part.outputs, feeds[-1])
            feeds.append(dict(zip(part.outputs, values)))
        return feeds

    def run_from(self, index: int, session, feed: dict) -> dict:
        """Outputs of the chain when part ``index`` is replaced by ``session`` for this feed."""
        values = session.run(self.parts[index].outputs, feed)
        feed = dict(zip(self.parts[index].outputs, values))
        for part in self.parts[index + 1 :]:
            feed = dict(zip(part.outputs, part.session.run(part.outputs, feed)))
        return feed

    def with_int8(self, index: int, gemm: Gemm, quantized) -> object:
        """A session for part ``index`` with only ``gemm`` in INT8, its Q/DQ nodes and tensors taken
        from ``quantized`` (a :class:`QuantizedGraph`)."""
        onnx = _onnx()
        model = onnx.ModelProto()
        model.CopyFrom(self.parts[index].model)
        nodes, inits = quantized.qdq_for(gemm.node)
        target = next(n for n in model.graph.node if n.name == gemm.node)
        for slot, name in quantized.dequantized_inputs(gemm.node).items():
            target.input[slot] = name
        model.graph.node.extend(nodes)
        model.graph.initializer.extend(inits)
        sorted_model = _toposorted(model)
        return self._open(sorted_model, f"{self.parts[index].name}-{gemm.node}")

    def close(self) -> None:
        for part in self.parts:
            part.session = None
        for path in self.files:
            clear_graph(path)


def _toposorted(model):
    """``model`` with its nodes in topological order (the copied Q/DQ nodes were appended)."""
    nodes = list(model.graph.node)
    known = {i.name for i in model.graph.input} | {i.name for i in model.graph.initializer} | {""}
    ordered, pending = [], nodes
    while pending:
        ready = [n for n in pending if all(i in known for i in n.input)]
        if not ready:
            raise ArtifactError(
                "INT8 sensitivity", "a graph part has a cycle or a missing input", "a graph exported by ijepa-export"
            )
        for n in ready:
            known.update(n.output)
        ordered += ready
        pending = [n for n in pending if n not in ready]
    del model.graph.node[:]
    model.graph.node.extend(ordered)
    return model


class QuantizedGraph:
    """The all-INT8 Q/DQ graph (fp32 base, from onnxruntime.quantization), read for the Q/DQ that
    feed each GEMM. Weights are read tensor by tensor from its data file (never all at once)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.model = load_structure(self.path)
        self.producer = {o: n for n in self.model.graph.node for o in n.output}
        self.inits = {i.name: i for i in self.model.graph.initializer}
        self.nodes = {n.name: n for n in self.model.graph.node}

    def dequantized_inputs(self, node: str) -> dict[int, str]:
        """Which inputs of ``node`` come from a DequantizeLinear (slot -> DQ output name)."""
        found = {}
        for slot, name in enumerate(self.nodes[node].input[:2]):
            producer = self.producer.get(name)
            if producer is not None and producer.op_type == "DequantizeLinear":
                found[slot] = name
        if not found:
            raise ArtifactError(
                "INT8 sensitivity", f"{node} has no Q/DQ in the INT8 graph", "every MatMul/Gemm/Conv quantized"
            )
        return found

    def qdq_for(self, node: str) -> tuple[list, list]:
        """Copies of the Q/DQ nodes feeding ``node`` and of the tensors they read (scales, zero
        points, int8 weights loaded into the copy)."""
        from onnx import numpy_helper

        nodes, inits, copied = [], [], set()
        for name in self.dequantized_inputs(node).values():
            dq = self.producer[name]
            chain = [dq]
            quant = self.producer.get(dq.input[0])
            if quant is not None and quant.op_type == "QuantizeLinear":
                chain.insert(0, quant)
            for n in chain:
                nodes.append(n)
                for tensor in n.input:
                    if tensor in self.inits and tensor not in copied:
                        copied.add(tensor)
                        array = numpy_helper.to_array(self.inits[tensor], base_dir=str(self.path.parent))
                        inits.append(numpy_helper.from_array(array, tensor))
        return nodes, inits


@dataclass
class SensitivityResult:
    gemm: Gemm
    min_cosine: float

    def to_dict(self) -> dict:
        return {"gemm": self.gemm.label, "node": self.gemm.node, "min_cosine": round(self.min_cosine, 7)}


def measure_sensitivity(
    fp32_graph: Path,
    int8_graph: Path,
    workdir: Path,
    gemms: list[Gemm],
    pixels: np.ndarray,
    reference: np.ndarray,
    output: str,
    threads: int | None = None,
    progress=None,
) -> tuple[list[SensitivityResult], dict]:
    """The ``output`` cosine (min over ``pixels``) vs ``reference`` with only each GEMM in INT8."""
    start = time.perf_counter()
    chain = GraphChain(fp32_graph, workdir, threads)
    try:
        quantized = QuantizedGraph(int8_graph)
        feeds = chain.boundaries(pixels)
        fp32_cos = min_cosine(reference, feeds[-1][output])
        if fp32_cos < 0.9999:  # the cut chain must be the fp32 graph itself
            raise ParityError(
                "INT8 sensitivity",
                f"the fp32 graph cut into parts gives cosine {fp32_cos:.6f}",
                "the same outputs as the whole graph (>= 0.9999)",
            )
        results = []
        for i, gemm in enumerate(gemms, 1):
            index = chain.part_of(gemm)
            session = chain.with_int8(index, gemm, quantized)
            got = chain.run_from(index, session, feeds[index])[output]
            results.append(SensitivityResult(gemm, min_cosine(reference, got)))
            if progress and (i == len(gemms) or i % 16 == 0):
                progress(f"sensitivity {i}/{len(gemms)} GEMMs")
    finally:
        chain.close()
    info = {
        "images": int(len(pixels)),
        "output": output,
        "fp32_chain_min_cosine": round(fp32_cos, 7),
        "seconds": round(time.perf_counter() - start, 2),
    }
    return results, info
