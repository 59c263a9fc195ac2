"""CLI contract: user errors are one line, exit 1, no traceback; a parity failure exits 1 and
leaves the files marked failed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import onnx
import pytest
from cli_runs import run_main

from ijepa_deploy.cli.embed import main as embed_main
from ijepa_deploy.cli.export import main as export_main
from ijepa_deploy.errors import IJepaDeployError
from ijepa_deploy.manifest import read_manifest
from ijepa_deploy.runtime.photos import bundled_images


@pytest.mark.parametrize(
    "argv, subject",
    [
        (["--model", "random:nope"], "--model random:nope | unknown preset 'nope'. Note: expected one of"),
        ([], "ijepa-export | the following arguments are required: --model"),
        (["--model", "random:tiny", "--opset", "twelve"], "ijepa-export | argument --opset"),
        (["--model", "random:tiny", "--parity-images", "/nonexistent"], "/nonexistent | not a directory"),
    ],
)
def test_export_user_errors(capsys, argv, subject):
    assert run_main(export_main, argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: " + subject), err
    assert "Traceback" not in err


def test_no_traceback_in_a_real_process():
    script = Path(sys.executable).parent / "ijepa-export"  # the installed console script
    proc = subprocess.run([str(script), "--model", "random:nope"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith("error: --model random:nope | unknown preset")
    assert "Traceback" not in proc.stderr


def test_embed_cli(capsys, tiny_artifact, tmp_path):
    images = [str(p) for p in bundled_images()[:2]]
    out = tmp_path / "vectors.npy"
    assert run_main(embed_main, [str(tiny_artifact), *images, "--output", str(out)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["image"] for line in lines] == images and lines[0]["dim"] == 192
    import numpy as np

    assert np.load(out).shape == (2, 192)
    assert run_main(embed_main, [str(tiny_artifact), str(tmp_path / "missing.jpg")]) == 1
    assert "missing.jpg | no such file" in capsys.readouterr().err
    assert run_main(embed_main, [str(tmp_path), images[0]]) == 1
    assert "no ijepa_manifest.json" in capsys.readouterr().err


def test_parity_failure_exits_1_and_marks_the_artifact_failed(capsys, tmp_path, monkeypatch):
    """Tamper the exported graph (as a broken exporter would): the export must fail loudly."""
    from ijepa_deploy.exporters import onnx_export

    real_call = onnx_export.OnnxFromModel.__call__

    def broken_export(self):
        files = real_call(self)
        model = onnx.load(str(files[0]))
        for init in model.graph.initializer:
            if init.dims and init.dims[0] == 768:  # an MLP fc1 weight/bias of random:tiny
                arr = onnx.numpy_helper.to_array(init) * 3.0
                init.CopyFrom(onnx.numpy_helper.from_array(arr, init.name))
        onnx.save(model, str(files[0]))
        return files

    monkeypatch.setattr(onnx_export.OnnxFromModel, "__call__", broken_export)
    out = tmp_path / "broken"
    assert run_main(export_main, ["--model", "random:tiny", "--output", str(out), "--max-batch", "8"]) == 1
    captured = capsys.readouterr()
    assert "status: FAILED" in captured.out and "FAIL" in captured.out
    assert "parity check FAILED" in captured.err
    manifest = read_manifest(out)
    assert manifest.status == "failed" and (out / "model.onnx").is_file()
    assert not manifest.parity[0].passed


def test_export_help_lists_presets_without_importing_torch():
    code = (
        "import sys\nfrom ijepa_deploy.cli.export import main\ntry:\n    main(['--help'])\n"
        "except SystemExit as exc:\n    assert exc.code == 0, exc.code\n"
        "print('HEAVY', sorted(m for m in ('torch', 'transformers', 'onnx') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "random:tiny" in proc.stdout and "random:vitg16" in proc.stdout and "HEAVY []" in proc.stdout


def test_user_errors_cross_process_boundaries_as_themselves():
    import pickle

    error = IJepaDeployError("cat.jpg", "file is empty", "an image")
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is IJepaDeployError and again.format() == error.format() and again.expected == "an image"
