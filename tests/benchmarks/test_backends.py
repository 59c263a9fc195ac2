"""The benchmark times what the runtime serves: its ONNX Runtime rows are the runner ``load()``
returns, built with the same session options."""

from __future__ import annotations

import numpy as np

from ijepa_deploy.benchmarks.backends import OrtBackend, TorchBackend, describe_session_options
from ijepa_deploy.benchmarks.options import BenchOptions
from ijepa_deploy.manifest import read_manifest
from ijepa_deploy.runtime import load
from ijepa_deploy.runtime.onnxruntime_runner import OnnxRuntimeRunner


def _config(options, keys):
    return {k: options.get_session_config_entry(k) for k in keys}


def test_ort_rows_are_the_runner_load_returns_with_the_same_session_options(tiny_artifact):
    manifest = read_manifest(tiny_artifact)
    backend = OrtBackend(tiny_artifact, manifest, "fp32", "cpu", BenchOptions(tiny_artifact, threads=1))
    backend.load()
    with load(tiny_artifact, intra_op_threads=1, providers=["CPUExecutionProvider"]) as served:
        assert type(backend.runner) is type(served.runner) is OnnxRuntimeRunner
        assert describe_session_options(backend.runner.session_options) == describe_session_options(
            served.runner.session_options
        )
        assert backend.runner.session.get_providers() == served.runner.session.get_providers()
    backend.close()


def test_bench_ort_options_reach_the_session(tiny_artifact):
    manifest = read_manifest(tiny_artifact)
    opts = BenchOptions(
        tiny_artifact,
        threads=1,
        ort_opt_level="basic",
        ort_mem_arena=False,
        ort_config={"session.intra_op.allow_spinning": "0"},
    )
    backend = OrtBackend(tiny_artifact, manifest, "fp32", "cpu", opts)
    run = backend.load()
    options = backend.runner.session_options
    described = describe_session_options(options)
    assert described["graph_optimization_level"] == "ORT_ENABLE_BASIC"
    assert described["enable_cpu_mem_arena"] is False
    assert _config(options, ["session.intra_op.allow_spinning"]) == {"session.intra_op.allow_spinning": "0"}
    assert backend.details()["session"] == {**described, "config_entries": opts.ort_config}
    pixels = np.zeros((2, 3, 224, 224), np.float32)
    assert run(pixels)["embedding"].shape == (2, manifest.model.hidden_size)
    backend.close()


def test_the_int8_row_times_the_int8_graph_not_the_cpu_graph_load_would_pick(tiny_artifact):
    """load(precision="int8") on a CPU host serves int8-cpu; the bench's int8 row is TensorRT's graph."""
    from dataclasses import replace

    manifest = read_manifest(tiny_artifact)
    fp32 = manifest.graphs["fp32"]
    manifest.graphs["int8"] = replace(fp32, precision="int8")  # the fp32 file stands in
    manifest.graphs["int8-cpu"] = replace(fp32, file="absent.onnx", precision="int8")
    backend = OrtBackend(tiny_artifact, manifest, "int8", "cpu", BenchOptions(tiny_artifact, threads=1))
    run = backend.load()  # would fail on absent.onnx if it followed load()'s choice
    assert run(np.zeros((1, 3, 224, 224), np.float32))["embedding"].shape == (1, manifest.model.hidden_size)
    backend.close()


def test_eager_row_is_the_exporters_reference_runner(tiny_artifact):
    from ijepa_deploy.exporters.reference import TorchRunner

    manifest = read_manifest(tiny_artifact)
    holder: dict = {}
    eager = TorchBackend(manifest, holder, compiled=False)
    run = eager.load()
    assert isinstance(eager.runner, TorchRunner) and eager.runner.loaded is holder["loaded"]
    pixels = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    with load(tiny_artifact) as served:
        want = served.run(pixels)["embedding"]
    got = run(pixels)["embedding"]
    assert np.abs(got - want).max() < 1e-4
