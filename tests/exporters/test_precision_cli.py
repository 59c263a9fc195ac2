"""The export CLI's precision flags: INT8 with a --calib-dir, the flag errors, and a tampered
precision graph failing the export."""

from __future__ import annotations

import onnx
import pytest
from cli_runs import run_main
from onnx import numpy_helper

from ijepa_deploy.cli.export import main as export_main
from ijepa_deploy.exporters import precision as prec
from ijepa_deploy.manifest import read_manifest


def test_cli_int8_with_calib_dir(tmp_path, calib_dir, capsys):
    out = tmp_path / "cli"
    argv = [
        "--model",
        "random:tiny",
        "--int8",
        "--calib-dir",
        str(calib_dir),
        "--calib-count",
        "6",
        "--calib-method",
        "percentile",
        "--output",
        str(out),
        "--max-batch",
        "8",
        "--batch-sizes",
        "1",
        "3",
    ]
    assert run_main(export_main, argv) == 0
    captured = capsys.readouterr()
    assert "no --calib-dir" not in captured.err
    assert "int8-cpu" in captured.out and "@5" in captured.out
    manifest = read_manifest(out)
    calibration = manifest.graphs["int8"].calibration
    assert calibration["method"] == "percentile" and calibration["images"] == 6
    assert calibration["source"] == str(calib_dir.resolve()) and calibration["representative"] is True
    assert set(manifest.graphs) == {"fp32", "int8", "int8-cpu"} and manifest.status == "passed"


@pytest.mark.parametrize(
    "argv, problem",
    [
        (["--calib-dir", "x"], "--calib-dir | given without --int8"),
        (["--int8", "--calib-method", "kl"], "argument --calib-method: invalid choice"),
        (["--int8", "--calib-count", "0"], "--calib-count | 0"),
        (["--int8", "--calib-dir", "/nonexistent"], "/nonexistent | not a directory"),
    ],
)
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
    assert (
        "parity check FAILED for fp16 (model_fp16.onnx); manifest status 'partial'; still usable: fp32" in captured.err
    )
    manifest = read_manifest(out)
    assert manifest.status == "partial" and manifest.graphs["fp16"].status == "failed"
    fp32, fp16 = (r for r in manifest.parity if r.backend == "onnxruntime-cpu")
    assert fp32.passed and not fp16.passed
    # OpenVINO (when installed) runs the same broken graph and must fail it too
    assert all(not r.passed for r in manifest.parity if r.graph == "fp16")
    assert (out / "model_fp16.onnx").is_file()
