"""The GEMMs of an exported I-JEPA graph, named by what they do.

INT8 decisions are made per GEMM (MatMul / Gemm / Conv): which to smooth, how sensitive each is,
which to keep in higher precision. :func:`find_gemms` reads the fp32 graph's structure (no
weights) and labels every GEMM with its transformer block and role: ``patch`` (the patch
embedding Conv), per block ``q``, ``k``, ``v``, ``scores`` (Q x K^T), ``attn_v`` (softmax x V),
``o``, ``fc1``, ``fc2``, and ``classifier``. The labels come from the graph's wiring, not from
exporter metadata: the LayerNormalization nodes split the chain into blocks (two per block, one
final), and inside a block the data flow says which GEMM is which. :func:`smoothing_groups` pairs
each block LayerNorm with the weight GEMMs that read its output (LN -> q, k, v and LN -> fc1):
the pairs SmoothQuant rescales.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass
from pathlib import Path

from ijepa_deploy.errors import ArtifactError
from ijepa_deploy.exporters.precision.onnx_files import _onnx

GEMM_OPS = ("MatMul", "Gemm", "Conv")
ROLES = ("patch", "q", "k", "v", "scores", "attn_v", "o", "fc1", "fc2", "classifier")
# Ops a tensor passes through unchanged in kind between a projection and the attention MatMuls.
_PASS_THROUGH = ("Add", "Reshape", "Transpose", "Mul", "Div", "Cast", "Identity")


@dataclass(frozen=True)
class Gemm:
    """One GEMM node of the graph: ``node`` is its ONNX node name (stable through quantization)."""

    node: str
    op: str
    role: str  # one of ROLES
    block: int | None  # transformer block; None for patch and classifier
    flops: int  # floating-point operations per image (2 x multiply-adds)
    weight: str | None  # the weight initializer (None for the two attention MatMuls)

    @property
    def label(self) -> str:
        return self.role if self.block is None else f"block{self.block}.{self.role}"


@dataclass(frozen=True)
class SmoothingGroup:
    """A LayerNorm and the weight GEMMs reading its output: rescaling the LN output's channels
    by 1/s and the GEMM weights' input rows by s leaves the function unchanged."""

    norm: str  # LayerNormalization node name
    gamma: str
    beta: str
    output: str  # the LN output tensor the GEMMs read
    gemms: tuple[Gemm, ...]

    @property
    def label(self) -> str:
        roles = (
            "".join(g.role for g in self.gemms)
            if all(len(g.role) == 1 for g in self.gemms)
            else "+".join(g.role for g in self.gemms)
        )
        return f"block{self.gemms[0].block}.ln->{roles}"


class _Graph:
    def __init__(self, model):
        self.nodes = list(model.graph.node)
        self.inits = {i.name: i for i in model.graph.initializer}
        self.producer = {o: n for n in self.nodes for o in n.output}
        self.consumers = collections.defaultdict(list)
        for n in self.nodes:
            for name in n.input:
                self.consumers[name].append(n)
        self.position = {n.name: i for i, n in enumerate(self.nodes)}

    def is_weight(self, name: str) -> bool:
        return name in self.inits

    def downstream(self, tensor: str, stop: tuple[str, ...]) -> list:
        """Nodes of ``stop`` op types reached from ``tensor`` through pass-through ops."""
        found, todo, seen = [], [tensor], set()
        while todo:
            name = todo.pop()
            for node in self.consumers[name]:
                if node.name in seen:
                    continue
                seen.add(node.name)
                if node.op_type in stop:
                    found.append((node, list(node.input).index(name)))
                elif node.op_type in _PASS_THROUGH:
                    todo.extend(node.output)
        return found

    def upstream_op(self, tensor: str) -> str | None:
        """The first non-pass-through op that produced ``tensor``."""
        node = self.producer.get(tensor)
        while node is not None and node.op_type in _PASS_THROUGH:
            node = next((self.producer[i] for i in node.input if i in self.producer), None)
        return node.op_type if node is not None else None


def _norms(graph: _Graph) -> list:
    norms = [n for n in graph.nodes if n.op_type == "LayerNormalization"]
    if len(norms) < 3 or len(norms) % 2 != 1:
        raise ArtifactError(
            "INT8 export",
            f"the graph has {len(norms)} LayerNormalization nodes",
            "an I-JEPA graph exported by ijepa-export (two per block plus the final one)",
        )
    return norms


def _weight_flops(graph: _Graph, node, rows: int) -> int:
    """2 x multiply-adds of a weight GEMM applied to ``rows`` rows (tokens, or 1 pooled vector)."""
    dims = list(graph.inits[node.input[1]].dims)
    if node.op_type == "Conv":  # [out, in, kh, kw]: one output row per token
        return 2 * rows * dims[0] * dims[1] * dims[2] * dims[3]
    return 2 * rows * dims[0] * dims[1]


def _block_role(graph: _Graph, node, pre_norm, post_norm) -> str:
    """The role of a GEMM inside one transformer block, from the data flow around it."""
    a, b = node.input[0], node.input[1]
    if not graph.is_weight(b):
        return "attn_v" if graph.upstream_op(a) == "Softmax" else "scores"
    if a == post_norm.output[0]:
        return "fc1"
    if a == pre_norm.output[0]:
        (target, slot), *_ = graph.downstream(node.output[0], ("MatMul",)) or [(None, None)]
        if target is None:
            raise ArtifactError(
                "INT8 export",
                f"projection {node.name} feeds no attention MatMul",
                "an I-JEPA graph exported by ijepa-export",
            )
        if graph.upstream_op(target.input[0]) == "Softmax":
            return "v"
        return "q" if slot == 0 else "k"
    return "fc2" if graph.upstream_op(a) == "Gelu" else "o"


def find_gemms(model, tokens: int) -> list[Gemm]:
    """Every MatMul/Gemm/Conv of ``model`` (an ``onnx.ModelProto``, weights not needed) with its
    role, block and FLOPs per image at ``tokens`` tokens, in graph order."""
    graph = _Graph(model)
    norms = _norms(graph)
    blocks = len(norms) // 2
    starts = [graph.position[norms[2 * b].name] for b in range(blocks)] + [graph.position[norms[-1].name]]
    found = []
    for node in graph.nodes:
        if node.op_type not in GEMM_OPS:
            continue
        where = graph.position[node.name]
        weight = node.input[1] if graph.is_weight(node.input[1]) else None
        if where < starts[0]:
            block, role = None, "patch"
        elif where > starts[-1]:
            block, role = None, "classifier"
        else:
            block = max(b for b in range(blocks) if starts[b] < where)
            role = _block_role(graph, node, norms[2 * block], norms[2 * block + 1])
        if weight is not None:  # the classifier runs once on the pooled vector, the rest on every token
            flops = _weight_flops(graph, node, 1 if role == "classifier" else tokens)
        else:  # Q x K^T and P x V over all heads: 2 * tokens^2 * hidden
            flops = 2 * tokens * tokens * graph.inits[norms[0].input[1]].dims[0]
        found.append(Gemm(node.name, node.op_type, role, block, int(flops), weight))
    _check_blocks(found, blocks)
    return found


def _check_blocks(gemms: list[Gemm], blocks: int) -> None:
    per_block = collections.Counter(g.block for g in gemms if g.block is not None)
    roles = collections.Counter(g.role for g in gemms)
    want = ("q", "k", "v", "scores", "attn_v", "o", "fc1", "fc2")
    if any(per_block[b] != len(want) for b in range(blocks)) or any(roles[r] != blocks for r in want):
        raise ArtifactError(
            "INT8 export",
            f"unexpected GEMMs per block ({dict(roles)})",
            f"{', '.join(want)} once in each of the {blocks} blocks",
        )


def smoothing_groups(model, gemms: list[Gemm]) -> list[SmoothingGroup]:
    """Each block LayerNorm with the weight GEMMs that read its output directly."""
    graph = _Graph(model)
    by_node = {g.node: g for g in gemms}
    groups = []
    for norm in _norms(graph)[:-1]:
        readers = [by_node[n.name] for n in graph.consumers[norm.output[0]] if n.name in by_node]
        if not readers or any(g.weight is None or g.op != "MatMul" for g in readers) or len(norm.input) < 3:
            continue
        groups.append(SmoothingGroup(norm.name, norm.input[1], norm.input[2], norm.output[0], tuple(readers)))
    return groups


def load_structure(path: Path):
    """The graph without its weights (external data not read)."""
    return _onnx().load(str(path), load_external_data=False)


def int8_flop_share(gemms: list[Gemm], kept: set[str]) -> float:
    total = sum(g.flops for g in gemms)
    return sum(g.flops for g in gemms if g.node not in kept) / total if total else 0.0
