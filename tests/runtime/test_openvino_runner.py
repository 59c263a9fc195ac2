"""OpenVINO backend: parity vs eager on both heads, concurrency, the Runner base's checks, bf16 mode
(refused without native bf16), export-time rows, and ``backend="auto"`` with and without openvino."""

from __future__ import annotations

import re
import shutil
import sys
import threading

import numpy as np
import pytest

from ijepa_deploy.errors import ArtifactError, BackendUnavailable, IJepaDeployError, InputError, ParityError
from ijepa_deploy.manifest import read_manifest
from ijepa_deploy.records import EngineProfile, EngineRecord
from ijepa_deploy.runtime import load
from ijepa_deploy.runtime import openvino_runner as ovr
from ijepa_deploy.runtime.acceptance.parity import THRESHOLDS, compare_outputs
from ijepa_deploy.runtime.cpu_features import int8_dot_product
from ijepa_deploy.runtime.model import choose_backend, open_runner
from ijepa_deploy.runtime.photos import photo_batch
from ijepa_deploy.runtime.preprocess import Preprocessor
from ijepa_deploy.runtime.runner import RunnerOptions

ov = pytest.importorskip("openvino")
HAS_BF16 = ovr.cpu_supports_bf16()
HAS_INT8_DOT = int8_dot_product()  # VNNI / AMX: without them OpenVINO int8 is refused (see below)


@pytest.fixture
def int8_cpu(monkeypatch):
    """Decide whether this CPU has int8 dot products, for tests of the choice rather than the CPU."""
    return lambda has: monkeypatch.setattr(ovr, "int8_dot_product", lambda: has)


@pytest.fixture(scope="module")
def eager():
    """Eager fp32 outputs of the tiny preset on 5 photos, per task (what the artifacts were exported from)."""
    from ijepa_deploy.exporters.models import load_model, parse_model_source
    from ijepa_deploy.exporters.reference import TorchRunner

    cache = {}

    def outputs(artifact):
        manifest = read_manifest(artifact)
        if manifest.task not in cache:
            loaded = load_model(parse_model_source("random:tiny"), manifest.task, seed=0)
            pixels, _ = photo_batch(Preprocessor(manifest.preprocessing), 5)
            cache[manifest.task] = pixels, TorchRunner(loaded, manifest.io, 1, 8).run(pixels)
        return cache[manifest.task]

    return outputs


def _parity(runner, pixels, reference, precision):
    got = runner.run(pixels)
    for name, ref in reference.items():
        stats = compare_outputs(ref, got[name])
        min_cos, max_abs = THRESHOLDS[precision][name]
        assert stats["min_cosine"] >= min_cos, (name, stats)
        assert max_abs is None or stats["max_abs"] <= max_abs, (name, stats)
    return got


@pytest.mark.parametrize("precision, graph", [("fp32", "fp32"), ("int8", "int8"), ("int8-cpu", "int8-cpu")])
def test_parity_vs_eager_feature_extraction(tiny_precision_artifact, eager, precision, graph):
    pixels, reference = eager(tiny_precision_artifact)
    manifest = read_manifest(tiny_precision_artifact)
    if graph != "fp32" and not HAS_INT8_DOT:
        with pytest.raises(BackendUnavailable, match="no int8 dot products"):
            open_runner(tiny_precision_artifact, manifest, "openvino", precision)
        return
    with open_runner(
        tiny_precision_artifact, manifest, "openvino", precision, options=RunnerOptions(threads=2)
    ) as runner:
        assert runner.backend == "openvino-cpu" and runner.inference_precision == "f32"
        assert runner.threads == 2
        assert runner.graph.name == manifest.graphs[graph].openvino_files[0]  # int8: the S8S8 graph (its IR)
        _parity(runner, pixels, reference, "fp32" if graph == "fp32" else "int8")


@pytest.fixture(scope="module")
def tiny_cls_int8_artifact(tmp_path_factory):
    from ijepa_deploy.exporters.pipeline import ExportOptions, export_artifact
    from ijepa_deploy.progress import Progress

    out = tmp_path_factory.mktemp("art") / "tiny-cls-int8"
    with pytest.warns(UserWarning, match="no --calib-dir"):
        manifest = export_artifact(
            ExportOptions(
                model="random:tiny",
                task="image-classification",
                output=out,
                max_batch=8,
                int8=True,
                calib_count=8,
                retrieval_images=8,
                engines=False,
            ),
            Progress(quiet=True),
        )
    assert manifest.status == "passed"
    return out


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_parity_vs_eager_classification(tiny_cls_int8_artifact, eager, precision):
    pixels, reference = eager(tiny_cls_int8_artifact)
    if precision == "int8" and not HAS_INT8_DOT:
        pytest.skip("this CPU has no int8 dot products: OpenVINO int8 is refused here (tested below)")
    with load(tiny_cls_int8_artifact, backend="openvino", precision=precision) as model:
        assert model.backend == "openvino-cpu" and model.choice == "openvino (requested)"
        _parity(model.runner, pixels, reference, precision)
        top = model.classify([np.zeros((40, 50, 3), np.uint8)], top_k=2)
        assert len(top) == 1 and len(top[0]) == 2


def test_export_recorded_openvino_rows_for_every_graph(tiny_precision_artifact):
    manifest = read_manifest(tiny_precision_artifact)
    rows = {(r.graph, r.precision) for r in manifest.parity if r.backend == "openvino-cpu" and r.passed}
    expected = {("fp32", "fp32"), ("fp16", "fp16")}
    if HAS_INT8_DOT:
        expected |= {("int8", "int8"), ("int8-cpu", "int8")}
    else:  # not run where OpenVINO int8 is refused, and the manifest says why
        assert any(
            n.startswith("OpenVINO int8 not verified: this CPU has no int8 dot products") for n in manifest.notes
        )
    if HAS_BF16:
        expected.add(("fp32", "bf16"))
    assert rows == expected
    assert manifest.versions["openvino"]
    bf16 = [r for r in manifest.parity if r.precision == "bf16"]
    assert all(r.outputs["embedding"].cosine_threshold == 0.9999 for r in bf16)


def test_openvino_runs_the_ir_the_export_wrote_and_checked(tiny_precision_artifact):
    manifest = read_manifest(tiny_precision_artifact)
    for variant, graph in manifest.graphs.items():
        checked = any(r.graph == variant and r.backend == "openvino-cpu" for r in manifest.parity)
        if "openvino" in graph.targets and checked:  # the graphs OpenVINO serves, when it could check them here
            ir = graph.openvino_ir
            assert ir is not None and ir.converter.startswith("openvino ")
            assert (manifest.files[ir.file].role, manifest.files[ir.weights].role) == (
                "openvino-ir",
                "openvino-ir-weights",
            )
        else:
            assert graph.openvino_ir is None, variant
    with load(tiny_precision_artifact, backend="openvino") as model:
        assert model.runner.graph.name == manifest.graphs["fp32"].openvino_ir.file


def test_a_corrupt_ir_is_refused_and_onnx_runtime_still_serves(tiny_artifact, tmp_path):
    copy = tmp_path / "art"
    shutil.copytree(tiny_artifact, copy)
    weights = copy / read_manifest(copy).graphs["fp32"].openvino_ir.weights
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match=re.escape(f"{weights} | checksum mismatch")):
        load(copy, backend="openvino")
    with load(copy, backend="onnxruntime") as model:
        assert model.embed([np.zeros((32, 32, 3), np.uint8)]).shape[0] == 1


def test_concurrent_calls_equal_single_threaded(tiny_artifact):
    manifest = read_manifest(tiny_artifact)
    rng = np.random.default_rng(0)
    inputs = [rng.standard_normal((1 + i % 3, 3, 224, 224), dtype=np.float32) for i in range(8)]
    with open_runner(tiny_artifact, manifest, "openvino") as runner:
        expected = [runner.run(x)["embedding"] for x in inputs]
        results: dict[tuple[int, int], np.ndarray] = {}
        errors: list[BaseException] = []

        def worker(t):
            try:
                for call in range(20):
                    results[t, call] = runner.run(inputs[(t + call) % 8])["embedding"]
            except BaseException as exc:  # surfaced below: a thread's failure fails the test
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        assert len(results) == 160
        for (t, call), got in results.items():
            np.testing.assert_array_equal(got, expected[(t + call) % 8])


def test_throughput_hint_runs_several_streams_with_the_same_numbers(tiny_artifact):
    manifest = read_manifest(tiny_artifact)
    x = np.random.default_rng(1).standard_normal((3, 3, 224, 224), dtype=np.float32)
    throughput_options = RunnerOptions(threads=2, performance_hint="THROUGHPUT")
    with (
        open_runner(tiny_artifact, manifest, "openvino", options=RunnerOptions(threads=2)) as latency,
        open_runner(tiny_artifact, manifest, "openvino", options=throughput_options) as throughput,
    ):
        assert latency.pool_size == 1 and throughput.pool_size >= 2  # one request per stream
        assert throughput.compiled.get_property("PERFORMANCE_HINT") == "THROUGHPUT"
        np.testing.assert_allclose(throughput.run(x)["embedding"], latency.run(x)["embedding"], atol=1e-6, rtol=0)
    with pytest.raises(InputError, match="performance hint"):
        open_runner(tiny_artifact, manifest, "openvino", options=RunnerOptions(performance_hint="FAST"))


@pytest.mark.parametrize(
    "feed, problem",
    [
        (np.zeros((9, 3, 224, 224), np.float32), "batch size 9 is outside"),
        (np.zeros((1, 3, 256, 256), np.float32), "axis 2 is 256"),
        (np.zeros((1, 3, 224, 224), np.float64), "dtype is float64"),
        ({"images": np.zeros((1, 3, 224, 224), np.float32)}, "input names"),
        ([[0.0]], "inputs are a list"),
    ],
)
def test_bad_inputs_go_through_the_runner_base(tiny_artifact, feed, problem):
    manifest = read_manifest(tiny_artifact)
    with open_runner(tiny_artifact, manifest, "openvino") as runner:
        with pytest.raises(InputError) as err:
            runner.run(feed)
        assert problem in err.value.problem


def test_closed_runner_and_missing_graph(tiny_artifact):
    manifest = read_manifest(tiny_artifact)
    runner = open_runner(tiny_artifact, manifest, "openvino")
    runner.close()
    with pytest.raises(IJepaDeployError, match="is closed"):
        runner.run(np.zeros((1, 3, 224, 224), np.float32))
    with pytest.raises(ArtifactError, match="artifact has no int8 graph"):
        open_runner(tiny_artifact, manifest, "openvino", "int8")


# -- bf16 ------------------------------------------------------------------------------------------
def test_bf16_refused_without_native_support(tiny_precision_artifact, monkeypatch):
    monkeypatch.setattr(ovr, "cpu_capabilities", lambda core: ["FP32", "INT8", "EXPORT_IMPORT"])
    with pytest.raises(BackendUnavailable) as err:
        # allow_unverified: an artifact exported on a CPU without bf16 has no bf16 row to gate on; this
        # test is about the runner's own refusal
        load(tiny_precision_artifact, backend="openvino", precision="bf16", allow_unverified=True)
    assert "no native bf16" in err.value.problem and "AVX512_BF16 or AMX" in err.value.expected


@pytest.mark.skipif(not HAS_BF16, reason="this CPU has no native bf16 (OpenVINO OPTIMIZATION_CAPABILITIES)")
def test_bf16_runs_the_fp32_graph_with_the_bf16_hint(tiny_precision_artifact, eager):
    pixels, reference = eager(tiny_precision_artifact)
    with load(tiny_precision_artifact, backend="auto", precision="bf16") as model:
        assert model.backend == "openvino-cpu" and model.runner.inference_precision == "bf16"
        assert model.runner.graph.name == model.manifest.graphs["fp32"].file
        _parity(model.runner, pixels, reference, "bf16")


def test_bf16_is_an_openvino_mode_only(tiny_precision_artifact):
    with pytest.raises(InputError, match="OpenVINO inference mode"):
        load(tiny_precision_artifact, backend="onnxruntime", precision="bf16")


def test_bf16_needs_a_verified_row(tiny_artifact, tmp_path):
    """An artifact whose manifest has no passed bf16 row (exported where bf16 was not verified)."""
    import json
    import shutil

    copy = tmp_path / "a"
    shutil.copytree(tiny_artifact, copy)
    path = copy / "ijepa_manifest.json"
    data = json.loads(path.read_text())
    data["parity"] = [r for r in data["parity"] if r["precision"] != "bf16"]
    path.write_text(json.dumps(data))
    with pytest.raises(ParityError, match="bf16 was not verified at export"):
        load(copy, backend="openvino", precision="bf16")


# -- auto --------------------------------------------------------------------------------------------
def test_auto_prefers_openvino_on_a_cpu_host(tiny_precision_artifact, int8_cpu):
    manifest = read_manifest(tiny_precision_artifact)
    int8_cpu(True)
    backend, why = choose_backend(manifest, "int8")
    assert backend == "openvino" and "no int8 TensorRT engine" in why
    with load(tiny_precision_artifact, backend="auto", precision="int8", allow_unverified=not HAS_INT8_DOT) as model:
        assert model.backend == "openvino-cpu" and model.choice.startswith("openvino (auto: ")
        assert model.runner.graph.name == "model_int8.onnx"


def test_openvino_int8_is_refused_on_a_cpu_without_int8_dot_products(tiny_precision_artifact, int8_cpu):
    """AVX2-only CPUs add u8 x s8 products in saturating 16-bit sums: OpenVINO's int8 loses accuracy
    there and runs slower than its fp32, so auto picks ONNX Runtime's 7-bit int8-cpu graph."""
    manifest = read_manifest(tiny_precision_artifact)
    int8_cpu(False)
    backend, why = choose_backend(manifest, "int8")
    assert backend == "onnxruntime" and "OpenVINO: this CPU has no int8 dot products (VNNI / AMX)" in why
    assert choose_backend(manifest, "fp32")[0] == "openvino"
    with load(tiny_precision_artifact, backend="auto", precision="int8") as model:
        assert model.backend == "onnxruntime-cpu" and model.runner.session is not None
    with pytest.raises(BackendUnavailable) as err:
        load(tiny_precision_artifact, backend="openvino", precision="int8")
    assert "OpenVINO's int8 kernels saturate 16-bit sums here" in err.value.problem
    assert "backend onnxruntime for int8 on this CPU" in err.value.expected


def test_auto_without_openvino_falls_back_to_onnxruntime(tiny_precision_artifact, monkeypatch):
    monkeypatch.setitem(sys.modules, "openvino", None)  # `import openvino` now fails as if absent
    assert ovr.openvino_status() == (False, "openvino not installed")
    with load(tiny_precision_artifact, backend="auto", precision="int8") as model:
        assert model.backend == "onnxruntime-cpu"
        assert "OpenVINO: openvino not installed" in model.choice
    with pytest.raises(BackendUnavailable, match="needs OpenVINO"):
        load(tiny_precision_artifact, backend="auto", precision="bf16")
    with pytest.raises(BackendUnavailable, match="openvino cannot be imported"):
        load(tiny_precision_artifact, backend="openvino")


def test_auto_takes_the_tensorrt_engine_on_a_gpu_host(tiny_precision_artifact, monkeypatch, int8_cpu):
    from ijepa_deploy.runtime import tensorrt_host

    int8_cpu(True)
    manifest = read_manifest(tiny_precision_artifact)
    manifest.engines["int8"] = EngineRecord(
        file="model_int8.engine",
        source_graph="int8",
        source_sha256="0" * 64,
        precision="int8",
        tensorrt_version="11.4.0",
        gpu_name="stand-in GPU",
        compute_capability="8.9",
        profile=EngineProfile(1, 8, 8),
        status="passed",
    )
    monkeypatch.setattr(tensorrt_host, "tensorrt_status", lambda: (True, "TensorRT 11.4.0, 1 GPU(s)"))
    assert choose_backend(manifest, "int8")[0] == "tensorrt"
    assert choose_backend(manifest, "fp32")[0] == "openvino"  # no fp32 engine: CPU path
    monkeypatch.setattr(tensorrt_host, "tensorrt_status", lambda: (False, "no CUDA GPU visible"))
    backend, why = choose_backend(manifest, "int8")
    assert backend == "openvino" and "TensorRT: no CUDA GPU visible" in why
    monkeypatch.setattr(tensorrt_host, "tensorrt_status", lambda: (True, "TensorRT 11.4.0, 1 GPU(s)"))
    manifest.engines["int8"].status = "failed"  # auto never serves an engine that failed its parity check
    backend, why = choose_backend(manifest, "int8")
    assert backend == "openvino" and "did not pass its parity check" in why


def test_embed_cli_shows_the_backend(tiny_artifact, capsys):
    from ijepa_deploy.cli.embed import main
    from ijepa_deploy.runtime.photos import bundled_images

    with pytest.raises(SystemExit) as exc:
        main([str(tiny_artifact), str(bundled_images()[0]), "--threads", "1"])
    assert exc.value.code == 0
    err = capsys.readouterr().err
    assert "backend openvino-cpu (f32), precision fp32: openvino (auto: " in err
    with pytest.raises(SystemExit) as exc:
        main([str(tiny_artifact), str(bundled_images()[0]), "--backend", "onnxruntime"])
    assert (
        exc.value.code == 0
        and "backend onnxruntime-cpu, precision fp32: onnxruntime (requested)" in capsys.readouterr().err
    )
