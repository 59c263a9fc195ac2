"""The C++ runtime's gates are the Python runtime's (issue 20): parity status of the artifact, of
each graph and of each TensorRT engine; version-compatible engines only on an explicit opt-in; every
manifest path confined to the artifact directory; OpenVINO runs the graph Python's OpenVINO backend
runs, and refuses INT8 on CPUs without int8 dot products (VNNI / AMX) unless the caller opts in."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from ijepa_deploy.manifest import MANIFEST_NAME, sha256_file
from ijepa_deploy.runtime.cpu_features import int8_dot_product

NO_TENSORRT = "has no TensorRT backend"  # what a build without TensorRT says once every gate let it through


def _error(build, *args) -> str:
    proc = build.run(*args)
    assert proc.returncode == 3, f"exit {proc.returncode} (want 3 = ijepa::Error)\n{proc.stdout}\n{proc.stderr}"
    message = proc.stderr.strip().splitlines()[-1]
    assert " | " in message and ". Note: expected " in message, message
    return message


def _edit(src, dst, edit):
    """A copy of the artifact ``src`` whose manifest ``edit(data, dst)`` changed."""
    shutil.copytree(src, dst, symlinks=True)
    data = json.loads((dst / MANIFEST_NAME).read_text())
    edit(data, dst)
    (dst / MANIFEST_NAME).write_text(json.dumps(data))
    return dst


def _add_engine(data, art, status="passed", version_compatible=False):
    """A (fake) fp32 TensorRT engine recorded like ijepa-build records one."""
    (art / "model_fp32.plan").write_bytes(b"not really a plan")
    data["files"]["model_fp32.plan"] = {
        "sha256": sha256_file(art / "model_fp32.plan"),
        "bytes": 17,
        "role": "tensorrt-engine",
    }
    record = {
        "file": "model_fp32.plan",
        "source_graph": "fp32",
        "source_sha256": "0" * 64,
        "precision": "fp32",
        "tensorrt_version": "10.13.0",
        "gpu_name": "x",
        "compute_capability": "8.6",
        "profile": {"min": 1, "opt": 4, "max": data["batch"]["max"]},
        "hardware_compatibility": None,
        "version_compatible": version_compatible,
    }
    if status is not None:
        record["status"] = status
    data["engines"]["fp32"] = record


# -- 1. engine parity status and engine host code ------------------------------------------------


@pytest.mark.parametrize(
    "status, words",
    [("failed", "FAILED its parity check"), (None, "was never checked against eager PyTorch (status None)")],
)
def test_engine_that_did_not_pass_is_refused(any_build, tiny_artifact, tmp_path, status, words):
    art = _edit(tiny_artifact, tmp_path / "art", lambda d, a: _add_engine(d, a, status=status))
    message = _error(any_build, "load", art, "tensorrt", "fp32")
    assert f"TensorRT engine model_fp32.plan {words}" in message, message
    assert f"ijepa-build {art} --variant fp32" in message and "LoadOptions::allow_unverified" in message, message
    # the opt-in passes this gate (and this build, without TensorRT, stops at the next step)
    assert NO_TENSORRT in _error(any_build, "load", art, "tensorrt", "fp32", "--allow-unverified")


def test_version_compatible_engine_needs_the_host_code_opt_in(any_build, tiny_artifact, tmp_path):
    art = _edit(tiny_artifact, tmp_path / "art", lambda d, a: _add_engine(d, a, version_compatible=True))
    message = _error(any_build, "load", art, "tensorrt", "fp32")
    assert message.startswith(
        f"{art / 'model_fp32.plan'} | engine is version-compatible: it embeds host code "
        "(TensorRT's lean runtime) that runs in the process that loads it"
    ), message
    assert "an explicit opt-in if you trust whoever built it: LoadOptions::allow_engine_host_code = true" in message
    assert f"rebuild it without --version-compatible on the serving host (ijepa-build {art} --variant fp32)" in message
    # allow_unverified is not that opt-in; allow_engine_host_code is
    assert "version-compatible" in _error(any_build, "load", art, "tensorrt", "fp32", "--allow-unverified")
    assert NO_TENSORRT in _error(any_build, "load", art, "tensorrt", "fp32", "--allow-engine-host-code")


def test_tensorrt_runner_never_allows_host_code_by_itself():
    """The TensorRT runner (not compiled here: no SDK) asks TensorRT for host code only on the opt-in."""
    from cpp_helpers import REPO

    source = (REPO / "runtime" / "cpp" / "src" / "tensorrt_runner.cpp").read_text()
    calls = [line.strip() for line in source.splitlines() if "setEngineHostCodeAllowed(" in line]
    assert calls == ["runtime_->setEngineHostCodeAllowed(record.version_compatible && options.allow_engine_host_code);"]


# -- per-graph parity status --------------------------------------------------------------------


def _fail_int8(data, art):
    data["status"] = "partial"
    data["graphs"]["int8"]["status"] = "failed"
    for result in data["parity"]:
        if result["graph"] == "int8":
            result["passed"] = False


def test_graph_that_failed_is_refused_and_others_stay_usable(any_build, tiny_precision_artifact, tmp_path):
    art = _edit(tiny_precision_artifact, tmp_path / "art", _fail_int8)
    message = _error(any_build, "load", art, "openvino", "int8")
    assert "graph model_int8.onnx (int8) FAILED its parity check against eager PyTorch" in message, message
    assert "usable in this artifact: fp16, fp32, int8-cpu" in message, message
    # a partial artifact serves what passed
    if any_build.name == "release":
        assert any_build.json("load", art, "openvino", "fp32")["variant"] == "fp32"


# -- 4. one INT8 graph: Python's OpenVINO choice and its CPU refusal ---------------------------


def test_openvino_int8_runs_the_graph_python_openvino_runs(cpp_build, tiny_precision_artifact):
    """The S8S8 graph (its record's "for" lists openvino), not int8-cpu; the vectors are compared with
    Python's OpenVINO backend in test_cpp_embed."""
    from ijepa_deploy.manifest import read_manifest
    from ijepa_deploy.runtime.model import openvino_variant

    want = openvino_variant(read_manifest(tiny_precision_artifact), "int8")[0]
    assert want == "int8"
    assert cpp_build.json("load", tiny_precision_artifact, "openvino", "int8", "--allow-unverified")["variant"] == want


def test_int8_cpu_only_when_asked(cpp_build, tiny_precision_artifact):
    info = cpp_build.json("load", tiny_precision_artifact, "openvino", "int8-cpu", "--allow-unverified")
    assert info["variant"] == "int8-cpu"


def test_openvino_int8_cpu_gate(any_build, tiny_precision_artifact):
    """Without VNNI / AMX (this AMD EPYC: AVX2 only) OpenVINO int8 is refused with Python's words;
    with them it loads. The opt-in is allow_unverified, as in Python."""
    args = ("load", tiny_precision_artifact, "openvino", "int8")
    if int8_dot_product():
        if any_build.name == "release":
            assert any_build.json(*args)["variant"] == "int8"
        return
    message = _error(any_build, *args)
    assert message.startswith(
        "precision int8 on OpenVINO | this CPU has no int8 dot products (VNNI / AMX): "
        "OpenVINO's int8 kernels saturate 16-bit sums here and run slower than its fp32"
    ), message
    assert "LoadOptions::allow_unverified = true runs it anyway" in message
    if any_build.name == "release":
        assert any_build.json(*args, "--allow-unverified")["variant"] == "int8"


# -- 2. path confinement ----------------------------------------------------------------------


def _point_fp32_at(name, make=None):
    def edit(data, art):
        if make:
            make(art)
        record = dict(data["files"]["model.onnx"])
        data["files"][name] = record
        data["graphs"]["fp32"]["file"] = name

    return edit


def _outside_copy(art):
    shutil.copy(art / "model.onnx", art.parent / "outside.onnx")  # the same bytes: the checksum matches


@pytest.mark.parametrize(
    "name, make",
    [
        ("../outside.onnx", _outside_copy),
        ("ABSOLUTE", _outside_copy),
        ("link.onnx", lambda art: (_outside_copy(art), os.symlink(art.parent / "outside.onnx", art / "link.onnx"))),
        ("linkdir/outside.onnx", lambda art: (_outside_copy(art), os.symlink(art.parent, art / "linkdir"))),
    ],
)
def test_paths_outside_the_artifact_are_refused(any_build, tiny_artifact, tmp_path, name, make):
    if name == "ABSOLUTE":
        name = str(tmp_path / "outside.onnx")
    art = _edit(tiny_artifact, tmp_path / "art", _point_fp32_at(name, make))
    message = _error(any_build, "load", art, "openvino", "fp32")
    assert repr(name) in message, message
    assert any(words in message for words in ("points outside the artifact directory", "is not allowed")), message


@pytest.mark.parametrize(
    "name", ["../outside.onnx", "/etc/passwd", "sub/../../x.onnx", "link.onnx", "linkdir/x", "loop.onnx"]
)
def test_resolve_inside_refuses_what_leads_out(any_build, tiny_artifact, tmp_path, name):
    art = tmp_path / "art"
    shutil.copytree(tiny_artifact, art)
    os.symlink("/etc/passwd", art / "link.onnx")
    os.symlink(tmp_path, art / "linkdir")
    os.symlink(art / "loop.onnx", art / "loop.onnx")
    message = _error(any_build, "resolve", art, name)
    assert repr(name) in message and ("points outside" in message or "cannot be resolved" in message), message


def test_resolve_inside_accepts_what_stays_in(any_build, tiny_artifact, tmp_path):
    art = tmp_path / "art"
    shutil.copytree(tiny_artifact, art)
    (art / "sub").mkdir()
    os.symlink(art / "model.onnx", art / "sub" / "alias.onnx")  # a symlink that stays inside is fine
    for name, want in [
        ("model.onnx", art / "model.onnx"),
        ("sub/../model.onnx", art / "model.onnx"),
        ("sub/alias.onnx", art / "model.onnx"),
        ("not-yet.onnx", art / "not-yet.onnx"),
    ]:
        assert any_build.json("resolve", art, name)["path"] == str(want.resolve())
