"""fp16 / INT8 precision graphs: what the graphs contain (checked on the graph, not trusted from
the tool), and their parity and neighbour overlap vs eager fp32."""

from __future__ import annotations

import collections

import numpy as np
import onnx
from onnx import numpy_helper

from ijepa_deploy.exporters import precision as prec
from ijepa_deploy.manifest import read_manifest
from ijepa_deploy.presets import PRESETS
from ijepa_deploy.runtime import load
from ijepa_deploy.runtime.acceptance.retrieval import neighbour_overlap
from ijepa_deploy.runtime.model import onnxruntime_variant
from ijepa_deploy.runtime.photos import photo_batch
from ijepa_deploy.runtime.preprocess import Preprocessor

QUANTIZED = {"MatMul", "Gemm", "Conv"}
TINY = PRESETS["tiny"]


def _types(model) -> dict[str, int]:
    inferred = onnx.shape_inference.infer_shapes(model)
    types = {
        v.name: v.type.tensor_type.elem_type
        for v in (*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output)
    }
    types.update({i.name: i.data_type for i in inferred.graph.initializer})
    return types


def _consumers(model) -> dict[str, list]:
    found = collections.defaultdict(list)
    for node in model.graph.node:
        for name in node.input:
            found[name].append(node)
    return found


# -- fp16 -------------------------------------------------------------------------------------------


def test_fp16_graph_keeps_layernorm_and_io_in_fp32(tiny_precision_artifact):
    out = tiny_precision_artifact
    manifest = read_manifest(out)
    entry = manifest.graphs["fp16"]
    assert entry.precision == "fp16"
    model = onnx.load(str(out / entry.file))
    types = _types(model)
    for value in (*model.graph.input, *model.graph.output):
        assert value.type.tensor_type.elem_type == onnx.TensorProto.FLOAT, value.name
    norms = [n for n in model.graph.node if n.op_type == "LayerNormalization"]
    assert len(norms) == 2 * TINY.num_hidden_layers + 1  # two per block + the final norm
    for node in norms:
        for name in (*node.input, *node.output):
            assert types[name] == onnx.TensorProto.FLOAT, (node.name, name)
    matmul_weights = [
        n.input[1]
        for n in model.graph.node
        if n.op_type == "MatMul" and n.input[1] in {i.name for i in model.graph.initializer}
    ]
    assert matmul_weights and all(types[w] == onnx.TensorProto.FLOAT16 for w in matmul_weights)
    onnx.checker.check_model(str(out / entry.file))


def test_fp16_parity(tiny_precision_artifact):
    manifest = read_manifest(tiny_precision_artifact)
    result = next(r for r in manifest.parity if r.graph == "fp16")
    assert result.passed and result.precision == "fp16" and result.batch_sizes == [1, 2, 5]
    assert result.outputs["embedding"].min_cosine >= 0.999
    assert result.retrieval is not None and result.retrieval.mean_overlap >= 0.9


# -- INT8 -------------------------------------------------------------------------------------------


def test_int8_qdq_only_on_matmul_gemm_conv_inputs_symmetric_int8_on_an_fp16_base(tiny_precision_artifact):
    """The TensorRT graph: signed symmetric Q/DQ (zero point 0) only on the inputs of the GEMMs the
    export quantized, per-channel weights, float biases; everything else fp16 except LayerNorm."""
    out = tiny_precision_artifact
    manifest = read_manifest(out)
    entry = manifest.graphs["int8"]
    kept = set(entry.int8_target["kept_nodes"])
    model = onnx.load(str(out / entry.file))
    inits = {i.name: i for i in model.graph.initializer}
    consumers = _consumers(model)
    producers = {o: n for n in model.graph.node for o in n.output}
    types = _types(model)
    qdq = [n for n in model.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")]
    assert qdq
    for node in qdq:
        zero = inits[node.input[2]]
        assert zero.data_type == onnx.TensorProto.INT8, node.name
        assert not numpy_helper.to_array(zero).any(), f"{node.name}: zero point is not 0"
        assert inits[node.input[1]].data_type == onnx.TensorProto.FLOAT16, node.name  # fp16 scales
        if node.op_type == "QuantizeLinear":
            assert {c.op_type for c in consumers[node.output[0]]} == {"DequantizeLinear"}
        else:
            # a DQ output feeds only the ops that are quantized, never LayerNorm/Softmax/Add/Gelu
            assert {c.op_type for c in consumers[node.output[0]]} <= QUANTIZED, node.name
    # every MatMul/Gemm/Conv input the export did not keep is dequantized; weights per output channel
    weight_dq = 0
    for node in model.graph.node:
        if node.op_type not in QUANTIZED:
            continue
        if node.name in kept:
            assert all(producers.get(i) is None or producers[i].op_type != "DequantizeLinear" for i in node.input)
            continue
        for name in node.input[:2]:
            dq = producers[name]
            assert dq.op_type == "DequantizeLinear", (node.name, name)
            if dq.input[0] in inits:  # a weight
                weight_dq += 1
                scale = numpy_helper.to_array(inits[dq.input[1]])
                weight = inits[dq.input[0]]
                assert weight.data_type == onnx.TensorProto.INT8
                channels = weight.dims[0] if node.op_type in ("Conv", "Gemm") else weight.dims[1]
                assert scale.shape == (channels,), (node.name, scale.shape)
        if len(node.input) > 2:  # Conv/Gemm bias stays float (TensorRT has no int32 DQ)
            assert producers.get(node.input[2]) is None and inits[node.input[2]].data_type == onnx.TensorProto.FLOAT16
    weights_kept = sum(1 for n in model.graph.node if n.name in kept and n.input[1] in inits)
    assert weight_dq + weights_kept == 6 * TINY.num_hidden_layers + 1  # q, k, v, o, fc1, fc2 per block + patch Conv
    ops = collections.Counter(n.op_type for n in model.graph.node)
    assert ops["LayerNormalization"] == 2 * TINY.num_hidden_layers + 1
    assert ops["Softmax"] == TINY.num_hidden_layers
    for node in model.graph.node:  # the fp16 base: LayerNorm fp32, softmax / GELU / adds fp16
        want = onnx.TensorProto.FLOAT if node.op_type == "LayerNormalization" else onnx.TensorProto.FLOAT16
        if node.op_type in ("LayerNormalization", "Softmax", "Gelu", "Add"):
            assert types[node.output[0]] == want, (node.name, node.op_type)
    assert entry.quantization == prec.quantization_summary(out / entry.file)  # the record describes the file


def test_int8_cpu_graph_is_u8s8_and_chosen_for_cpu(tiny_precision_artifact):
    out = tiny_precision_artifact
    manifest = read_manifest(out)
    entry = manifest.graphs["int8-cpu"]
    zp = entry.quantization["zero_point_types"]
    assert set(zp) == {"UINT8", "INT8"}  # u8 activations, s8 weights
    assert entry.calibration == manifest.graphs["int8"].calibration  # one calibration pass
    assert onnxruntime_variant(manifest, "int8", ["CPUExecutionProvider"]) == "int8-cpu"
    assert onnxruntime_variant(manifest, "int8", ["CUDAExecutionProvider", "CPUExecutionProvider"]) == "int8"
    assert onnxruntime_variant(manifest, "fp16", ["CPUExecutionProvider"]) == "fp16"
    images = photo_batch(Preprocessor(manifest.preprocessing), 2)[0]
    with load(out, precision="int8", providers=["CPUExecutionProvider"]) as int8, load(out) as fp32:
        a, b = int8.run(images)["embedding"], fp32.run(images)["embedding"]
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert cos.min() > 0.99


def test_int8_parity_overlap_and_manifest(tiny_precision_artifact):
    out = tiny_precision_artifact
    manifest = read_manifest(out)
    assert manifest.status == "passed"
    graphs = [r.graph for r in manifest.parity if r.backend == "onnxruntime-cpu"]
    assert graphs == ["fp32", "fp16", "int8", "int8-cpu"]  # OpenVINO rows: tests/runtime/test_openvino_runner.py
    for result in manifest.parity:
        assert result.passed, result.graph
        neighbours = result.retrieval
        if result.graph == "fp32":  # fp32 agrees to 1e-6: its neighbours are eager's by construction
            assert neighbours is None
            continue
        assert neighbours.k == 5 and neighbours.images == 24 and neighbours.output == "embedding"
        assert neighbours.min_overlap <= neighbours.mean_overlap
    for variant in ("int8", "int8-cpu"):
        result = next(r for r in manifest.parity if r.graph == variant)
        assert result.precision == "int8"
        # the INT8 threshold is the export's target cosine
        assert result.outputs["embedding"].cosine_threshold == 0.999 <= result.outputs["embedding"].min_cosine
        assert result.retrieval is not None and result.retrieval.mean_overlap >= 0.7
    calibration = manifest.graphs["int8"].calibration
    assert calibration["method"] == "minmax" and calibration["images"] == 16 and calibration["batch_size"] == 4
    assert calibration["batches"] == 4 and calibration["max_batch_bytes"] == 4 * 3 * 224 * 224 * 4
    assert calibration["representative"] is False and "bundled sample photos" in calibration["source"]
    assert calibration["seconds"] > 0 and calibration["peak_rss_gib"] > 0
    assert any("INT8 calibration: no --calib-dir" in n for n in manifest.notes)
    for variant in ("fp16", "int8", "int8-cpu"):
        entry = manifest.graphs[variant]
        for name in entry.files:
            assert name in manifest.files and (out / name).is_file()
        assert entry.opset == 20 and entry.nodes > 0  # check_graph summary
    assert not list(out.glob(".calib-*")), "calibration scratch files left in the artifact"


def test_neighbour_overlap_counts_shared_neighbours():
    rng = np.random.default_rng(0)
    ref = rng.standard_normal((20, 16))
    assert neighbour_overlap(ref, ref.copy(), 5)["mean_overlap"] == 1.0
    shuffled = neighbour_overlap(ref, rng.standard_normal((20, 16)), 5)
    assert shuffled["mean_overlap"] < 0.6 and shuffled["images"] == 20
