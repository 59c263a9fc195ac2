"""ijepa-check: an artifact accepted on the host that serves it against the saved reference
outputs, with torch unimportable; a tampered graph whose checksum was rewritten is named; what the
host cannot check is listed; the latency part reports every limit, measured or not."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from ijepa_deploy.cli import check as check_cli
from ijepa_deploy.manifest import MANIFEST_NAME, read_manifest, sha256_file

NO_TORCH = """
import sys
sys.modules['torch'] = None  # `import torch` now fails, as on a serving host without it
sys.modules['transformers'] = None
from ijepa_deploy.cli.check import main
try:
    main(sys.argv[1:])
finally:
    heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers', 'onnx') and sys.modules[m])
    print('HEAVY', heavy, file=sys.stderr)
"""


def ijepa_check(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", NO_TORCH, *argv], capture_output=True, text=True, timeout=600)


def test_the_artifact_passes_on_this_host_without_torch(tiny_precision_artifact, tmp_path):
    report = tmp_path / "out" / "check.json"
    proc = ijepa_check(str(tiny_precision_artifact), "--json", str(report), "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY []" in proc.stderr and "Traceback" not in proc.stderr
    data = json.loads(report.read_text())
    assert data["passed"] and not data["failed"]
    checked = {(r["graph"], r["backend"]) for r in data["parity"]}
    assert {
        ("fp32", "onnxruntime-cpu"),
        ("fp16", "onnxruntime-cpu"),
        ("int8", "onnxruntime-cpu"),
        ("int8-cpu", "onnxruntime-cpu"),
    } <= checked
    manifest = read_manifest(tiny_precision_artifact)
    for row in data["parity"]:  # the export's own thresholds (INT8: its target), the export's batch sizes
        exported = next(
            r
            for r in manifest.parity
            if (r.graph, r.backend, r.precision) == (row["graph"], row["backend"], row["precision"])
        )
        assert row["batch_sizes"] == exported.batch_sizes
        assert row["outputs"]["embedding"]["cosine_threshold"] == exported.outputs["embedding"].cosine_threshold
        assert (row.get("retrieval") is None) == (exported.retrieval is None)
    assert "artifact" in proc.stdout and "int8-cpu" in proc.stdout  # the export's summary table


def _tampered(source, tmp_path):
    """The artifact with one int8 MLP weight matrix scrambled and its checksum (and the manifest's)
    rewritten to match: only parity can tell."""
    art = tmp_path / "tampered"
    shutil.copytree(source, art)
    path = art / "model_int8.onnx"
    model = onnx.load(str(path))
    int8 = [i for i in model.graph.initializer if i.data_type == onnx.TensorProto.INT8 and len(i.dims) == 2]
    target = max(int8, key=lambda i: int(np.prod(i.dims)))  # an MLP weight: q/k scramble would hide in softmax
    weights = numpy_helper.to_array(target)
    target.CopyFrom(numpy_helper.from_array(np.ascontiguousarray(-weights[::-1, ::-1]), target.name))
    onnx.save(model, str(path))
    data = json.loads((art / MANIFEST_NAME).read_text())
    data["files"]["model_int8.onnx"].update(sha256=sha256_file(path), bytes=path.stat().st_size)
    (art / MANIFEST_NAME).write_text(json.dumps(data))
    return art


def test_an_altered_int8_weight_with_a_matching_checksum_fails_naming_the_int8_graph(tiny_precision_artifact, tmp_path):
    art = _tampered(tiny_precision_artifact, tmp_path)
    proc = ijepa_check(str(art), "--quiet")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    [line] = [x for x in proc.stderr.splitlines() if x.startswith("error:")]
    assert "check FAILED on this host for: int8 graph (model_int8.onnx) on onnxruntime-cpu" in line
    assert "int8-cpu graph" not in line and "fp32 graph" not in line


def test_filters_unrunnable_selections_and_missing_references_are_one_line_errors(
    tiny_precision_artifact, tmp_path, capsys
):
    def run(*argv):
        with pytest.raises(SystemExit) as exc:
            check_cli.main(list(argv))
        return exc.value.code, capsys.readouterr()

    code, out = run(str(tiny_precision_artifact), "--precision", "fp16", "--backend", "onnxruntime", "--quiet")
    assert code == 0 and "fp16" in out.out and "int8-cpu  onnxruntime-cpu" not in out.out
    code, out = run(str(tiny_precision_artifact), "--precision", "bf17", "--quiet")
    assert code == 1 and "nothing this host can check matches --backend / --precision" in out.err
    code, out = run(str(tiny_precision_artifact), "--json", str(tmp_path), "--quiet")
    assert code == 1 and f"--json | {tmp_path} is a directory" in out.err
    old = tmp_path / "old"
    shutil.copytree(tiny_precision_artifact, old)
    data = json.loads((old / MANIFEST_NAME).read_text())
    del data["files"]["reference_outputs.npz"]
    (old / MANIFEST_NAME).write_text(json.dumps(data))
    code, out = run(str(old), "--quiet")
    assert code == 1 and "no reference_outputs.npz in the manifest" in out.err and "Traceback" not in out.err


def test_perf_reports_every_limit_measured_or_not(tiny_artifact, monkeypatch):
    """--perf runs the latency limits' own code: a measured limit gives one line per batch, one
    this host cannot measure says why."""
    from ijepa_deploy.benchmarks import latency_limits
    from ijepa_deploy.runtime.acceptance.check import check_artifact

    pytest.importorskip("openvino")

    limits = (
        latency_limits.Limit("cpu", "onnxruntime", "fp32", "openvino fp32", 100.0),
        latency_limits.Limit("cuda", "tensorrt", "fp16", "tensorrt fp32", 0.7),
    )
    monkeypatch.setattr(latency_limits, "LIMITS", limits)
    result = check_artifact(tiny_artifact, ("onnxruntime",))
    lines, failures, records = check_cli._perf(result, lambda _: None)
    assert not failures and len(lines) == 3
    assert lines[0].startswith("cpu-onnxruntime-fp32 batch 1: ") and "x openvino fp32 (limit 100.00x) ok" in lines[0]
    assert lines[2].startswith("cuda-tensorrt-fp16 vs tensorrt fp32: not measured (TensorRT: ")
    assert [r.get("batch") for r in records] == [1, 8, None] and records[2]["not_measured"].startswith("TensorRT")
