"""fp16 / INT8 precision graphs: what the graphs contain (checked on the graph, not trusted from
the tool), parity and neighbour overlap vs eager fp32, streamed calibration, the fallback warning,
the CLI flags, and a tampered precision graph failing the export."""

from __future__ import annotations

import collections
import tracemalloc

import numpy as np
import onnx
import pytest
from onnx import numpy_helper
from PIL import Image

from ijepa_deploy.cli.export import main as export_main
from ijepa_deploy.errors import InputError
from ijepa_deploy.exporters import precision as prec
from ijepa_deploy.exporters.precision import onnx_files
from ijepa_deploy.manifest import read_manifest
from ijepa_deploy.presets import PRESETS
from ijepa_deploy.runtime.acceptance.retrieval import neighbour_overlap
from ijepa_deploy.runtime.photos import photo_batch
from ijepa_deploy.runtime.preprocess import Preprocessor

QUANTIZED = {"MatMul", "Gemm", "Conv"}
TINY = PRESETS["tiny"]


def run_main(main, argv):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    return exc.value.code


@pytest.fixture(scope="module")
def calib_dir(tmp_path_factory):
    """12 small distinct images (smooth random colour fields) in two class folders."""
    root = tmp_path_factory.mktemp("calib")
    rng = np.random.default_rng(1)
    for i in range(12):
        folder = root / f"class{i % 2}"
        folder.mkdir(exist_ok=True)
        small = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        Image.fromarray(small).resize((96, 80), Image.Resampling.BILINEAR).save(folder / f"img{i:02d}.png")
    return root


def _types(model) -> dict[str, int]:
    inferred = onnx.shape_inference.infer_shapes(model)
    types = {v.name: v.type.tensor_type.elem_type
             for v in (*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output)}
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
    matmul_weights = [n.input[1] for n in model.graph.node if n.op_type == "MatMul"
                      and n.input[1] in {i.name for i in model.graph.initializer}]
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
    from ijepa_deploy.runtime import load
    from ijepa_deploy.runtime.model import onnxruntime_variant

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


def test_engine_step_skipped_plainly_without_tensorrt(tiny_precision_artifact, tmp_path):
    import shutil

    from ijepa_deploy.exporters.engine_step import engine_step
    from ijepa_deploy.exporters.pipeline import ExportOptions
    from ijepa_deploy.progress import Progress
    from ijepa_deploy.runtime.acceptance.summary import summary_table
    from ijepa_deploy.runtime.tensorrt_host import tensorrt_status

    available, reason = tensorrt_status()
    if available:
        pytest.skip("TensorRT is available here: the engine step builds instead")
    out = tmp_path / "art"
    shutil.copytree(tiny_precision_artifact, out)
    manifest = read_manifest(out)
    engine_step(ExportOptions(model="random:tiny", output=out), out, manifest, Progress(quiet=True))
    assert manifest.engines == {}
    note = next(n for n in manifest.notes if n.startswith("TensorRT engine step skipped"))
    assert reason in note and f"ijepa-build {out} --variant fp16 --variant int8" in note
    table = summary_table(manifest, out)
    assert note in table
    for graph in ("fp16", "int8", "int8-cpu"):
        assert any(line.startswith(graph) and "@5" in line for line in table.splitlines())


# -- calibration data -------------------------------------------------------------------------------

def test_reader_streams_one_batch_at_a_time_and_respects_count(tiny_artifact):
    manifest = read_manifest(tiny_artifact)
    pre = Preprocessor(manifest.preprocessing)
    reader = prec.ImageCalibrationReader(prec.CalibrationImages(None, 10), pre, batch_size=3)
    sizes = [len(batch["pixel_values"]) for batch in reader]
    assert sizes == [3, 3, 3, 1] and len(reader) == 4
    assert reader.images_served == 10 and reader.batches_served == 4
    assert reader.max_batch_bytes == 3 * 3 * 224 * 224 * 4
    assert len(set(reader.names)) == 10  # distinct variants, not repeats
    reader.rewind()
    assert reader.get_next()["pixel_values"].shape == (3, 3, 224, 224)

    def peak(count):
        r = prec.ImageCalibrationReader(prec.CalibrationImages(None, count), pre, batch_size=2)
        tracemalloc.start()
        for _ in r:
            pass
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    small, large = peak(4), peak(24)
    assert large < small + 2 * 2 * 3 * 224 * 224 * 4, (small, large)  # does not grow with the count


def test_calib_dir_sampling_is_seeded_and_bounded(calib_dir):
    images = prec.CalibrationImages(calib_dir, 5)
    picked = images.paths()
    assert len(picked) == 5 and picked == prec.CalibrationImages(calib_dir, 5).paths()
    assert len(set(picked)) == 5
    assert images.warning() is None and images.describe()["representative"] is True
    assert len(prec.CalibrationImages(calib_dir, 100).paths()) == 12
    with pytest.raises(InputError, match="calib-count"):
        prec.CalibrationImages(calib_dir, 0)


def test_no_calib_dir_warns_loudly():
    images = prec.CalibrationImages(None, 64)
    with pytest.warns(UserWarning, match="NOT representative"):
        prec.warn_fallback(images, quiet=True)
    said = []
    text = prec.warn_fallback(images, say=said.append)
    assert "no --calib-dir" in text and said and said[0].startswith("!" * 20)


def test_neighbour_overlap_counts_shared_neighbours():
    rng = np.random.default_rng(0)
    ref = rng.standard_normal((20, 16))
    assert neighbour_overlap(ref, ref.copy(), 5)["mean_overlap"] == 1.0
    shuffled = neighbour_overlap(ref, rng.standard_normal((20, 16)), 5)
    assert shuffled["mean_overlap"] < 0.6 and shuffled["images"] == 20


# -- CLI --------------------------------------------------------------------------------------------

def test_cli_int8_with_calib_dir(tmp_path, calib_dir, capsys):
    out = tmp_path / "cli"
    argv = ["--model", "random:tiny", "--int8", "--calib-dir", str(calib_dir), "--calib-count", "6",
            "--calib-method", "percentile", "--output", str(out), "--max-batch", "8", "--batch-sizes", "1", "3"]
    assert run_main(export_main, argv) == 0
    captured = capsys.readouterr()
    assert "no --calib-dir" not in captured.err
    assert "int8-cpu" in captured.out and "@5" in captured.out
    manifest = read_manifest(out)
    calibration = manifest.graphs["int8"].calibration
    assert calibration["method"] == "percentile" and calibration["images"] == 6
    assert calibration["source"] == str(calib_dir.resolve()) and calibration["representative"] is True
    assert set(manifest.graphs) == {"fp32", "int8", "int8-cpu"} and manifest.status == "passed"


@pytest.mark.parametrize("argv, problem", [
    (["--calib-dir", "x"], "--calib-dir | given without --int8"),
    (["--int8", "--calib-method", "kl"], "argument --calib-method: invalid choice"),
    (["--int8", "--calib-count", "0"], "--calib-count | 0"),
    (["--int8", "--calib-dir", "/nonexistent"], "/nonexistent | not a directory"),
])
def test_cli_precision_flag_errors(argv, problem, capsys, tmp_path):
    assert run_main(export_main, ["--model", "random:tiny", "--output", str(tmp_path / "o"), *argv]) == 1
    assert problem in capsys.readouterr().err


def test_tampered_precision_graph_fails_the_export(tmp_path, monkeypatch, capsys):
    """A precision tool that silently corrupts weights must not produce a 'passed' artifact."""
    real_call = prec.Fp16FromOnnx.__call__

    def broken(self):
        files = real_call(self)
        model = onnx.load(str(files[0]))
        for init in model.graph.initializer:
            if init.data_type == onnx.TensorProto.FLOAT16 and len(init.dims) == 2 and init.dims[1] == 768:
                arr = numpy_helper.to_array(init)
                init.CopyFrom(numpy_helper.from_array(-arr[:, ::-1].copy(), init.name))  # fc1 scrambled
        onnx.save(model, str(files[0]))
        return files

    monkeypatch.setattr(prec.Fp16FromOnnx, "__call__", broken)
    out = tmp_path / "broken"
    argv = ["--model", "random:tiny", "--fp16", "--output", str(out), "--max-batch", "8", "--no-engines"]
    assert run_main(export_main, argv) == 1
    captured = capsys.readouterr()
    assert "status: PARTIAL" in captured.out
    assert "parity check FAILED for fp16 (model_fp16.onnx); manifest status 'partial'; still usable: fp32" in captured.err
    manifest = read_manifest(out)
    assert manifest.status == "partial" and manifest.graphs["fp16"].status == "failed"
    fp32, fp16 = (r for r in manifest.parity if r.backend == "onnxruntime-cpu")
    assert fp32.passed and not fp16.passed
    # OpenVINO (when installed) runs the same broken graph and must fail it too
    assert all(not r.passed for r in manifest.parity if r.graph == "fp16")
    assert (out / "model_fp16.onnx").is_file()


# -- checkpoint-sized (minutes, GBs): pytest -m slow -------------------------------------------------

@pytest.mark.slow
def test_vith14_fp16_int8_parity(tmp_path):
    import resource
    import subprocess
    import sys
    from pathlib import Path

    out = tmp_path / "vith14"
    script = Path(sys.executable).parent / "ijepa-export"
    proc = subprocess.run([str(script), "--model", "random:vith14", "--fp16", "--int8", "--output", str(out),
                           "--no-engines"], capture_output=True, text=True, timeout=7200)
    peak_gib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 ** 2
    assert proc.returncode == 0, proc.stdout + proc.stderr
    manifest = read_manifest(out)
    assert manifest.status == "passed"
    by_graph = {r.graph: r for r in manifest.parity}
    assert by_graph["fp16"].outputs["embedding"].min_cosine >= 0.999
    assert by_graph["int8"].outputs["embedding"].min_cosine >= 0.99
    fp16_neighbours = by_graph["fp16"].retrieval
    assert fp16_neighbours is not None and fp16_neighbours.mean_overlap >= 0.9
    assert manifest.graphs["fp16"].data_files == []  # 1.26 GB fp16 fits one protobuf
    assert peak_gib <= 20.0, f"peak RSS {peak_gib:.1f} GiB"


def test_big_graph_steps_run_in_a_child_process(tiny_precision_artifact, tmp_path):
    """ViT-H/ViT-g precision steps run in spawned processes so their memory peaks do not add up."""
    out = tiny_precision_artifact
    files, job, peak = prec.run_step(prec.Fp16FromOnnx(out / "model.onnx", tmp_path), isolate=True)
    assert files == [tmp_path / "model_fp16.onnx"] and files[0].is_file()
    assert job.path_taken and 0 < peak < 4  # state and the child's own peak come back
    with pytest.raises(InputError, match="no calibration data"):
        prec.run_step(prec.Int8FromOnnx(out / "model.onnx", tmp_path), isolate=True)
    assert not prec.should_isolate(out / "model.onnx")  # tiny stays in-process


def test_graphs_with_external_data(tiny_precision_artifact, tmp_path, monkeypatch):
    """The ViT-H/ViT-g path on a tiny graph: fp32 weights in model.onnx.data, outputs over the
    threshold get ONE .data file, calibration leaves nothing behind in the artifact directory."""
    import onnxruntime as ort

    src_dir = tmp_path / "art"
    src_dir.mkdir()
    out = tiny_precision_artifact
    manifest = read_manifest(out)
    onnx.save_model(onnx.load(str(out / "model.onnx")), str(src_dir / "model.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="model.onnx.data", size_threshold=1024)
    monkeypatch.setattr(onnx_files, "EXTERNAL_DATA_THRESHOLD", 1_000_000)
    source, dest = src_dir / "model.onnx", tmp_path / "out"
    dest.mkdir()
    fp16 = prec.Fp16FromOnnx(source, dest)()
    assert [f.name for f in fp16] == ["model_fp16.onnx", "model_fp16.onnx.data"]
    workdir = src_dir / ".calib-test"
    workdir.mkdir()
    reader = prec.ImageCalibrationReader(prec.CalibrationImages(None, 2), Preprocessor(manifest.preprocessing), 1)
    calibration = prec.Calibrate(source, reader, "minmax", workdir)()
    assert calibration.prepared.parent == src_dir  # beside its data file: no hard link, no copy
    int8 = prec.Int8FromOnnx(source, dest, calibration=calibration)()
    prec.cleanup(workdir, source)
    assert sorted(p.name for p in src_dir.iterdir()) == ["model.onnx", "model.onnx.data"]
    pixels = photo_batch(Preprocessor(manifest.preprocessing), 2)[0]
    ref = ort.InferenceSession(str(source)).run(["embedding"], {"pixel_values": pixels})[0]
    for graph in (fp16[0], int8[0]):
        got = ort.InferenceSession(str(graph)).run(["embedding"], {"pixel_values": pixels})[0]
        cos = (ref * got).sum(1) / np.linalg.norm(ref, axis=1) / np.linalg.norm(got, axis=1)
        assert cos.min() > 0.99, graph.name
