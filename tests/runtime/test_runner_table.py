"""The seams of opening a runner: the table of backend constructors ``open_runner`` uses, the typed
``RunnerOptions`` (unknown options and another backend's options refused), and an explicit graph
``variant`` that still passes the parity gates."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from ijepa_deploy.errors import BackendError, InputError, ParityError
from ijepa_deploy.manifest import read_manifest
from ijepa_deploy.runtime import load, model
from ijepa_deploy.runtime.onnxruntime_runner import OnnxRuntimeRunner
from ijepa_deploy.runtime.openvino_runner import OpenVinoRunner
from ijepa_deploy.runtime.runner import RunnerOptions
from ijepa_deploy.runtime.tensorrt_runner import TensorRTRunner

CPU = RunnerOptions(providers=["CPUExecutionProvider"])


def test_open_runner_builds_through_the_table(tiny_artifact, monkeypatch):
    opened = []

    class Recording(OnnxRuntimeRunner):
        @classmethod
        def _from_artifact(cls, directory, manifest, variant, options, **how):
            opened.append((variant, options, how))
            return super()._from_artifact(directory, manifest, variant, options, **how)

    monkeypatch.setitem(model.RUNNERS, "onnxruntime", Recording)
    options = RunnerOptions(threads=1, providers=["CPUExecutionProvider"])
    with model.open_runner(tiny_artifact, read_manifest(tiny_artifact), "onnxruntime", options=options) as runner:
        assert type(runner) is Recording and runner.choice == "onnxruntime (requested)"
        assert runner.session_options.intra_op_num_threads == 1  # threads: ONNX Runtime's intra-op threads
    assert opened == [("fp32", options, {"precision": "fp32", "verify": True, "allow_unverified": False})]


def test_an_unknown_option_is_refused_with_the_known_ones(tiny_artifact):
    with pytest.raises(InputError) as err:
        load(tiny_artifact, thread=2)
    assert err.value.format().startswith("option thread | is not a runner option. Note: expected one of [")
    assert "'threads'" in err.value.expected and "'performance_hint'" in err.value.expected
    with pytest.raises(InputError, match=r"^option base \| is not a runner option"):  # a name of the helper's own
        RunnerOptions.from_keywords(None, base=RunnerOptions())


@pytest.mark.parametrize(
    "backend_class, keywords",
    [
        (OnnxRuntimeRunner, {"performance_hint": "THROUGHPUT"}),
        (OnnxRuntimeRunner, {"max_concurrency": 2}),
        (OpenVinoRunner, {"providers": ["CPUExecutionProvider"]}),
        (TensorRTRunner, {"intra_op_threads": 2}),
    ],
)
def test_another_backends_option_is_refused_before_anything_opens(tiny_artifact, backend_class, keywords):
    option = next(iter(keywords))
    with pytest.raises(InputError) as err:
        backend_class.from_artifact(tiny_artifact, read_manifest(tiny_artifact), "fp32", RunnerOptions(**keywords))
    assert err.value.subject == f"option {option}"
    assert err.value.problem == f"is not an option of the {backend_class.name} backend"
    assert option not in err.value.expected and "threads" in err.value.expected


def test_load_refuses_an_option_the_backend_that_runs_does_not_read(tiny_artifact):
    with pytest.raises(InputError, match="performance_hint .* not an option of the onnxruntime backend"):
        load(tiny_artifact, backend="onnxruntime", performance_hint="THROUGHPUT")


def test_load_keywords_and_the_options_object_are_one_thing(tiny_artifact):
    """Keywords (the public API) override the object's fields; threads and the host-code opt-in are
    accepted by every backend (``backend="auto"`` callers pass them blind)."""
    assert RunnerOptions.from_keywords(CPU, threads=3) == RunnerOptions(threads=3, providers=["CPUExecutionProvider"])
    with load(tiny_artifact, options=CPU, intra_op_threads=2, allow_engine_host_code=True) as served:
        assert served.runner.session_options.intra_op_num_threads == 2
        assert served.runner.session.get_providers() == ["CPUExecutionProvider"]


@pytest.fixture
def two_int8_graphs(tiny_artifact):
    """The tiny artifact's manifest with an "int8" graph (the fp32 file stands in) and an "int8-cpu"
    graph whose file does not exist: what open_runner runs for precision int8 on CPU."""
    manifest = read_manifest(tiny_artifact)
    fp32 = manifest.graphs["fp32"]
    manifest.graphs["int8"] = replace(fp32, precision="int8")
    manifest.graphs["int8-cpu"] = replace(fp32, file="absent.onnx", data_files=[], precision="int8")
    return manifest


def test_an_explicit_variant_is_the_graph_that_runs(tiny_artifact, two_int8_graphs):
    manifest = two_int8_graphs
    assert model.graph_variant(manifest, "onnxruntime", "int8", ["CPUExecutionProvider"]) == "int8-cpu"
    with model.open_runner(
        tiny_artifact, manifest, "onnxruntime", "int8", verify=False, variant="int8", options=CPU
    ) as runner:
        assert runner.graph.name == manifest.graphs["int8"].file
        assert runner.run(np.zeros((1, 3, 224, 224), np.float32))["embedding"].shape == (1, 192)
    with pytest.raises(BackendError, match="absent.onnx"):  # without variant: the int8-cpu graph
        model.open_runner(tiny_artifact, manifest, "onnxruntime", "int8", verify=False, options=CPU)


def test_an_explicit_variant_passes_the_gates(tiny_artifact, two_int8_graphs):
    manifest = two_int8_graphs
    manifest.graphs["int8"] = replace(manifest.graphs["int8"], status="failed")
    with pytest.raises(ParityError, match=r"\(int8\) FAILED its parity check"):
        model.open_runner(tiny_artifact, manifest, "onnxruntime", "int8", verify=False, variant="int8", options=CPU)
    with model.open_runner(
        tiny_artifact, manifest, "onnxruntime", "int8", verify=False, variant="int8", allow_unverified=True, options=CPU
    ) as runner:
        assert runner.graph.name == manifest.graphs["int8"].file


def test_a_variant_needs_an_explicit_backend(tiny_artifact):
    with pytest.raises(InputError, match="backend auto picks the backend"):
        model.open_runner(tiny_artifact, read_manifest(tiny_artifact), "auto", variant="fp32")
